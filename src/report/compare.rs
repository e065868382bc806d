//! Model comparison by marginal likelihood (`mmi compare`): each model's log evidence with its error,
//! log Bayes factors against the best model, posterior model probabilities under the given prior
//! model probabilities; and the same per modality (each modality alone with its model's prior), so a
//! user sees which data source decides the comparison.

use crate::eval::CompiledModel;
use crate::infer::evidence::{estimate, Evidence, Method};
use serde_json::json;
use std::fmt::Write;

/// One model's evidence, jointly and for each of its modalities alone.
#[derive(Debug, Clone)]
pub struct ModelEvidence {
    pub name: String,
    pub joint: Evidence,
    /// (modality, evidence with only that modality switched on).
    pub per_modality: Vec<(String, Evidence)>,
}

impl ModelEvidence {
    /// The evidence of a model compiled with normalised densities, with its modalities' own weights,
    /// and with each switched-on modality alone (when there are several). A modality whose evidence fails alone
    /// is left out, with the reason passed to `note`; a failure of the joint evidence is the error.
    pub fn estimate(
        name: &str,
        model: &CompiledModel,
        method: Method,
        seed: u64,
        mut note: impl FnMut(String),
    ) -> Result<ModelEvidence, String> {
        let base: Vec<f64> = model.graph.modalities.iter().map(|m| m.weight).collect();
        let joint = estimate(model, &base, method, seed)?;
        let mut per_modality = vec![];
        // Each switched-on modality alone (a modality switched off has nothing to say alone).
        if base.iter().filter(|w| **w > 0.0).count() > 1 {
            for (k, m) in model.graph.modalities.iter().enumerate() {
                if base[k] == 0.0 {
                    continue;
                }
                let alone: Vec<f64> = (0..base.len())
                    .map(|j| if j == k { base[j] } else { 0.0 })
                    .collect();
                match estimate(model, &alone, method, seed) {
                    Ok(e) => per_modality.push((m.name.clone(), e)),
                    Err(e) => note(format!("no evidence for {name} with {} alone: {e}", m.name)),
                }
            }
        }
        Ok(ModelEvidence {
            name: name.to_string(),
            joint,
            per_modality,
        })
    }
}

/// Posterior model probabilities from log evidences and prior probabilities.
pub fn probabilities(log_z: &[f64], prior: &[f64]) -> Vec<f64> {
    let logs: Vec<f64> = log_z.iter().zip(prior).map(|(z, p)| z + p.ln()).collect();
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x / total).collect()
}

fn error_cell(e: f64) -> String {
    if e.is_finite() {
        format!("{e:.3}")
    } else {
        "-".into()
    }
}

/// Modalities every model has, in the first model's order.
fn shared_modalities(models: &[ModelEvidence]) -> Vec<String> {
    let Some(first) = models.first() else {
        return vec![];
    };
    first
        .per_modality
        .iter()
        .map(|(m, _)| m.clone())
        .filter(|m| {
            models
                .iter()
                .all(|x| x.per_modality.iter().any(|(n, _)| n == m))
        })
        .collect()
}

fn evidence_of<'a>(model: &'a ModelEvidence, modality: &str) -> &'a Evidence {
    &model
        .per_modality
        .iter()
        .find(|(n, _)| n == modality)
        .expect("shared modality")
        .1
}

pub fn table(models: &[ModelEvidence], prior: &[f64]) -> String {
    let mut out = String::new();
    let w = models
        .iter()
        .map(|m| m.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let section = |out: &mut String, title: &str, ev: &[&Evidence]| {
        let log_z: Vec<f64> = ev.iter().map(|e| e.log_z).collect();
        let p = probabilities(&log_z, prior);
        let best = (0..ev.len())
            .max_by(|a, b| p[*a].total_cmp(&p[*b]))
            .unwrap_or(0);
        writeln!(out, "{title}").unwrap();
        writeln!(
            out,
            "{:w$} {:>14} {:>9} {:>16} {:>11}",
            "model", "log evidence", "error", "log BF vs best", "P(model)"
        )
        .unwrap();
        for (i, m) in models.iter().enumerate() {
            let bf = log_z[i] - log_z[best];
            let bf_err = (ev[i].error.powi(2) + ev[best].error.powi(2)).sqrt();
            let bf_cell = if i == best {
                "0".to_string()
            } else if bf_err.is_finite() {
                format!("{bf:.2} ± {bf_err:.3}")
            } else {
                format!("{bf:.2}")
            };
            writeln!(
                out,
                "{:w$} {:>14.3} {:>9} {:>16} {:>11.4}",
                m.name,
                log_z[i],
                error_cell(ev[i].error),
                bf_cell,
                p[i]
            )
            .unwrap();
        }
    };
    let joint: Vec<&Evidence> = models.iter().map(|m| &m.joint).collect();
    section(&mut out, "all modalities", &joint);
    for modality in shared_modalities(models) {
        let ev: Vec<&Evidence> = models.iter().map(|m| evidence_of(m, &modality)).collect();
        writeln!(out).unwrap();
        section(&mut out, &format!("{modality} alone"), &ev);
    }
    let method = models.first().map_or("", |m| m.joint.method.name());
    writeln!(
        out,
        "\nlog evidence by {method}; P(model) with prior model probabilities {}",
        prior
            .iter()
            .map(|p| format!("{p:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();
    out
}

pub fn json(models: &[ModelEvidence], prior: &[f64]) -> serde_json::Value {
    let ev = |e: &Evidence| json!({"log_evidence": e.log_z, "error": if e.error.is_finite() { json!(e.error) } else { json!(null) }, "method": e.method.name()});
    let log_z: Vec<f64> = models.iter().map(|m| m.joint.log_z).collect();
    let p = probabilities(&log_z, prior);
    let shared = shared_modalities(models);
    json!({
        "models": models.iter().zip(&p).map(|(m, p)| json!({
            "name": m.name,
            "evidence": ev(&m.joint),
            "probability": p,
            "per_modality": m.per_modality.iter().map(|(n, e)| json!({"modality": n, "evidence": ev(e)})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "prior": prior,
        "per_modality_probabilities": shared.iter().map(|modality| {
            let z: Vec<f64> = models.iter().map(|m| evidence_of(m, modality).log_z).collect();
            json!({"modality": modality, "probabilities": probabilities(&z, prior)})
        }).collect::<Vec<_>>(),
    })
}
