//! A model whose likelihoods and linear predictor are big enough to be evaluated in parallel chunks
//! (`mmi::eval::parallel`): negative-binomial, Bernoulli-logit and normal (one broadcast scale)
//! likelihoods over n x m entries, on an affine node with per-row, per-column and scalar offsets.
#![allow(dead_code)]

use super::simulated::Rng;

pub const MODEL: &str = r#"
data {
  n: int > 0, m: int > 0, k: int > 0
  off: vector[n], Y: int[n, m], A: int[n, m], X: matrix[n, m]
}
latent {
  z: matrix[n, k] ~ normal(0, 1)
  W: matrix[k, m] ~ normal(0, 0.5)
  b: vector[m] ~ normal(0, 1)
  c: real ~ normal(0, 1)
  phi: real > 0 ~ lognormal(1, 0.5)
  s: real > 0 ~ lognormal(0, 0.5)
}
law eta = (off + (z * W + b + c)')'
modality rna { Y ~ neg_binomial_2_log(eta, phi) }
modality atac { A ~ bernoulli_logit(z * W + b) }
modality expr { X ~ normal(eta, s) }
"#;

/// Data for `MODEL` with n rows, m columns and k latent dimensions: small counts, fair coin flips and
/// standard normals (any valid data serve: the tests compare evaluations, not fits).
pub fn data(n: usize, m: usize, k: usize) -> String {
    let mut rng = Rng(11);
    let mut matrix = |f: &mut dyn FnMut(&mut Rng) -> String| {
        let rows: Vec<String> = (0..n)
            .map(|_| {
                let row: Vec<String> = (0..m).map(|_| f(&mut rng)).collect();
                format!("[{}]", row.join(","))
            })
            .collect();
        format!("[{}]", rows.join(","))
    };
    let y = matrix(&mut |r| format!("{}", (r.next() * r.next() * 6.0) as u32));
    let a = matrix(&mut |r| format!("{}", (r.next() < 0.4) as u32));
    let x = matrix(&mut |r| format!("{:.4}", 0.5 + r.normal()));
    let off = Rng(12).normals(n, 0.0, 0.3);
    format!(r#"{{"n": {n}, "m": {m}, "k": {k}, "off": {off}, "Y": {y}, "A": {a}, "X": {x}}}"#)
}

/// A point of the unconstrained space: small values, so that every density is well inside its
/// support and the gradient is of moderate size.
pub fn point(dim: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng(seed);
    (0..dim).map(|_| 0.3 * rng.normal()).collect()
}
