//! What each data source contributes, and whether the sources agree, from Laplace fits: the prior
//! alone, each modality alone, all of them, and all but one. For a linear-Gaussian model (unconstrained
//! latents) the Laplace approximation is the exact posterior, so these numbers are exact there.
//!
//! A fit that has no maximum (an improper prior alone, or a modality that cannot identify a latent on
//! its own) is reported as such, which is itself an answer: "gravity alone cannot determine this".

use crate::eval::CompiledModel;
use crate::infer::laplace::laplace;
use crate::infer::lbfgs::{maximise, LbfgsSettings};
use crate::infer::sample::{chain_rng, initial_point};
use serde_json::json;
use std::fmt::Write;

/// The posterior mean and sd of every latent element under one combination of modalities.
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
    fn sd(&self, i: usize) -> Option<f64> {
        match self {
            FitResult::Fit(f) => Some(f.sd[i]),
            FitResult::Undetermined(_) => None,
        }
    }

    fn mean(&self, i: usize) -> Option<f64> {
        match self {
            FitResult::Fit(f) => Some(f.mean[i]),
            FitResult::Undetermined(_) => None,
        }
    }
}

/// The per-modality report.
#[derive(Debug, Clone)]
pub struct ModalityReport {
    /// Latent element names (`T[2,3]`).
    pub names: Vec<String>,
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
/// A shift of a latent's mean when a modality is left out, in units of the shift agreement would
/// explain (at least one joint posterior sd), beyond which the modality is said to conflict.
pub const CONFLICT_SDS: f64 = 3.0;

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
    let names = model.latent_names().len();
    let (mut sum, mut sum2) = (vec![0.0; names], vec![0.0; names]);
    let mut n = 0.0;
    for x in lap.draws(DRAWS, seed) {
        let Ok(outputs) = ev.constrain(&x) else {
            continue;
        };
        let values = outputs
            .iter()
            .take(model.graph.latents.len())
            .flat_map(|o| o.values.iter());
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
    let names = model.latent_names();
    let mut warnings = vec![];
    if let FitResult::Fit(j) = &joint {
        for (m, lo) in modalities.iter().zip(&leave_out) {
            if k < 2 {
                break;
            }
            let FitResult::Fit(lo) = lo else { continue };
            let mut worst: Option<(usize, f64)> = None;
            for i in 0..names.len() {
                let shift = (j.mean[i] - lo.mean[i]) / j.sd[i];
                // When the modality agrees with the others, adding it moves the mean by about
                // sqrt(sd_without^2 - sd_joint^2) (it removes that much variance): a latent that only
                // this modality informs moves far in joint sds without any disagreement.
                let expected = (lo.sd[i].powi(2) - j.sd[i].powi(2)).max(0.0).sqrt() / j.sd[i];
                let limit = CONFLICT_SDS * expected.max(1.0);
                if shift.abs() > limit && worst.is_none_or(|(_, s)| shift.abs() > s.abs()) {
                    worst = Some((i, shift));
                }
            }
            if let Some((i, shift)) = worst {
                warnings.push(format!(
                    "`{m}` pulls {} {:.1} joint posterior sds away from what the other modalities imply \
                     ({:.4} with it, {:.4} without): the sources disagree. Check {m}'s forward model and \
                     noise, or give it a robust likelihood or a tempering weight.",
                    names[i],
                    shift.abs(),
                    j.mean[i],
                    lo.mean[i]
                ));
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
        names,
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
    /// 1 - var(with) / var(without): the share of uncertainty a fit removes, `None` when undetermined.
    fn reduction(with: &FitResult, without: &FitResult, i: usize) -> Option<f64> {
        Some(1.0 - (with.sd(i)? / without.sd(i)?).powi(2))
    }

    /// The table: posterior sds (prior, each modality alone, joint), variance reduction each modality
    /// brings alone and on top of the others, and the mean shift when it is left out.
    pub fn table(&self) -> String {
        let w = self.names.iter().map(|n| n.len()).max().unwrap_or(6).max(6);
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
        for (i, n) in self.names.iter().enumerate() {
            let mut line = format!("{n:w$} {:>10}", cell(self.prior.sd(i)));
            for s in &self.single {
                line.push_str(&format!(" {:>12}", cell(s.sd(i))));
            }
            line.push_str(&format!(" {:>10}", cell(self.joint.sd(i))));
            writeln!(out, "{line}").unwrap();
        }
        writeln!(out, "\nvariance reduction (alone / on top of the others) and mean shift when left out (joint sds)").unwrap();
        let mut head = format!("{:w$}", "");
        for m in mods {
            head.push_str(&format!(" {:>26}", m));
        }
        writeln!(out, "{head}").unwrap();
        for (i, n) in self.names.iter().enumerate() {
            let mut line = format!("{n:w$}");
            for j in 0..mods.len() {
                let alone = Self::reduction(&self.single[j], &self.prior, i);
                let extra = Self::reduction(&self.joint, &self.leave_out[j], i);
                let shift = match (
                    self.joint.mean(i),
                    self.leave_out[j].mean(i),
                    self.joint.sd(i),
                ) {
                    (Some(a), Some(b), Some(s)) => Some((a - b) / s),
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
        json!({
            "latents": self.names,
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
