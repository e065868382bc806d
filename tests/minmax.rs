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

#[test]
fn minmax_on_a_non_gaussian_likelihood_is_a_clear_error() {
    let src = MODEL.replace("ya ~ normal(mu, 1)", "ya ~ student_t(4, mu, 1)");
    let out = mmi::check_source(&src);
    let model = out.model.unwrap();
    let (data, _) = mmi::data::load(&model, DATA, "d.json").unwrap();
    let err = mmi::compile(&model, &data, &mmi::passes::Settings::default())
        .err()
        .unwrap();
    assert!(
        err[0]
            .message
            .contains("`combine minmax` on a `student_t` likelihood"),
        "{}",
        err[0].message
    );
}
