//! The marginal likelihood (evidence) p(y) = integral of p(y | theta) p(theta) dtheta, for comparing
//! models. The model must be compiled with every constant kept (`passes::Settings::keep_constants`)
//! and have proper priors; the integral is taken over the unconstrained space, so the log density
//! includes the log-Jacobian of the constraining transforms.
//!
//! Two estimates:
//! - Laplace: a Gaussian fitted at the mode of the unconstrained density, log q(mode) + d/2 log 2 pi
//!   + 1/2 log det(covariance). Exact for linear-Gaussian models, fast, with no error estimate.
//! - Bridge sampling (Meng and Wong 1996, in the form of Gronau et al. 2017): NUTS draws; the first half
//!   of each chain fits a multivariate normal proposal, the second half and as many proposal draws enter
//!   the iterative bridge estimator; its error is the approximate relative mean-squared error of
//!   Frühwirth-Schnatter (2004), with the posterior draws' autocorrelation, which is the standard
//!   error of the log evidence to first order.

use super::laplace::laplace;
use super::lbfgs::{maximise, LbfgsSettings};
use super::sample::{chain_rng, initial_point, sample, SampleSettings, SAMPLER_COLUMNS};
use crate::check::{CheckedModel, Structure};
use crate::eval::{CompiledModel, Evaluator};
use crate::syntax::ast::Item;
use rand::RngExt;
use rand_distr::StandardNormal;
use std::sync::atomic::AtomicBool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Laplace,
    Bridge,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Laplace => "laplace",
            Method::Bridge => "bridge",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub log_z: f64,
    /// The Monte Carlo standard error of `log_z` (bridge sampling); NaN for Laplace, whose error is
    /// one of approximation, not of sampling.
    pub error: f64,
    pub method: Method,
    /// How many distinct modes the Laplace estimate sums over (None for bridge sampling).
    pub modes: Option<usize>,
}

impl Evidence {
    /// The estimate as the command line and the REPL print it: `-12.3456 ± 0.0012 (bridge)`, or
    /// `-12.3456 (laplace)`, with the number of modes when there are several.
    pub fn describe(&self) -> String {
        let value = if self.error.is_finite() {
            format!("{:.4} ± {:.4}", self.log_z, self.error)
        } else {
            format!("{:.4}", self.log_z)
        };
        match self.modes {
            Some(m) if m > 1 => format!("{value} ({}, {m} modes)", self.method.name()),
            _ => format!("{value} ({})", self.method.name()),
        }
    }
}

/// Latents whose prior is improper (flat, or an intrinsic random walk), for which there is no evidence.
pub fn improper_latents(model: &CheckedModel) -> Vec<String> {
    let mut with_prior: Vec<&str> = vec![];
    for item in &model.program.items {
        if let Item::Tilde(t) = item {
            with_prior.extend(t.lhs.names().into_iter().map(|(n, _)| n));
        }
    }
    let mut out = vec![];
    for item in &model.program.items {
        let Item::Latent(block) = item else { continue };
        for d in &block.decls {
            let name = d.name.name.as_str();
            let info = model.latents.iter().find(|l| l.name == name);
            let bounded = info.is_some_and(|i| {
                i.structure == Structure::Simplex || (i.lower.is_some() && i.upper.is_some())
            });
            let intrinsic = d
                .prior
                .as_ref()
                .is_some_and(|p| matches!(p.name.name.as_str(), "rw1" | "rw2"));
            let flat = d.prior.is_none() && !with_prior.contains(&name) && !bounded;
            if flat || intrinsic {
                out.push(name.to_string());
            }
        }
    }
    for item in &model.program.items {
        if let Item::Tilde(t) = item {
            if matches!(t.dist.name.name.as_str(), "rw1" | "rw2") {
                out.extend(t.lhs.names().into_iter().map(|(n, _)| n.to_string()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Why a model has no evidence to estimate.
#[derive(Debug)]
pub enum NotNormalised {
    /// These latents have improper priors.
    Improper(Vec<String>),
    /// Compiling with every constant kept failed.
    Compile(Vec<crate::Diagnostic>),
}

impl NotNormalised {
    /// The message for a model named `name` (compile errors are rendered by the caller).
    pub fn message(&self, name: &str) -> String {
        match self {
            NotNormalised::Improper(names) => format!(
                "{name} has no marginal likelihood: the prior of {} is improper (flat or an \
                 intrinsic random walk); give every latent a proper prior",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            NotNormalised::Compile(_) => format!("{name} does not compile"),
        }
    }
}

/// Compiles a model for its evidence: every constant of every density kept, proper priors required.
pub fn compile_normalised(
    model: &CheckedModel,
    data: &crate::data::DataSet,
) -> Result<CompiledModel, NotNormalised> {
    let improper = improper_latents(model);
    if !improper.is_empty() {
        return Err(NotNormalised::Improper(improper));
    }
    let settings = crate::passes::Settings {
        keep_constants: true,
        ..Default::default()
    };
    crate::compile(model, data, &settings).map_err(NotNormalised::Compile)
}

/// The evidence with these modality weights by `method`; `seed` seeds the sampler (bridge) or the
/// optimiser's start (Laplace).
pub fn estimate(
    model: &CompiledModel,
    weights: &[f64],
    method: Method,
    seed: u64,
) -> Result<Evidence, String> {
    match method {
        Method::Laplace => laplace_evidence(model, weights, seed),
        Method::Bridge => {
            let settings = SampleSettings {
                seed,
                ..Default::default()
            };
            bridge_evidence(model, weights, &settings)
        }
    }
}

fn evaluator<'m>(model: &'m CompiledModel, weights: &[f64]) -> Evaluator<'m> {
    let mut ev = model.evaluator();
    ev.set_jacobian(true);
    for (k, w) in weights.iter().enumerate() {
        ev.set_modality_weight(k, *w);
    }
    ev
}

/// Optimiser starts of the Laplace estimate.
const LAPLACE_STARTS: usize = 4;

/// The Laplace estimate with these modality weights (1 on, 0 off).
///
/// One optimisation finds one mode, and which one depends on its start: on a multimodal posterior
/// (the conformers of a molecule, a sign the data cannot fix) a single start makes the estimate a
/// matter of luck, off by the mass of the modes it missed. So L-BFGS runs from `LAPLACE_STARTS`
/// random starts, and the estimate sums the Laplace evidence of every distinct mode found (a mixture
/// of Gaussians, one per mode: right when the modes are well separated). A mode within one standard
/// deviation (Mahalanobis, in the Laplace metric of a mode already found) is the same mode.
pub fn laplace_evidence(
    model: &CompiledModel,
    weights: &[f64],
    seed: u64,
) -> Result<Evidence, String> {
    let mut ev = evaluator(model, weights);
    // Each distinct mode's Laplace approximation with its log evidence.
    let mut modes: Vec<(super::laplace::Laplace, f64)> = vec![];
    let mut failure = String::from("no finite starting point for the optimiser");
    for start in 0..LAPLACE_STARTS {
        let mut rng = chain_rng(seed, start);
        let Some(x0) = initial_point(&mut ev, &mut rng, 2.0) else {
            continue;
        };
        let mode = match maximise(&mut ev, &x0, &LbfgsSettings::default()) {
            Ok(r) => r.x,
            Err(e) => {
                failure = e.to_string();
                continue;
            }
        };
        if modes.iter().any(|(lap, _)| mahalanobis2(lap, &mode) < 1.0) {
            continue;
        }
        let lap = laplace(&mut ev, &mode)?;
        let at_mode = ev.log_density(&mode).map_err(|e| e.to_string())?;
        let log_z = lap.log_evidence(at_mode);
        modes.push((lap, log_z));
    }
    if modes.is_empty() {
        return Err(failure);
    }
    let top = modes.iter().map(|m| m.1).fold(f64::NEG_INFINITY, f64::max);
    let log_z = top + modes.iter().map(|m| (m.1 - top).exp()).sum::<f64>().ln();
    Ok(Evidence {
        log_z,
        error: f64::NAN,
        method: Method::Laplace,
        modes: Some(modes.len()),
    })
}

/// The squared Mahalanobis distance of `x` from a Laplace approximation's mode, in its precision.
fn mahalanobis2(lap: &super::laplace::Laplace, x: &[f64]) -> f64 {
    let d = x.len();
    let dx: Vec<f64> = x.iter().zip(&lap.mode).map(|(a, b)| a - b).collect();
    (0..d)
        .map(|i| -dx[i] * (0..d).map(|j| lap.hessian[i * d + j] * dx[j]).sum::<f64>())
        .sum()
}

/// The bridge-sampling estimate with these modality weights, from NUTS run with `settings`.
pub fn bridge_evidence(
    model: &CompiledModel,
    weights: &[f64],
    settings: &SampleSettings,
) -> Result<Evidence, String> {
    let mut graph = model.graph.clone();
    for (m, w) in graph.modalities.iter_mut().zip(weights) {
        m.weight = *w;
    }
    let weighted = CompiledModel::new(graph);
    let chains = sample(&weighted, settings, &AtomicBool::new(false), &|_, _| {})
        .map_err(|e| e.to_string())?;
    let mut ev = evaluator(model, weights);
    let d = model.dim();
    // Unconstrained draws, per chain.
    let first = SAMPLER_COLUMNS.len();
    let mut per_chain: Vec<Vec<Vec<f64>>> = vec![];
    for c in &chains {
        let mut xs = vec![];
        for row in &c.rows {
            xs.push(ev.unconstrain(&model.named_latents(&row[first..]))?);
        }
        per_chain.push(xs);
    }
    // First halves fit the proposal; second halves are the posterior draws of the estimator.
    let fit: Vec<&Vec<f64>> = per_chain
        .iter()
        .flat_map(|c| c[..c.len() / 2].iter())
        .collect();
    let post: Vec<Vec<&Vec<f64>>> = per_chain
        .iter()
        .map(|c| c[c.len() / 2..].iter().collect())
        .collect();
    let n1: usize = post.iter().map(|c| c.len()).sum();
    if fit.len() < 2 * d + 2 || n1 < 10 {
        return Err(format!(
            "{} draws are too few for bridge sampling in {d} dimensions",
            fit.len() + n1
        ));
    }
    let proposal = Gaussian::fit(&fit)?;
    let log_q = |ev: &mut Evaluator, x: &[f64]| ev.log_density(x).unwrap_or(f64::NEG_INFINITY);
    // l = log q - log g at the posterior draws (by chain) and at the proposal draws.
    let mut q11 = vec![];
    let mut q12 = vec![];
    for c in &post {
        for x in c {
            q11.push(log_q(&mut ev, x));
            q12.push(proposal.log_density(x));
        }
    }
    let mut rng = chain_rng(settings.seed, 1000);
    let n2 = n1;
    let (mut q21, mut q22) = (Vec::with_capacity(n2), Vec::with_capacity(n2));
    let mut x = vec![0.0; d];
    for _ in 0..n2 {
        proposal.draw(&mut rng, &mut x);
        q21.push(log_q(&mut ev, &x));
        q22.push(proposal.log_density(&x));
    }
    let l1: Vec<f64> = q11.iter().zip(&q12).map(|(a, b)| a - b).collect();
    let l2: Vec<f64> = q21.iter().zip(&q22).map(|(a, b)| a - b).collect();
    let log_z = iterate(&l1, &l2)?;
    // Error terms: f1 at the proposal draws, f2 at the posterior draws (kept by chain, for the
    // autocorrelation).
    let (s1, s2) = (n1 as f64 / (n1 + n2) as f64, n2 as f64 / (n1 + n2) as f64);
    let f1: Vec<f64> = l2
        .iter()
        .map(|l| 1.0 / (s1 + s2 * (log_z - l).exp()))
        .collect();
    let mut f2_chains = vec![];
    let mut at = 0;
    for c in &post {
        f2_chains.push(
            l1[at..at + c.len()]
                .iter()
                .map(|l| 1.0 / (s1 * (l - log_z).exp() + s2))
                .collect::<Vec<f64>>(),
        );
        at += c.len();
    }
    let (m1, v1) = mean_var(&f1);
    let all_f2: Vec<f64> = f2_chains.concat();
    let (m2, _) = mean_var(&all_f2);
    // The variance of the mean of f2 with autocorrelation: its MCSE squared.
    let mcse = super::diagnostics::summarize(&f2_chains).mcse_mean;
    let re2 = v1 / (n2 as f64 * m1 * m1) + (mcse * mcse) / (m2 * m2);
    Ok(Evidence {
        log_z,
        error: re2.sqrt(),
        method: Method::Bridge,
        modes: None,
    })
}

/// The iterative bridge estimator on the log scale (shifted by the median of l1 against overflow).
fn iterate(l1: &[f64], l2: &[f64]) -> Result<f64, String> {
    let mut sorted: Vec<f64> = l1.iter().copied().filter(|x| x.is_finite()).collect();
    if sorted.len() < l1.len() / 2 {
        return Err("the log density is not finite at most posterior draws".into());
    }
    sorted.sort_by(f64::total_cmp);
    let lstar = sorted[sorted.len() / 2];
    let (n1, n2) = (l1.len() as f64, l2.len() as f64);
    let (s1, s2) = (n1 / (n1 + n2), n2 / (n1 + n2));
    let mut r: f64 = 1.0;
    let mut log_z = lstar;
    for _ in 0..1000 {
        let num: f64 = l2
            .iter()
            .map(|l| {
                // exp(l - lstar) / (s1 exp(l - lstar) + s2 r), written to stay finite.
                if l.is_finite() {
                    1.0 / (s1 + s2 * r * (lstar - l).exp())
                } else {
                    0.0
                }
            })
            .sum();
        let den: f64 = l1
            .iter()
            .map(|l| 1.0 / (s1 * (l - lstar).exp() + s2 * r))
            .sum();
        let next = (n1 / n2) * num / den;
        if !(next.is_finite() && next > 0.0) {
            return Err("the bridge sampling iteration did not converge".into());
        }
        let next_log = next.ln() + lstar;
        let done = (next_log - log_z).abs() <= 1e-10 * log_z.abs().max(1.0);
        r = next;
        log_z = next_log;
        if done {
            return Ok(log_z);
        }
    }
    Err("the bridge sampling iteration did not converge in 1000 steps".into())
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0);
    (m, v)
}

/// A multivariate normal proposal fitted to draws.
struct Gaussian {
    mean: Vec<f64>,
    /// Lower Cholesky factor of the covariance, row-major.
    chol: Vec<f64>,
    log_norm: f64,
}

impl Gaussian {
    fn fit(draws: &[&Vec<f64>]) -> Result<Gaussian, String> {
        let d = draws[0].len();
        let n = draws.len() as f64;
        let mut mean = vec![0.0; d];
        for x in draws {
            for (m, v) in mean.iter_mut().zip(x.iter()) {
                *m += v / n;
            }
        }
        let mut cov = nalgebra::DMatrix::<f64>::zeros(d, d);
        for x in draws {
            let c = nalgebra::DVector::from_iterator(d, x.iter().zip(&mean).map(|(v, m)| v - m));
            cov += &c * c.transpose() / (n - 1.0);
        }
        let chol = nalgebra::Cholesky::new(cov)
            .ok_or("the draws' covariance is singular: the posterior is degenerate")?;
        let l = chol.l();
        let log_det: f64 = (0..d).map(|i| 2.0 * l[(i, i)].ln()).sum();
        let chol: Vec<f64> = (0..d)
            .flat_map(|i| (0..d).map(move |j| (i, j)))
            .map(|(i, j)| l[(i, j)])
            .collect();
        Ok(Gaussian {
            mean,
            chol,
            log_norm: -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + log_det),
        })
    }

    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn log_density(&self, x: &[f64]) -> f64 {
        // Solve L z = x - mean by forward substitution.
        let d = self.dim();
        let mut z = vec![0.0; d];
        for i in 0..d {
            let s: f64 = (0..i).map(|j| self.chol[i * d + j] * z[j]).sum();
            z[i] = (x[i] - self.mean[i] - s) / self.chol[i * d + i];
        }
        self.log_norm - 0.5 * z.iter().map(|v| v * v).sum::<f64>()
    }

    fn draw(&self, rng: &mut rand::rngs::ChaCha8Rng, out: &mut [f64]) {
        let d = self.dim();
        let z: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        for i in 0..d {
            out[i] = self.mean[i] + (0..=i).map(|j| self.chol[i * d + j] * z[j]).sum::<f64>();
        }
    }
}
