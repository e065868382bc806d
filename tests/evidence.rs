//! The marginal likelihood against closed forms and quadrature: Laplace is exact for a linear-Gaussian
//! model; bridge sampling agrees within 3 of its reported standard errors, and that error is small.

mod common;

use mmi::infer::evidence::{bridge_evidence, improper_latents, laplace_evidence};
use mmi::infer::sample::SampleSettings;
use nalgebra::{DMatrix, DVector};

fn keep() -> mmi::passes::Settings {
    mmi::passes::Settings {
        keep_constants: true,
        ..Default::default()
    }
}

const LINEAR: &str = r#"
data { n: int > 0, A: matrix[n, 3], y: vector[n] }
latent { x: vector[3] ~ normal(0, 2) }
modality m { y ~ normal(A * x, 0.5) }
"#;
const A: [[f64; 3]; 6] = [
    [1.0, 0.5, 0.0],
    [0.2, -1.0, 0.3],
    [0.0, 1.0, 1.0],
    [1.0, 1.0, 1.0],
    [-0.5, 0.0, 2.0],
    [0.3, 0.3, -0.7],
];
const Y: [f64; 6] = [1.2, -0.8, 2.1, 2.9, 3.0, -0.4];

fn linear_data() -> String {
    let rows: Vec<String> = A
        .iter()
        .map(|r| format!("[{}, {}, {}]", r[0], r[1], r[2]))
        .collect();
    format!(
        r#"{{"n": 6, "A": [{}], "y": [{}]}}"#,
        rows.join(", "),
        Y.map(|v| v.to_string()).join(", ")
    )
}

/// log N(y; 0, 0.25 I + 4 A A').
fn exact_linear() -> f64 {
    let a = DMatrix::from_fn(6, 3, |i, j| A[i][j]);
    let cov = DMatrix::<f64>::identity(6, 6) * 0.25 + &a * a.transpose() * 4.0;
    let y = DVector::from_row_slice(&Y);
    let chol = cov.clone().cholesky().unwrap();
    let log_det: f64 = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
    let quad = y.dot(&chol.solve(&y));
    -0.5 * (6.0 * (2.0 * std::f64::consts::PI).ln() + log_det + quad)
}

#[test]
fn laplace_and_bridge_match_the_linear_gaussian_evidence() {
    let model = common::compile(LINEAR, &linear_data(), &keep());
    let exact = exact_linear();
    let lap = laplace_evidence(&model, &[1.0], 1).unwrap();
    assert!((lap.log_z - exact).abs() < 1e-8, "{} vs {exact}", lap.log_z);
    let settings = SampleSettings {
        seed: 3,
        ..Default::default()
    };
    let b = bridge_evidence(&model, &[1.0], &settings).unwrap();
    assert!(b.error < 0.1, "error {}", b.error);
    assert!(
        (b.log_z - exact).abs() < 3.0 * b.error,
        "{} +- {} vs {exact}",
        b.log_z,
        b.error
    );
}

/// A two-parameter model with a positive latent (so the Jacobian matters), against quadrature over
/// (mu, log sigma).
#[test]
fn bridge_matches_quadrature_for_a_non_gaussian_posterior() {
    let src = r#"
data { n: int > 0, y: vector[n] }
latent { mu: real ~ normal(0, 3), sigma: real > 0 ~ lognormal(0, 1) }
modality m { y ~ normal(mu, sigma) }
"#;
    let y = [0.9, 2.3, 1.1, 3.8, 1.6];
    let data = r#"{"n": 5, "y": [0.9, 2.3, 1.1, 3.8, 1.6]}"#;
    let model = common::compile(src, data, &keep());
    use statrs::distribution::{Continuous, LogNormal, Normal};
    let log_joint = |mu: f64, s: f64| {
        let sigma = s.exp();
        let lik: f64 = y
            .iter()
            .map(|v| Normal::new(mu, sigma).unwrap().ln_pdf(*v))
            .sum();
        lik + Normal::new(0.0, 3.0).unwrap().ln_pdf(mu)
            + LogNormal::new(0.0, 1.0).unwrap().ln_pdf(sigma)
            + s // d sigma = sigma ds
    };
    let (nm, ns) = (1200, 1200);
    let (m0, m1, s0, s1) = (-8.0, 10.0, -5.0, 3.0);
    let (hm, hs) = ((m1 - m0) / nm as f64, (s1 - s0) / ns as f64);
    let mut values = vec![];
    for i in 0..=nm {
        for j in 0..=ns {
            let w = if i == 0 || i == nm { 0.5 } else { 1.0 }
                * if j == 0 || j == ns { 0.5 } else { 1.0 };
            values.push((w, log_joint(m0 + i as f64 * hm, s0 + j as f64 * hs)));
        }
    }
    let top = values.iter().map(|v| v.1).fold(f64::MIN, f64::max);
    let sum: f64 = values.iter().map(|(w, l)| w * (l - top).exp()).sum();
    let exact = top + (sum * hm * hs).ln();
    let settings = SampleSettings {
        seed: 8,
        ..Default::default()
    };
    let b = bridge_evidence(&model, &[1.0], &settings).unwrap();
    assert!(b.error < 0.1, "error {}", b.error);
    assert!(
        (b.log_z - exact).abs() < 3.0 * b.error,
        "{} +- {} vs {exact}",
        b.log_z,
        b.error
    );
    // With the modality off, the evidence of the prior alone is 1.
    let b0 = bridge_evidence(&model, &[0.0], &settings).unwrap();
    assert!(b0.log_z.abs() < 3.0 * b0.error.max(1e-3), "{b0:?}");
}

/// A posterior with two separated modes: y ~ normal(mu^2, 0.5) puts the mean near +2 and -2 alike.
/// The Laplace estimate sums both modes' Gaussians and lands on the quadrature value; one mode alone
/// would be off by log 2.
#[test]
fn laplace_sums_the_modes_of_a_bimodal_posterior() {
    let src = r#"
data { n: int > 0, y: vector[n] }
latent { mu: real ~ normal(0, 3) }
modality m { y ~ normal(mu * mu, 0.5) }
"#;
    let y = [4.2, 3.7, 4.4, 3.9, 4.1, 4.0];
    let data = r#"{"n": 6, "y": [4.2, 3.7, 4.4, 3.9, 4.1, 4.0]}"#;
    let model = common::compile(src, data, &keep());
    use statrs::distribution::{Continuous, Normal};
    let log_joint = |mu: f64| -> f64 {
        let lik: f64 = y
            .iter()
            .map(|v| Normal::new(mu * mu, 0.5).unwrap().ln_pdf(*v))
            .sum();
        lik + Normal::new(0.0, 3.0).unwrap().ln_pdf(mu)
    };
    // Trapezoid rule on [-6, 6]; the modes' sd is about 0.05, so 200 000 steps resolve them finely.
    let (n, a, b) = (200_000, -6.0, 6.0);
    let h = (b - a) / n as f64;
    let values: Vec<f64> = (0..=n).map(|i| log_joint(a + i as f64 * h)).collect();
    let top = values.iter().copied().fold(f64::MIN, f64::max);
    let sum: f64 = values
        .iter()
        .enumerate()
        .map(|(i, l)| if i == 0 || i == n { 0.5 } else { 1.0 } * (l - top).exp())
        .sum();
    let exact = top + (sum * h).ln();
    let e = laplace_evidence(&model, &[1.0], 1).unwrap();
    println!(
        "laplace {} with {:?} modes, quadrature {exact}",
        e.log_z, e.modes
    );
    assert_eq!(e.modes, Some(2), "{e:?}");
    // The Laplace error of each (nearly Gaussian) mode is about 0.001 here; one mode would miss
    // by log 2 = 0.69.
    assert!((e.log_z - exact).abs() < 0.01, "{} vs {exact}", e.log_z);
    assert!(e.describe().contains("2 modes"), "{}", e.describe());
}

#[test]
fn improper_priors_are_named() {
    let src = r#"
data { n: int > 0, y: vector[n] }
latent { a: real, b: real > 0 < 1, c: vector[n] ~ rw2(1), d: real ~ normal(0, 1), e: real }
e ~ normal(0, 1)
modality m { y ~ normal(a + b + c + d + e, 1) }
"#;
    let model = mmi::check_source(src).model.unwrap();
    assert_eq!(improper_latents(&model), vec!["a", "c"]);
}
