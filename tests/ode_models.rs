//! ODE solves inside models: solutions read back from compiled models against closed forms (decay,
//! logistic growth, a damped oscillator through the matrix exponential), whole-model gradients against
//! finite differences (latent initial state and time, a latent switch time, a state-dependent switch,
//! default and tight tolerances, both solvers), failing solves as recoverable errors (a divergence for
//! NUTS, a rejected step for L-BFGS), and compile-time problems of ODE use (tests/data/bad_ode/, one
//! model and data file each) as located messages.

mod common;

use mmi::eval::{CompiledModel, EvalError};
use mmi::passes::Settings;
use std::collections::HashMap;

/// Every latent and law of `model` at the given latent values.
fn outputs(model: &CompiledModel, latents: &[(&str, f64)]) -> HashMap<String, Vec<f64>> {
    let mut ev = model.evaluator();
    let given: Vec<(String, Vec<f64>)> = latents
        .iter()
        .map(|(n, v)| (n.to_string(), vec![*v]))
        .collect();
    let x = ev.unconstrain(&given).expect("valid latent values");
    ev.constrain(&x)
        .expect("the solves succeed")
        .into_iter()
        .map(|o| (o.name, o.values))
        .collect()
}

const CLOSED_FORMS: &str = r#"
data { n: int > 0, t: vector[n], y: vector[n] }
ode decay(s; N; k) {
  dN/ds = -k * N
}
ode logistic(s; P; r, K) {
  dP/ds = r * P * (1 - P / K)
}
ode oscillator(s; x, v; w, c) {
  dx/ds = v
  dv/ds = -w^2 * x - c * v
}
latent {
  k: real > 0 ~ lognormal(0, 1)
  r: real > 0 ~ lognormal(0, 1)
  K: real > 0 ~ lognormal(1, 1)
  N0: real > 0 ~ lognormal(0, 1)
  w: real > 0 ~ lognormal(0, 1)
  c: real > 0 ~ lognormal(-1, 1)
}
law d1 = solve_ode(decay, [N0], 0, t, k, rtol = 1e-10, atol = 1e-12)
law d2 = solve_ode_stiff(decay, [N0], 0, t, k, rtol = 1e-10, atol = 1e-12)
law l1 = solve_ode(logistic, [N0], 0, t, r, K, rtol = 1e-10, atol = 1e-12)
law l2 = solve_ode_stiff(logistic, [N0], 0, t, r, K, rtol = 1e-10, atol = 1e-12)
law o1 = solve_ode(oscillator, [N0, 0], 0, t, w, c, rtol = 1e-10, atol = 1e-12)
law o2 = solve_ode_stiff(oscillator, [N0, 0], 0, t, w, c, rtol = 1e-10, atol = 1e-12)
modality m { y ~ normal(d1[:, 1] + d2[:, 1] + l1[:, 1] + l2[:, 1] + o1[:, 1] + o2[:, 2], 1) }
"#;

#[test]
fn solutions_read_from_a_model_match_closed_forms() {
    let times = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0];
    let json = format!(r#"{{"n": 6, "t": {times:?}, "y": [0, 0, 0, 0, 0, 0]}}"#);
    let model = common::compile(CLOSED_FORMS, &json, &Settings::default());
    let (k, r, big_k, n0, w, c) = (0.7, 1.3, 2.5, 0.4, 1.9, 0.3);
    let out = outputs(
        &model,
        &[
            ("k", k),
            ("r", r),
            ("K", big_k),
            ("N0", n0),
            ("w", w),
            ("c", c),
        ],
    );
    let a = nalgebra::DMatrix::from_row_slice(2, 2, &[0.0, 1.0, -w * w, -c]);
    for (i, &t) in times.iter().enumerate() {
        let decay = n0 * (-k * t).exp();
        let e = (r * t).exp();
        let logistic = big_k * n0 * e / (big_k + n0 * (e - 1.0));
        let osc = (a.clone() * t).exp() * nalgebra::DVector::from_column_slice(&[n0, 0.0]);
        for (law, exact) in [
            ("d1", decay),
            ("d2", decay),
            ("l1", logistic),
            ("l2", logistic),
        ] {
            let got = out[law][i];
            assert!(
                (got - exact).abs() <= 1e-7 * exact.abs(),
                "{law}({t}) = {got}, exact {exact}"
            );
        }
        for law in ["o1", "o2"] {
            for s in 0..2 {
                let got = out[law][i * 2 + s];
                assert!(
                    (got - osc[s]).abs() <= 1e-7,
                    "{law}({t})[{s}] = {got}, exact {}",
                    osc[s]
                );
            }
        }
    }
}

/// A source switched off at a latent time, a source switched on when a state crosses a threshold (on
/// both sides of it the rate pushes the same way, so the state crosses rather than sliding along it), a
/// latent initial state and a latent initial time; solved both ways.
const SWITCHES: &str = r#"
data { n: int > 0, t: vector[n], y: vector[n] }
ode lamp(s; A, B; k, j, s_off) {
  dA/ds = ifelse(s < s_off, 1, 0) - k * A
  dB/ds = k * A - j * B + ifelse(B > 0.4, 0.3, 0)
}
latent {
  k: real > 0 ~ lognormal(0, 0.5)
  j: real > 0 ~ lognormal(0, 0.5)
  s_off: real in (1, 3)
  a0: real > 0 ~ lognormal(-1, 0.5)
  t0: real in (-0.5, 0.2)
}
law e = solve_ode(lamp, [a0, 0.1], t0, t, k, j, s_off, rtol = 1e-10, atol = 1e-12)
law b = solve_ode_stiff(lamp, [a0, 0.1], t0, t, k, j, s_off, rtol = 1e-10, atol = 1e-12)
modality m { y ~ normal(e[:, 2] + b[:, 1], 0.1) }
"#;

/// The same system with its switch time and initial time known, at the default tolerances.
const FIXED_TIMES: &str = r#"
data { n: int > 0, t: vector[n], y: vector[n] }
ode lamp(s; A, B; k, j, s_off) {
  dA/ds = ifelse(s < s_off, 1, 0) - k * A
  dB/ds = k * A - j * B
}
latent {
  k: real > 0 ~ lognormal(0, 0.5)
  j: real > 0 ~ lognormal(0, 0.5)
  a0: real > 0 ~ lognormal(-1, 0.5)
}
law e = solve_ode(lamp, [a0, 0.1], 0, t, k, j, 2)
law b = solve_ode_stiff(lamp, [a0, 0.1], 0, t, k, j, 2)
modality m { y ~ normal(e[:, 2] + b[:, 1], 0.1) }
"#;

fn points(dim: usize) -> Vec<Vec<f64>> {
    (0..6)
        .map(|p| {
            (0..dim)
                .map(|i| 0.8 * ((i * 7 + p * 5) as f64 * 0.9 + p as f64).sin())
                .collect()
        })
        .collect()
}

#[test]
fn whole_model_gradients_match_finite_differences() {
    let json = r#"{"n": 5, "t": [0.3, 1, 2, 3.5, 5], "y": [0.3, 0.6, 0.9, 0.5, 0.2]}"#;
    // Step sizes lie on a fixed grid (see `ode::quantize`), so with a known start and known switch
    // times the steps do not move with the parameters and the gradient is that of the computed
    // solution, whatever the tolerance.
    let fixed = common::compile(FIXED_TIMES, json, &Settings::default());
    // Where the start or a switch time moves with the parameters, the steps move with them: the
    // gradient then differs from the computed solution's by terms of the order of the tolerance.
    let moving = common::compile(SWITCHES, json, &Settings::default());
    for model in [&fixed, &moving] {
        for x in points(model.dim()) {
            let err = common::gradient_error(model, &x);
            assert!(err < 1e-5, "at {x:?}: gradient error {err:e}");
        }
    }
}

#[test]
fn a_stiff_model_gradient_matches_finite_differences_and_the_explicit_solver_gives_up() {
    // Robertson's kinetics with latent rate constants (log scale), observed late: only the stiff
    // solver gets there in few steps.
    let source = r#"
data { n: int > 0, t: vector[n], y: vector[n] }
ode robertson(s; A, B, C; k1, k2, k3) {
  dA/ds = -k1 * A + k3 * B * C
  dB/ds = k1 * A - k3 * B * C - k2 * B^2
  dC/ds = k2 * B^2
}
latent { l1: real ~ normal(-3.2, 0.1), l2: real ~ normal(17.2, 0.1), l3: real ~ normal(9.2, 0.1) }
law sol = solve_ode_stiff(robertson, [1, 0, 0], 0, t, exp(l1), exp(l2), exp(l3), rtol = 1e-8, atol = 1e-14)
modality m { y ~ normal(sol[:, 1], 0.01) }
"#;
    let json = r#"{"n": 4, "t": [1, 10, 100, 1000], "y": [0.96, 0.84, 0.61, 0.35]}"#;
    let model = common::compile(source, json, &Settings::default());
    for x in [[-3.2, 17.2, 9.2], [-3.1, 17.3, 9.1]] {
        let err = common::gradient_error(&model, &x);
        assert!(err < 1e-5, "at {x:?}: gradient error {err:e}");
    }
    // The explicit solver is held to tiny steps by stability: it gives up, recoverably, and says why.
    let explicit = source
        .replace("solve_ode_stiff(", "solve_ode(")
        .replace("atol = 1e-14", "atol = 1e-14, max_steps = 5000");
    let model = common::compile(&explicit, json, &Settings::default());
    let err = model
        .evaluator()
        .log_density(&[-3.2, 17.2, 9.2])
        .unwrap_err();
    assert!(err.is_recoverable());
    let text = err.to_string();
    assert!(
        text.contains("`solve_ode` of the ode system `robertson` failed")
            && text.contains("more than 5000 steps")
            && text.contains("solve_ode_stiff"),
        "{text}"
    );
}

/// y' = k y^2 from y(0) = 1 blows up at t = 1 / k: beyond k = 1 / 1.5 the solve to t = 1.5 fails.
const BLOWUP: &str = r#"
data { n: int > 0, t: vector[n], y: vector[n] }
ode blowup(s; Y; k) {
  dY/ds = k * Y^2
}
latent { k: real > 0 ~ lognormal(-1, 1) }
law sol = solve_ode(blowup, [1], 0, t, k)
modality m { y ~ normal(sol[:, 1], 5) }
"#;
const BLOWUP_DATA: &str = r#"{"n": 3, "t": [0.5, 1, 1.5], "y": [1.3, 1.6, 2.4]}"#;

#[test]
fn a_failing_solve_is_a_recoverable_error_naming_the_system_and_time() {
    let model = common::compile(BLOWUP, BLOWUP_DATA, &Settings::default());
    let mut ev = model.evaluator();
    let x = [1f64.ln()]; // k = 1: blows up at t = 1
    let mut grad = [0.0];
    for err in [
        ev.log_density(&x).unwrap_err(),
        ev.log_density_and_gradient(&x, &mut grad).unwrap_err(),
    ] {
        assert!(err.is_recoverable());
        let EvalError::Ode {
            system, failure, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(system, "blowup");
        assert!((failure.t - 1.0).abs() < 1e-3, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("`solve_ode` of the ode system `blowup` failed")
                && text.contains("t = 1"),
            "{text}"
        );
    }
    // Below the wall the same evaluator works again.
    assert!(ev.log_density(&[0.5f64.ln()]).is_ok());
}

#[test]
fn nuts_counts_a_failing_solve_as_a_divergence() {
    let model = common::compile(BLOWUP, BLOWUP_DATA, &Settings::default());
    let settings = mmi::infer::sample::SampleSettings {
        chains: 2,
        warmup: 300,
        draws: 300,
        seed: 3,
        ..Default::default()
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let chains = mmi::infer::sample::sample(&model, &settings, &stop, &|_, _| {}).unwrap();
    let names = mmi::infer::sample::column_names(&model);
    let (div, k) = (
        names.iter().position(|n| n == "divergent__").unwrap(),
        names.iter().position(|n| n == "k").unwrap(),
    );
    let mut divergent = 0;
    for c in &chains {
        assert_eq!(c.rows.len(), 300);
        for row in &c.rows {
            divergent += row[div] as usize;
            // Every kept draw lies where the solve succeeds.
            assert!(row[k] < 1.0 / 1.5, "k = {}", row[k]);
        }
    }
    // The wide likelihood leaves a quarter of the prior's mass beyond the wall: trajectories hit it.
    assert!(divergent > 0, "no divergence among {} draws", 2 * 300);
}

#[test]
fn lbfgs_steps_back_from_a_failing_solve() {
    let model = common::compile(BLOWUP, BLOWUP_DATA, &Settings::default());
    let mut ev = model.evaluator();
    // Start near the wall, where the first steps overshoot it.
    let start = [0.6f64.ln()];
    let r = mmi::infer::lbfgs::maximise(&mut ev, &start, &Default::default()).unwrap();
    let k = r.x[0].exp();
    assert!(k < 1.0 / 1.5, "mode at k = {k}");
    // The gradient there is negligible: a real mode, not a stall at the wall.
    assert!(r.gradient[0].abs() < 1e-4, "{r:?}");
}

#[test]
fn bad_ode_use_is_reported_with_its_location() {
    let mut count = 0;
    insta::glob!("..", "tests/data/bad_ode/*.mmi", |path| {
        count += 1;
        let source = std::fs::read_to_string(path).unwrap();
        let json = std::fs::read_to_string(path.with_extension("json")).unwrap();
        let model = mmi::check_source(&source)
            .model
            .expect("bad ODE uses pass the checker; the data show the problem");
        let (data, _) = mmi::data::load(&model, &json, "data.json").expect("the data load");
        let diags = match mmi::compile(&model, &data, &Settings::default()) {
            Ok(_) => panic!("{} should not compile", common::rel(path)),
            Err(d) => d,
        };
        let rendered = mmi::diagnostic::render_all(&diags, &common::rel(path), &source, false);
        let expect = source.lines().next().unwrap_or_default().to_string();
        insta::assert_snapshot!(format!("{expect}\n\n{rendered}"));
    });
    assert!(count >= 6, "at least 6 bad ODE uses, found {count}");
}
