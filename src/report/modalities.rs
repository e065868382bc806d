//! What each data source contributes, and whether the sources agree, from Laplace fits: the prior
//! alone, each modality alone, all of them, and all but one. For a linear-Gaussian model (unconstrained
//! latents) the Laplace approximation is the exact posterior, so these numbers are exact there.
//!
//! Laws are reported beside the latents (carried through the same Laplace draws): a derived quantity
//! one modality pins while the latents it combines stay wide (the steric height from altimetry, while
//! its thermal and haline parts do not) shows what that modality can and cannot tell apart.
//!
//! A fit that has no maximum (an improper prior alone, or a modality that cannot identify a latent on
//! its own) is reported as such, which is itself an answer: "gravity alone cannot determine this".

use super::rows::{label_width, rows_with_laws, Row};
use crate::eval::CompiledModel;
use crate::infer::laplace::laplace;
use crate::infer::lbfgs::{maximise, LbfgsSettings};
use crate::infer::sample::{chain_rng, initial_point};
use serde_json::json;
use std::fmt::Write;

/// The posterior mean and sd of every latent element, then of every law element, under one
/// combination of modalities.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    /// The mode in the unconstrained space.
    pub mode: Vec<f64>,
}

/// One modality's residuals at the joint mode, over its normal likelihood statements: the sum of
/// squared standardised residuals, their number, and the chance of a sum at least this large if the
/// stated noise were right (a chi-square tail; the fitted latents make it slightly conservative).
#[derive(Debug, Clone, PartialEq)]
pub struct ResidualCheck {
    pub modality: String,
    pub n: usize,
    pub chi2: f64,
    pub p_value: f64,
}

/// A fit, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum FitResult {
    Fit(Fit),
    /// No proper mode: the combination does not determine every latent.
    Undetermined(String),
}

impl FitResult {
    fn fit(&self) -> Option<&Fit> {
        match self {
            FitResult::Fit(f) => Some(f),
            FitResult::Undetermined(_) => None,
        }
    }
}

/// The per-modality report.
#[derive(Debug, Clone)]
pub struct ModalityReport {
    /// Element names (`T[2,3]`): the latents', then the laws'.
    pub names: Vec<String>,
    /// How many of `names` are latent elements.
    pub latent_count: usize,
    /// The table's rows: elements of small latents and laws, whole large ones.
    pub rows: Vec<Row>,
    pub modalities: Vec<String>,
    pub prior: FitResult,
    pub joint: FitResult,
    /// Each modality alone (with the prior).
    pub single: Vec<FitResult>,
    /// All modalities but one.
    pub leave_out: Vec<FitResult>,
    /// Residual checks at the joint mode (modalities with normal likelihoods).
    pub residuals: Vec<ResidualCheck>,
    pub warnings: Vec<String>,
}

/// Standardised residuals of every normal likelihood statement, by modality, at unconstrained `x`.
pub fn residual_checks(model: &CompiledModel, x: &[f64]) -> Vec<ResidualCheck> {
    use crate::eval::dists::Family;
    use crate::ir::graph::{Op, TermKind};
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    let mut ev = model.evaluator();
    let mut out = vec![];
    for (k, m) in model.graph.modalities.iter().enumerate() {
        let (mut chi2, mut n) = (0.0, 0usize);
        for t in &model.graph.terms {
            let (
                TermKind::Likelihood(j),
                Op::Lpdf {
                    family: Family::Normal,
                    args,
                    ..
                },
            ) = (&t.kind, &model.graph.node(t.node).op)
            else {
                continue;
            };
            if *j != k || args.len() != 3 {
                continue;
            }
            let Ok(v) = ev.node_values(x, &args[..3]) else {
                continue;
            };
            let at = |a: &[f64], i: usize| if a.len() == 1 { a[0] } else { a[i] };
            for i in 0..v[0].len() {
                chi2 += ((v[0][i] - at(&v[1], i)) / at(&v[2], i)).powi(2);
                n += 1;
            }
        }
        if n > 0 {
            let p_value = ChiSquared::new(n as f64)
                .map(|d| d.sf(chi2))
                .unwrap_or(f64::NAN);
            out.push(ResidualCheck {
                modality: m.name.clone(),
                n,
                chi2,
                p_value,
            });
        }
    }
    out
}

/// Draws used to carry the Laplace approximation through the constraining transforms.
const DRAWS: usize = 4000;
/// A standardised shift (see `worst_conflict`) beyond which a modality is said to conflict.
pub const CONFLICT_SDS: f64 = 3.0;

/// The latent whose posterior mean moves most surprisingly when a modality is added to the others, if
/// the move is both material and surprising:
/// - material: more than `CONFLICT_SDS` joint posterior sds (a source that agrees with a far more
///   precise consensus but nudges it by a hair is not the culprit);
/// - surprising: adding a source that agrees with the others moves the mean by a random amount whose
///   variance is var(without) - var(with) (exact for linear-Gaussian models), so
///   z = shift / sqrt(var(without) - var(with)) is standard normal when the sources agree; |z| must
///   exceed `CONFLICT_SDS`. A latent that only this modality determines (without it, the prior's wide
///   value) has a large var(without), so no false alarm.
pub fn worst_conflict(
    mean: &[f64],
    sd: &[f64],
    mean_without: &[f64],
    sd_without: &[f64],
) -> Option<(usize, f64)> {
    (0..mean.len())
        .filter_map(|i| {
            let var = sd_without[i].powi(2) - sd[i].powi(2);
            let z = (mean[i] - mean_without[i]) / var.sqrt();
            let material = ((mean[i] - mean_without[i]) / sd[i]).abs() > CONFLICT_SDS;
            (var > 0.0 && material && z.is_finite() && z.abs() > CONFLICT_SDS).then_some((i, z))
        })
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
}

/// The plain-words warning for a conflict found by `worst_conflict`.
pub fn conflict_warning(modality: &str, latent: &str, z: f64, with: f64, without: f64) -> String {
    format!(
        "`{modality}` pulls {latent} {:.1} sd away from what the other modalities imply ({with:.4} with \
         it, {without:.4} without; sd of the shift expected if they agreed): the sources disagree. \
         Check {modality}'s forward model and noise, or give it a robust likelihood or a tempering \
         weight.",
        z.abs()
    )
}

/// The Laplace fit of the model with these modality weights (1 on, 0 off).
pub fn fit(model: &CompiledModel, weights: &[f64], seed: u64) -> FitResult {
    let mut ev = model.evaluator();
    for (k, w) in weights.iter().enumerate() {
        ev.set_modality_weight(k, *w);
    }
    let mut rng = chain_rng(seed, 0);
    let Some(x0) = initial_point(&mut ev, &mut rng, 2.0) else {
        return FitResult::Undetermined("no finite starting point".into());
    };
    let mode = match maximise(&mut ev, &x0, &LbfgsSettings::default()) {
        Ok(r) => r.x,
        Err(e) => return FitResult::Undetermined(e.to_string()),
    };
    let lap = match laplace(&mut ev, &mode) {
        Ok(l) => l,
        Err(e) => return FitResult::Undetermined(e),
    };
    let names = model.latent_names().len() + super::rows::law_names(model).len();
    let (mut sum, mut sum2) = (vec![0.0; names], vec![0.0; names]);
    let mut n = 0.0;
    for x in lap.draws(DRAWS, seed) {
        let Ok(outputs) = ev.constrain(&x) else {
            continue;
        };
        let values = outputs.iter().flat_map(|o| o.values.iter());
        for (i, v) in values.enumerate() {
            sum[i] += v;
            sum2[i] += v * v;
        }
        n += 1.0;
    }
    let mut mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let mut sd: Vec<f64> = sum2
        .iter()
        .zip(&mean)
        .map(|(s2, m)| ((s2 / n - m * m).max(0.0) * n / (n - 1.0)).sqrt())
        .collect();
    // An unconstrained latent is the Gaussian itself: its mean and sd are exact, no Monte Carlo.
    let mut at = 0;
    for l in &model.graph.latents {
        let len: usize = l.shape.iter().product();
        if matches!(
            model.graph.node(l.value).op,
            crate::ir::graph::Op::Param { .. }
        ) {
            mean[at..at + len].copy_from_slice(&lap.mode[l.offset..l.offset + len]);
            sd[at..at + len].copy_from_slice(&lap.sd[l.offset..l.offset + len]);
        }
        at += len;
    }
    FitResult::Fit(Fit {
        mean,
        sd,
        mode: lap.mode.clone(),
    })
}

/// Fits the prior alone, each modality alone, all of them, and all but each one.
pub fn modality_report(model: &CompiledModel, seed: u64) -> ModalityReport {
    let k = model.graph.modalities.len();
    let modalities: Vec<String> = model
        .graph
        .modalities
        .iter()
        .map(|m| m.name.clone())
        .collect();
    let base: Vec<f64> = model.graph.modalities.iter().map(|m| m.weight).collect();
    let only = |j: Option<usize>| -> Vec<f64> {
        (0..k)
            .map(|i| if Some(i) == j { base[i] } else { 0.0 })
            .collect()
    };
    let prior = fit(model, &only(None), seed);
    let joint = fit(model, &base, seed);
    let single: Vec<FitResult> = (0..k).map(|j| fit(model, &only(Some(j)), seed)).collect();
    let leave_out: Vec<FitResult> = (0..k)
        .map(|j| {
            let mut w = base.clone();
            w[j] = 0.0;
            fit(model, &w, seed)
        })
        .collect();
    let mut names = model.latent_names();
    let latent_count = names.len();
    names.extend(super::rows::law_names(model));
    let mut warnings = vec![];
    if let FitResult::Fit(j) = &joint {
        for (m, lo) in modalities.iter().zip(&leave_out) {
            if k < 2 {
                break;
            }
            let FitResult::Fit(lo) = lo else { continue };
            // Conflicts are looked for in the latents: a law only echoes them.
            let n = latent_count;
            if let Some((i, z)) =
                worst_conflict(&j.mean[..n], &j.sd[..n], &lo.mean[..n], &lo.sd[..n])
            {
                warnings.push(conflict_warning(m, &names[i], z, j.mean[i], lo.mean[i]));
            }
        }
    }
    let residuals = match &joint {
        FitResult::Fit(j) => residual_checks(model, &j.mode),
        FitResult::Undetermined(_) => vec![],
    };
    for r in &residuals {
        let ratio = (r.chi2 / r.n as f64).sqrt();
        if r.p_value < 1e-3 && ratio > 2.0 {
            warnings.push(format!(
                "`{}`'s residuals at the joint mode are {ratio:.1} times its stated noise (chi-square {:.1} \
                 on {} values, p = {:.1e}): its noise is understated, or other modalities pull the fit away \
                 from it (see the shifts above).",
                r.modality, r.chi2, r.n, r.p_value
            ));
        }
    }
    ModalityReport {
        residuals,
        rows: rows_with_laws(model),
        names,
        latent_count,
        modalities,
        prior,
        joint,
        single,
        leave_out,
        warnings,
    }
}

fn cell(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.4}"),
        _ => "-".to_string(),
    }
}

impl ModalityReport {
    /// The table: posterior sds (prior, each modality alone, joint), variance reduction each modality
    /// brings alone and on top of the others, and the mean shift when it is left out.
    pub fn table(&self) -> String {
        let w = label_width(&self.rows);
        let mut out = String::new();
        let mods = &self.modalities;
        writeln!(
            out,
            "posterior sd: the prior alone, each modality alone, all together"
        )
        .unwrap();
        let mut head = format!("{:w$} {:>10}", "", "prior");
        for m in mods {
            head.push_str(&format!(" {:>12}", format!("{m} only")));
        }
        head.push_str(&format!(" {:>10}", "joint"));
        writeln!(out, "{head}").unwrap();
        let sd = |f: &FitResult, r: &Row| f.fit().map(|f| r.sd(&f.sd));
        for r in &self.rows {
            let mut line = format!("{:w$} {:>10}", r.label, cell(sd(&self.prior, r)));
            for s in &self.single {
                line.push_str(&format!(" {:>12}", cell(sd(s, r))));
            }
            line.push_str(&format!(" {:>10}", cell(sd(&self.joint, r))));
            writeln!(out, "{line}").unwrap();
        }
        writeln!(out, "\nvariance reduction (alone / on top of the others) and mean shift when left out (joint sds)").unwrap();
        let mut head = format!("{:w$}", "");
        for m in mods {
            head.push_str(&format!(" {:>26}", m));
        }
        writeln!(out, "{head}").unwrap();
        let reduction = |with: &FitResult, without: &FitResult, r: &Row| {
            Some(r.reduction(&with.fit()?.sd, &without.fit()?.sd))
        };
        for r in &self.rows {
            let mut line = format!("{:w$}", r.label);
            for j in 0..mods.len() {
                let alone = reduction(&self.single[j], &self.prior, r);
                let extra = reduction(&self.joint, &self.leave_out[j], r);
                let shift = match (self.joint.fit(), self.leave_out[j].fit()) {
                    (Some(a), Some(b)) => Some(r.shift(&a.mean, &b.mean, &a.sd)),
                    _ => None,
                };
                let pct =
                    |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.0}%", 100.0 * x));
                line.push_str(&format!(
                    " {:>8} / {:>6} {:>8}",
                    pct(alone),
                    pct(extra),
                    cell(shift)
                ));
            }
            writeln!(out, "{line}").unwrap();
        }
        let undetermined: Vec<String> =
            std::iter::once(("the prior alone".to_string(), &self.prior))
                .chain(
                    mods.iter()
                        .zip(&self.single)
                        .map(|(m, f)| (format!("{m} alone"), f)),
                )
                .chain(std::iter::once((
                    "all modalities together".to_string(),
                    &self.joint,
                )))
                .filter_map(|(what, f)| match f {
                    FitResult::Undetermined(why) => Some(format!("{what}: {why}")),
                    _ => None,
                })
                .collect();
        for u in undetermined {
            writeln!(out, "\nnot determined by {u}").unwrap();
        }
        if !self.residuals.is_empty() {
            writeln!(out, "\nresiduals at the joint mode (normal likelihoods)").unwrap();
            for r in &self.residuals {
                writeln!(
                    out,
                    "{:w$} {:>5} values  rms standardised residual {:>8.3}  p = {:.3}",
                    r.modality,
                    r.n,
                    (r.chi2 / r.n as f64).sqrt(),
                    r.p_value
                )
                .unwrap();
            }
        }
        if matches!(self.joint, FitResult::Undetermined(_)) {
            writeln!(
                out,
                "\nThe joint posterior has no proper mode in the unconstrained space (typical of \
                 hierarchical scales, where the density grows without bound as a scale goes to zero), so \
                 Laplace fits cannot describe it; sample it with `mmi sample` instead."
            )
            .unwrap();
        }
        for warning in &self.warnings {
            writeln!(out, "\nWarning: {warning}").unwrap();
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let fit = |f: &FitResult| match f {
            FitResult::Fit(f) => json!({"mean": f.mean, "sd": f.sd}),
            FitResult::Undetermined(why) => json!({"undetermined": why}),
        };
        // Each fit's mean and sd list the latents' elements, then the laws'.
        json!({
            "latents": self.names[..self.latent_count],
            "laws": self.names[self.latent_count..],
            "modalities": self.modalities,
            "prior": fit(&self.prior),
            "joint": fit(&self.joint),
            "single": self.single.iter().map(fit).collect::<Vec<_>>(),
            "leave_one_out": self.leave_out.iter().map(fit).collect::<Vec<_>>(),
            "residuals": self.residuals.iter().map(|r| json!({
                "modality": r.modality, "n": r.n, "chi2": r.chi2, "p_value": r.p_value,
            })).collect::<Vec<_>>(),
            "warnings": self.warnings,
        })
    }
}
