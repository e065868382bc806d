//! `combine minmax` for likelihoods without a closed-form worst case.
//!
//! A modality's data y are perturbed inside an L2 ball of radius eps measured in noise units:
//! y' = y + sigma * u with ||u|| <= eps over all the modality's elements together. The node's value is
//! the correction  min_u F(u) - F(0) <= 0,  where F(u) is the modality's log likelihood at the perturbed
//! data; it is added to the ordinary likelihood terms, so the modality contributes its worst case.
//!
//! The inner minimisation is numerical: for a likelihood that decreases away from its centre the worst
//! perturbation lies on the sphere ||u|| = eps and points along the steepest descent of F, so we iterate
//! u <- eps * (-dF/du) / ||dF/du|| (the exact answer in one step for normal and laplace), damped by
//! backtracking so F never increases. For non-log-concave families (student_t, cauchy) the problem is not
//! convex; the iteration starts from the steepest-descent direction at u = 0 and finds a local worst case.
//!
//! The gradient with respect to the parameters is Danskin's envelope gradient: with u* fixed,
//! d/dtheta [F(theta, u*) - F(theta, 0)], where y' depends on sigma through y + sigma * u*.
//!
//! Arguments of the node: eps (a scalar), then each statement's arguments (variate first) in order.
//! Scratch layout: [final gradients: as long as all arguments] [gradients at u = 0: the same]
//! [u, trial u, shifted data, diagonal Hessian, dF/du: each as long as all variates].

use super::dists::{self, Family};
use super::forward::MAX_DIST_ARGS;
use crate::ir::graph::{Graph, NodeId};

/// Iterations of the fixed-point search and halvings of each step.
const MAX_ITER: usize = 200;
const MAX_HALVINGS: usize = 40;

/// Most arguments one node takes (eps included): lowering splits nothing, it refuses more.
pub const MAX_ARGS: usize = 64;

/// Which argument is the noise scale that measures the perturbation, for families where that means
/// something (continuous location-scale families).
pub fn noise_scale_arg(family: Family) -> Option<usize> {
    match family {
        Family::Normal | Family::Cauchy | Family::Laplace | Family::Huber => Some(2),
        Family::StudentT => Some(3),
        _ => None,
    }
}

/// Total length of the arguments and of the variates.
fn lengths(g: &Graph, families: &[Family], args: &[NodeId]) -> (usize, usize) {
    let all: usize = args.iter().map(|a| g.node(*a).len()).sum();
    let mut variates = 0;
    let mut at = 1;
    for f in families {
        variates += g.node(args[at]).len();
        at += f.arity();
    }
    (all, variates)
}

pub fn scratch_len(g: &Graph, families: &[Family], args: &[NodeId]) -> usize {
    let (all, variates) = lengths(g, families, args);
    2 * all + 5 * variates
}

/// Statement views: for each family, its argument slices and its offset into the argument layout.
struct Views<'a, 'b> {
    families: &'b [Family],
    values: &'b [&'a [f64]],
}

/// The worst-case correction (<= 0). With `want_grad`, the gradient of the correction with respect to
/// every argument is left at the start of `scratch`, argument after argument (eps gets 0).
pub fn forward<'a>(
    g: &Graph,
    families: &[Family],
    args: &[NodeId],
    get: &dyn Fn(NodeId) -> &'a [f64],
    scratch: &mut [f64],
    want_grad: bool,
) -> f64 {
    let (all, nv) = lengths(g, families, args);
    let eps = get(args[0])[0];
    let (grad, rest) = scratch.split_at_mut(all);
    let (grad0, rest) = rest.split_at_mut(all);
    let (u, rest) = rest.split_at_mut(nv);
    let (trial, rest) = rest.split_at_mut(nv);
    let (shifted, rest) = rest.split_at_mut(nv);
    let (hess, du) = rest.split_at_mut(nv);
    let mut arg_values: [&[f64]; MAX_ARGS] = [&[]; MAX_ARGS];
    let count = args.len().min(MAX_ARGS);
    for k in 0..count {
        arg_values[k] = get(args[k]);
    }
    let v = Views {
        families,
        values: &arg_values[..count],
    };
    // Value and gradients at the nominal data.
    u.fill(0.0);
    let f0 = objective(&v, u, shifted, grad0, du);
    if !f0.is_finite() {
        grad.fill(0.0);
        return f0;
    }
    let mut norm = l2(du);
    if eps.is_nan() || eps <= 0.0 || norm == 0.0 {
        grad.fill(0.0);
        return 0.0;
    }
    for (x, d) in u.iter_mut().zip(du.iter()) {
        *x = -eps * d / norm;
    }
    let mut f = objective(&v, u, shifted, grad, du);
    for _ in 0..MAX_ITER {
        norm = l2(du);
        if !f.is_finite() || norm == 0.0 {
            break;
        }
        // The steepest-descent point on the sphere, approached by halving until F decreases.
        let mut step = 1.0;
        let mut moved = false;
        let mut change = 0.0;
        for _ in 0..MAX_HALVINGS {
            change = 0.0;
            for ((t, x), d) in trial.iter_mut().zip(u.iter()).zip(du.iter()) {
                let target = -eps * d / norm;
                *t = x + step * (target - x);
                change += (*t - x) * (*t - x);
            }
            if change.sqrt() <= 1e-13 * eps {
                break;
            }
            let ft = objective(&v, trial, shifted, grad, du);
            if ft < f {
                u.copy_from_slice(trial);
                f = ft;
                moved = true;
                break;
            }
            step *= 0.5;
        }
        if !moved || change.sqrt() <= 1e-12 * eps {
            break;
        }
    }
    polish(&v, eps, u, trial, hess, shifted, grad, du);
    // Gradients (and dF/du) at the final point.
    let f = objective(&v, u, shifted, grad, du);
    if want_grad {
        danskin(&v, u, grad, grad0);
    }
    f - f0
}

/// Newton's method on the optimality conditions on the sphere, dF/du + lambda u = 0 with ||u|| = eps,
/// started where the fixed-point search stopped. The fixed point converges only linearly, and the
/// envelope gradient is exact only at the exact optimum. F is a sum over elements, so its Hessian is
/// diagonal and one finite difference of dF/du along (1, ..., 1) gives all of it. A step is kept only if
/// it shrinks the optimality residual.
#[allow(clippy::too_many_arguments)]
fn polish(
    v: &Views,
    eps: f64,
    u: &mut [f64],
    trial: &mut [f64],
    hess: &mut [f64],
    shifted: &mut [f64],
    grad: &mut [f64],
    du: &mut [f64],
) {
    let residual = |u: &[f64], du: &[f64]| -> (f64, f64) {
        let lambda = -dot(u, du) / (eps * eps);
        let r: f64 = u
            .iter()
            .zip(du)
            .map(|(x, d)| (d + lambda * x).powi(2))
            .sum::<f64>()
            .sqrt();
        (lambda, r)
    };
    objective(v, u, shifted, grad, du);
    let (mut lambda, mut r) = residual(u, du);
    for _ in 0..30 {
        if !r.is_finite() || r <= 1e-14 * (1.0 + l2(du)) {
            return;
        }
        // The diagonal Hessian, by a forward difference of dF/du.
        let tau = 1e-7 * (1.0 + eps);
        hess.copy_from_slice(du);
        for (t, x) in trial.iter_mut().zip(u.iter()) {
            *t = x + tau;
        }
        objective(v, trial, shifted, grad, du);
        for (h, d) in hess.iter_mut().zip(du.iter()) {
            let g0 = *h;
            *h = (d - g0) / tau;
        }
        // Restore dF/du at u (hess held it), then hess becomes D = H + lambda I.
        objective(v, u, shifted, grad, du);
        for h in hess.iter_mut() {
            *h += lambda;
        }
        if hess.iter().any(|h| *h == 0.0 || !h.is_finite()) {
            return;
        }
        // delta_lambda = -(u . D^-1 r) / (u . D^-1 u); delta_u = -D^-1 (r + u delta_lambda).
        let (mut num, mut den) = (0.0, 0.0);
        for ((x, d), h) in u.iter().zip(du.iter()).zip(hess.iter()) {
            num += x * (d + lambda * x) / h;
            den += x * x / h;
        }
        let dl = -num / den;
        for (((t, x), d), h) in trial
            .iter_mut()
            .zip(u.iter())
            .zip(du.iter())
            .zip(hess.iter())
        {
            *t = x - (d + lambda * x + x * dl) / h;
        }
        let norm = l2(trial);
        if norm.is_nan() || norm <= 0.0 {
            return;
        }
        for t in trial.iter_mut() {
            *t *= eps / norm;
        }
        objective(v, trial, shifted, grad, du);
        let (l2_, r2) = residual(trial, du);
        if r2.is_nan() || r2 >= r {
            objective(v, u, shifted, grad, du);
            return;
        }
        u.copy_from_slice(trial);
        lambda = l2_;
        r = r2;
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn l2(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// F(u) with its gradients: every argument's gradient into `grad` (eps's slot zeroed), dF/du into `du`.
fn objective(v: &Views, u: &[f64], shifted: &mut [f64], grad: &mut [f64], du: &mut [f64]) -> f64 {
    grad[0] = 0.0;
    let mut total = 0.0;
    let (mut at, mut g_at, mut u_at) = (1, 1, 0);
    for &family in v.families {
        let arity = family.arity();
        let a = &v.values[at..at + arity];
        let sigma = a[noise_scale_arg(family).expect("lowering checked the family")];
        let n = a[0].len();
        let y2 = &mut shifted[u_at..u_at + n];
        for k in 0..n {
            let s = if sigma.len() == 1 { sigma[0] } else { sigma[k] };
            y2[k] = a[0][k] + s * u[u_at + k];
        }
        let mut vals: [&[f64]; MAX_DIST_ARGS] = [&[]; MAX_DIST_ARGS];
        vals[0] = y2;
        vals[1..arity].copy_from_slice(&a[1..]);
        let mut grads: [Option<&mut [f64]>; MAX_DIST_ARGS] = Default::default();
        let mut rest = &mut grad[g_at..];
        for (j, slot) in grads.iter_mut().enumerate().take(arity) {
            let (head, tail) = rest.split_at_mut(vals[j].len());
            *slot = Some(head);
            rest = tail;
        }
        let constant = [false; MAX_DIST_ARGS];
        total += dists::lpdf(
            family,
            &vals[..arity],
            1,
            &constant[..arity],
            true,
            &mut grads[..arity],
        );
        for k in 0..n {
            let s = if sigma.len() == 1 { sigma[0] } else { sigma[k] };
            du[u_at + k] = s * grad[g_at + k];
        }
        g_at += a.iter().map(|x| x.len()).sum::<usize>();
        at += arity;
        u_at += n;
    }
    total
}

/// Turns the gradients at u* into the envelope gradient of the correction: add the dependence of the
/// shifted data on sigma, then subtract the gradients at u = 0.
fn danskin(v: &Views, u: &[f64], grad: &mut [f64], grad0: &[f64]) {
    let (mut at, mut g_at, mut u_at) = (1, 1, 0);
    for &family in v.families {
        let arity = family.arity();
        let a = &v.values[at..at + arity];
        let si = noise_scale_arg(family).expect("lowering checked the family");
        let n = a[0].len();
        let sigma_at = g_at + a[..si].iter().map(|x| x.len()).sum::<usize>();
        let broadcast = a[si].len() == 1;
        for k in 0..n {
            let dy = grad[g_at + k];
            let j = if broadcast { sigma_at } else { sigma_at + k };
            grad[j] += dy * u[u_at + k];
        }
        g_at += a.iter().map(|x| x.len()).sum::<usize>();
        at += arity;
        u_at += n;
    }
    for (g, g0) in grad.iter_mut().zip(grad0) {
        *g -= g0;
    }
}
