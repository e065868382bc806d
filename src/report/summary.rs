//! The posterior summary of a sampling run: one row per latent and law element (mean, sd, MCSE, 5%,
//! 50%, 95%, bulk and tail ESS, R-hat), the sampler's health (divergences, tree depth, E-BFMI), and
//! warnings in plain words when something is off, as CmdStan's `diagnose` gives them.

use crate::infer::diagnostics::{e_bfmi, summarize, Summary};
use crate::infer::sample::{Chain, SampleSettings, SAMPLER_COLUMNS};
use rayon::prelude::*;
use serde_json::json;
use std::fmt::Write;

/// A run's summary.
pub struct RunSummary {
    pub rows: Vec<(String, Summary)>,
    pub divergences: usize,
    pub max_depth_hits: usize,
    pub transitions: usize,
    pub e_bfmi: Vec<f64>,
    pub interrupted: bool,
    pub warnings: Vec<String>,
}

/// The draws of column `j` for every chain.
fn column(chains: &[Chain], j: usize) -> Vec<Vec<f64>> {
    chains
        .iter()
        .map(|c| c.rows.iter().map(|r| r[j]).collect())
        .collect()
}

pub fn summarise_run(
    columns: &[String],
    chains: &[Chain],
    settings: &SampleSettings,
) -> RunSummary {
    let first = SAMPLER_COLUMNS.len();
    // Quantities are independent: summarise them in parallel.
    let wanted: Vec<usize> = std::iter::once(0).chain(first..columns.len()).collect();
    let rows: Vec<(String, Summary)> = wanted
        .par_iter()
        .map(|&j| (columns[j].clone(), summarize(&column(chains, j))))
        .collect();
    let transitions: usize = chains.iter().map(|c| c.rows.len()).sum();
    let divergences = chains
        .iter()
        .flat_map(|c| &c.rows)
        .filter(|r| r[5] != 0.0)
        .count();
    let max_depth_hits = chains
        .iter()
        .flat_map(|c| &c.rows)
        .filter(|r| r[3] as usize >= settings.max_depth)
        .count();
    let e_bfmi: Vec<f64> = chains
        .iter()
        .map(|c| e_bfmi(&c.rows.iter().map(|r| r[6]).collect::<Vec<_>>()))
        .collect();
    let interrupted = chains.iter().any(|c| c.interrupted);
    let mut warnings = vec![];
    if interrupted {
        warnings.push(format!(
            "The run was interrupted: {transitions} of {} draws were made. The summary uses what was kept.",
            settings.chains * settings.draws
        ));
    }
    if divergences > 0 {
        warnings.push(format!(
            "{divergences} of {transitions} ({:.1}%) transitions ended with a divergence. These divergent \
             transitions indicate that HMC is not fully able to explore the posterior distribution, so the \
             estimates may be biased. Try increasing --adapt-delta closer to 1 (e.g. 0.95); if divergences \
             remain, reparameterise the model (for hierarchical models, a non-centred form).",
            100.0 * divergences as f64 / transitions.max(1) as f64
        ));
    }
    if max_depth_hits > 0 {
        warnings.push(format!(
            "{max_depth_hits} of {transitions} ({:.1}%) transitions hit the maximum tree depth of {}. Sampling \
             is inefficient there (trajectories were cut short); try --max-depth {} or a better-conditioned \
             parameterisation.",
            100.0 * max_depth_hits as f64 / transitions.max(1) as f64,
            settings.max_depth,
            settings.max_depth + 2
        ));
    }
    for (c, v) in e_bfmi.iter().enumerate() {
        if *v < 0.3 {
            warnings.push(format!(
                "Chain {} has an E-BFMI of {v:.2}, below 0.3: the momentum resampling cannot move the energy \
                 enough, a sign of heavy tails or a funnel. Reparameterise the model.",
                c + 1
            ));
        }
    }
    let bad_rhat: Vec<&str> = rows
        .iter()
        .filter(|(_, s)| s.rhat > 1.01)
        .map(|(n, _)| n.as_str())
        .collect();
    if !bad_rhat.is_empty() {
        warnings.push(format!(
            "R-hat is above 1.01 for {} quantit{} ({}): the chains do not agree. Run longer chains or \
             check for multimodality.",
            bad_rhat.len(),
            if bad_rhat.len() == 1 { "y" } else { "ies" },
            preview(&bad_rhat)
        ));
    }
    let low_ess: Vec<&str> = rows
        .iter()
        .filter(|(_, s)| {
            s.ess_bulk < 100.0 * chains.len() as f64 || s.ess_tail < 100.0 * chains.len() as f64
        })
        .map(|(n, _)| n.as_str())
        .collect();
    if !low_ess.is_empty() && transitions > 0 {
        warnings.push(format!(
            "The effective sample size (bulk or tail) is below {} for {} quantit{} ({}): the means, \
             quantiles and their standard errors are unreliable. Run more draws.",
            100 * chains.len(),
            low_ess.len(),
            if low_ess.len() == 1 { "y" } else { "ies" },
            preview(&low_ess)
        ));
    }
    RunSummary {
        rows,
        divergences,
        max_depth_hits,
        transitions,
        e_bfmi,
        interrupted,
        warnings,
    }
}

fn preview(names: &[&str]) -> String {
    let shown: Vec<&str> = names.iter().take(5).copied().collect();
    if names.len() > 5 {
        format!("{}, ...", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// A number with four significant digits, compact.
fn num(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        let digits = (4 - (v.abs().max(1e-300).log10().floor() as i32) - 1).clamp(0, 6) as usize;
        format!("{v:.digits$}")
    }
}

impl RunSummary {
    /// The table as text, one line per quantity, then the warnings.
    pub fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = String::new();
        writeln!(
            out,
            "{:width$} {:>10} {:>9} {:>9} {:>10} {:>10} {:>10} {:>8} {:>8} {:>6}",
            "", "mean", "sd", "mcse", "5%", "50%", "95%", "ess_bulk", "ess_tail", "r_hat"
        )
        .unwrap();
        for (name, s) in &self.rows {
            writeln!(
                out,
                "{name:width$} {:>10} {:>9} {:>9} {:>10} {:>10} {:>10} {:>8.0} {:>8.0} {:>6.3}",
                num(s.mean),
                num(s.sd),
                num(s.mcse_mean),
                num(s.q5),
                num(s.q50),
                num(s.q95),
                s.ess_bulk,
                s.ess_tail,
                s.rhat
            )
            .unwrap();
        }
        writeln!(
            out,
            "\n{} draws; {} divergent; {} at maximum tree depth; E-BFMI per chain: {}",
            self.transitions,
            self.divergences,
            self.max_depth_hits,
            self.e_bfmi
                .iter()
                .map(|v| format!("{v:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .unwrap();
        for w in &self.warnings {
            writeln!(out, "\nWarning: {w}").unwrap();
        }
        out
    }

    /// The summary as JSON (`summary.json`).
    pub fn json(&self, settings: &SampleSettings, seconds: f64) -> serde_json::Value {
        let finite = |v: f64| {
            if v.is_finite() {
                json!(v)
            } else {
                serde_json::Value::Null
            }
        };
        let quantities: serde_json::Map<String, serde_json::Value> = self
            .rows
            .iter()
            .map(|(n, s)| {
                (
                    n.clone(),
                    json!({
                        "mean": finite(s.mean), "sd": finite(s.sd), "mcse_mean": finite(s.mcse_mean),
                        "q5": finite(s.q5), "q50": finite(s.q50), "q95": finite(s.q95),
                        "ess_bulk": finite(s.ess_bulk), "ess_tail": finite(s.ess_tail), "r_hat": finite(s.rhat),
                    }),
                )
            })
            .collect();
        json!({
            "interrupted": self.interrupted,
            "chains": settings.chains,
            "warmup": settings.warmup,
            "draws_per_chain": settings.draws,
            "draws": self.transitions,
            "seed": settings.seed,
            "sampling_seconds": seconds,
            "divergences": self.divergences,
            "max_tree_depth_hits": self.max_depth_hits,
            "e_bfmi": self.e_bfmi.iter().map(|v| finite(*v)).collect::<Vec<_>>(),
            "warnings": self.warnings,
            "quantities": quantities,
        })
    }
}
