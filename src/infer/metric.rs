//! The Euclidean metric of HMC: the inverse mass matrix, diagonal or dense, how momenta are drawn from
//! it, and the kinetic energy. Estimated during warm-up from the draws' (co)variance.

use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_distr::StandardNormal;

#[derive(Debug, Clone)]
pub enum Metric {
    /// Inverse mass matrix diagonal: the posterior variances.
    Diag(Vec<f64>),
    /// Inverse mass matrix (the posterior covariance) with its lower Cholesky factor.
    Dense {
        inv: DMatrix<f64>,
        chol: DMatrix<f64>,
    },
}

impl Metric {
    pub fn unit_diag(d: usize) -> Metric {
        Metric::Diag(vec![1.0; d])
    }

    /// A dense metric from a covariance; `None` if it is not positive definite.
    pub fn dense(cov: DMatrix<f64>) -> Option<Metric> {
        let chol = cov.clone().cholesky()?.l();
        Some(Metric::Dense { inv: cov, chol })
    }

    /// Draws a momentum p ~ N(0, M) into `p` (`z` is scratch of the same length).
    pub fn sample_momentum(&self, rng: &mut impl rand::Rng, p: &mut [f64], z: &mut [f64]) {
        for v in z.iter_mut() {
            *v = rng.sample(StandardNormal);
        }
        match self {
            Metric::Diag(inv) => {
                for i in 0..p.len() {
                    p[i] = z[i] / inv[i].sqrt();
                }
            }
            Metric::Dense { chol, .. } => {
                // M^{-1} = L L^T, so p = L^{-T} z has covariance (L L^T)^{-1} = M. Back substitution.
                let n = p.len();
                for i in (0..n).rev() {
                    let mut s = z[i];
                    for j in i + 1..n {
                        s -= chol[(j, i)] * p[j];
                    }
                    p[i] = s / chol[(i, i)];
                }
            }
        }
    }

    /// The velocity dq/dt = M^{-1} p ("sharp" momentum) into `out`.
    pub fn velocity(&self, p: &[f64], out: &mut [f64]) {
        match self {
            Metric::Diag(inv) => {
                for i in 0..p.len() {
                    out[i] = inv[i] * p[i];
                }
            }
            Metric::Dense { inv, .. } => {
                let n = p.len();
                for i in 0..n {
                    let mut s = 0.0;
                    for j in 0..n {
                        s += inv[(i, j)] * p[j];
                    }
                    out[i] = s;
                }
            }
        }
    }

    /// Kinetic energy 0.5 p' M^{-1} p, with `v = M^{-1} p` already computed.
    pub fn kinetic(p: &[f64], v: &[f64]) -> f64 {
        0.5 * p.iter().zip(v).map(|(a, b)| a * b).sum::<f64>()
    }

    /// The diagonal of the inverse mass matrix (for output headers).
    pub fn diagonal(&self) -> Vec<f64> {
        match self {
            Metric::Diag(v) => v.clone(),
            Metric::Dense { inv, .. } => (0..inv.nrows()).map(|i| inv[(i, i)]).collect(),
        }
    }
}

/// Welford's running mean and (co)variance of warm-up draws, regularised towards a small multiple of
/// the identity as Stan does: (n / (n + 5)) S + 1e-3 (5 / (n + 5)) I.
#[derive(Debug, Clone)]
pub struct Estimator {
    n: usize,
    mean: DVector<f64>,
    m2: DMatrix<f64>,
    dense: bool,
}

impl Estimator {
    pub fn new(d: usize, dense: bool) -> Estimator {
        let m2 = if dense {
            DMatrix::zeros(d, d)
        } else {
            DMatrix::zeros(d, 1)
        };
        Estimator {
            n: 0,
            mean: DVector::zeros(d),
            m2,
            dense,
        }
    }

    pub fn reset(&mut self) {
        self.n = 0;
        self.mean.fill(0.0);
        self.m2.fill(0.0);
    }

    pub fn add(&mut self, x: &[f64]) {
        self.n += 1;
        let d = x.len();
        let n = self.n as f64;
        if self.dense {
            let delta: Vec<f64> = (0..d).map(|i| x[i] - self.mean[i]).collect();
            for i in 0..d {
                self.mean[i] += delta[i] / n;
            }
            for i in 0..d {
                let after_i = x[i] - self.mean[i];
                for j in 0..d {
                    self.m2[(i, j)] += delta[j] * after_i;
                }
            }
        } else {
            for i in 0..d {
                let delta = x[i] - self.mean[i];
                self.mean[i] += delta / n;
                self.m2[(i, 0)] += delta * (x[i] - self.mean[i]);
            }
        }
    }

    /// The regularised estimate as a metric.
    pub fn metric(&self) -> Metric {
        let n = self.n as f64;
        let d = self.mean.len();
        let shrink = n / (n + 5.0);
        let ridge = 1e-3 * 5.0 / (n + 5.0);
        if self.dense {
            let mut cov = &self.m2 * (shrink / (n - 1.0).max(1.0));
            for i in 0..d {
                cov[(i, i)] += ridge;
            }
            Metric::dense(cov).unwrap_or_else(|| Metric::unit_diag(d))
        } else {
            Metric::Diag(
                (0..d)
                    .map(|i| self.m2[(i, 0)] / (n - 1.0).max(1.0) * shrink + ridge)
                    .collect(),
            )
        }
    }
}
