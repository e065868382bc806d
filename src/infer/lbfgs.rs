//! L-BFGS: the maximum a posteriori point of a `LogDensity` in the unconstrained space.
//!
//! The optimiser minimises the negative log density with the limited-memory BFGS direction (Nocedal and
//! Wright, Algorithm 7.4) and a line search for the strong Wolfe conditions by bracketing and cubic
//! interpolation (their Algorithms 3.5 and 3.6). A point where the log density is not finite (a
//! recoverable `EvalError`) counts as "the step was too long" and the search shrinks it. The result is
//! the mode of whatever density the `LogDensity` computes: with the evaluator's log-Jacobians on (its
//! default) the mode in the unconstrained space, the point a Laplace approximation is built around;
//! with them off (`Evaluator::set_jacobian(false)`) the posterior mode of the constrained latents, as
//! Stan's `optimize` reports by default.

use super::LogDensity;
use std::collections::VecDeque;
use std::fmt;

/// Every setting of the optimiser; the defaults follow Stan's where they exist.
#[derive(Debug, Clone)]
pub struct LbfgsSettings {
    /// How many past steps the inverse Hessian approximation remembers (Stan's default, 5).
    pub history: usize,
    /// The most iterations (accepted steps) before giving up.
    pub max_iters: usize,
    /// Converged when |f_k - f_{k-1}| / max(|f_k|, |f_{k-1}|, 1) falls below this.
    pub tol_rel_obj: f64,
    /// Converged when the gradient's Euclidean norm falls below this.
    pub tol_grad: f64,
    /// Converged when |x_k - x_{k-1}| / max(|x_k|, 1) falls below this.
    pub tol_rel_param: f64,
}

impl Default for LbfgsSettings {
    fn default() -> LbfgsSettings {
        LbfgsSettings {
            history: 5,
            max_iters: 2000,
            tol_rel_obj: 1e-12,
            tol_grad: 1e-8,
            tol_rel_param: 1e-8,
        }
    }
}

/// Which test stopped the optimiser.
#[derive(Debug, Clone, PartialEq)]
pub enum Convergence {
    RelativeObjective,
    Gradient,
    Parameters,
}

/// The point the optimiser reached, with the log density and its gradient there.
#[derive(Debug, Clone, PartialEq)]
pub struct MapResult {
    pub x: Vec<f64>,
    pub log_density: f64,
    pub gradient: Vec<f64>,
    /// Accepted steps.
    pub iterations: usize,
    /// Calls of the log density (with its gradient), the initial point included.
    pub evaluations: usize,
    /// Which test stopped the optimiser; a placeholder (`Gradient`) in the best point an error carries.
    pub converged: Convergence,
}

/// Why the optimiser found no mode.
#[derive(Debug, Clone, PartialEq)]
pub enum MapError {
    /// No finite log density (or gradient) at the initial point.
    BadInitialPoint,
    /// The initial point has the wrong number of coordinates (a bug in the caller).
    Dimension { expected: usize, found: usize },
    /// Stopped after `max_iters` iterations: carries the best point so far.
    MaxIterations(Box<MapResult>),
    /// The line search could not make progress: carries the best point so far.
    LineSearchFailed(Box<MapResult>),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plain digits for ordinary magnitudes, scientific notation for huge or tiny ones.
        let num = |v: f64| {
            if v == 0.0 || (1e-3..1e7).contains(&v.abs()) {
                format!("{v:.6}")
            } else {
                format!("{v:.6e}")
            }
        };
        let state = |r: &MapResult| {
            format!(
                "{} iteration{}; at the best point the log density is {} and the gradient norm {}",
                r.iterations,
                if r.iterations == 1 { "" } else { "s" },
                num(r.log_density),
                num(norm(&r.gradient))
            )
        };
        match self {
            MapError::BadInitialPoint => write!(
                f,
                "the log density is not finite at the initial point, so the optimiser cannot start: \
                 choose initial values inside every latent's support at which the data are possible"
            ),
            MapError::Dimension { expected, found } => write!(
                f,
                "the initial point has {found} coordinates but the model has {expected} unconstrained \
                 coordinates"
            ),
            MapError::MaxIterations(r) => write!(
                f,
                "the optimiser did not converge ({}): try more iterations; if the log density keeps \
                 growing, the posterior may be improper (check the priors on unbounded latents)",
                state(r)
            ),
            MapError::LineSearchFailed(r) => write!(
                f,
                "the optimiser could not find a better point ({}): the log density seems to grow \
                 without bound, or right up to the edge of where it is finite, so the posterior may \
                 be improper (check the priors on unbounded latents and scale parameters); otherwise \
                 the model may not be smooth near the mode",
                state(r)
            ),
        }
    }
}

impl std::error::Error for MapError {}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// The objective the optimiser minimises, -log p, with its gradient; counts evaluations. `None` when
/// the log density is not finite there. The only unrecoverable `EvalError`, a wrong dimension, is ruled
/// out before the first evaluation, so every error means "not finite here".
struct Objective<'a> {
    model: &'a mut dyn LogDensity,
    grad: Vec<f64>,
    evaluations: usize,
}

impl Objective<'_> {
    fn eval(&mut self, x: &[f64], g_out: &mut [f64]) -> Option<f64> {
        self.evaluations += 1;
        let lp = self.model.log_density_gradient(x, &mut self.grad).ok()?;
        if !lp.is_finite() || !self.grad.iter().all(|g| g.is_finite()) {
            return None;
        }
        for (o, g) in g_out.iter_mut().zip(&self.grad) {
            *o = -g;
        }
        Some(-lp)
    }
}

/// A trial point of the line search: step length, objective, directional derivative, point, gradient.
#[derive(Clone)]
struct Trial {
    alpha: f64,
    f: f64,
    df: f64,
    x: Vec<f64>,
    g: Vec<f64>,
}

/// The line search's outcome when it finds no strong Wolfe point.
struct SearchFailure {
    /// The lowest trial point with sufficient decrease, if any.
    best: Option<Trial>,
    /// Whether the objective was still falling where the search stopped: pressed against points where
    /// the density is not finite, or after growing the step 1e20-fold. Either is the mark of a log
    /// density without a maximum rather than of a hard but proper problem.
    diverging: bool,
}

const C1: f64 = 1e-4;
const C2: f64 = 0.9;
const MAX_SEARCH_EVALS: usize = 60;

/// Finds a step along `p` from `start` that satisfies the strong Wolfe conditions.
fn line_search(
    obj: &mut Objective,
    start: &Trial,
    p: &[f64],
    alpha0: f64,
) -> Result<Trial, SearchFailure> {
    let (f0, df0) = (start.f, start.df);
    let first_eval = obj.evaluations;
    let evals = |obj: &Objective| obj.evaluations - first_eval;
    let probe = |obj: &mut Objective, alpha: f64| -> Option<Trial> {
        let x: Vec<f64> = start.x.iter().zip(p).map(|(x, p)| x + alpha * p).collect();
        let mut g = vec![0.0; x.len()];
        let f = obj.eval(&x, &mut g)?;
        let df = dot(&g, p);
        Some(Trial { alpha, f, df, x, g })
    };
    // Sufficient decrease, and strictly lower: far from the origin a step can vanish in rounding
    // (x + a p == x), and an unchanged point must not pass for progress.
    let armijo = |t: &Trial| t.f < f0 && t.f <= f0 + C1 * t.alpha * df0;
    let curvature = |t: &Trial| t.df.abs() <= -C2 * df0;

    // Bracketing: grow the step until it overshoots (no sufficient decrease, or the slope turns).
    // `lo` always satisfies sufficient decrease and is the lowest point seen; `hi` is the other end
    // of the bracket, `None` where the density is not finite.
    let mut prev = start.clone();
    let mut alpha = alpha0;
    let (mut lo, mut hi_alpha, mut hi): (Trial, f64, Option<Trial>);
    loop {
        let Some(t) = probe(obj, alpha) else {
            (lo, hi_alpha, hi) = (prev, alpha, None);
            break;
        };
        if !armijo(&t) || (prev.alpha > 0.0 && t.f >= prev.f) {
            (lo, hi_alpha, hi) = (prev, t.alpha, Some(t));
            break;
        }
        if curvature(&t) {
            return Ok(t);
        }
        if t.df >= 0.0 {
            (hi_alpha, hi) = (prev.alpha, Some(prev));
            lo = t;
            break;
        }
        if evals(obj) >= MAX_SEARCH_EVALS || alpha >= 1e20 * alpha0 {
            // Still falling as steeply as at the start after an enormous step: no minimum ahead.
            return Err(SearchFailure {
                best: Some(t),
                diverging: true,
            });
        }
        prev = t;
        alpha *= 4.0;
    }

    // Zoom: shrink the bracket [lo, hi] by safeguarded cubic interpolation.
    while evals(obj) < MAX_SEARCH_EVALS {
        let (a, b) = (lo.alpha.min(hi_alpha), lo.alpha.max(hi_alpha));
        let width = b - a;
        if width <= 1e-15 * b.max(1e-300) {
            break;
        }
        let guess = match &hi {
            Some(h) => cubic_minimiser(&lo, h),
            // Nothing is known beyond `lo` but that it is too far: step a quarter of the way.
            None => lo.alpha + 0.25 * (hi_alpha - lo.alpha),
        };
        let alpha = if guess.is_finite() {
            guess.clamp(a + 0.1 * width, b - 0.1 * width)
        } else {
            0.5 * (a + b)
        };
        match probe(obj, alpha) {
            None => (hi_alpha, hi) = (alpha, None),
            Some(t) if !armijo(&t) || t.f >= lo.f => (hi_alpha, hi) = (t.alpha, Some(t)),
            Some(t) => {
                if curvature(&t) {
                    return Ok(t);
                }
                if t.df * (hi_alpha - lo.alpha) >= 0.0 {
                    (hi_alpha, hi) = (lo.alpha, Some(lo));
                }
                lo = t;
            }
        }
    }
    let diverging = hi.is_none();
    let best = (lo.alpha > 0.0).then_some(lo);
    Err(SearchFailure { best, diverging })
}

/// The minimiser of the cubic through two points with their slopes (Nocedal and Wright, eq. 3.59).
fn cubic_minimiser(p: &Trial, q: &Trial) -> f64 {
    let d1 = p.df + q.df - 3.0 * (p.f - q.f) / (p.alpha - q.alpha);
    let disc = d1 * d1 - p.df * q.df;
    if disc < 0.0 {
        return f64::NAN;
    }
    let d2 = (q.alpha - p.alpha).signum() * disc.sqrt();
    q.alpha - (q.alpha - p.alpha) * (q.df + d2 - d1) / (q.df - p.df + 2.0 * d2)
}

/// The L-BFGS direction -H g by the two-loop recursion over the remembered pairs (s, y, 1 / y's).
fn direction(g: &[f64], memory: &VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut q: Vec<f64> = g.iter().map(|g| -g).collect();
    let mut a = vec![0.0; memory.len()];
    for (k, (s, y, rho)) in memory.iter().enumerate().rev() {
        a[k] = rho * dot(s, &q);
        q.iter_mut().zip(y).for_each(|(q, y)| *q -= a[k] * y);
    }
    if let Some((s, y, _)) = memory.back() {
        let gamma = dot(s, y) / dot(y, y);
        q.iter_mut().for_each(|q| *q *= gamma);
    }
    for (k, (s, y, rho)) in memory.iter().enumerate() {
        let b = rho * dot(y, &q);
        q.iter_mut().zip(s).for_each(|(q, s)| *q += (a[k] - b) * s);
    }
    q
}

/// Maximises the log density from `x0` (unconstrained coordinates).
pub fn maximise(
    model: &mut dyn LogDensity,
    x0: &[f64],
    settings: &LbfgsSettings,
) -> Result<MapResult, MapError> {
    let d = model.dim();
    if x0.len() != d {
        return Err(MapError::Dimension {
            expected: d,
            found: x0.len(),
        });
    }
    let mut obj = Objective {
        model,
        grad: vec![0.0; d],
        evaluations: 0,
    };
    let mut g = vec![0.0; d];
    let Some(f) = obj.eval(x0, &mut g) else {
        return Err(MapError::BadInitialPoint);
    };
    let mut cur = Trial {
        alpha: 0.0,
        f,
        df: 0.0,
        x: x0.to_vec(),
        g,
    };
    let mut iterations = 0;
    let result = |t: &Trial, iterations, evaluations, converged| MapResult {
        x: t.x.clone(),
        log_density: -t.f,
        gradient: t.g.iter().map(|g| -g).collect(),
        iterations,
        evaluations,
        converged,
    };
    if norm(&cur.g) < settings.tol_grad {
        return Ok(result(&cur, 0, obj.evaluations, Convergence::Gradient));
    }
    let mut memory: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::new();
    while iterations < settings.max_iters {
        let mut p = direction(&cur.g, &memory);
        let mut df = dot(&cur.g, &p);
        if df.is_nan() || df >= 0.0 {
            // Not a descent direction (the curvature pairs went stale): restart from steepest descent.
            memory.clear();
            p = cur.g.iter().map(|g| -g).collect();
            df = -dot(&cur.g, &cur.g);
        }
        // Without curvature information the gradient's length says nothing about a good step, so
        // the first step is scaled to unit length and the bracketing phase grows it as needed.
        let alpha0 = if memory.is_empty() {
            1.0 / norm(&p)
        } else {
            1.0
        };
        let start = Trial {
            alpha: 0.0,
            df,
            ..cur.clone()
        };
        let next = match line_search(&mut obj, &start, &p, alpha0) {
            Ok(t) => t,
            // No strong Wolfe point, but a lower one where the objective was levelling off: take it.
            Err(SearchFailure {
                best: Some(t),
                diverging: false,
            }) => t,
            Err(_) if !memory.is_empty() => {
                // Retry from steepest descent with no memory before giving up.
                memory.clear();
                continue;
            }
            Err(SearchFailure { best, diverging }) => {
                // At a point whose gradient is negligible on the scale of the objective (Stan's
                // relative-gradient test, with tolerance 1e7 eps), rounding stops every line search:
                // that is convergence, not failure.
                let rel_grad = dot(&cur.g, &cur.g) / cur.f.abs().max(1.0);
                if !diverging && rel_grad < 1e7 * f64::EPSILON {
                    return Ok(result(
                        &cur,
                        iterations,
                        obj.evaluations,
                        Convergence::Gradient,
                    ));
                }
                let best = best.filter(|b| b.f < cur.f).unwrap_or(cur);
                let r = result(&best, iterations, obj.evaluations, Convergence::Gradient);
                return Err(MapError::LineSearchFailed(Box::new(r)));
            }
        };
        iterations += 1;
        let s: Vec<f64> = next.x.iter().zip(&cur.x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next.g.iter().zip(&cur.g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        // Remember only pairs with positive curvature, which keeps the inverse Hessian approximation
        // positive definite (a history of 0 gives steepest descent).
        if settings.history > 0 && sy > 0.0 && sy > f64::EPSILON * dot(&y, &y) {
            if memory.len() >= settings.history {
                memory.pop_front();
            }
            memory.push_back((s.clone(), y, 1.0 / sy));
        }
        let rel_obj = (next.f - cur.f).abs() / next.f.abs().max(cur.f.abs()).max(1.0);
        let rel_param = norm(&s) / norm(&next.x).max(1.0);
        cur = next;
        let converged = if norm(&cur.g) < settings.tol_grad {
            Some(Convergence::Gradient)
        } else if rel_obj < settings.tol_rel_obj {
            Some(Convergence::RelativeObjective)
        } else if rel_param < settings.tol_rel_param {
            Some(Convergence::Parameters)
        } else {
            None
        };
        if let Some(c) = converged {
            return Ok(result(&cur, iterations, obj.evaluations, c));
        }
    }
    let r = result(&cur, iterations, obj.evaluations, Convergence::Gradient);
    Err(MapError::MaxIterations(Box::new(r)))
}
