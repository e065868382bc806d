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

use super::draws::KHAT_MAX;
use super::rows::{label_width, rows_with_laws, Row};
use crate::eval::CompiledModel;
use crate::infer::laplace::{laplace, Laplace};
use crate::infer::lbfgs::{maximise, LbfgsSettings};
use crate::infer::psis::psis;
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
    /// The Laplace approximation's self-check on the joint posterior (`laplace_khat`), if there is a
    /// joint fit.
    pub laplace_khat: Option<f64>,
    pub warnings: Vec<String>,
    /// Conflict and residual warnings that were not given because the Laplace approximation failed its
    /// self-check (k-hat > `KHAT_MAX`): what the fits would have said, kept for the JSON output.
    pub withheld: Vec<String>,
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
/// A standardised shift (see `worst_conflict`) beyond which a modality is said to conflict, when one
/// element is searched; `conflict_threshold` raises it for many.
pub const CONFLICT_SDS: f64 = 3.0;

/// The |z| a conflict must exceed when the largest of `n` standardised shifts is searched for.
///
/// Under agreement each z is standard normal, so flagging any |z| > 3 among n elements raises a false
/// alarm with probability 1 - (1 - 0.0027)^n: about one field model in two at n = 240. Bonferroni over
/// the elements keeps the family-wise rate at (at most) the one-element rate alpha = P(|Z| > 3) =
/// 0.0027: the threshold is the z whose two-sided tail is alpha / n, z_thr(n) = Phi^-1(1 - alpha / 2n)
/// = sqrt(2) erfc^-1(alpha / n), which is 3 for n = 1, 3.8 for n = 20, 4.4 for n = 240 and 5.1 for
/// n = 10^4. Bonferroni is nearly exact here (the rate is 1 - (1 - alpha/n)^n, within alpha^2 / 2 of
/// alpha) and needs no assumption about how the elements' shifts are correlated.
pub fn conflict_threshold(n: usize) -> f64 {
    use statrs::function::erf::{erfc, erfc_inv};
    use std::f64::consts::SQRT_2;
    if n <= 1 {
        return CONFLICT_SDS;
    }
    let alpha = erfc(CONFLICT_SDS / SQRT_2);
    SQRT_2 * erfc_inv(alpha / n as f64)
}

/// The latent element whose posterior mean moves most surprisingly when a modality is added to the
/// others, if the move is both material and surprising:
/// - material: more than `CONFLICT_SDS` joint posterior sds (a source that agrees with a far more
///   precise consensus but nudges it by a hair is not the culprit);
/// - surprising: adding a source that agrees with the others moves the mean by a random amount whose
///   variance is var(without) - var(with) (exact for linear-Gaussian models), so
///   z = shift / sqrt(var(without) - var(with)) is standard normal when the sources agree; |z| must
///   exceed `conflict_threshold(n)` for the n = `mean.len()` elements searched (3 for one element,
///   higher for many, so that a field of hundreds of cells does not raise a false alarm in every
///   other model). A latent that only this modality determines (without it, the prior's wide value)
///   has a large var(without), so no false alarm.
///
/// Returns the element's index and its z.
pub fn worst_conflict(
    mean: &[f64],
    sd: &[f64],
    mean_without: &[f64],
    sd_without: &[f64],
) -> Option<(usize, f64)> {
    let threshold = conflict_threshold(mean.len());
    (0..mean.len())
        .filter_map(|i| {
            let var = sd_without[i].powi(2) - sd[i].powi(2);
            let z = (mean[i] - mean_without[i]) / var.sqrt();
            let material = ((mean[i] - mean_without[i]) / sd[i]).abs() > CONFLICT_SDS;
            (var > 0.0 && material && z.is_finite() && z.abs() > threshold).then_some((i, z))
        })
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
}

/// The plain-words warning for a conflict found by `worst_conflict` among `searched` elements.
pub fn conflict_warning(
    modality: &str,
    latent: &str,
    z: f64,
    with: f64,
    without: f64,
    searched: usize,
) -> String {
    // With many elements the bar is above 3 sd; saying so tells the reader why a 4 sd shift elsewhere
    // in the table raised no warning.
    let bar = if searched > 1 {
        format!(
            "; with {searched} latent elements searched, only shifts beyond {:.1} sd are reported, \
             so that chance alone raises this warning in under 0.3% of models",
            conflict_threshold(searched)
        )
    } else {
        String::new()
    };
    format!(
        "`{modality}` pulls {latent} {:.1} sd away from what the other modalities imply ({with:.4} with \
         it, {without:.4} without; sd of the shift expected if they agreed{bar}): the sources disagree. \
         Check {modality}'s forward model and noise, or give it a robust likelihood or a tempering \
         weight.",
        z.abs()
    )
}

/// The Laplace fit of the model with these modality weights (1 on, 0 off).
pub fn fit(model: &CompiledModel, weights: &[f64], seed: u64) -> FitResult {
    match laplace_fit(model, weights, seed) {
        Ok((_, f)) => FitResult::Fit(f),
        Err(why) => FitResult::Undetermined(why),
    }
}

/// The Laplace approximation with these modality weights and the fit read from it, or why there is
/// none.
fn laplace_fit(
    model: &CompiledModel,
    weights: &[f64],
    seed: u64,
) -> Result<(Laplace, Fit), String> {
    let mut ev = model.evaluator();
    for (k, w) in weights.iter().enumerate() {
        ev.set_modality_weight(k, *w);
    }
    let mut rng = chain_rng(seed, 0);
    let Some(x0) = initial_point(&mut ev, &mut rng, 2.0) else {
        return Err("no finite starting point".into());
    };
    let mode = maximise(&mut ev, &x0, &LbfgsSettings::default())
        .map_err(|e| e.to_string())?
        .x;
    let lap = laplace(&mut ev, &mode)?;
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
    let fit = Fit {
        mean,
        sd,
        mode: lap.mode.clone(),
    };
    Ok((lap, fit))
}

/// How well the Laplace approximation q describes the posterior p it was fitted to (with these
/// modality weights): its `DRAWS` draws (those the fit's moments came from) weighted by p / q, with
/// log p the model's log density in the unconstrained space (Jacobians included, as the sampler's
/// target) and log q the Gaussian's. The Pareto k-hat of those weights (`psis`) is small when q
/// covers p (exactly Gaussian p: constant weights) and above `KHAT_MAX` when p has mass where q has
/// next to none: a joint mode far from the posterior mass (a scale multiplying many field cells), or
/// tails q misses. A draw where the model cannot be evaluated (outside the support) has weight 0.
pub fn laplace_khat(model: &CompiledModel, lap: &Laplace, weights: &[f64], seed: u64) -> f64 {
    let mut ev = model.evaluator();
    for (k, w) in weights.iter().enumerate() {
        ev.set_modality_weight(k, *w);
    }
    let log_w: Vec<f64> = lap
        .draws(DRAWS, seed)
        .iter()
        .map(|x| match ev.log_density(x) {
            Ok(lp) => lp - lap.log_density(x),
            Err(_) => f64::NEG_INFINITY,
        })
        .collect();
    let khat = psis(&log_w).1;
    // Weights equal to rounding (an exactly Gaussian posterior) may tie at the top and leave `psis` no
    // tail to fit, which it reports as an infinite k-hat; they are the best case, a point mass for a
    // tail, whose shape is -inf. (A Gaussian posterior normally shows a k-hat near 0 instead: the
    // finite-difference Hessian's tiny errors give the weights a light, smooth tail.)
    let (lo, hi) = log_w
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), w| {
            (lo.min(*w), hi.max(*w))
        });
    if khat.is_infinite() && lo.is_finite() && hi - lo <= 1e-9 {
        return f64::NEG_INFINITY;
    }
    khat
}

/// The warning of a Laplace approximation that fails its self-check (`laplace_khat`).
fn untrusted_warning(khat: f64, withheld: usize) -> String {
    let conflicts = match withheld {
        0 => String::new(),
        1 => {
            "; the one conflict or residual warning it gave was withheld as unreliable".to_string()
        }
        n => {
            format!("; the {n} conflict and residual warnings it gave were withheld as unreliable")
        }
    };
    format!(
        "the Laplace approximation does not describe this posterior (k-hat {khat:.2} > {KHAT_MAX} \
         for the joint posterior against its Gaussian): the sds and mean shifts above may be far \
         off{conflicts}. `mmi sample --report` (or `mmi report --draws DIR` on the chains of \
         `mmi sample --output DIR`) gives the report from posterior draws."
    )
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
    let (joint, laplace_khat) = match laplace_fit(model, &base, seed) {
        Ok((lap, f)) => (
            FitResult::Fit(f),
            Some(laplace_khat(model, &lap, &base, seed)),
        ),
        Err(why) => (FitResult::Undetermined(why), None),
    };
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
    let mut conflicts = vec![];
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
                conflicts.push(conflict_warning(m, &names[i], z, j.mean[i], lo.mean[i], n));
            }
        }
    }
    let residuals = match &joint {
        FitResult::Fit(j) => residual_checks(model, &j.mode),
        FitResult::Undetermined(_) => vec![],
    };
    let mut findings = conflicts;
    for r in &residuals {
        let ratio = (r.chi2 / r.n as f64).sqrt();
        if r.p_value < 1e-3 && ratio > 2.0 {
            findings.push(format!(
                "`{}`'s residuals at the joint mode are {ratio:.1} times its stated noise (chi-square {:.1} \
                 on {} values, p = {:.1e}): its noise is understated, or other modalities pull the fit away \
                 from it (see the shifts above).",
                r.modality, r.chi2, r.n, r.p_value
            ));
        }
    }
    // The conflicts are judged from the Laplace means and sds, the residuals at the joint mode: when
    // the approximation fails its self-check, the mode is not where the posterior mass is and neither
    // is a finding (a scale multiplying a field, with data that agree by construction, shows both a
    // conflict and residuals 5 times the noise at its joint mode). They are withheld rather than
    // printed with a caveat, since a named culprit is what a reader acts on; the draws-based report
    // judges them properly.
    let (warnings, withheld) = match laplace_khat {
        Some(k) if k.is_nan() || k > KHAT_MAX => {
            (vec![untrusted_warning(k, findings.len())], findings)
        }
        _ => (findings, vec![]),
    };
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
        laplace_khat,
        warnings,
        withheld,
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
        if let Some(k) = self.laplace_khat {
            let verdict = if k <= KHAT_MAX {
                format!("<= {KHAT_MAX}: the Gaussian describes it")
            } else {
                format!("> {KHAT_MAX}: the Gaussian does not describe it, see the warning below")
            };
            writeln!(
                out,
                "Laplace self-check: k-hat {k:.2} of the joint posterior's importance weights \
                 against its Gaussian ({verdict})\n"
            )
            .unwrap();
        }
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
            // JSON has no infinities: a non-finite k-hat is written as text.
            "laplace_khat": match self.laplace_khat {
                Some(k) if k.is_finite() => json!(k),
                Some(k) => json!(k.to_string()),
                None => serde_json::Value::Null,
            },
            "warnings": self.warnings,
            "withheld_warnings": self.withheld,
        })
    }
}
