//! The compiled model as samplers and reports use it: log densities against closed forms, transforms
//! round-tripping through `unconstrain`, outputs by name, run-time modality weights, and recoverable
//! errors instead of panics.

mod common;

use mmi::eval::EvalError;
use mmi::passes::Settings;
use statrs::distribution::{Continuous, Normal};

const NORMAL: &str = r#"
data { n: int > 0, y: vector[n] }
latent {
  mu: real ~ normal(1, 2)
  sigma: real > 0 ~ lognormal(0, 1)
}
law z = (y - mu) / sigma
modality m { y ~ normal(mu, sigma) }
"#;
const NORMAL_DATA: &str = r#"{"n": 3, "y": [0.5, 1.5, 2.5]}"#;

#[test]
fn normalised_log_density_matches_statrs() {
    let model = common::compile(
        NORMAL,
        NORMAL_DATA,
        &Settings {
            keep_constants: true,
            ..Settings::default()
        },
    );
    let mut ev = model.evaluator();
    for &(mu, log_sigma) in &[(0.3, -0.2), (1.7, 0.8), (-2.0, 0.0)] {
        let sigma: f64 = f64::exp(log_sigma);
        let lp = ev.log_density(&[mu, log_sigma]).unwrap();
        let mut want = Normal::new(1.0, 2.0).unwrap().ln_pdf(mu);
        want += statrs::distribution::LogNormal::new(0.0, 1.0)
            .unwrap()
            .ln_pdf(sigma);
        want += log_sigma; // Jacobian of sigma = exp(x)
        for y in [0.5, 1.5, 2.5] {
            want += Normal::new(mu, sigma).unwrap().ln_pdf(y);
        }
        assert!(
            (lp - want).abs() < 1e-10 * want.abs().max(1.0),
            "{lp} vs {want}"
        );
    }
}

#[test]
fn outputs_are_named_and_laws_are_computed() {
    let model = common::compile(NORMAL, NORMAL_DATA, &Settings::default());
    assert_eq!(model.latent_names(), vec!["mu", "sigma"]);
    let mut ev = model.evaluator();
    let out = ev.constrain(&[1.0, 0.0]).unwrap();
    assert_eq!(out[0].name, "mu");
    assert_eq!(out[1].values, vec![1.0]);
    assert_eq!(out[2].name, "z");
    assert_eq!(out[2].values, vec![-0.5, 0.5, 1.5]);
}

#[test]
fn modality_weights_change_without_recompiling() {
    let model = common::compile(NORMAL, NORMAL_DATA, &Settings::default());
    let mut ev = model.evaluator();
    let x = [0.4, 0.1];
    let full = ev.log_density(&x).unwrap();
    ev.set_modality_weight(0, 0.0);
    let prior_only = ev.log_density(&x).unwrap();
    ev.set_modality_weight(0, 0.5);
    let half = ev.log_density(&x).unwrap();
    assert!((half - (prior_only + 0.5 * (full - prior_only))).abs() < 1e-12);
    let mut g = [0.0; 2];
    ev.log_density_and_gradient(&x, &mut g).unwrap();
    assert!(common::gradient_error(&model, &x) < 1e-6);
}

const CONSTRAINED: &str = r#"
data { k: int > 0 }
latent {
  a: real > -1
  b: vector[k] < 2
  c: real in (a, 5)
  w: simplex[k]
  o: ordered[k]
  p: positive_ordered[k]
  M: matrix[2, k]
}
modality m { k ~ poisson_log(sum(w) + a + sum(b) + c + sum(o) + sum(p) + sum(M)) }
"#;

#[test]
fn unconstrain_inverts_constrain() {
    let model = common::compile(CONSTRAINED, r#"{"k": 3}"#, &Settings::default());
    assert_eq!(model.dim(), 1 + 3 + 1 + 2 + 3 + 3 + 6);
    let names = model.latent_names();
    assert!(names.contains(&"M[2,3]".to_string()) && names.contains(&"w[3]".to_string()));
    let mut ev = model.evaluator();
    let x: Vec<f64> = (0..model.dim())
        .map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.4)
        .collect();
    let out = ev.constrain(&x).unwrap();
    let values: Vec<(String, Vec<f64>)> = out
        .iter()
        .map(|o| (o.name.clone(), o.values.clone()))
        .collect();
    let w = &values.iter().find(|(n, _)| n == "w").unwrap().1;
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    let o = &values.iter().find(|(n, _)| n == "o").unwrap().1;
    assert!(o.windows(2).all(|p| p[0] < p[1]));
    let back = ev.unconstrain(&values).unwrap();
    for (a, b) in x.iter().zip(&back) {
        assert!((a - b).abs() < 1e-10, "{x:?} vs {back:?}");
    }
    let mut bad = values.clone();
    bad[0].1 = vec![-3.0];
    let err = ev.unconstrain(&bad).unwrap_err();
    assert!(
        err.contains("latent `a`") && err.contains("lower bound"),
        "{err}"
    );
}

#[test]
fn bad_points_are_recoverable_errors() {
    let src = "data { y: vector[2] }\nlatent { s: real ~ normal(1, 1) }\nmodality m { y ~ normal(0, s) }\n";
    let model = common::compile(src, r#"{"y": [1, 2]}"#, &Settings::default());
    let mut ev = model.evaluator();
    let err = ev.log_density(&[-1.0]).unwrap_err();
    assert_eq!(err, EvalError::NonFinite);
    assert!(err.is_recoverable());
    let mut g = [0.0];
    assert_eq!(
        ev.log_density_and_gradient(&[-1.0], &mut g),
        Err(EvalError::NonFinite)
    );
    assert!(ev.log_density(&[f64::NAN]).is_err());
    let err = ev.log_density(&[1.0, 2.0]).unwrap_err();
    assert!(!err.is_recoverable());
    assert_eq!(
        err.to_string(),
        "expected a point with 1 coordinates, got 2"
    );
}

/// A comprehension whose body mixes the index with whole arrays (a reduction at each index) cannot be
/// vectorised; it is unrolled, and gives the same values and exact gradients.
#[test]
fn comprehensions_with_reductions_in_the_body_are_unrolled() {
    let src = r#"
data { n: int > 0, M: matrix[n, 3], t: vector[n] }
latent { x: vector[3] ~ normal(0, 1) }
law v = [dot(x, M[i]) + sum(exp(x * t[i])) for i in 1:n]
modality m { t ~ normal(v, 1) }
"#;
    let data = r#"{"n": 4, "M": [[1, 2, 0], [0.5, -1, 1], [0, 0, 2], [1, 1, 1]], "t": [0.1, -0.3, 0.7, 0.2]}"#;
    let model = common::compile(src, data, &mmi::passes::Settings::default());
    let m = [
        [1.0, 2.0, 0.0],
        [0.5, -1.0, 1.0],
        [0.0, 0.0, 2.0],
        [1.0, 1.0, 1.0],
    ];
    let t = [0.1, -0.3, 0.7, 0.2];
    let x = [0.3, -0.2, 0.5];
    let mut lp = -0.5 * x.iter().map(|v| v * v).sum::<f64>();
    for i in 0..4 {
        let v: f64 = (0..3).map(|j| x[j] * m[i][j] + (x[j] * t[i]).exp()).sum();
        lp -= 0.5 * (t[i] - v).powi(2);
    }
    let mut ev = model.evaluator();
    let shift = ev.log_density(&x).unwrap() - lp;
    let y = [-0.4, 0.9, 0.1];
    let mut lp2 = -0.5 * y.iter().map(|v| v * v).sum::<f64>();
    for i in 0..4 {
        let v: f64 = (0..3).map(|j| y[j] * m[i][j] + (y[j] * t[i]).exp()).sum();
        lp2 -= 0.5 * (t[i] - v).powi(2);
    }
    // Equal up to the dropped constant.
    assert!((ev.log_density(&y).unwrap() - lp2 - shift).abs() < 1e-12);
    assert!(common::gradient_error(&model, &x) < 1e-6);
}
