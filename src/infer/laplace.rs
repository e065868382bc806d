//! The Laplace approximation at a mode: a Gaussian in the unconstrained space whose covariance is the
//! negative inverse Hessian of the log density there, with its draws and the Laplace estimate of the
//! log evidence.
//!
//! The Hessian comes from central finite differences of the exact (reverse-mode) gradient, so it costs
//! 2d gradient evaluations. The small dense linear algebra it needs (a Cholesky factorisation and
//! triangular solves) is written out here rather than pulled in from a matrix crate.

use super::LogDensity;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// A Gaussian approximation N(mode, covariance) of the posterior in the unconstrained space.
#[derive(Debug, Clone)]
pub struct Laplace {
    pub mode: Vec<f64>,
    /// The Hessian of the log density at the mode, row-major d x d.
    pub hessian: Vec<f64>,
    /// The negative inverse of the Hessian, row-major d x d.
    pub covariance: Vec<f64>,
    /// The standard deviation of each unconstrained coordinate.
    pub sd: Vec<f64>,
    /// The log determinant of the covariance, for the Laplace evidence.
    pub log_det_cov: f64,
    /// The lower Cholesky factor L of the precision -H = L L' (row-major), which the draws use.
    precision_chol: Vec<f64>,
}

/// The finite-difference step for coordinate `x`. Central differences of an exact gradient err by
/// O(h^2) from truncation and O(eps / h) from rounding; a step near eps^(1/3) ~ 6e-6 balances the two.
/// It is relative for large coordinates (so that x + h differs from x by many units in the last place)
/// and absolute near zero (where a relative step would vanish).
fn step(x: f64) -> f64 {
    1e-5 * x.abs().max(1.0)
}

/// Builds the Laplace approximation at `mode` (normally the result of `lbfgs::maximise`).
///
/// A log density may be smooth only above some scale: one that runs an adaptive ODE solver is
/// piecewise smooth, with kinks of the order of the solver's tolerance where a step decision flips,
/// and an optimiser tends to stop right on one. The differences across a kink show it: the two
/// estimates of a mixed partial (d/dx_i of g_j and d/dx_j of g_i) disagree wildly. When that happens
/// and the Hessian is not negative definite, the differences are retried with steps 10 and 100 times
/// wider, which average over such kinks. A flat or saddle direction of a smooth density is reported
/// as it was.
pub fn laplace(model: &mut dyn LogDensity, mode: &[f64]) -> Result<Laplace, String> {
    let mut result = laplace_with_step(model, mode, 1.0);
    for widen in [10.0, 100.0] {
        match &result {
            Err((_, true)) => result = laplace_with_step(model, mode, widen),
            _ => break,
        }
    }
    result.map_err(|(e, _)| e)
}

/// Whether the two triangles of a finite-difference Hessian disagree far beyond rounding (a kink).
fn kinked(hessian: &[f64], d: usize) -> bool {
    let scale = 1.0 + (0..d).map(|i| hessian[i * d + i].abs()).fold(0.0, f64::max);
    (0..d).any(|i| {
        (0..i).any(|j| {
            let (a, b) = (hessian[i * d + j], hessian[j * d + i]);
            (a - b).abs() > 0.1 * (a.abs() + b.abs()) && (a - b).abs() > 1e-6 * scale
        })
    })
}

/// The Laplace approximation with finite-difference steps `widen` times the usual; on failure, the
/// message and whether the differences crossed a kink.
fn laplace_with_step(
    model: &mut dyn LogDensity,
    mode: &[f64],
    widen: f64,
) -> Result<Laplace, (String, bool)> {
    let d = model.dim();
    if mode.len() != d {
        return Err((
            format!(
                "the mode has {} coordinates but the model has {d} unconstrained coordinates",
                mode.len()
            ),
            false,
        ));
    }
    let mut hessian = vec![0.0; d * d];
    let (mut g_plus, mut g_minus) = (vec![0.0; d], vec![0.0; d]);
    let mut x = mode.to_vec();
    for i in 0..d {
        let h = widen * step(mode[i]);
        let mut at = |xi: f64, g: &mut [f64]| {
            x[i] = xi;
            let r = model.log_density_gradient(&x, g);
            x[i] = mode[i];
            r.map_err(|e| {
                let m = format!(
                    "cannot compute the Hessian at the mode: {e} at a point {h:.1e} away from it \
                     along coordinate {}; the mode may sit on the edge of the support",
                    i + 1
                );
                (m, false)
            })
        };
        // Divide by the step actually taken, which rounding may make differ slightly from 2h.
        let (up, down) = (mode[i] + h, mode[i] - h);
        at(up, &mut g_plus)?;
        at(down, &mut g_minus)?;
        for j in 0..d {
            hessian[i * d + j] = (g_plus[j] - g_minus[j]) / (up - down);
        }
    }
    let kink = kinked(&hessian, d);
    // Each row is the derivative of the gradient along one coordinate: the two triangles estimate the
    // same mixed partials with different rounding, so average them.
    for i in 0..d {
        for j in 0..i {
            let m = 0.5 * (hessian[i * d + j] + hessian[j * d + i]);
            hessian[i * d + j] = m;
            hessian[j * d + i] = m;
        }
    }
    let precision: Vec<f64> = hessian.iter().map(|h| -h).collect();
    let chol = cholesky(&precision, d).ok_or_else(|| {
        let m = "the mode is not a maximum in every direction (the Hessian has a non-negative \
                 eigenvalue): the posterior may be improper or the optimiser stopped at a saddle";
        (m.to_string(), kink)
    })?;
    // The covariance (L L')^{-1} = L^{-T} L^{-1}: invert L column by column, then multiply.
    let mut inv = vec![0.0; d * d];
    let mut e = vec![0.0; d];
    for c in 0..d {
        e.fill(0.0);
        e[c] = 1.0;
        forward_solve(&chol, d, &mut e);
        for r in 0..d {
            inv[r * d + c] = e[r];
        }
    }
    let mut covariance = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let v: f64 = (i.max(j)..d).map(|k| inv[k * d + i] * inv[k * d + j]).sum();
            covariance[i * d + j] = v;
            covariance[j * d + i] = v;
        }
    }
    let sd = (0..d).map(|i| covariance[i * d + i].sqrt()).collect();
    let log_det_cov = -2.0 * (0..d).map(|i| chol[i * d + i].ln()).sum::<f64>();
    Ok(Laplace {
        mode: mode.to_vec(),
        hessian,
        covariance,
        sd,
        log_det_cov,
        precision_chol: chol,
    })
}

impl Laplace {
    /// `n` draws from the approximation, x = mode + L^{-T} z with z ~ N(0, I), from a ChaCha8 stream
    /// seeded with `seed` (the same seed gives the same draws on every platform).
    pub fn draws(&self, n: usize, seed: u64) -> Vec<Vec<f64>> {
        let d = self.mode.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let mut z: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
                backward_solve(&self.precision_chol, d, &mut z);
                z.iter_mut().zip(&self.mode).for_each(|(z, m)| *z += m);
                z
            })
            .collect()
    }

    /// The normalised log density of the approximation at `x`:
    /// -1/2 (d log(2 pi) + log det(covariance) + |L'(x - mode)|^2), with L L' the precision. The
    /// Laplace report compares it with the model's log density at the draws (importance weights).
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let d = self.mode.len();
        // y = L'(x - mode), accumulated row by row of L (contiguous in memory).
        let mut y = vec![0.0; d];
        for k in 0..d {
            let dk = x[k] - self.mode[k];
            let row = &self.precision_chol[k * d..k * d + k + 1];
            for (yi, l) in y.iter_mut().zip(row) {
                *yi += l * dk;
            }
        }
        let q: f64 = y.iter().map(|v| v * v).sum();
        -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + self.log_det_cov + q)
    }

    /// The Laplace estimate of the log evidence, log p(mode) + d/2 log(2 pi) + 1/2 log det(covariance).
    /// It is the log marginal likelihood only when `log_density_at_mode` is normalised (compile with
    /// `keep_constants`); it is exact for a linear-Gaussian model.
    pub fn log_evidence(&self, log_density_at_mode: f64) -> f64 {
        let d = self.mode.len() as f64;
        log_density_at_mode + 0.5 * d * (2.0 * std::f64::consts::PI).ln() + 0.5 * self.log_det_cov
    }
}

/// The lower Cholesky factor of a symmetric positive definite row-major `d x d` matrix, or `None` when
/// it is not positive definite (a pivot that is not positive and finite).
fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for j in 0..d {
        let pivot = a[j * d + j] - (0..j).map(|k| l[j * d + k] * l[j * d + k]).sum::<f64>();
        if !(pivot > 0.0 && pivot.is_finite()) {
            return None;
        }
        let ljj = pivot.sqrt();
        l[j * d + j] = ljj;
        for i in j + 1..d {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            l[i * d + j] = (a[i * d + j] - s) / ljj;
        }
    }
    Some(l)
}

/// Solves L y = b in place (L lower triangular, row-major).
fn forward_solve(l: &[f64], d: usize, b: &mut [f64]) {
    for i in 0..d {
        let s: f64 = (0..i).map(|k| l[i * d + k] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * d + i];
    }
}

/// Solves L' x = b in place (L lower triangular, row-major).
fn backward_solve(l: &[f64], d: usize, b: &mut [f64]) {
    for i in (0..d).rev() {
        let s: f64 = (i + 1..d).map(|k| l[k * d + i] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * d + i];
    }
}
