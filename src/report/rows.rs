//! The rows of the per-modality tables: one per element of a small latent (or law), one per large one
//! (a field of thousands of cells would bury the table). A summarised row shows the root-mean-square sd
//! over its cells, the variance reduction of the summed variances, and the largest mean shift; the
//! JSON output always keeps every element.

use crate::eval::CompiledModel;
use std::ops::Range;

/// Latents with more elements than this get one summary row.
pub const MAX_ELEMENTS: usize = 12;

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    /// Indices into the flattened latent elements.
    pub cells: Range<usize>,
}

pub fn rows(model: &CompiledModel) -> Vec<Row> {
    let latents: Vec<(&str, &[usize])> = model
        .graph
        .latents
        .iter()
        .map(|l| (l.name.as_str(), l.shape.as_slice()))
        .collect();
    rows_of(&latents)
}

/// The rows of the latents followed by the laws (the laws' elements come after the latents' in the
/// flattened order, as in `Evaluator::constrain`).
pub fn rows_with_laws(model: &CompiledModel) -> Vec<Row> {
    let g = &model.graph;
    let all: Vec<(&str, &[usize])> = g
        .latents
        .iter()
        .map(|l| (l.name.as_str(), l.shape.as_slice()))
        .chain(
            g.laws
                .iter()
                .map(|(n, node)| (n.as_str(), g.node(*node).shape.as_slice())),
        )
        .collect();
    rows_of(&all)
}

/// Element names of the laws (`steric[2,3]`), in the order `rows_with_laws` counts them.
pub fn law_names(model: &CompiledModel) -> Vec<String> {
    let g = &model.graph;
    g.laws
        .iter()
        .flat_map(|(n, node)| crate::eval::model::element_names(n, &g.node(*node).shape))
        .collect()
}

fn rows_of(quantities: &[(&str, &[usize])]) -> Vec<Row> {
    let mut out = vec![];
    let mut at = 0;
    for (name, shape) in quantities {
        let len: usize = shape.iter().product();
        if len > MAX_ELEMENTS {
            out.push(Row {
                label: format!("{name} ({len} cells)"),
                cells: at..at + len,
            });
        } else {
            let names = crate::eval::model::element_names(name, shape);
            out.extend(names.into_iter().enumerate().map(|(k, label)| Row {
                label,
                cells: at + k..at + k + 1,
            }));
        }
        at += len;
    }
    out
}

/// The width of the tables' first column: the longest row label, at least 6.
pub fn label_width(rows: &[Row]) -> usize {
    rows.iter().map(|r| r.label.len()).max().unwrap_or(6).max(6)
}

impl Row {
    /// The root-mean-square sd over the row's cells.
    pub fn sd(&self, sd: &[f64]) -> f64 {
        let n = self.cells.len() as f64;
        (sd[self.cells.clone()].iter().map(|s| s * s).sum::<f64>() / n).sqrt()
    }

    /// 1 - sum var(with) / sum var(without).
    pub fn reduction(&self, with: &[f64], without: &[f64]) -> f64 {
        let v = |sd: &[f64]| sd[self.cells.clone()].iter().map(|s| s * s).sum::<f64>();
        1.0 - v(with) / v(without)
    }

    /// The largest (in absolute value) mean shift over the row's cells, in joint sds.
    pub fn shift(&self, mean: &[f64], mean_without: &[f64], sd: &[f64]) -> f64 {
        self.cells
            .clone()
            .map(|i| (mean[i] - mean_without[i]) / sd[i])
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(f64::NAN)
    }
}
