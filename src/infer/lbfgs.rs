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
    /// How many past steps the inverse Hessian approximation remembers; `None` chooses by the
    /// dimension (`auto_history`).
    pub history: Option<usize>,
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
            history: None,
            max_iters: 2000,
            tol_rel_obj: 1e-12,
            tol_grad: 1e-8,
            tol_rel_param: 1e-8,
        }
    }
}

/// The default memory: one pair per hundred coordinates, at least Stan's 5 and at most 100, and no
/// more than keeps the two-loop recursion (about 4 x history x dimension multiply-adds per iteration)
/// near 10^6, a millisecond, small next to any gradient worth optimising.
///
/// Why more than Stan's 5 for big models: posteriors with a few weakly curved directions among
/// thousands of stiff ones (the scale and rotation of a factor model's latent space, held only by the
/// priors) are crawled along for hundreds of iterations once the stiff directions are solved, and a
/// longer memory keeps those directions' curvature. On the realistic multiome model (8 501
/// coordinates) 5 pairs take 805 gradients to converge, 20 take 505 and 100 take 353, to the same
/// mode. Small models keep 5: there the memory buys nothing, and on a multimodal posterior another
/// path can end in another mode.
pub fn auto_history(dim: usize) -> usize {
    let (by_dim, by_work) = (dim / 100, 1_000_000 / dim.max(1));
    by_dim.min(by_work).clamp(5, 100)
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

/// The dot product with eight independent partial sums, so that the compiler can vectorise it (a
/// single running sum is one long dependency chain). With a million coordinates the optimiser's own
/// vector work is as costly as a gradient; hence also the fused passes of `direction`.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// In one pass over the vectors: q <- scale * (q + c x), and returns w . q (the new q). The two-loop
/// recursion is a chain of such updates, each followed by a dot product with the next pair's vector,
/// so fusing them halves its passes over memory.
fn update_dot(q: &mut [f64], scale: f64, c: f64, x: &[f64], w: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let n = q.len() / 8 * 8;
    let (qh, qt) = q.split_at_mut(n);
    for ((q, x), w) in qh
        .chunks_exact_mut(8)
        .zip(x.chunks_exact(8))
        .zip(w.chunks_exact(8))
    {
        for k in 0..8 {
            q[k] = scale * (q[k] + c * x[k]);
            acc[k] += w[k] * q[k];
        }
    }
    let mut tail = 0.0;
    for ((q, x), w) in qt.iter_mut().zip(&x[n..]).zip(&w[n..]) {
        *q = scale * (*q + c * x);
        tail += w * *q;
    }
    acc.iter().sum::<f64>() + tail
}

/// The objective the optimiser minimises, -log p, with its gradient; counts evaluations. `None` when
/// the log density is not finite there. The only unrecoverable `EvalError`, a wrong dimension, is ruled
/// out before the first evaluation, so every error means "not finite here".
struct Objective<'a> {
    model: &'a mut dyn LogDensity,
    evaluations: usize,
}

impl Objective<'_> {
    /// -log p at `x`, with its gradient written into `g`.
    fn eval(&mut self, x: &[f64], g: &mut [f64]) -> Option<f64> {
        self.evaluations += 1;
        let lp = self.model.log_density_gradient(x, g).ok()?;
        let mut finite = lp.is_finite();
        for g in g.iter_mut() {
            *g = -*g;
            finite &= g.is_finite();
        }
        finite.then_some(-lp)
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

/// Finds a step along `p` from `x0` (objective `f0`, slope `df0` along `p`) that satisfies the strong
/// Wolfe conditions.
fn line_search(
    obj: &mut Objective,
    x0: &[f64],
    (f0, df0): (f64, f64),
    p: &[f64],
    alpha0: f64,
) -> Result<Trial, SearchFailure> {
    let first_eval = obj.evaluations;
    let evals = |obj: &Objective| obj.evaluations - first_eval;
    let probe = |obj: &mut Objective, alpha: f64| -> Option<Trial> {
        let x: Vec<f64> = x0.iter().zip(p).map(|(x, p)| x + alpha * p).collect();
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
    // The start as a bracket end: only its step, value and slope are ever read (a trial with step 0
    // is never returned), so it carries no vectors.
    let mut prev = Trial {
        alpha: 0.0,
        f: f0,
        df: df0,
        x: vec![],
        g: vec![],
    };
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

/// One remembered step: s = x_{k+1} - x_k, y = g_{k+1} - g_k, rho = 1 / y's.
struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
    rho: f64,
}

/// The L-BFGS direction -H g into `q` by the two-loop recursion over the remembered pairs (oldest
/// first); `a` is scratch. Each pass over memory applies one update and takes the next dot product.
fn direction(g: &[f64], memory: &VecDeque<Pair>, q: &mut Vec<f64>, a: &mut Vec<f64>) {
    q.clear();
    q.extend(g.iter().map(|g| -g));
    let m = memory.len();
    let Some(newest) = memory.back() else {
        return;
    };
    a.clear();
    a.resize(m, 0.0);
    // First loop, newest to oldest: a_k = rho_k s_k . q, then q -= a_k y_k.
    let mut sq = dot(&newest.s, q);
    for k in (0..m).rev() {
        a[k] = memory[k].rho * sq;
        let y = &memory[k].y;
        if k > 0 {
            sq = update_dot(q, 1.0, -a[k], y, &memory[k - 1].s);
        }
    }
    // The initial inverse Hessian gamma I, gamma = s'y / y'y of the newest pair, applied with the
    // oldest pair's last update; then the second loop, oldest to newest: b = rho_k y_k . q,
    // q += (a_k - b) s_k.
    let gamma = 1.0 / (newest.rho * dot(&newest.y, &newest.y));
    let mut yq = update_dot(q, gamma, -a[0], &memory[0].y, &memory[0].y);
    for k in 0..m {
        let b = memory[k].rho * yq;
        let next = if k + 1 < m {
            &memory[k + 1].y
        } else {
            &memory[k].y
        };
        yq = update_dot(q, 1.0, a[k] - b, &memory[k].s, next);
    }
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
    let history = settings.history.unwrap_or_else(|| auto_history(d));
    let mut memory: VecDeque<Pair> = VecDeque::new();
    // Buffers reused across iterations: the direction, the two-loop's scratch, and a spare pair.
    let (mut p, mut a) = (Vec::with_capacity(d), vec![]);
    let mut spare: Option<Pair> = None;
    while iterations < settings.max_iters {
        direction(&cur.g, &memory, &mut p, &mut a);
        let mut df = dot(&cur.g, &p);
        if df.is_nan() || df >= 0.0 {
            // Not a descent direction (the curvature pairs went stale): restart from steepest descent.
            spare = memory.pop_back().or(spare);
            memory.clear();
            p.clear();
            p.extend(cur.g.iter().map(|g| -g));
            df = -dot(&cur.g, &cur.g);
        }
        // Without curvature information the gradient's length says nothing about a good step, so
        // the first step is scaled to unit length and the bracketing phase grows it as needed.
        let alpha0 = if memory.is_empty() {
            1.0 / norm(&p)
        } else {
            1.0
        };
        let next = match line_search(&mut obj, &cur.x, (cur.f, df), &p, alpha0) {
            Ok(t) => t,
            // No strong Wolfe point, but a lower one where the objective was levelling off: take it.
            Err(SearchFailure {
                best: Some(t),
                diverging: false,
            }) => t,
            Err(SearchFailure { diverging, .. }) if !memory.is_empty() => {
                // Rounding stops the line search at a point whose gradient is negligible in the
                // metric of the curvature learned so far: Stan's relative-gradient test g' H g / |f|
                // below 1e7 eps (H the inverse Hessian estimate, so -g'p = g' H g). This is the
                // scale-aware form of the test below, for latents whose posterior sd is far from 1.
                if !diverging && -df / cur.f.abs().max(1.0) < 1e7 * f64::EPSILON {
                    return Ok(result(
                        &cur,
                        iterations,
                        obj.evaluations,
                        Convergence::Gradient,
                    ));
                }
                // Retry from steepest descent with no memory before giving up.
                spare = memory.pop_back().or(spare);
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
        // The new pair, in the buffers of a pair forgotten earlier when there is one (so only the
        // first `history + 1` pairs allocate).
        let mut pair = spare.take().unwrap_or_else(|| Pair {
            s: Vec::with_capacity(d),
            y: Vec::with_capacity(d),
            rho: 0.0,
        });
        pair.s.clear();
        pair.s.extend(next.x.iter().zip(&cur.x).map(|(a, b)| a - b));
        pair.y.clear();
        pair.y.extend(next.g.iter().zip(&cur.g).map(|(a, b)| a - b));
        let (sy, yy, ss) = (
            dot(&pair.s, &pair.y),
            dot(&pair.y, &pair.y),
            dot(&pair.s, &pair.s),
        );
        // Remember only pairs with positive curvature, which keeps the inverse Hessian approximation
        // positive definite (a history of 0 gives steepest descent).
        if history > 0 && sy > 0.0 && sy > f64::EPSILON * yy {
            if memory.len() >= history {
                spare = memory.pop_front();
            }
            pair.rho = 1.0 / sy;
            memory.push_back(pair);
        } else {
            spare = Some(pair);
        }
        let rel_obj = (next.f - cur.f).abs() / next.f.abs().max(cur.f.abs()).max(1.0);
        let rel_param = ss.sqrt() / norm(&next.x).max(1.0);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// -H g with H built densely by the BFGS inverse update from gamma I (Nocedal and Wright, eq. 7.19
    /// and 6.17): the matrix the two-loop recursion applies without forming it.
    fn dense_direction(g: &[f64], pairs: &[(Vec<f64>, Vec<f64>)]) -> Vec<f64> {
        let d = g.len();
        let (s, y) = pairs.last().unwrap();
        let gamma = dot(s, y) / dot(y, y);
        let mut h: Vec<f64> = (0..d * d)
            .map(|k| if k % (d + 1) == 0 { gamma } else { 0.0 })
            .collect();
        for (s, y) in pairs {
            let rho = 1.0 / dot(s, y);
            // V = I - rho y s'; H <- V' H V + rho s s'.
            let v = |i: usize, j: usize| f64::from(u8::from(i == j)) - rho * y[i] * s[j];
            let mut hv = vec![0.0; d * d];
            for i in 0..d {
                for j in 0..d {
                    hv[i * d + j] = (0..d).map(|k| h[i * d + k] * v(k, j)).sum();
                }
            }
            for i in 0..d {
                for j in 0..d {
                    h[i * d + j] =
                        (0..d).map(|k| v(k, i) * hv[k * d + j]).sum::<f64>() + rho * s[i] * s[j];
                }
            }
        }
        (0..d)
            .map(|i| -(0..d).map(|j| h[i * d + j] * g[j]).sum::<f64>())
            .collect()
    }

    #[test]
    fn the_fused_two_loop_recursion_applies_the_bfgs_inverse_hessian() {
        let mut state = 7u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        // Lengths that exercise the eight-wide chunks and their remainders.
        for d in [3, 8, 19] {
            for m in 1..=5 {
                let g: Vec<f64> = (0..d).map(|_| uniform()).collect();
                let mut pairs = vec![];
                while pairs.len() < m {
                    let s: Vec<f64> = (0..d).map(|_| uniform()).collect();
                    // y = A s with A positive definite (diagonal plus a small perturbation), so s'y > 0.
                    let y: Vec<f64> = (0..d)
                        .map(|i| (1.0 + i as f64) * s[i] + 0.1 * uniform())
                        .collect();
                    if dot(&s, &y) > 0.0 {
                        pairs.push((s, y));
                    }
                }
                let memory: VecDeque<Pair> = pairs
                    .iter()
                    .map(|(s, y)| Pair {
                        s: s.clone(),
                        y: y.clone(),
                        rho: 1.0 / dot(s, y),
                    })
                    .collect();
                let (mut q, mut a) = (vec![], vec![]);
                direction(&g, &memory, &mut q, &mut a);
                let want = dense_direction(&g, &pairs);
                let scale = want.iter().map(|x| x.abs()).fold(0.0, f64::max);
                for (got, want) in q.iter().zip(&want) {
                    assert!(
                        (got - want).abs() <= 1e-10 * scale,
                        "d = {d}, m = {m}: {q:?} vs {want:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn dot_products_of_every_length_agree_with_the_plain_sum() {
        for n in 0..40 {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-12, "n = {n}");
        }
    }
}
