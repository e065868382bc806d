//! Field priors inside models: whole-graph gradients, compile-time checks of the hyperparameters the
//! data fix, the whitened and centred forms giving the same posterior under NUTS, and exact prior
//! draws from `mmi simulate` with the stated marginal sd and Matérn correlation.

mod common;

use mmi::infer::diagnostics::summarize;
use mmi::infer::sample::{column_names, sample, SampleSettings};
use mmi::passes::Settings;
use std::f64::consts::PI;
use std::sync::atomic::AtomicBool;

/// Every kind of field prior with latent hyperparameters, centred and whitened.
const FIELDS: &str = r#"
data { k: int > 0, ix: int[k], iy: int[k], y: vector[k] }
latent {
  rho: real > 0 ~ lognormal(1, 0.5)
  s: real > 0 ~ half_normal(1)
  m: vector[5] ~ normal(0, 1)
  f: field[4, 5, spacing = [1, 2]] ~ matern(nu = 0.7, range = [rho, 2 * rho], sd = s, mean = m)
  g: field[4, 5, boundary = [periodic, neumann]] ~ gmrf(range = rho, sd = s, mean = m, param = whitened)
  h: field[3, 2, 2] ~ matern(nu = 2, range = [1, rho, 3], sd = 2 * s, param = whitened)
  r: field[4, 5] ~ rw2(s)
  p: field[3, 2, 2, boundary = periodic] ~ rw1(s)
  q: vector[6] ~ rw1(s)
}
modality obs { y ~ normal(f[ix, iy] + g[ix, iy] + r[ix, iy] + sum(p) + sum(h) + sum(q), 0.5) }
"#;
const FIELD_DATA: &str = r#"{"k": 3, "ix": [1, 2, 4], "iy": [5, 3, 1], "y": [0.3, -0.2, 1.1]}"#;

#[test]
fn whole_model_gradients_match_finite_differences() {
    for settings in [Settings::default(), Settings::none()] {
        let model = common::compile(FIELDS, FIELD_DATA, &settings);
        for seed in [0.3, 1.7] {
            let x: Vec<f64> = (0..model.dim())
                .map(|i| 0.5 * (seed * (i as f64 + 1.0)).sin())
                .collect();
            let err = common::gradient_error(&model, &x);
            assert!(err < 1e-6, "gradient error {err:e}");
        }
    }
}

/// Errors only the data reveal, reported at the argument with its value.
#[test]
fn hyperparameters_fixed_by_data_are_checked() {
    let cases = [
        (
            "latent { s: real > 0 ~ half_normal(1)\n f: field[5] ~ matern(nu = s, range = 2, sd = 1) }",
            "the smoothness `nu` must be data",
        ),
        (
            "data { r: real }\nlatent { f: field[5] ~ gmrf(range = r, sd = 1) }",
            "a field's range must be positive",
        ),
        (
            "data { r: real }\nlatent { f: field[5, 2, spacing = [1, r]] ~ rw1(1) }",
            "a field's spacing must be positive",
        ),
        (
            "latent { f: field[5] ~ matern(nu = 0, range = 2, sd = 1) }",
            "the smoothness `nu` must be positive",
        ),
    ];
    for (source, message) in cases {
        let out = mmi::check_source(source);
        let model = out.model.expect("checks");
        let (data, _) = mmi::data::load(&model, r#"{"r": -1}"#, "d.json").unwrap();
        let Err(d) = mmi::compile(&model, &data, &Settings::default()) else {
            panic!("`{source}` should not compile");
        };
        let rendered = mmi::diagnostic::render_all(&d, "m.mmi", source, false);
        assert!(rendered.contains(message), "{rendered}");
    }
}

/// A weakly observed field with latent range and sd, once centred and once whitened: NUTS gives the
/// same posterior means and second moments (within 4 combined MCSEs) for the hyperparameters and for
/// observed and unobserved cells.
#[test]
fn whitened_and_centred_forms_give_the_same_posterior() {
    let source = |param: &str| {
        format!(
            "data {{ k: int > 0, idx: int[k], y: vector[k] }}
latent {{
  rho: real > 0 ~ lognormal(log(5), 0.3)
  s: real > 0 ~ lognormal(0, 0.3)
  f: field[24] ~ gmrf(range = rho, sd = s, mean = 1, param = {param})
}}
modality obs {{ y ~ normal(f[idx], 0.5) }}"
        )
    };
    let data = r#"{"k": 6, "idx": [2, 5, 9, 14, 20, 23], "y": [1.8, 2.1, 0.4, -0.3, 1.2, 1.9]}"#;
    let run = |param: &str| {
        let model = common::compile(&source(param), data, &Settings::default());
        let settings = SampleSettings {
            seed: 5,
            adapt_delta: 0.95,
            ..Default::default()
        };
        let chains = sample(&model, &settings, &AtomicBool::new(false), &|_, _| {}).unwrap();
        let columns = column_names(&model);
        // First and second moments of each quantity (the MCSE of a mean of squares is that of x^2).
        ["rho", "s", "f[2]", "f[12]", "f[24]"].map(|name| {
            let j = columns.iter().position(|c| c == name).unwrap();
            let draws: Vec<Vec<f64>> = chains
                .iter()
                .map(|c| c.rows.iter().map(|r| r[j]).collect())
                .collect();
            let squares: Vec<Vec<f64>> = draws
                .iter()
                .map(|c| c.iter().map(|v| v * v).collect())
                .collect();
            [
                (name.to_string(), summarize(&draws)),
                (format!("{name}^2"), summarize(&squares)),
            ]
        })
    };
    let centred: Vec<_> = run("centred").into_iter().flatten().collect();
    let whitened: Vec<_> = run("whitened").into_iter().flatten().collect();
    for ((name, c), (_, w)) in centred.iter().zip(&whitened) {
        let bound = 4.0 * (c.mcse_mean.powi(2) + w.mcse_mean.powi(2)).sqrt();
        assert!(
            (c.mean - w.mean).abs() < bound,
            "{name}: centred {} (mcse {}), whitened {} (mcse {})",
            c.mean,
            c.mcse_mean,
            w.mean,
            w.mcse_mean
        );
    }
}

/// K_nu(x) = int_0^inf exp(-x cosh t) cosh(nu t) dt, by the trapezoid rule (the integrand decays
/// doubly exponentially, so a step of 0.01 up to t = 10 is exact to rounding).
fn bessel_k(nu: f64, x: f64) -> f64 {
    let h = 0.01;
    let f = |t: f64| (-x * t.cosh()).exp() * (nu * t).cosh();
    h * (0.5 * f(0.0) + (1..1000).map(|i| f(i as f64 * h)).sum::<f64>())
}

/// Prior draws of a periodic 2-D GMRF (nu = 1) from `mmi simulate`, one per seed: the average of x^2
/// is sd^2 and the correlation at lag `range` is the Matérn value, within 4 standard errors of the
/// estimators (computed exactly from the spectrum: Var(x'Ax) = 2 tr(A S A S)) plus the exactly
/// computed gap between the grid's correlation and the continuous Matérn one.
#[test]
fn prior_draws_have_the_stated_sd_and_matern_correlation() {
    let (n1, n2, range, sd) = (64usize, 64usize, 8usize, 1.5);
    let source = format!(
        "data {{ y: real }}
latent {{ f: field[{n1}, {n2}, boundary = periodic] ~ gmrf(range = {range}, sd = {sd}) }}
modality m {{ y ~ normal(f[1, 1], 1) }}"
    );
    let model = mmi::check_source(&source).model.unwrap();
    let draws = 40;
    let n = (n1 * n2) as f64;
    let (mut var_hat, mut corr_hat) = (0.0, 0.0);
    for seed in 0..draws {
        let sim = mmi::infer::simulate::simulate(&model, "{}", "none", None, seed).unwrap();
        let f = &sim.truth.iter().find(|o| o.name == "f").unwrap().values;
        let at = |i: usize, j: usize| f[(i % n1) * n2 + j % n2];
        let (mut sq, mut lag) = (0.0, 0.0);
        for i in 0..n1 {
            for j in 0..n2 {
                sq += at(i, j) * at(i, j);
                lag += at(i, j) * 0.5 * (at(i + range, j) + at(i, j + range));
            }
        }
        var_hat += sq / n / draws as f64;
        corr_hat += lag / n / (sd * sd) / draws as f64;
    }
    // The covariance's eigenvalues: 1 / (c mu_k^2), mu_k = 8 nu + range^2 (lambda_1 + lambda_2).
    let (nu, alpha) = (1.0, 2.0);
    let lambda = |k: usize, m: usize| 2.0 - 2.0 * (2.0 * PI * k as f64 / m as f64).cos();
    let mut mu = vec![];
    let mut shift = vec![];
    for k1 in 0..n1 {
        for k2 in 0..n2 {
            let w = (range * range) as f64;
            mu.push(8.0 * nu + w * (lambda(k1, n1) + lambda(k2, n2)));
            let (t1, t2) = (
                2.0 * PI * (k1 * range) as f64 / n1 as f64,
                2.0 * PI * (k2 * range) as f64 / n2 as f64,
            );
            shift.push(0.5 * (t1.cos() + t2.cos()));
        }
    }
    let s_sum: f64 = mu.iter().map(|m: &f64| m.powf(-alpha)).sum();
    let c = s_sum / (n * sd * sd);
    let sigma: Vec<f64> = mu.iter().map(|m| 1.0 / (c * m.powf(alpha))).collect();
    let var_se = (2.0 * sigma.iter().map(|s| s * s).sum::<f64>() / (n * n) / draws as f64).sqrt();
    assert!(
        (var_hat - sd * sd).abs() < 4.0 * var_se,
        "average x^2 {var_hat}, sd^2 {}, standard error {var_se}",
        sd * sd
    );
    let corr_grid: f64 = sigma.iter().zip(&shift).map(|(s, a)| s * a).sum::<f64>() / n / (sd * sd);
    let corr_se = (2.0
        * sigma
            .iter()
            .zip(&shift)
            .map(|(s, a)| (s * a).powi(2))
            .sum::<f64>()
        / (n * n)
        / (sd * sd).powi(2)
        / draws as f64)
        .sqrt();
    // Matérn with nu = 1 at distance range: kappa range = sqrt(8 nu); r = (kappa d) K_1(kappa d).
    let kd = (8.0f64 * nu).sqrt();
    let matern = kd * bessel_k(1.0, kd);
    assert!((matern - 0.139).abs() < 1e-3, "Matérn correlation {matern}");
    let gap = (corr_grid - matern).abs();
    assert!(
        gap < 0.02,
        "the grid's correlation {corr_grid} is far from Matérn's {matern}"
    );
    assert!(
        (corr_hat - matern).abs() < 4.0 * corr_se + gap,
        "lag-{range} correlation {corr_hat}, Matérn {matern} (grid {corr_grid}), se {corr_se}"
    );
}
