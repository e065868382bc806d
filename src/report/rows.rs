//! The rows of the per-modality tables: one per element of a small latent, one per large latent (a
//! field of thousands of cells would bury the table). A summarised row shows the root-mean-square sd
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
    let names = model.latent_names();
    let mut out = vec![];
    let mut at = 0;
    for l in &model.graph.latents {
        let len: usize = l.shape.iter().product();
        if len > MAX_ELEMENTS {
            out.push(Row {
                label: format!("{} ({len} cells)", l.name),
                cells: at..at + len,
            });
        } else {
            out.extend((at..at + len).map(|i| Row {
                label: names[i].clone(),
                cells: i..i + 1,
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
