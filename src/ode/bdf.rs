//! The stiff solver (`solve_ode_stiff`): variable-order (1 to 5) backward differentiation formulas in
//! the quasi-constant step size form of Shampine & Reichelt (the MATLAB ODE suite, 1997), with their
//! NDF modification (the κ coefficients), the method of ode15s and of scipy's `BDF`, which this follows
//! closely.
//!
//! The solution is kept as the backward differences D of the interpolating polynomial at equally
//! spaced points; a step size change re-expresses the same polynomial at the new spacing (`change_d`).
//! Each step predicts y from D, solves the corrector equation d = c f(t_new, y_pred + d) - ψ by a
//! simplified Newton iteration with the matrix I - c J (J reused across steps until the iteration
//! fails to converge), estimates the error from d, and after every order + 1 steps of one size picks
//! the order (k - 1, k, k + 1) that allows the longest next step.
//!
//! Sensitivities: once the states' corrector has converged, the sensitivities' corrector, which is
//! linear, is solved exactly with the Jacobian at the new point:
//! (I - c J_y) d_S = c (J_y S_pred + J_θ) - ψ_S — the derivative of the states' corrector equation
//! (the staggered direct method of Caracotsios & Stewart, 1985). The sensitivities share D's
//! differences, predictor and step changes, so they are the derivative of the computed solution.

use super::linalg::{lu_factor, lu_solve};
use super::{initial_step, min_step, quantize, rms, Ctx, Failure, FailureKind, Stepper};

const MAX_ORDER: usize = 5;
const NEWTON_MAXITER: usize = 4;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
/// The NDF coefficients κ of Shampine & Reichelt (order 0 is unused).
const KAPPA: [f64; MAX_ORDER + 1] = [0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0];

pub struct Bdf {
    n: usize,
    w: usize,
    /// Backward differences, MAX_ORDER + 3 rows of the augmented length.
    d: Vec<f64>,
    /// Scratch rows for a change of step size.
    d_tmp: Vec<f64>,
    pred: Vec<f64>,
    psi: Vec<f64>,
    corr: Vec<f64>,
    y: Vec<f64>,
    f: Vec<f64>,
    dy: Vec<f64>,
    scale: Vec<f64>,
    jac: Vec<f64>,
    lu: Vec<f64>,
    piv: Vec<usize>,
    rhs: Vec<f64>,
    tmp: (Vec<f64>, Vec<f64>),
    gamma: [f64; MAX_ORDER + 2],
    alpha: [f64; MAX_ORDER + 2],
    error_const: [f64; MAX_ORDER + 2],
    len: usize,
    t: f64,
    t_old: f64,
    h_abs: f64,
    order: usize,
    n_equal_steps: usize,
    lu_valid: bool,
    newton_tol: f64,
}

impl Bdf {
    pub fn new(n: usize, m: usize, max_cols: usize) -> Bdf {
        let len = n * (1 + max_cols);
        let mut gamma = [0.0; MAX_ORDER + 2];
        let mut alpha = [0.0; MAX_ORDER + 2];
        let mut error_const = [0.0; MAX_ORDER + 2];
        for k in 1..=MAX_ORDER {
            gamma[k] = gamma[k - 1] + 1.0 / k as f64;
        }
        for k in 0..=MAX_ORDER {
            alpha[k] = (1.0 - KAPPA[k]) * gamma[k];
            error_const[k] = KAPPA[k] * gamma[k] + 1.0 / (k as f64 + 1.0);
        }
        // Order MAX_ORDER + 1 only enters through its error constant (κ = 0 there).
        gamma[MAX_ORDER + 1] = gamma[MAX_ORDER] + 1.0 / (MAX_ORDER as f64 + 1.0);
        error_const[MAX_ORDER + 1] = 1.0 / (MAX_ORDER as f64 + 2.0);
        Bdf {
            n,
            w: 1 + n + m,
            d: vec![0.0; (MAX_ORDER + 3) * len],
            d_tmp: vec![0.0; (MAX_ORDER + 1) * len],
            pred: vec![0.0; len],
            psi: vec![0.0; len],
            corr: vec![0.0; len],
            y: vec![0.0; n],
            f: vec![0.0; n],
            dy: vec![0.0; n],
            scale: vec![0.0; n],
            jac: vec![0.0; n * (1 + n + m)],
            lu: vec![0.0; n * n],
            piv: vec![0; n],
            rhs: vec![0.0; n],
            tmp: (vec![0.0; n], vec![0.0; n]),
            gamma,
            alpha,
            error_const,
            len,
            t: 0.0,
            t_old: 0.0,
            h_abs: 0.0,
            order: 1,
            n_equal_steps: 0,
            lu_valid: false,
            newton_tol: 0.0,
        }
    }

    fn row(&self, r: usize) -> &[f64] {
        &self.d[r * self.len..(r + 1) * self.len]
    }

    /// Re-expresses the differences for a step size `factor` times the current one: D <- (R U)^T D
    /// over the first order + 1 rows, with R and U from Shampine & Reichelt's formula.
    fn change_d(&mut self, factor: f64) {
        let order = self.order;
        let r = compute_r(order, factor);
        let u = compute_r(order, 1.0);
        let mut ru = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
        for i in 0..=order {
            for j in 0..=order {
                ru[i][j] = (0..=order).map(|k| r[i][k] * u[k][j]).sum();
            }
        }
        let len = self.len;
        for j in 0..=order {
            for x in 0..len {
                let mut v = 0.0;
                for i in 0..=order {
                    v += ru[i][j] * self.d[i * len + x];
                }
                self.d_tmp[j * len + x] = v;
            }
        }
        self.d[..(order + 1) * len].copy_from_slice(&self.d_tmp[..(order + 1) * len]);
    }

    /// Factorises I - c J_y into `lu`; false when it is singular.
    fn factorise(&mut self, cx: &mut Ctx, c: f64) -> bool {
        let (n, w) = (self.n, self.w);
        for i in 0..n {
            for k in 0..n {
                let id = if i == k { 1.0 } else { 0.0 };
                self.lu[i * n + k] = id - c * self.jac[i * w + 1 + k];
            }
        }
        cx.stats.factorisations += 1;
        self.lu_valid = lu_factor(&mut self.lu, n, &mut self.piv);
        self.lu_valid
    }

    /// The simplified Newton iteration for the states' corrector; returns (converged, iterations).
    /// On return `y` holds y_pred + d and `corr[..n]` holds d.
    fn newton(&mut self, cx: &mut Ctx, t_new: f64, c: f64) -> (bool, usize) {
        let n = self.n;
        self.y.copy_from_slice(&self.pred[..n]);
        self.corr[..n].fill(0.0);
        let mut old_norm: Option<f64> = None;
        for k in 0..NEWTON_MAXITER {
            cx.rate(t_new, &self.y, &mut self.f);
            if self.f.iter().any(|v| !v.is_finite()) {
                return (false, k + 1);
            }
            for i in 0..n {
                self.dy[i] = c * self.f[i] - self.psi[i] - self.corr[i];
            }
            lu_solve(&self.lu, n, &self.piv, &mut self.dy);
            let norm = rms(&self.dy, &self.scale);
            if !norm.is_finite() {
                return (false, k + 1);
            }
            let rate = old_norm.map(|o| norm / o);
            if let Some(r) = rate {
                if r >= 1.0
                    || r.powi((NEWTON_MAXITER - k) as i32) / (1.0 - r) * norm > self.newton_tol
                {
                    return (false, k + 1);
                }
            }
            for i in 0..n {
                self.y[i] += self.dy[i];
                self.corr[i] += self.dy[i];
            }
            if norm == 0.0 || rate.is_some_and(|r| r / (1.0 - r) * norm < self.newton_tol) {
                return (true, k + 1);
            }
            old_norm = Some(norm);
        }
        (false, NEWTON_MAXITER)
    }

    /// The sensitivities' corrector at the accepted point (t_new, y): fresh Jacobian, exact solve.
    fn sensitivities(&mut self, cx: &mut Ctx, t_new: f64, c: f64) -> bool {
        let (n, w) = (self.n, self.w);
        cx.jacobian(t_new, &self.y, &mut self.f, &mut self.jac);
        if !self.factorise(cx, c) {
            return false;
        }
        for (col, kind) in cx.cols.iter().enumerate() {
            let base = n * (1 + col);
            for i in 0..n {
                let row = &self.jac[i * w..(i + 1) * w];
                let mut v = match kind {
                    super::Column::Param(j) => row[1 + n + j],
                    super::Column::Init(_) => 0.0,
                };
                for k in 0..n {
                    v += row[1 + k] * self.pred[base + k];
                }
                self.rhs[i] = c * v - self.psi[base + i];
            }
            lu_solve(&self.lu, n, &self.piv, &mut self.rhs);
            self.corr[base..base + n].copy_from_slice(&self.rhs);
        }
        self.corr[..self.len].iter().all(|v| v.is_finite())
    }
}

/// Shampine & Reichelt's R(order, factor): R[i][j] = prod_{r=1..i} (r - 1 - factor j) / r.
fn compute_r(order: usize, factor: f64) -> [[f64; MAX_ORDER + 1]; MAX_ORDER + 1] {
    let mut r = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
    for j in 0..=order {
        r[0][j] = 1.0;
    }
    for i in 1..=order {
        for j in 1..=order {
            r[i][j] = r[i - 1][j] * (i as f64 - 1.0 - factor * j as f64) / i as f64;
        }
    }
    r
}

impl Stepper for Bdf {
    fn start(&mut self, cx: &mut Ctx, t: f64, aug: &[f64], t_end: f64) -> Result<(), Failure> {
        let (n, len) = (self.n, cx.len());
        self.len = len;
        self.d[..len].copy_from_slice(&aug[..len]);
        // The rate (and the sensitivities' rate) at the start, with a Jacobian for the Newton matrix.
        cx.jacobian(t, &aug[..n], &mut self.f, &mut self.jac);
        let (first, rest) = self.d.split_at_mut(len);
        let d1 = &mut rest[..len];
        d1[..n].copy_from_slice(&self.f);
        cx.sensitivity_rate(first, &self.jac, d1);
        if d1.iter().any(|v| !v.is_finite()) {
            return Err(Failure {
                t,
                kind: FailureKind::NonFinite,
            });
        }
        let (y1, f1) = (&mut self.tmp.0, &mut self.tmp.1);
        let h = quantize(initial_step(
            cx,
            t,
            &first[..n],
            &self.f,
            t_end - t,
            1,
            (&mut self.scale, y1, f1),
        ));
        for v in d1.iter_mut() {
            *v *= h;
        }
        self.h_abs = h;
        self.t = t;
        self.t_old = t;
        self.order = 1;
        self.n_equal_steps = 0;
        self.lu_valid = false;
        let rtol = cx.tol.rtol;
        self.newton_tol = (10.0 * f64::EPSILON / rtol).max(0.03f64.min(rtol.sqrt()));
        Ok(())
    }

    fn step(&mut self, cx: &mut Ctx, t_end: f64) -> Result<(), Failure> {
        let (n, len) = (self.n, self.len);
        let t = self.t;
        let mut h_abs = self.h_abs;
        if h_abs < min_step(t) {
            h_abs = min_step(t);
            self.change_d(h_abs / self.h_abs);
            self.n_equal_steps = 0;
        }
        let mut jac_current = false;
        let mut n_iter = NEWTON_MAXITER;
        loop {
            cx.count_step(t)?;
            if h_abs < min_step(t) || !h_abs.is_finite() {
                return Err(Failure {
                    t,
                    kind: FailureKind::StepSizeUnderflow,
                });
            }
            let mut t_new = t + h_abs;
            if t_new >= t_end {
                t_new = t_end;
                self.change_d((t_new - t) / h_abs);
                self.n_equal_steps = 0;
                self.lu_valid = false;
            }
            h_abs = t_new - t;
            let order = self.order;
            for x in 0..len {
                self.pred[x] = (0..=order).map(|r| self.d[r * len + x]).sum();
                let mut psi = 0.0;
                for r in 1..=order {
                    psi += self.gamma[r] * self.d[r * len + x];
                }
                self.psi[x] = psi / self.alpha[order];
            }
            for i in 0..n {
                self.scale[i] = cx.tol.atol + cx.tol.rtol * self.pred[i].abs();
            }
            let c = h_abs / self.alpha[order];
            let converged = loop {
                if !self.lu_valid && !self.factorise(cx, c) {
                    if jac_current {
                        break false;
                    }
                    cx.jacobian(t_new, &self.pred[..n], &mut self.f, &mut self.jac);
                    jac_current = true;
                    continue;
                }
                let (ok, iters) = self.newton(cx, t_new, c);
                n_iter = iters;
                if ok || jac_current {
                    break ok;
                }
                // A stale Jacobian may be to blame: refresh it once.
                cx.jacobian(t_new, &self.pred[..n], &mut self.f, &mut self.jac);
                jac_current = true;
                self.lu_valid = false;
            };
            if !converged {
                cx.stats.rejected += 1;
                let h = quantize(h_abs * 0.5);
                self.change_d(h / h_abs);
                h_abs = h;
                self.n_equal_steps = 0;
                self.lu_valid = false;
                continue;
            }
            let safety =
                0.9 * (2 * NEWTON_MAXITER + 1) as f64 / (2 * NEWTON_MAXITER + n_iter) as f64;
            for i in 0..n {
                self.scale[i] = cx.tol.atol + cx.tol.rtol * self.y[i].abs();
                self.dy[i] = self.error_const[order] * self.corr[i];
            }
            let err = rms(&self.dy, &self.scale);
            // A NaN error estimate is a failure too.
            if err.is_nan() || err > 1.0 {
                cx.stats.rejected += 1;
                let factor = if err.is_finite() {
                    MIN_FACTOR.max(safety * err.powf(-1.0 / (order as f64 + 1.0)))
                } else {
                    MIN_FACTOR
                };
                let h = quantize(h_abs * factor);
                self.change_d(h / h_abs);
                h_abs = h;
                self.n_equal_steps = 0;
                continue;
            }
            if !cx.cols.is_empty() && !self.sensitivities(cx, t_new, c) {
                return Err(Failure {
                    t: t_new,
                    kind: FailureKind::NonFinite,
                });
            }
            // Accepted: new differences from the correction (D^{j+1} y_n = D^j y_n - D^j y_{n-1}).
            self.t_old = t;
            self.t = t_new;
            self.h_abs = h_abs;
            self.n_equal_steps += 1;
            for x in 0..len {
                let d = self.corr[x];
                self.d[(order + 2) * len + x] = d - self.d[(order + 1) * len + x];
                self.d[(order + 1) * len + x] = d;
                for r in (0..=order).rev() {
                    self.d[r * len + x] += self.d[(r + 1) * len + x];
                }
            }
            if self.d[..len].iter().any(|v| !v.is_finite()) {
                return Err(Failure {
                    t: t_new,
                    kind: FailureKind::NonFinite,
                });
            }
            if self.n_equal_steps < order + 1 {
                return Ok(());
            }
            // Choose the order (one down, same, one up) that allows the longest next step.
            let norm_of = |bdf: &Bdf, k: usize, row: usize| -> f64 {
                let r = bdf.row(row);
                let s: f64 = (0..n)
                    .map(|i| {
                        let e = bdf.error_const[k] * r[i] / bdf.scale[i];
                        e * e
                    })
                    .sum();
                (s / n.max(1) as f64).sqrt()
            };
            let err_m = if order > 1 {
                norm_of(self, order - 1, order)
            } else {
                f64::INFINITY
            };
            let err_p = if order < MAX_ORDER {
                norm_of(self, order + 1, order + 2)
            } else {
                f64::INFINITY
            };
            let factors = [
                err_m.powf(-1.0 / order as f64),
                err.powf(-1.0 / (order as f64 + 1.0)),
                err_p.powf(-1.0 / (order as f64 + 2.0)),
            ];
            let mut best = 1;
            for (k, f) in factors.iter().enumerate() {
                if *f > factors[best] {
                    best = k;
                }
            }
            self.order = order + best - 1;
            let factor = MAX_FACTOR.min(safety * factors[best]);
            let h = quantize(self.h_abs * factor);
            self.change_d(h / self.h_abs);
            self.h_abs = h;
            self.n_equal_steps = 0;
            self.lu_valid = false;
            return Ok(());
        }
    }

    fn t(&self) -> f64 {
        self.t
    }

    fn t_old(&self) -> f64 {
        self.t_old
    }

    fn state(&self) -> &[f64] {
        self.row(0)
    }

    fn interpolate(&self, s: f64, out: &mut [f64]) {
        // The interpolating polynomial through the last order + 1 points, spaced h_abs apart.
        let (len, order, h) = (self.len, self.order, self.h_abs);
        out.copy_from_slice(&self.d[..out.len()]);
        let mut p = 1.0;
        for j in 0..order {
            p *= (s - (self.t - h * j as f64)) / (h * (1.0 + j as f64));
            let row = &self.d[(j + 1) * len..(j + 2) * len];
            for (o, r) in out.iter_mut().zip(row) {
                *o += r * p;
            }
        }
    }
}
