//! `:eval EXPR` (and a bare expression typed at the prompt): an expression of the model's language,
//! evaluated at the posterior mode and over the posterior draws.
//!
//! The expression becomes a temporary law, `law __eval = EXPR`, appended to the current model, which
//! is checked (so errors in it are located like any other), compiled with the session's data and
//! weights, and evaluated by constraining points: the mode's latent values, or each draw's, are mapped
//! to the temporary model's unconstrained space (`Evaluator::unconstrain`) and constrained again
//! (`Evaluator::constrain`), which computes every law. The temporary model has the same latents as the
//! session's model, so every point is one of the session's.

use super::commands::values_preview;
use super::session::{say, Session};
use crate::check::types::Dep;
use crate::eval::CompiledModel;
use crate::infer::diagnostics::summarize;
use std::io::Write;

/// The temporary law's name (the leading underscores keep it out of the user's way).
const NAME: &str = "__eval";

/// Most elements of an array result shown one per line.
const MAX_ROWS: usize = 12;

impl Session {
    pub(crate) fn eval(&mut self, expr: &str) {
        let source = format!("{}\nlaw {NAME} = {expr}\n", self.source.trim_end());
        let out = crate::check_source(&source);
        let errors: Vec<crate::Diagnostic> = out
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        let Some(model) = out.model.filter(|_| errors.is_empty()) else {
            // Shown as the model with the expression appended, which is what was checked.
            let text = crate::diagnostic::render_all(&errors, "<eval>", &source, self.color);
            let _ = write!(self.out, "{text}");
            return;
        };
        let dep = model
            .laws
            .iter()
            .find(|l| l.name == NAME)
            .map(|l| l.info.dep);
        if dep == Some(Dep::Latent) && self.mode.is_none() && self.run.is_none() {
            say!(self.out, "error: `{expr}` depends on the latents: find the mode (`:map`) or sample (`:sample`) first");
            return;
        }
        let json = self
            .data
            .as_ref()
            .map_or("{}".to_string(), |d| d.text.clone());
        let set = match crate::data::load(&model, &json, "data") {
            Ok((set, _)) => set,
            Err(_) => {
                say!(
                    self.out,
                    "error: {}",
                    self.not_compiled
                        .clone()
                        .unwrap_or_else(|| "the data do not fit the model".into())
                );
                return;
            }
        };
        let mut compiled = match crate::compile(&model, &set, &crate::passes::Settings::default()) {
            Ok(c) => c,
            Err(d) => {
                self.render(&d, &source);
                return;
            }
        };
        for m in compiled.graph.modalities.iter_mut() {
            if let Some((_, w)) = self.weights.iter().find(|(n, _)| *n == m.name) {
                m.weight = *w;
            }
        }
        let Some(law) = compiled.graph.laws.iter().position(|(n, _)| n == NAME) else {
            // A sparse law is an operator, not a value: it is not among the outputs.
            say!(self.out, "error: `{expr}` is a sparse matrix, which is not evaluated to values; evaluate a product or a solve with it");
            return;
        };
        let shape = compiled
            .graph
            .node(compiled.graph.laws[law].1)
            .shape
            .clone();
        let latents = compiled.graph.latents.len();
        let at = |compiled: &CompiledModel, values: &[f64]| -> Result<Vec<f64>, String> {
            let mut ev = compiled.evaluator();
            let mut named = vec![];
            let mut k = 0;
            for l in &compiled.graph.latents {
                let n: usize = l.shape.iter().product();
                named.push((l.name.clone(), values[k..k + n].to_vec()));
                k += n;
            }
            let x = ev.unconstrain(&named)?;
            let outs = ev.constrain(&x).map_err(|e| e.to_string())?;
            Ok(outs[latents + law].values.clone())
        };
        let shape_text = if shape.is_empty() {
            String::new()
        } else {
            format!(
                " (shape {})",
                shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(" x ")
            )
        };
        if dep != Some(Dep::Latent) {
            // Data only: one value wherever it is evaluated.
            let zeros = vec![0.0; compiled.dim()];
            let mut ev = compiled.evaluator();
            match ev.constrain(&zeros) {
                Ok(outs) => say!(
                    self.out,
                    "{expr} = {}{shape_text}",
                    values_preview(&outs[latents + law].values)
                ),
                Err(e) => say!(self.out, "error: {e}"),
            }
            return;
        }
        let n_latent: usize = compiled.latent_names().len();
        if let Some(m) = &self.mode {
            match at(&compiled, &m.values[..n_latent]) {
                Ok(v) => say!(
                    self.out,
                    "at the mode: {expr} = {}{shape_text}",
                    values_preview(&v)
                ),
                Err(e) => say!(self.out, "error at the mode: {e}"),
            }
        }
        let Some(run) = &self.run else { return };
        let mut per_chain: Vec<Vec<Vec<f64>>> = vec![];
        for chain in &run.draws.chains {
            let mut rows = vec![];
            for row in chain {
                match at(&compiled, &row[..n_latent]) {
                    Ok(v) => rows.push(v),
                    Err(e) => {
                        say!(self.out, "error over the draws: {e}");
                        return;
                    }
                }
            }
            per_chain.push(rows);
        }
        let total: usize = per_chain.iter().map(|c| c.len()).sum();
        let size: usize = shape.iter().product();
        let names = crate::eval::model::element_names(expr, &shape);
        let width = names
            .iter()
            .take(MAX_ROWS)
            .map(|n| n.len())
            .max()
            .unwrap_or(4)
            .max(4);
        say!(self.out, "over {total} posterior draws{shape_text}:");
        say!(
            self.out,
            "{:width$} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "",
            "mean",
            "sd",
            "5%",
            "50%",
            "95%"
        );
        for (j, name) in names.iter().enumerate().take(MAX_ROWS.min(size)) {
            let chains: Vec<Vec<f64>> = per_chain
                .iter()
                .map(|c| c.iter().map(|r| r[j]).collect())
                .collect();
            let s = summarize(&chains);
            say!(
                self.out,
                "{name:width$} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
                s.mean,
                s.sd,
                s.q5,
                s.q50,
                s.q95
            );
        }
        if size > MAX_ROWS {
            say!(self.out, "... ({} more elements)", size - MAX_ROWS);
        }
    }
}
