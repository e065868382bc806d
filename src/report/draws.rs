//! The per-modality report from posterior draws: for models where Laplace fits say little (hierarchical
//! scales have no proper joint mode; skewed or multi-modal posteriors), from the joint posterior's own
//! draws.
//!
//! - Joint: the draws' means and sds, of the latents and of the scalar laws (a derived quantity, such
//!   as a particle's coordination number, is often what a modality's contribution is about).
//! - All but one modality, and each modality alone: the joint draws reweighted by importance sampling
//!   (the weights remove the left-out modalities' log likelihoods), Pareto-smoothed, with k-hat as the
//!   diagnostic: above 0.7 the reweighted numbers are unreliable (the left-out modality moved the
//!   posterior too far for the joint draws to cover it — itself a sign of strong information or
//!   conflict) and are not shown.
//! - Posterior predictive checks: for each draw, replicated data from every likelihood of a modality,
//!   and the discrepancy D = -2 log p(y | theta) of the observed and the replicated data; the p-value is
//!   the share of draws where the replicate's discrepancy is at least the observed one. A tiny p-value
//!   says the modality's data are further from its forward model than its noise allows.

use super::modalities::{conflict_warning, worst_conflict};
use super::rows::{label_width, rows, Row};
use crate::eval::dists::{self, Family};
use crate::eval::CompiledModel;
use crate::infer::psis::psis;
use crate::infer::sample::{chain_rng, sample, SampleSettings, SAMPLER_COLUMNS};
use crate::ir::graph::{NodeId, Op, TermKind};
use serde_json::json;
use std::fmt::Write;
use std::sync::atomic::AtomicBool;

/// k-hat above which reweighted estimates are not trusted (Vehtari et al.).
pub const KHAT_MAX: f64 = 0.7;
/// Most draws the predictive checks use (evenly thinned).
const PPC_DRAWS: usize = 1000;

/// Means and sds of the latents under one combination of modalities: the joint draws reweighted (with
/// the weights' k-hat), or, where reweighting is unreliable and a refit was asked for, fresh NUTS draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Reweighted {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    pub khat: f64,
    /// Whether the numbers come from sampling this combination itself.
    pub refit: bool,
}

impl Reweighted {
    fn reliable(&self) -> bool {
        self.refit || self.khat <= KHAT_MAX
    }
}

/// The scalar laws, shown after the latents: larger laws (profiles, maps) would bury the table.
fn scalar_laws(model: &CompiledModel) -> Vec<(String, NodeId)> {
    let g = &model.graph;
    g.laws
        .iter()
        .filter(|(_, n)| g.node(*n).len() == 1)
        .cloned()
        .collect()
}

/// One draw's unconstrained point and its report columns: the latents, then the scalar laws' values.
fn columns(
    ev: &mut crate::eval::Evaluator,
    model: &CompiledModel,
    laws: &[NodeId],
    row: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let x = ev.unconstrain(&model.named_latents(row))?;
    let mut values = row.to_vec();
    if !laws.is_empty() {
        let laws = ev.node_values(&x, laws).map_err(|e| e.to_string())?;
        values.extend(laws.iter().map(|v| v[0]));
    }
    Ok((x, values))
}

/// Samples the model with these modality weights and returns the latent draws.
fn resample(
    model: &CompiledModel,
    weights: &[f64],
    settings: &SampleSettings,
) -> Result<Vec<Vec<f64>>, String> {
    let mut graph = model.graph.clone();
    for (modality, w) in graph.modalities.iter_mut().zip(weights) {
        modality.weight = *w;
    }
    let m = CompiledModel::new(graph);
    let chains =
        sample(&m, settings, &AtomicBool::new(false), &|_, _| {}).map_err(|e| e.to_string())?;
    let first = SAMPLER_COLUMNS.len();
    let count = model.latent_names().len();
    Ok(chains
        .iter()
        .flat_map(|c| c.rows.iter().map(|r| r[first..first + count].to_vec()))
        .collect())
}

/// One modality's posterior predictive check.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictiveCheck {
    pub modality: String,
    /// Data elements the check covers.
    pub n: usize,
    /// Mean observed discrepancy -2 log p(y | theta) over the draws.
    pub discrepancy: f64,
    pub p_value: f64,
}

#[derive(Debug, Clone)]
pub struct DrawsReport {
    pub names: Vec<String>,
    /// The scalar laws; their means and sds follow the latents' in every mean and sd vector.
    pub laws: Vec<String>,
    /// The table's rows: elements of small latents, whole large ones, then the scalar laws.
    pub rows: Vec<Row>,
    pub modalities: Vec<String>,
    pub draws: usize,
    pub joint_mean: Vec<f64>,
    pub joint_sd: Vec<f64>,
    pub single: Vec<Reweighted>,
    pub leave_out: Vec<Reweighted>,
    pub checks: Vec<PredictiveCheck>,
    pub warnings: Vec<String>,
}

/// Weighted means and sds of every column of `values` (one row per draw).
fn moments(values: &[Vec<f64>], w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let k = values.first().map_or(0, |r| r.len());
    let mut mean = vec![0.0; k];
    for (row, wi) in values.iter().zip(w) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += wi * v;
        }
    }
    let mut var = vec![0.0; k];
    for (row, wi) in values.iter().zip(w) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += wi * (v - m) * (v - m);
        }
    }
    // The unbiased form with effective weights: divide by 1 - sum w^2.
    let w2: f64 = w.iter().map(|x| x * x).sum();
    let correction = if w2 < 1.0 { 1.0 / (1.0 - w2) } else { 1.0 };
    (mean, var.iter().map(|v| (v * correction).sqrt()).collect())
}

/// The report from draws of the joint posterior: `latent_draws` holds, per draw, every latent element
/// (constrained, in `model.latent_names()` order). With `refit`, a combination whose reweighting is
/// unreliable (k-hat > 0.7) is sampled on its own with these settings.
pub fn draws_report(
    model: &CompiledModel,
    latent_draws: &[Vec<f64>],
    seed: u64,
    refit: Option<&SampleSettings>,
) -> Result<DrawsReport, String> {
    let g = &model.graph;
    let k = g.modalities.len();
    let names = model.latent_names();
    if latent_draws.len() < 10 {
        return Err(format!(
            "{} draws are too few for a report (at least 10 are needed)",
            latent_draws.len()
        ));
    }
    let mut ev = model.evaluator();
    let laws = scalar_laws(model);
    let law_nodes: Vec<NodeId> = laws.iter().map(|(_, n)| *n).collect();
    // Unconstrained points, report columns and each modality's weighted log likelihood per draw.
    let term_nodes: Vec<Vec<NodeId>> = (0..k)
        .map(|m| {
            g.terms
                .iter()
                .filter(|t| t.kind == TermKind::Likelihood(m))
                .map(|t| t.node)
                .collect()
        })
        .collect();
    let mut points = Vec::with_capacity(latent_draws.len());
    let mut values = Vec::with_capacity(latent_draws.len());
    let mut loglik = vec![Vec::with_capacity(latent_draws.len()); k];
    for row in latent_draws {
        let (x, v) = columns(&mut ev, model, &law_nodes, row)?;
        values.push(v);
        for m in 0..k {
            let values = ev
                .node_values(&x, &term_nodes[m])
                .map_err(|e| e.to_string())?;
            let sum: f64 = values.iter().map(|v| v[0]).sum();
            loglik[m].push(g.modalities[m].weight * sum);
        }
        points.push(x);
    }
    let n = latent_draws.len();
    let (joint_mean, joint_sd) = moments(&values, &vec![1.0 / n as f64; n]);
    let reweight = |drop: &dyn Fn(usize) -> bool| -> Result<Reweighted, String> {
        let lw: Vec<f64> = (0..n)
            .map(|s| {
                -(0..k)
                    .filter(|m| drop(*m))
                    .map(|m| loglik[m][s])
                    .sum::<f64>()
            })
            .collect();
        let (w, khat) = psis(&lw);
        if khat > KHAT_MAX {
            if let Some(settings) = refit {
                let weights: Vec<f64> = g
                    .modalities
                    .iter()
                    .enumerate()
                    .map(|(m, x)| if drop(m) { 0.0 } else { x.weight })
                    .collect();
                let draws = resample(model, &weights, settings)?;
                let mut ev = model.evaluator();
                let draws: Vec<Vec<f64>> = draws
                    .iter()
                    .map(|row| Ok(columns(&mut ev, model, &law_nodes, row)?.1))
                    .collect::<Result<_, String>>()?;
                let (mean, sd) = moments(&draws, &vec![1.0 / draws.len() as f64; draws.len()]);
                return Ok(Reweighted {
                    mean,
                    sd,
                    khat,
                    refit: true,
                });
            }
        }
        let (mean, sd) = moments(&values, &w);
        Ok(Reweighted {
            mean,
            sd,
            khat,
            refit: false,
        })
    };
    let leave_out: Vec<Reweighted> = (0..k)
        .map(|j| reweight(&|m| m == j))
        .collect::<Result<_, _>>()?;
    let single: Vec<Reweighted> = (0..k)
        .map(|j| reweight(&|m| m != j))
        .collect::<Result<_, _>>()?;
    let checks = predictive_checks(model, &points, seed)?;
    let modalities: Vec<String> = g.modalities.iter().map(|m| m.name.clone()).collect();
    let mut warnings = vec![];
    for (m, lo) in modalities.iter().zip(&leave_out) {
        if k < 2 {
            break;
        }
        if !lo.reliable() {
            warnings.push(format!(
                "leaving `{m}` out moves the posterior too far for the joint draws to show where \
                 (k-hat {:.2} > {KHAT_MAX}): `{m}` is strongly informative, or in conflict with the \
                 others; `mmi report --draws DIR --refit` samples that posterior itself.",
                lo.khat
            ));
            continue;
        }
        // Conflicts are judged on the latents; a law only echoes them.
        let nl = names.len();
        if let Some((i, z)) = worst_conflict(
            &joint_mean[..nl],
            &joint_sd[..nl],
            &lo.mean[..nl],
            &lo.sd[..nl],
        ) {
            warnings.push(conflict_warning(
                m,
                &names[i],
                z,
                joint_mean[i],
                lo.mean[i],
                nl,
            ));
        }
    }
    for c in &checks {
        if c.p_value < 0.001 {
            warnings.push(format!(
                "`{}`'s data are further from the model than its noise allows (posterior predictive \
                 p = {:.4} over {} values): its noise is understated or its forward model misses \
                 something.",
                c.modality, c.p_value, c.n
            ));
        }
    }
    let mut table_rows = rows(model);
    let nl = names.len();
    table_rows.extend(laws.iter().enumerate().map(|(i, (name, _))| Row {
        label: name.clone(),
        cells: nl + i..nl + i + 1,
    }));
    Ok(DrawsReport {
        rows: table_rows,
        names,
        laws: laws.into_iter().map(|(name, _)| name).collect(),
        modalities,
        draws: n,
        joint_mean,
        joint_sd,
        single,
        leave_out,
        checks,
        warnings,
    })
}

/// Posterior predictive p-values of each modality's discrepancy -2 log p(y | theta).
fn predictive_checks(
    model: &CompiledModel,
    points: &[Vec<f64>],
    seed: u64,
) -> Result<Vec<PredictiveCheck>, String> {
    let g = &model.graph;
    let mut ev = model.evaluator();
    let mut rng = chain_rng(seed, 7);
    let stride = points.len().div_ceil(PPC_DRAWS).max(1);
    let mut out = vec![];
    for (m, modality) in g.modalities.iter().enumerate() {
        // Likelihood statements whose left side is data: (family, dims, argument nodes).
        let statements: Vec<(Family, usize, Vec<NodeId>)> = g
            .terms
            .iter()
            .filter(|t| t.kind == TermKind::Likelihood(m))
            .filter_map(|t| match &g.node(t.node).op {
                Op::Lpdf {
                    family, args, dims, ..
                } if !g.node(args[0]).param => Some((*family, *dims, args.clone())),
                _ => None,
            })
            .collect();
        if statements.is_empty() {
            continue;
        }
        let n: usize = statements.iter().map(|s| g.node(s.2[0]).len()).sum();
        let (mut exceed, mut count, mut observed) = (0usize, 0usize, 0.0);
        for x in points.iter().step_by(stride) {
            let (mut d_obs, mut d_rep) = (0.0, 0.0);
            for (family, dims, args) in &statements {
                let values = ev.node_values(x, args).map_err(|e| e.to_string())?;
                let refs: Vec<&[f64]> = values.iter().map(|v| v.as_slice()).collect();
                let constant = vec![true; refs.len()];
                let mut none: Vec<Option<&mut [f64]>> = (0..refs.len()).map(|_| None).collect();
                d_obs -= 2.0 * dists::lpdf(*family, &refs, *dims, &constant, true, &mut none);
                let mut rep = vec![0.0; refs[0].len()];
                let units = rep.len() / (*dims).max(1);
                for u in 0..units {
                    let row = &mut rep[u * dims..(u + 1) * dims];
                    crate::infer::simulate::draw_unit(*family, &refs[1..], u, *dims, &mut rng, row)
                        .map_err(|e| format!("{}: {e}", modality.name))?;
                }
                let mut rep_args = refs.clone();
                rep_args[0] = &rep;
                d_rep -= 2.0 * dists::lpdf(*family, &rep_args, *dims, &constant, true, &mut none);
            }
            if d_obs.is_finite() && d_rep.is_finite() {
                exceed += (d_rep >= d_obs) as usize;
                count += 1;
                observed += d_obs;
            }
        }
        if count > 0 {
            out.push(PredictiveCheck {
                modality: modality.name.clone(),
                n,
                discrepancy: observed / count as f64,
                p_value: exceed as f64 / count as f64,
            });
        }
    }
    Ok(out)
}

fn cell(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "-".into()
    }
}

fn khat_cell(r: &Reweighted) -> String {
    if r.refit {
        format!("{:.2} refit", r.khat)
    } else {
        format!("{:.2}", r.khat)
    }
}

impl DrawsReport {
    pub fn table(&self) -> String {
        let w = label_width(&self.rows);
        let mut out = String::new();
        let mods = &self.modalities;
        writeln!(
            out,
            "from {} posterior draws; single-modality and leave-one-out columns reweight them (PSIS) \
             where k-hat <= {KHAT_MAX}, and are sampled afresh where marked `refit`\n",
            self.draws
        )
        .unwrap();
        writeln!(out, "posterior sd: each modality alone, all together").unwrap();
        let mut head = format!("{:w$}", "");
        for m in mods {
            head.push_str(&format!(" {:>12}", format!("{m} only")));
        }
        head.push_str(&format!(" {:>10}", "joint"));
        writeln!(out, "{head}").unwrap();
        let shown = |r: &Reweighted, v: f64| if r.reliable() { cell(v) } else { "-".into() };
        for r in &self.rows {
            let mut line = format!("{:w$}", r.label);
            for s in &self.single {
                line.push_str(&format!(" {:>12}", shown(s, r.sd(&s.sd))));
            }
            line.push_str(&format!(" {:>10}", cell(r.sd(&self.joint_sd))));
            writeln!(out, "{line}").unwrap();
        }
        let mut khat = format!("{:w$}", "k-hat");
        for s in &self.single {
            khat.push_str(&format!(" {:>12}", khat_cell(s)));
        }
        writeln!(out, "{khat}").unwrap();
        if mods.len() > 1 {
            writeln!(
                out,
                "\nleft out: variance reduction the modality brings on top of the others, and the mean \
                 shift without it (joint sds)"
            )
            .unwrap();
            let mut head = format!("{:w$}", "");
            for m in mods {
                head.push_str(&format!(" {:>20}", m));
            }
            writeln!(out, "{head}").unwrap();
            for r in &self.rows {
                let mut line = format!("{:w$}", r.label);
                for lo in &self.leave_out {
                    let (red, shift) = if lo.reliable() {
                        (
                            format!("{:.0}%", 100.0 * r.reduction(&self.joint_sd, &lo.sd)),
                            cell(r.shift(&self.joint_mean, &lo.mean, &self.joint_sd)),
                        )
                    } else {
                        ("-".into(), "-".into())
                    };
                    line.push_str(&format!(" {red:>8} {shift:>11}"));
                }
                writeln!(out, "{line}").unwrap();
            }
            let mut khat = format!("{:w$}", "k-hat");
            for lo in &self.leave_out {
                khat.push_str(&format!(" {:>20}", khat_cell(lo)));
            }
            writeln!(out, "{khat}").unwrap();
        }
        if !self.checks.is_empty() {
            writeln!(
                out,
                "\nposterior predictive checks (discrepancy -2 log p(y | theta))"
            )
            .unwrap();
            for c in &self.checks {
                writeln!(
                    out,
                    "{:w$} {:>6} values  mean discrepancy {:>12.2}  p = {:.3}",
                    c.modality, c.n, c.discrepancy, c.p_value
                )
                .unwrap();
            }
        }
        for warning in &self.warnings {
            writeln!(out, "\nWarning: {warning}").unwrap();
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let rw = |r: &Reweighted| json!({"mean": r.mean, "sd": r.sd, "khat": r.khat, "refit": r.refit, "reliable": r.reliable()});
        json!({
            "source": "draws",
            "draws": self.draws,
            "latents": self.names,
            "laws": self.laws,
            "modalities": self.modalities,
            "joint": {"mean": self.joint_mean, "sd": self.joint_sd},
            "single": self.single.iter().map(rw).collect::<Vec<_>>(),
            "leave_one_out": self.leave_out.iter().map(rw).collect::<Vec<_>>(),
            "predictive_checks": self.checks.iter().map(|c| json!({
                "modality": c.modality, "n": c.n, "discrepancy": c.discrepancy, "p_value": c.p_value,
            })).collect::<Vec<_>>(),
            "warnings": self.warnings,
        })
    }
}
