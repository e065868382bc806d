//! Whole-model gradients from the reverse sweep agree with central finite differences of the log
//! density, for every transform, operation family and distribution in small models, at random points.

mod common;

use mmi::passes::Settings;
use proptest::prelude::*;

const LOGISTIC: &str = r#"
data { n: int > 0, d: int > 0, X: matrix[n, d], y: int[n] }
latent {
  alpha: real ~ normal(0, 5)
  beta: vector[d] ~ normal(0, 1)
}
modality obs { y ~ bernoulli_logit(alpha + X * beta) }
"#;
const LOGISTIC_DATA: &str =
    r#"{"n": 4, "d": 2, "X": [[1, 2], [0.5, -1], [0, 0.3], [2, 1]], "y": [1, 0, 0, 1]}"#;

/// Every transform, with data and latent bounds.
const TRANSFORMS: &str = r#"
data { k: int > 0, y: vector[k] }
latent {
  lo: real ~ normal(0, 1)
  a: real > 0 ~ gamma(2, 2)
  b: real < 3 ~ normal(0, 2)
  c: real in (-1, 2) ~ normal(0, 1)
  d: vector[k] > lo ~ normal(1, 1)
  e: real in (lo, a + 3) ~ normal(0, 2)
  w: simplex[k] ~ dirichlet(rep(2.0, k))
  o: ordered[k] ~ normal(0, 3)
  p: positive_ordered[k] ~ lognormal(0, 1)
}
modality m { y ~ normal(w + o + p + d + a * b * c * e, 1) }
"#;
const TRANSFORMS_DATA: &str = r#"{"k": 3, "y": [0.3, 1.2, -0.4]}"#;

/// Elementwise functions, reductions, indexing, lists, comprehensions, matrices and fns.
const OPERATIONS: &str = r#"
data { n: int > 0, idx: int[2], M: matrix[n, n], y: vector[n], t: vector[n] }
latent {
  u: vector[n] ~ normal(0, 1)
  s: real > 0 ~ exponential(1)
  A: matrix[n, n] ~ normal(0, 1)
}
fn sq(z) = z .* z
law q = exp(u) + log1p(exp(u)) + sqrt(s + sq(u)) + sin(u) .* cos(u) + tanh(u) + logistic(u) + lgamma(s + 2)
law r = log_sum_exp(u) + max(u) + sum(u) / mean(t) + sd(u) + norm(u) + prod(logistic(u)) + dot(u, t)
law k = [q[1] + q[n], r, s] * 0.5
law cum = cumulative_sum(u) + sum(diff(u)) + softmax(u) + log_softmax(u)
law P = A * M + A' + diag_matrix(u) * 0.1
law g = [exp(-(t[i] - u[j])^2) for i in 1:n, j in 1:n]
modality m {
  y ~ normal(q + cum + P * u + g * t + ifelse(u > 0, u, -u) + fmax(u, t) + pow(s, u) + atan2(u, s), s + 1)
  t[idx] ~ student_t(3, u[idx] + sum(k) + sum(P[2, :]) + sum(g[1:2, 2:n]), 2)
  y[2:3] ~ cauchy(sum(P, axis = 1)[1:2], s)
}
"#;
const OPERATIONS_DATA: &str = r#"{"n": 3, "idx": [3, 1], "M": [[1, 0.5, 0], [0.2, 1, 0.1], [0, -0.3, 1]],
  "y": [0.5, -1.0, 2.0], "t": [0.1, 0.7, -0.2]}"#;

fn check_random_points(src: &str, json: &str, seed_points: &[Vec<f64>]) {
    for settings in [Settings::default(), Settings::none()] {
        let model = common::compile(src, json, &settings);
        for raw in seed_points {
            let x: Vec<f64> = (0..model.dim()).map(|i| raw[i % raw.len()]).collect();
            let err = common::gradient_error(&model, &x);
            assert!(err < 1e-6, "gradient error {err:e} at {x:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn logistic_regression_gradient(x in prop::collection::vec(-2.0f64..2.0, 8)) {
        check_random_points(LOGISTIC, LOGISTIC_DATA, &[x]);
    }

    #[test]
    fn transform_gradients(x in prop::collection::vec(-1.5f64..1.5, 24)) {
        check_random_points(TRANSFORMS, TRANSFORMS_DATA, &[x]);
    }

    #[test]
    fn operation_gradients(x in prop::collection::vec(-1.0f64..1.0, 16)) {
        check_random_points(OPERATIONS, OPERATIONS_DATA, &[x]);
    }
}

#[test]
fn optimised_and_lowered_graphs_agree_up_to_constants() {
    for (src, json) in [
        (LOGISTIC, LOGISTIC_DATA),
        (TRANSFORMS, TRANSFORMS_DATA),
        (OPERATIONS, OPERATIONS_DATA),
    ] {
        let full = common::compile(src, json, &Settings::none());
        let opt = common::compile(src, json, &Settings::default());
        let kept = common::compile(
            src,
            json,
            &Settings {
                keep_constants: true,
                ..Settings::default()
            },
        );
        let (mut a, mut b, mut c) = (full.evaluator(), opt.evaluator(), kept.evaluator());
        let x1: Vec<f64> = (0..full.dim()).map(|i| (i as f64 * 0.37).sin()).collect();
        let x2: Vec<f64> = (0..full.dim())
            .map(|i| (i as f64 * 0.11).cos() * 0.5)
            .collect();
        let (f1, f2) = (a.log_density(&x1).unwrap(), a.log_density(&x2).unwrap());
        // Keeping constants changes nothing; dropping them shifts the density by one constant.
        assert!((c.log_density(&x1).unwrap() - f1).abs() < 1e-9 * f1.abs().max(1.0));
        let shift1 = f1 - b.log_density(&x1).unwrap();
        let shift2 = f2 - b.log_density(&x2).unwrap();
        assert!(
            (shift1 - shift2).abs() < 1e-9 * f1.abs().max(1.0),
            "{shift1} vs {shift2}"
        );
    }
}
