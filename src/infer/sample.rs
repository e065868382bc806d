//! Running chains: initial points, Stan's warm-up (step size and metric adaptation), sampling, and the
//! draws of every latent and law. Chains run in parallel; each has its own random stream derived from
//! one seed, so a seed gives the same draws whatever the number of threads.

use super::adapt::{StepSizeAdapter, Windows};
use super::metric::{Estimator, Metric};
use super::nuts::{Nuts, Transition};
use super::LogDensity;
use crate::eval::CompiledModel;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Every setting of a sampling run.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSettings {
    /// Number of chains (default 4).
    pub chains: usize,
    /// Warm-up iterations per chain (default 1000), not kept.
    pub warmup: usize,
    /// Kept draws per chain (default 1000).
    pub draws: usize,
    /// Seed of every random stream (chain k uses stream k of this seed).
    pub seed: u64,
    /// Target acceptance statistic of step-size adaptation (default 0.8).
    pub adapt_delta: f64,
    /// Maximum tree depth (default 10: at most 1023 leapfrog steps per draw).
    pub max_depth: usize,
    /// Which metric (inverse mass matrix) the chains use.
    pub metric: MetricKind,
    /// Initial points are uniform on (-init_radius, init_radius) in the unconstrained space (default 2).
    pub init_radius: f64,
}

impl Default for SampleSettings {
    fn default() -> SampleSettings {
        SampleSettings {
            chains: 4,
            warmup: 1000,
            draws: 1000,
            seed: 1,
            adapt_delta: 0.8,
            max_depth: 10,
            metric: MetricKind::Diag,
            init_radius: 2.0,
        }
    }
}

/// How the metric is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A diagonal metric estimated in Stan's warm-up windows (the default).
    Diag,
    /// A dense metric estimated in the same windows (for strongly correlated posteriors).
    Dense,
    /// The inverse Hessian at the mode (Laplace approximation), fixed for the whole run; only the step
    /// size adapts. For badly conditioned, nearly Gaussian posteriors (linear inverse problems). The
    /// chains start at draws of the Laplace approximation.
    Laplace,
}

impl MetricKind {
    /// CmdStan's name for the metric.
    pub fn cmdstan_name(self) -> &'static str {
        match self {
            MetricKind::Diag => "diag_e (Default)",
            MetricKind::Dense | MetricKind::Laplace => "dense_e",
        }
    }
}

/// Largest dimension for which a dense Laplace metric is built (its Hessian costs 2d gradients and
/// its Cholesky d^3 / 3 operations).
pub const MAX_LAPLACE_DIM: usize = 2000;

/// The Laplace metric: the covariance of the Laplace approximation at the mode of the Jacobian-adjusted
/// log density, found by L-BFGS from a random point of the given seed.
pub fn laplace_metric(model: &CompiledModel, seed: u64) -> Result<Metric, String> {
    laplace_start(model, seed, 0).map(|(metric, _)| metric)
}

/// The Laplace metric and `chains` starting points drawn from the Laplace approximation. A fixed metric
/// fits the posterior near its mode only: a chain started where the curvature differs by orders of
/// magnitude (a uniform draw on (-2, 2) can be hundreds of posterior sds out) has no metric
/// adaptation to rescue it, and can stick there for the whole run.
fn laplace_start(
    model: &CompiledModel,
    seed: u64,
    chains: usize,
) -> Result<(Metric, Vec<Vec<f64>>), String> {
    let d = model.dim();
    if d > MAX_LAPLACE_DIM {
        return Err(format!(
            "the Laplace metric is dense and this model has {d} coordinates (at most {MAX_LAPLACE_DIM} are supported); use --metric diag"
        ));
    }
    let mut ev = model.evaluator();
    let mut rng = chain_rng(seed, u64::MAX as usize);
    let Some(x0) = initial_point(&mut ev, &mut rng, 2.0) else {
        return Err("no initial point with a finite log density for the optimiser".into());
    };
    let mode = match super::lbfgs::maximise(&mut ev, &x0, &super::lbfgs::LbfgsSettings::default()) {
        Ok(r) => r.x,
        Err(e) => {
            return Err(format!(
                "the optimiser found no mode for the Laplace metric: {e}"
            ))
        }
    };
    let lap = super::laplace::laplace(&mut ev, &mode)?;
    let cov = nalgebra::DMatrix::from_row_slice(d, d, &lap.covariance);
    let metric = Metric::dense(cov)
        .ok_or_else(|| "the Laplace covariance is not positive definite".to_string())?;
    Ok((metric, lap.draws(chains, seed)))
}

/// A random point, uniform on (-radius, radius) in every unconstrained coordinate, where the log
/// density and its gradient are finite; `None` after 100 tries.
pub fn initial_point(
    model: &mut dyn LogDensity,
    rng: &mut ChaCha8Rng,
    radius: f64,
) -> Option<Vec<f64>> {
    let d = model.dim();
    let mut x = vec![0.0; d];
    let mut grad = vec![0.0; d];
    for _ in 0..100 {
        x.iter_mut()
            .for_each(|v| *v = rng.random_range(-radius..radius));
        if model.log_density_gradient(&x, &mut grad).is_ok() {
            return Some(x);
        }
    }
    None
}

/// The sampler's own columns, as CmdStan names them.
pub const SAMPLER_COLUMNS: [&str; 7] = [
    "lp__",
    "accept_stat__",
    "stepsize__",
    "treedepth__",
    "n_leapfrog__",
    "divergent__",
    "energy__",
];

/// One chain's output.
#[derive(Debug, Clone)]
pub struct Chain {
    /// One row per kept draw: the sampler columns, then every latent and law element.
    pub rows: Vec<Vec<f64>>,
    /// The adapted step size and the diagonal of the adapted inverse metric.
    pub step_size: f64,
    pub inv_metric: Vec<f64>,
    /// Whether the run was stopped before all draws were made.
    pub interrupted: bool,
}

/// The names of a run's columns: sampler columns, then latents and laws (Stan's flattened naming).
pub fn column_names(model: &CompiledModel) -> Vec<String> {
    let mut names: Vec<String> = SAMPLER_COLUMNS.iter().map(|s| s.to_string()).collect();
    names.extend(model.latent_names());
    for (name, node) in &model.graph.laws {
        names.extend(crate::eval::model::element_names(
            name,
            &model.graph.node(*node).shape,
        ));
    }
    names
}

/// Why a chain could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleError {
    /// No finite log density and gradient at 100 random initial points.
    NoInitialPoint { chain: usize },
    /// The Laplace metric could not be built.
    Metric(String),
}

impl std::fmt::Display for SampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SampleError::NoInitialPoint { chain } => write!(
                f,
                "chain {}: no initial point with a finite log density and gradient after 100 tries \
                 (uniform on (-2, 2) in the unconstrained space); check that the data fit the model's \
                 supports and that every parameter of a distribution stays in its domain",
                chain + 1
            ),
            SampleError::Metric(why) => write!(f, "--metric laplace: {why}"),
        }
    }
}

impl std::error::Error for SampleError {}

/// Runs every chain (in parallel) and returns them in order. `stop`, when set, ends the chains early;
/// `progress` is told (chain, iteration) after each iteration.
pub fn sample(
    model: &CompiledModel,
    settings: &SampleSettings,
    stop: &AtomicBool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Chain>, SampleError> {
    let (fixed, starts) = match settings.metric {
        MetricKind::Laplace => {
            let (metric, starts) = laplace_start(model, settings.seed, settings.chains)
                .map_err(SampleError::Metric)?;
            (Some(metric), starts)
        }
        _ => (None, vec![]),
    };
    (0..settings.chains)
        .into_par_iter()
        .map(|c| {
            let start = starts.get(c).map(Vec::as_slice);
            run_chain(model, settings, c, fixed.as_ref(), start, stop, progress)
        })
        .collect()
}

/// The random stream of chain `c`.
pub fn chain_rng(seed: u64, chain: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(chain as u64);
    rng
}

fn run_chain(
    model: &CompiledModel,
    s: &SampleSettings,
    chain: usize,
    fixed_metric: Option<&Metric>,
    start: Option<&[f64]>,
    stop: &AtomicBool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Chain, SampleError> {
    let mut rng = chain_rng(s.seed, chain);
    let mut ev = model.evaluator();
    let d = model.dim();
    let metric = fixed_metric
        .cloned()
        .unwrap_or_else(|| Metric::unit_diag(d));
    let mut nuts = Nuts::new(d, metric, 1.0, s.max_depth);
    // A given start (a Laplace draw) is used where the log density is finite there.
    if start.is_none_or(|x| nuts.set_position(&mut ev, x).is_err()) {
        let Some(x0) = initial_point(&mut ev, &mut rng, s.init_radius) else {
            return Err(SampleError::NoInitialPoint { chain });
        };
        nuts.set_position(&mut ev, &x0)
            .map_err(|_| SampleError::NoInitialPoint { chain })?;
    }
    let mut stepper = StepSizeAdapter::new(s.adapt_delta);
    // A fixed metric needs no windows: only the step size adapts, over the whole warm-up.
    let mut windows = Windows::new(if fixed_metric.is_some() { 0 } else { s.warmup });
    let mut estimator = Estimator::new(d, s.metric == MetricKind::Dense);
    if s.warmup > 0 {
        nuts.init_step_size(&mut ev, &mut rng);
        stepper.restart(nuts.step_size);
    }
    let mut interrupted = false;
    for it in 0..s.warmup {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let t = nuts.transition(&mut ev, &mut rng);
        nuts.step_size = stepper.learn(t.accept_stat);
        if windows.in_window() {
            estimator.add(nuts.position());
        }
        if windows.end_of_window() {
            nuts.metric = estimator.metric();
            estimator.reset();
            nuts.init_step_size(&mut ev, &mut rng);
            stepper.restart(nuts.step_size);
        }
        windows.advance();
        progress(chain, it + 1);
    }
    if s.warmup > 0 {
        nuts.step_size = stepper.final_step_size();
    }
    let mut rows = Vec::with_capacity(s.draws);
    for it in 0..s.draws {
        if interrupted || stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let t = nuts.transition(&mut ev, &mut rng);
        rows.push(row(&mut ev, nuts.position(), &t));
        progress(chain, s.warmup + it + 1);
    }
    Ok(Chain {
        rows,
        step_size: nuts.step_size,
        inv_metric: nuts.metric.diagonal(),
        interrupted,
    })
}

fn row(ev: &mut crate::eval::Evaluator<'_>, x: &[f64], t: &Transition) -> Vec<f64> {
    let mut r = vec![
        t.lp,
        t.accept_stat,
        t.step_size,
        t.tree_depth as f64,
        t.n_leapfrog as f64,
        if t.divergent { 1.0 } else { 0.0 },
        t.energy,
    ];
    // The position came from a finite evaluation of the target, so only a law outside it can fail (an
    // ODE solve that no modality reads): its columns, and every other output's, are then NaN.
    match ev.constrain(x) {
        Ok(outputs) => {
            for o in outputs {
                r.extend(o.values);
            }
        }
        Err(_) => {
            let n = column_names(ev.model()).len() - SAMPLER_COLUMNS.len();
            r.extend(std::iter::repeat_n(f64::NAN, n));
        }
    }
    r
}
