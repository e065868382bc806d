//! Constraining transforms: from unconstrained coordinates to a latent's declared domain, with the log
//! absolute Jacobian determinant, their gradients, and the inverse (for initial values and `unconstrain`).
//!
//! Bounds are slices of length 1 (one bound for all elements) or n. None of these functions allocates.

use super::ops::{log1p_exp, logistic};
use crate::ir::graph::Transform;

fn at(v: &[f64], i: usize) -> f64 {
    if v.len() == 1 {
        v[0]
    } else {
        v[i]
    }
}

/// log(logistic(x)) = -log(1 + exp(-x)), stable for any x.
fn log_logistic(x: f64) -> f64 {
    -log1p_exp(-x)
}

/// `y = transform(x)`; `bounds` holds the lower and/or upper bound the kind needs (lower first).
pub fn constrain(t: Transform, x: &[f64], bounds: &[&[f64]], y: &mut [f64]) {
    match t {
        Transform::Lower => {
            for i in 0..y.len() {
                y[i] = at(bounds[0], i) + x[i].exp();
            }
        }
        Transform::Upper => {
            for i in 0..y.len() {
                y[i] = at(bounds[0], i) - x[i].exp();
            }
        }
        Transform::Interval => {
            for i in 0..y.len() {
                let (lo, hi) = (at(bounds[0], i), at(bounds[1], i));
                y[i] = lo + (hi - lo) * logistic(x[i]);
            }
        }
        Transform::Simplex => {
            // softmax of [x, 0]
            let k = y.len();
            let m = x.iter().fold(0.0f64, |m, &v| m.max(v));
            let mut s = (-m).exp();
            for i in 0..k - 1 {
                y[i] = (x[i] - m).exp();
                s += y[i];
            }
            y[k - 1] = (-m).exp() / s;
            for v in &mut y[..k - 1] {
                *v /= s;
            }
        }
        Transform::Ordered | Transform::PositiveOrdered => {
            for i in 0..y.len() {
                let step = x[i].exp();
                y[i] = match (i, t) {
                    (0, Transform::Ordered) => x[0],
                    (0, _) => step,
                    _ => y[i - 1] + step,
                };
            }
        }
    }
}

/// The log absolute Jacobian determinant of `constrain` at `x` (`y` its result).
pub fn log_jacobian(t: Transform, x: &[f64], bounds: &[&[f64]], y: &[f64]) -> f64 {
    match t {
        Transform::Lower | Transform::Upper => x.iter().sum(),
        Transform::Interval => {
            let mut s = 0.0;
            for i in 0..x.len() {
                let width = at(bounds[1], i) - at(bounds[0], i);
                s += width.ln() + log_logistic(x[i]) + log_logistic(-x[i]);
            }
            s
        }
        // For the additive log-ratio, |J| is the product of all k components.
        Transform::Simplex => y.iter().map(|v| v.ln()).sum(),
        Transform::Ordered => x.iter().skip(1).sum(),
        Transform::PositiveOrdered => x.iter().sum(),
    }
}

/// Adds the gradient of `sum(g_y * y) + g_jac * log_jacobian` with respect to `x` and the bounds.
/// `g_x` and `g_bounds[k]` are `None` when not wanted (bounds that are data).
#[allow(clippy::too_many_arguments)]
pub fn constrain_grad(
    t: Transform,
    x: &[f64],
    bounds: &[&[f64]],
    y: &[f64],
    g_y: Option<&[f64]>,
    g_jac: f64,
    mut g_x: Option<&mut [f64]>,
    g_bounds: &mut [Option<&mut [f64]>],
) {
    let n = x.len();
    let mut add_x = |i: usize, v: f64| {
        if let Some(g) = g_x.as_deref_mut() {
            g[i] += v;
        }
    };
    let add_bound = |g: &mut [Option<&mut [f64]>], k: usize, i: usize, v: f64| {
        if let Some(Some(b)) = g.get_mut(k) {
            if b.len() == 1 {
                b[0] += v;
            } else {
                b[i] += v;
            }
        }
    };
    match t {
        Transform::Lower | Transform::Upper => {
            let sign = if t == Transform::Lower { 1.0 } else { -1.0 };
            for i in 0..n {
                let gy = g_y.map_or(0.0, |g| g[i]);
                add_x(i, gy * sign * x[i].exp() + g_jac);
                add_bound(g_bounds, 0, i, gy);
            }
        }
        Transform::Interval => {
            for i in 0..n {
                let (lo, hi) = (at(bounds[0], i), at(bounds[1], i));
                let p = logistic(x[i]);
                let gy = g_y.map_or(0.0, |g| g[i]);
                // d/dx [log p + log(1-p)] = 1 - 2p
                add_x(i, gy * (hi - lo) * p * (1.0 - p) + g_jac * (1.0 - 2.0 * p));
                let inv_w = 1.0 / (hi - lo);
                add_bound(g_bounds, 0, i, gy * (1.0 - p) - g_jac * inv_w);
                add_bound(g_bounds, 1, i, gy * p + g_jac * inv_w);
            }
        }
        Transform::Simplex => {
            // y = softmax(z), z = [x, 0]; dL/dz_j = y_j (g_j - sum_i g_i y_i), for j < k.
            // log J = sum_i log y_i gives d/dx_j = 1 - k y_j.
            let k = y.len();
            let dotg = g_y.map_or(0.0, |g| g.iter().zip(y).map(|(a, b)| a * b).sum());
            for j in 0..k - 1 {
                let gj = g_y.map_or(0.0, |g| g[j]);
                add_x(j, y[j] * (gj - dotg) + g_jac * (1.0 - k as f64 * y[j]));
            }
        }
        Transform::Ordered | Transform::PositiveOrdered => {
            // y_i = y_{i-1} + exp(x_i): dL/dx_i = exp(x_i) * sum_{j >= i} g_j (x_0 of ordered is the identity).
            let mut tail = 0.0;
            for i in (0..n).rev() {
                tail += g_y.map_or(0.0, |g| g[i]);
                let d = if i == 0 && t == Transform::Ordered {
                    1.0
                } else {
                    x[i].exp()
                };
                let jac = if i == 0 && t == Transform::Ordered {
                    0.0
                } else {
                    g_jac
                };
                add_x(i, tail * d + jac);
            }
        }
    }
}

/// The unconstrained coordinates of a constrained value; an error says which element is outside the
/// domain.
pub fn unconstrain(
    t: Transform,
    y: &[f64],
    bounds: &[&[f64]],
    x: &mut [f64],
) -> Result<(), String> {
    let bad = |i: usize, why: &str| Err(format!("element {} ({}) {why}", i + 1, y[i]));
    match t {
        Transform::Lower => {
            for i in 0..y.len() {
                let d = y[i] - at(bounds[0], i);
                if d.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                    return bad(i, "is not above its lower bound");
                }
                x[i] = d.ln();
            }
        }
        Transform::Upper => {
            for i in 0..y.len() {
                let d = at(bounds[0], i) - y[i];
                if d.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                    return bad(i, "is not below its upper bound");
                }
                x[i] = d.ln();
            }
        }
        Transform::Interval => {
            for i in 0..y.len() {
                let (lo, hi) = (at(bounds[0], i), at(bounds[1], i));
                let u = (y[i] - lo) / (hi - lo);
                if u.is_nan() || u <= 0.0 || u >= 1.0 {
                    return bad(i, "is not strictly inside its bounds");
                }
                x[i] = (u / (1.0 - u)).ln();
            }
        }
        Transform::Simplex => {
            let k = y.len();
            let sum: f64 = y.iter().sum();
            if y.iter().any(|v| v.is_nan() || *v <= 0.0) || (sum - 1.0).abs() > 1e-8 {
                return Err(format!(
                    "is not a simplex (all elements positive, summing to 1; the sum is {sum})"
                ));
            }
            for i in 0..k - 1 {
                x[i] = (y[i] / y[k - 1]).ln();
            }
        }
        Transform::Ordered | Transform::PositiveOrdered => {
            for i in 0..y.len() {
                if i == 0 && t == Transform::Ordered {
                    x[0] = y[0];
                    continue;
                }
                let d = if i == 0 { y[0] } else { y[i] - y[i - 1] };
                if d.is_nan() || d <= 0.0 {
                    return bad(
                        i,
                        if i == 0 {
                            "is not positive"
                        } else {
                            "is not above the element before it"
                        },
                    );
                }
                x[i] = d.ln();
            }
        }
    }
    Ok(())
}
