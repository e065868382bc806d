//! The explicit Dormand-Prince 5(4) method (`solve_ode`), as in Hairer, Nørsett & Wanner's DOPRI5:
//! seven stages with the first-same-as-last property, a PI step size controller, and the fourth-order
//! continuous extension for outputs between steps.
//!
//! The stages act on the augmented state (y, S); the sensitivities' stages use the Jacobian at each
//! stage point, so S is the exact derivative of the computed y. The error estimate and the step sizes
//! use the states only.

use super::{initial_step, min_step, quantize, rms, Ctx, Failure, FailureKind, Stepper};

const C: [f64; 7] = [0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];

/// Stage coefficients a[s][j] (row s uses stages 0..s); row 6 is the fifth-order solution.
const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [0.2, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];

/// The error estimate: fifth- minus fourth-order weights.
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

/// Dense output weights (Hairer's `contd5`).
const D: [f64; 7] = [
    -12715105075.0 / 11282082432.0,
    0.0,
    87487479700.0 / 32700410799.0,
    -10690763975.0 / 1880347072.0,
    701980252875.0 / 199316789632.0,
    -1453857185.0 / 822651844.0,
    69997945.0 / 29380423.0,
];

/// Step size control (Hairer's defaults): safety factor, PI stabilisation, growth and shrink bounds.
const SAFE: f64 = 0.9;
const BETA: f64 = 0.04;
const FAC_MIN: f64 = 0.2;
const FAC_MAX: f64 = 10.0;

pub struct Dopri {
    n: usize,
    /// Seven stage derivatives of the augmented state, one after another.
    k: Vec<f64>,
    y: Vec<f64>,
    y_new: Vec<f64>,
    scale: Vec<f64>,
    /// Coefficients of the continuous extension of the last step.
    cont: Vec<f64>,
    jac: Vec<f64>,
    /// Scratch of the states' length for the initial step.
    tmp: (Vec<f64>, Vec<f64>),
    len: usize,
    t: f64,
    t_old: f64,
    h: f64,
    h_last: f64,
    facold: f64,
}

impl Dopri {
    pub fn new(n: usize, m: usize, max_cols: usize) -> Dopri {
        let len = n * (1 + max_cols);
        Dopri {
            n,
            k: vec![0.0; 7 * len],
            y: vec![0.0; len],
            y_new: vec![0.0; len],
            scale: vec![0.0; n],
            cont: vec![0.0; 5 * len],
            jac: vec![0.0; n * (1 + n + m)],
            tmp: (vec![0.0; n], vec![0.0; n]),
            len,
            t: 0.0,
            t_old: 0.0,
            h: 0.0,
            h_last: 0.0,
            facold: 1e-4,
        }
    }
}

impl Stepper for Dopri {
    fn start(&mut self, cx: &mut Ctx, t: f64, aug: &[f64], t_end: f64) -> Result<(), Failure> {
        let len = cx.len();
        let n = self.n;
        self.len = len;
        self.y[..len].copy_from_slice(&aug[..len]);
        let (k0, _) = self.k.split_at_mut(len);
        cx.augmented_rate(t, &self.y[..len], &mut self.jac, k0);
        if k0.iter().any(|v| !v.is_finite()) {
            return Err(Failure {
                t,
                kind: FailureKind::NonFinite,
            });
        }
        let (y1, f1) = (&mut self.tmp.0, &mut self.tmp.1);
        self.h = quantize(initial_step(
            cx,
            t,
            &self.y[..n],
            &k0[..n],
            t_end - t,
            4,
            (&mut self.scale, y1, f1),
        ));
        self.t = t;
        self.t_old = t;
        self.facold = 1e-4;
        Ok(())
    }

    fn step(&mut self, cx: &mut Ctx, t_end: f64) -> Result<(), Failure> {
        let (n, len) = (self.n, self.len);
        let t = self.t;
        let expo1 = 0.2 - BETA * 0.75;
        let mut rejected = false;
        loop {
            cx.count_step(t)?;
            if self.h < min_step(t) {
                return Err(Failure {
                    t,
                    kind: FailureKind::StepSizeUnderflow,
                });
            }
            let mut h = self.h;
            // Reach the end exactly instead of leaving a sliver.
            if t + 1.01 * h >= t_end {
                h = t_end - t;
            }
            for s in 1..7 {
                let (done, rest) = self.k.split_at_mut(s * len);
                for i in 0..len {
                    let mut acc = 0.0;
                    for j in 0..s {
                        acc += A[s][j] * done[j * len + i];
                    }
                    self.y_new[i] = self.y[i] + h * acc;
                }
                cx.augmented_rate(
                    t + C[s] * h,
                    &self.y_new[..len],
                    &mut self.jac,
                    &mut rest[..len],
                );
            }
            // y_new now holds the fifth-order solution (row 6 of A is its weights).
            for i in 0..n {
                let mut e = 0.0;
                for s in 0..7 {
                    e += E[s] * self.k[s * len + i];
                }
                self.scale[i] =
                    cx.tol.atol + cx.tol.rtol * self.y[i].abs().max(self.y_new[i].abs());
                self.tmp.0[i] = h * e;
            }
            let err = rms(&self.tmp.0[..n], &self.scale[..n]);
            if !err.is_finite() {
                // A stage left the domain of the rate: retreat hard.
                cx.stats.rejected += 1;
                rejected = true;
                self.h = quantize(h * FAC_MIN);
                continue;
            }
            let fac11 = err.powf(expo1);
            if err <= 1.0 {
                if self.y_new[..len].iter().any(|v| !v.is_finite()) {
                    return Err(Failure {
                        t,
                        kind: FailureKind::NonFinite,
                    });
                }
                let fac =
                    (fac11 / self.facold.powf(BETA) / SAFE).clamp(1.0 / FAC_MAX, 1.0 / FAC_MIN);
                let mut h_new = h / fac;
                if rejected {
                    h_new = h_new.min(h);
                }
                self.facold = err.max(1e-4);
                self.continuous_extension(h);
                // First same as last: the last stage is the next step's first.
                let (first, rest) = self.k.split_at_mut(len);
                first.copy_from_slice(&rest[5 * len..6 * len]);
                self.y[..len].copy_from_slice(&self.y_new[..len]);
                self.t_old = t;
                self.t = if h == t_end - t { t_end } else { t + h };
                self.h_last = h;
                self.h = quantize(h_new);
                return Ok(());
            }
            cx.stats.rejected += 1;
            rejected = true;
            self.h = quantize(h / (1.0 / FAC_MIN).min(fac11 / SAFE));
        }
    }

    fn t(&self) -> f64 {
        self.t
    }

    fn t_old(&self) -> f64 {
        self.t_old
    }

    fn state(&self) -> &[f64] {
        &self.y[..self.len]
    }

    fn interpolate(&self, s: f64, out: &mut [f64]) {
        let len = self.len;
        let theta = (s - self.t_old) / self.h_last;
        let theta1 = 1.0 - theta;
        let c = &self.cont;
        for i in 0..out.len() {
            out[i] = c[i]
                + theta
                    * (c[len + i]
                        + theta1
                            * (c[2 * len + i]
                                + theta * (c[3 * len + i] + theta1 * c[4 * len + i])));
        }
    }
}

impl Dopri {
    /// The continuous extension of the step just taken (from y to y_new with step h), before the
    /// stages are rotated: linear in the stages, so it interpolates the sensitivities exactly as it
    /// interpolates the states.
    fn continuous_extension(&mut self, h: f64) {
        let len = self.len;
        let k = &self.k;
        for i in 0..len {
            let diff = self.y_new[i] - self.y[i];
            let bspl = h * k[i] - diff;
            self.cont[i] = self.y[i];
            self.cont[len + i] = diff;
            self.cont[2 * len + i] = bspl;
            self.cont[3 * len + i] = diff - h * k[6 * len + i] - bspl;
            let mut d = 0.0;
            for s in 0..7 {
                d += D[s] * k[s * len + i];
            }
            self.cont[4 * len + i] = h * d;
        }
    }
}
