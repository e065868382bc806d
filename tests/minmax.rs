//! `combine minmax` for Gaussian modalities: the worst perturbation of a modality's data inside an L2
//! ball of radius eps (in noise units) gives the log likelihood -(||r / sigma|| + eps)^2 / 2, and the
//! robust MAP is the maximiser of that objective, found here independently by golden-section search.

mod common;

use mmi::infer::lbfgs::{maximise, LbfgsSettings};

const MODEL: &str = r#"
data { n: int > 0, ya: vector[n], yb: vector[n] }
latent { mu: real }
modality a { ya ~ normal(mu, 1) }
modality b { yb ~ normal(mu, 0.5) }
combine minmax { a: 1.5 }
"#;
const DATA: &str = r#"{"n": 4, "ya": [3.0, 2.5, 4.0, 3.5], "yb": [1.0, 1.2, 0.8, 1.1]}"#;
const YA: [f64; 4] = [3.0, 2.5, 4.0, 3.5];
const YB: [f64; 4] = [1.0, 1.2, 0.8, 1.1];

/// The robust objective in closed form.
fn objective(mu: f64, eps: f64) -> f64 {
    let ra: f64 = YA.iter().map(|y| (y - mu).powi(2)).sum::<f64>().sqrt();
    let rb: f64 = YB.iter().map(|y| ((y - mu) / 0.5).powi(2)).sum();
    -0.5 * (ra + eps).powi(2) - 0.5 * rb
}

fn golden_max(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    while hi - lo > 1e-12 {
        let (a, b) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if f(a) > f(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    0.5 * (lo + hi)
}

#[test]
fn gaussian_minmax_map_matches_the_closed_form() {
    let model = common::compile(MODEL, DATA, &mmi::passes::Settings::default());
    let mut ev = model.evaluator();
    // The compiled log density differs from the closed form by a constant only.
    let shift = ev.log_density(&[0.3]).unwrap() - objective(0.3, 1.5);
    for mu in [-1.0, 0.7, 2.0, 3.3] {
        let d = ev.log_density(&[mu]).unwrap() - objective(mu, 1.5);
        assert!((d - shift).abs() < 1e-9, "at {mu}: {d} vs {shift}");
    }
    let r = maximise(&mut ev, &[0.0], &LbfgsSettings::default()).unwrap();
    let want = golden_max(|m| objective(m, 1.5), -10.0, 10.0);
    assert!((r.x[0] - want).abs() < 1e-6, "{} vs {want}", r.x[0]);
    // The worst case grows with a's residual norm, so the robust estimate shrinks that norm: it moves
    // towards a's data (mean 3.25) compared with the plain product.
    let plain = golden_max(|m| objective(m, 0.0), -10.0, 10.0);
    assert!(want > plain + 0.1, "robust {want} vs plain {plain}");
    assert!(common::gradient_error(&model, &[1.7]) < 1e-6);
}

/// log student_t(y | nu, mu, sigma), fully normalised, for an independent reference.
fn student_t_lpdf(y: f64, nu: f64, mu: f64, sigma: f64) -> f64 {
    use statrs::distribution::{Continuous, StudentsT};
    StudentsT::new(mu, sigma, nu).unwrap().ln_pdf(y)
}

/// The worst case over the circle ||u|| = eps of a two-point student_t modality, by a fine grid over the
/// angle refined by golden-section search: an independent reference for the numerical inner problem.
fn worst_on_circle(y: [f64; 2], nu: f64, mu: f64, sigma: f64, eps: f64) -> f64 {
    let f = |t: f64| {
        let (c, s) = (t.cos(), t.sin());
        student_t_lpdf(y[0] + sigma * eps * c, nu, mu, sigma)
            + student_t_lpdf(y[1] + sigma * eps * s, nu, mu, sigma)
    };
    let n = 4000;
    let h = std::f64::consts::TAU / n as f64;
    let best = (0..n)
        .map(|i| i as f64 * h)
        .min_by(|a, b| f(*a).total_cmp(&f(*b)))
        .unwrap();
    let t = golden_max(|t| -f(t), best - h, best + h);
    f(t)
}

const T_MODEL: &str = r#"
data { ya: vector[2], yb: vector[3] }
latent { mu: real, sigma: real > 0, nu: real > 1 }
sigma ~ lognormal(0, 0.5)
nu ~ gamma(4, 0.5)
mu ~ normal(0, 10)
modality a { ya ~ student_t(nu, mu, sigma) }
modality b { yb ~ normal(mu, 0.5) }
combine minmax { a: 0.8 }
"#;
const T_DATA: &str = r#"{"ya": [2.6, 0.4], "yb": [1.0, 1.2, 0.8]}"#;

#[test]
fn student_t_worst_case_matches_a_brute_force_search_on_the_circle() {
    let model = common::compile(T_MODEL, T_DATA, &mmi::passes::Settings::default());
    let mut ev = model.evaluator();
    let plain_src = T_MODEL.replace("combine minmax { a: 0.8 }", "");
    let plain = common::compile(&plain_src, T_DATA, &mmi::passes::Settings::default());
    let mut ev0 = plain.evaluator();
    // Unconstrained points (mu, log sigma, log(nu - 1)); the correction is the difference between the
    // robust and the plain model, and must equal worst-case minus nominal log likelihood of a.
    for x in [
        [1.0f64, 0.0, 1.0],
        [0.2, -0.7, 0.3],
        [3.0, 0.9, 2.5],
        [1.5, -1.5, -0.5],
    ] {
        let (mu, sigma, nu) = (x[0], x[1].exp(), 1.0 + x[2].exp());
        let got = ev.log_density(&x).unwrap() - ev0.log_density(&x).unwrap();
        let nominal = student_t_lpdf(2.6, nu, mu, sigma) + student_t_lpdf(0.4, nu, mu, sigma);
        let want = worst_on_circle([2.6, 0.4], nu, mu, sigma, 0.8) - nominal;
        assert!(want < 0.0);
        assert!((got - want).abs() < 1e-9, "at {x:?}: {got} vs {want}");
        // Danskin's envelope gradient against finite differences of the whole model.
        let err = common::gradient_error(&model, &x);
        assert!(err < 1e-5, "gradient error {err} at {x:?}");
    }
}

#[test]
fn laplace_worst_case_is_the_closed_form() {
    // For laplace the worst perturbation adds eps / sqrt(n) to every |z|: the correction is -eps sqrt(n)
    // whatever the parameters, and its gradient vanishes.
    let src = r#"
data { y: vector[4] }
latent { mu: real, b: real > 0 }
mu ~ normal(0, 5)
b ~ lognormal(0, 1)
modality a { y ~ laplace(mu, b) }
combine minmax { a: 1.2 }
"#;
    let data = r#"{"y": [0.3, -1.2, 2.2, 0.9]}"#;
    let model = common::compile(src, data, &mmi::passes::Settings::default());
    let plain = common::compile(
        &src.replace("combine minmax { a: 1.2 }", ""),
        data,
        &mmi::passes::Settings::default(),
    );
    let (mut ev, mut ev0) = (model.evaluator(), plain.evaluator());
    for x in [[0.1, 0.0], [1.0, -0.5], [-2.0, 1.0]] {
        let d = ev.log_density(&x).unwrap() - ev0.log_density(&x).unwrap();
        assert!((d + 1.2 * 2.0).abs() < 1e-12, "at {x:?}: {d}");
        let (mut g, mut g0) = ([0.0; 2], [0.0; 2]);
        ev.log_density_and_gradient(&x, &mut g).unwrap();
        ev0.log_density_and_gradient(&x, &mut g0).unwrap();
        for (a, b) in g.iter().zip(&g0) {
            assert!((a - b).abs() < 1e-9, "{g:?} vs {g0:?}");
        }
    }
}

#[test]
fn robust_map_with_a_student_t_modality_matches_an_independent_search() {
    // sigma and nu fixed, so the robust objective is a function of mu alone.
    let src = r#"
data { ya: vector[2], yb: vector[3] }
latent { mu: real }
modality a { ya ~ student_t(3, mu, 0.7) }
modality b { yb ~ normal(mu, 0.5) }
combine minmax { a: 1.0 }
"#;
    let model = common::compile(src, T_DATA, &mmi::passes::Settings::default());
    let mut ev = model.evaluator();
    let yb = [1.0, 1.2, 0.8];
    let objective = |mu: f64| {
        worst_on_circle([2.6, 0.4], 3.0, mu, 0.7, 1.0)
            + yb.iter()
                .map(|y| -0.5 * ((y - mu) / 0.5).powi(2))
                .sum::<f64>()
    };
    let want = golden_max(objective, -5.0, 5.0);
    let r = maximise(&mut ev, &[0.0], &LbfgsSettings::default()).unwrap();
    assert!((r.x[0] - want).abs() < 1e-6, "{} vs {want}", r.x[0]);
}

/// Sampling the min-max objective as a generalised posterior: NUTS means and sds agree with numerical
/// quadrature of exp(robust objective) over mu (means within 4 MCSE, sds within 10%).
#[test]
fn nuts_on_a_student_t_minmax_matches_quadrature() {
    use mmi::infer::sample::{column_names, sample, SampleSettings};
    let src = r#"
data { ya: vector[2], yb: vector[3] }
latent { mu: real }
modality a { ya ~ student_t(3, mu, 0.7) }
modality b { yb ~ normal(mu, 0.5) }
combine minmax { a: 1.0 }
"#;
    let model = common::compile(src, T_DATA, &mmi::passes::Settings::default());
    let yb = [1.0, 1.2, 0.8];
    let log_post = |mu: f64| {
        worst_on_circle([2.6, 0.4], 3.0, mu, 0.7, 1.0)
            + yb.iter()
                .map(|y| -0.5 * ((y - mu) / 0.5).powi(2))
                .sum::<f64>()
    };
    // Quadrature on [-3, 5] (the posterior sd is about 0.3 around 1).
    let (lo, hi, n) = (-3.0, 5.0, 4000);
    let h = (hi - lo) / n as f64;
    let grid: Vec<f64> = (0..=n).map(|i| lo + i as f64 * h).collect();
    let lp: Vec<f64> = grid.iter().map(|m| log_post(*m)).collect();
    let top = lp.iter().cloned().fold(f64::MIN, f64::max);
    let w: Vec<f64> = lp.iter().map(|l| (l - top).exp()).collect();
    let z: f64 = w.iter().sum();
    let mean: f64 = grid.iter().zip(&w).map(|(m, w)| m * w).sum::<f64>() / z;
    let var: f64 = grid
        .iter()
        .zip(&w)
        .map(|(m, w)| (m - mean).powi(2) * w)
        .sum::<f64>()
        / z;
    let settings = SampleSettings {
        seed: 5,
        ..Default::default()
    };
    let chains = sample(
        &model,
        &settings,
        &std::sync::atomic::AtomicBool::new(false),
        &|_, _| {},
    )
    .unwrap();
    let j = column_names(&model).iter().position(|c| c == "mu").unwrap();
    let draws: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.rows.iter().map(|r| r[j]).collect())
        .collect();
    let s = mmi::infer::diagnostics::summarize(&draws);
    assert!(
        (s.mean - mean).abs() < 4.0 * s.mcse_mean,
        "mean {} vs {mean} (mcse {})",
        s.mean,
        s.mcse_mean
    );
    assert!(
        (s.sd / var.sqrt() - 1.0).abs() < 0.1,
        "sd {} vs {}",
        s.sd,
        var.sqrt()
    );
}

#[test]
fn minmax_on_a_count_likelihood_is_a_clear_error() {
    let src = r#"
data { n: int > 0, y: int[n] }
latent { eta: real }
modality a { y ~ poisson_log(eta) }
combine minmax { a: 1.0 }
"#;
    let out = mmi::check_source(src);
    let model = out.model.unwrap();
    let (data, _) = mmi::data::load(&model, r#"{"n": 2, "y": [1, 3]}"#, "d.json").unwrap();
    let err = mmi::compile(&model, &data, &mmi::passes::Settings::default())
        .err()
        .unwrap();
    assert!(
        err[0]
            .message
            .contains("cannot perturb the data of a `poisson_log` likelihood"),
        "{}",
        err[0].message
    );
}
