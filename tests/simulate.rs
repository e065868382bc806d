//! `mmi simulate`: data drawn from the likelihood at known latents, latents drawn from the prior,
//! indexed left sides, discrete families, truth files that round-trip, clear errors, and recovery of
//! the truth by `mmi sample`.

mod common;

use common::mmi;

use mmi::infer::simulate::{simulate, SimError, Simulation};
use serde_json::Value;
use std::path::PathBuf;

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mmi-simulate-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn model(source: &str) -> mmi::CheckedModel {
    let out = mmi::check_source(source);
    out.model.unwrap_or_else(|| panic!("{:?}", out.diagnostics))
}

fn run(source: &str, data: &str, params: Option<&str>, seed: u64) -> Simulation {
    match simulate(&model(source), data, "data.json", params, seed) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

fn data_of(sim: &Simulation) -> Value {
    serde_json::from_str(&sim.data_json()).unwrap()
}

fn truth_of(sim: &Simulation, name: &str) -> Vec<f64> {
    sim.truth
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no `{name}` in the truth"))
        .values
        .clone()
}

fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, v.sqrt())
}

const NORMAL: &str = "data { n: int > 0  y: vector[n] }
latent { mu: real ~ normal(0, 10)  sigma: real > 0 ~ half_normal(5) }
modality m { y ~ normal(mu, sigma) }
";

#[test]
fn data_at_known_latents_follow_the_likelihood() {
    let n = 20000.0;
    let sim = run(
        NORMAL,
        r#"{"n": 20000}"#,
        Some(r#"{"mu": 3.0, "sigma": 2.0}"#),
        11,
    );
    let y = numbers(&data_of(&sim)["y"]);
    assert_eq!(y.len(), 20000);
    let (m, s) = mean_sd(&y);
    // Standard errors: sigma / sqrt(n) for the mean, about sigma / sqrt(2 n) for the sd.
    assert!((m - 3.0).abs() < 4.0 * 2.0 / f64::sqrt(n), "mean {m}");
    assert!((s - 2.0).abs() < 4.0 * 2.0 / f64::sqrt(2.0 * n), "sd {s}");
    // The truth is the latents as given.
    assert_eq!(truth_of(&sim, "mu"), vec![3.0]);
    assert_eq!(truth_of(&sim, "sigma"), vec![2.0]);
}

#[test]
fn likelihoods_see_laws_and_matrix_products() {
    // y ~ normal(X * beta + offset, 0.5) with a law; sizes and X pass through.
    let src = "data { n: int > 0  X: matrix[n, 2]  y: vector[n] }
latent { beta: vector[2] ~ normal(0, 1) }
law fit = X * beta + 10
modality m { y ~ normal(fit, 0.5) }
";
    let x: Vec<String> = (0..4000)
        .map(|i| format!("[1, {}]", (i % 2) as f64))
        .collect();
    let data = format!(r#"{{"n": 4000, "X": [{}]}}"#, x.join(","));
    let sim = run(src, &data, Some(r#"{"beta": [1.0, -3.0]}"#), 5);
    let y = numbers(&data_of(&sim)["y"]);
    let even: Vec<f64> = y.iter().step_by(2).copied().collect();
    let odd: Vec<f64> = y.iter().skip(1).step_by(2).copied().collect();
    let se = 4.0 * 0.5 / f64::sqrt(2000.0);
    assert!((mean_sd(&even).0 - 11.0).abs() < se, "{}", mean_sd(&even).0);
    assert!((mean_sd(&odd).0 - 8.0).abs() < se, "{}", mean_sd(&odd).0);
    // The law is in the truth, and the pass-through data are unchanged.
    assert_eq!(truth_of(&sim, "fit")[..2], [11.0, 8.0]);
    assert_eq!(numbers(&data_of(&sim)["X"])[..4], [1.0, 0.0, 1.0, 1.0]);
}

const HIERARCHICAL: &str = "data { J: int > 0 }
latent {
  mu: real ~ normal(1, 2)
  tau: real > 0 ~ half_normal(1)
  theta: vector[J] ~ normal(mu, tau)
  s: real > 0 ~ normal(0, 1)
  v: real in (0, 1) ~ beta(2, 3)
}
";

#[test]
fn prior_draws_have_the_prior_moments() {
    let seeds = 400;
    let (mut mu, mut tau, mut theta, mut s, mut v) = (vec![], vec![], vec![], vec![], vec![]);
    for seed in 0..seeds {
        let sim = run(HIERARCHICAL, r#"{"J": 5}"#, None, seed);
        mu.push(truth_of(&sim, "mu")[0]);
        tau.push(truth_of(&sim, "tau")[0]);
        theta.push(truth_of(&sim, "theta")[0]);
        s.push(truth_of(&sim, "s")[0]);
        v.push(truth_of(&sim, "v")[0]);
    }
    let n = seeds as f64;
    let within = |x: &[f64], mean: f64, sd: f64, what: &str| {
        let (m, s) = mean_sd(x);
        assert!(
            (m - mean).abs() < 4.0 * sd / n.sqrt(),
            "{what}: mean {m}, expected {mean}"
        );
        assert!((s - sd).abs() < 0.2 * sd, "{what}: sd {s}, expected {sd}");
    };
    within(&mu, 1.0, 2.0, "mu ~ normal(1, 2)");
    let half = (2.0 / std::f64::consts::PI).sqrt();
    within(&tau, half, (1.0 - 2.0 / std::f64::consts::PI).sqrt(), "tau");
    // theta[1] | mu, tau ~ normal(mu, tau): marginally mean 1, variance 4 + E[tau^2] = 5.
    within(&theta, 1.0, 5f64.sqrt(), "theta[1]");
    // s: real > 0 ~ normal(0, 1), drawn by rejection: a half-normal.
    within(&s, half, (1.0 - 2.0 / std::f64::consts::PI).sqrt(), "s");
    within(&v, 0.4, (0.24f64 / 6.0).sqrt(), "v ~ beta(2, 3)");
    assert!(s.iter().all(|&x| x > 0.0) && v.iter().all(|&x| x > 0.0 && x < 1.0));
}

#[test]
fn a_vector_latent_is_drawn_around_its_drawn_mean() {
    let sim = run(HIERARCHICAL, r#"{"J": 5000}"#, None, 3);
    let (mu, tau) = (truth_of(&sim, "mu")[0], truth_of(&sim, "tau")[0]);
    let (m, s) = mean_sd(&truth_of(&sim, "theta"));
    assert!((m - mu).abs() < 4.0 * tau / 5000f64.sqrt(), "{m} vs {mu}");
    assert!(
        (s - tau).abs() < 4.0 * tau / 10000f64.sqrt(),
        "{s} vs {tau}"
    );
}

#[test]
fn structured_latents_are_drawn_inside_their_constraints() {
    let src = "latent {
  w: simplex[3] ~ dirichlet([1, 2, 3])
  o: ordered[6] ~ normal(0, 1)
  p: positive_ordered[3] ~ normal(0, 1)
  b: real > 1 < 3 ~ normal(2, 10)
}";
    let mut w1 = vec![];
    for seed in 0..300 {
        let sim = run(src, "{}", None, seed);
        let w = truth_of(&sim, "w");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        w1.push(w[0]);
        let o = truth_of(&sim, "o");
        assert!(o.windows(2).all(|p| p[0] < p[1]), "{o:?}");
        let p = truth_of(&sim, "p");
        assert!(p[0] > 0.0 && p.windows(2).all(|q| q[0] < q[1]), "{p:?}");
        let b = truth_of(&sim, "b")[0];
        assert!(b > 1.0 && b < 3.0);
    }
    // w[1] ~ beta(1, 5): mean 1/6, sd sqrt(5 / 252).
    let (m, _) = mean_sd(&w1);
    assert!((m - 1.0 / 6.0).abs() < 4.0 * (5.0f64 / 252.0).sqrt() / 300f64.sqrt());
}

#[test]
fn indexed_left_sides_write_only_their_positions() {
    let src = "data { n: int > 0  k: int > 0  idx: int[k]  y: vector[n]  z: real[2, 3] }
latent { mu: real ~ normal(0, 1) }
modality a { y[idx] ~ normal(100 + mu, 1)  y[7:8] ~ normal(-100, 1) }
modality b { z[2, :] ~ normal(50, 1)  z[1, 3] ~ normal(60, 1) }
";
    let data = r#"{"n": 9, "k": 3, "idx": [2, 4, 5], "y": [1, 2, 3, 4, 5, 6, 7, 8, 9]}"#;
    let sim = run(src, data, Some(r#"{"mu": 0.0}"#), 1);
    let d = data_of(&sim);
    let y = numbers(&d["y"]);
    for (i, v) in y.iter().enumerate() {
        match i + 1 {
            2 | 4 | 5 => assert!((v - 100.0).abs() < 6.0, "y[{}] = {v}", i + 1),
            7 | 8 => assert!((v + 100.0).abs() < 6.0, "y[{}] = {v}", i + 1),
            k => assert_eq!(*v, k as f64, "y[{k}] was overwritten"),
        }
    }
    // z is absent from the input: unwritten positions are 0, and it keeps its nested shape.
    let z = &d["z"];
    assert_eq!(z.as_array().unwrap().len(), 2);
    let z = numbers(z);
    assert_eq!(z[..2], [0.0, 0.0]);
    assert!((z[2] - 60.0).abs() < 6.0);
    assert!(z[3..].iter().all(|v| (v - 50.0).abs() < 6.0), "{z:?}");
}

#[test]
fn discrete_families_draw_integers_with_the_right_means() {
    let src = "data { n: int > 0  a: int[n]  b: int[n]  c: int[n]  d: int[n] }
latent { eta: real ~ normal(0, 1) }
modality m {
  a ~ poisson_log(log(3) + eta)
  b ~ bernoulli_logit(0.4 + eta)
  c ~ binomial_logit(10, -1 + eta)
  d ~ neg_binomial_2_log(log(5) + eta, 2)
}
";
    let n = 20000.0;
    let sim = run(src, r#"{"n": 20000}"#, Some(r#"{"eta": 0.0}"#), 2);
    let text = sim.data_json();
    let d: Value = serde_json::from_str(&text).unwrap();
    for k in ["a", "b", "c", "d"] {
        assert!(
            d[k].as_array().unwrap().iter().all(|v| v.is_i64()),
            "`{k}` holds non-integers"
        );
    }
    let logistic = |x: f64| 1.0 / (1.0 + (-x).exp());
    let p_b = logistic(0.4);
    let p_c = logistic(-1.0);
    // (name, mean, variance)
    let expect = [
        ("a", 3.0, 3.0),
        ("b", p_b, p_b * (1.0 - p_b)),
        ("c", 10.0 * p_c, 10.0 * p_c * (1.0 - p_c)),
        ("d", 5.0, 5.0 + 25.0 / 2.0),
    ];
    for (k, mean, var) in expect {
        let (m, s) = mean_sd(&numbers(&d[k]));
        assert!(
            (m - mean).abs() < 4.0 * (var / n).sqrt(),
            "{k}: mean {m}, expected {mean}"
        );
        assert!(
            (s * s - var).abs() < 0.1 * var,
            "{k}: variance {}, expected {var}",
            s * s
        );
    }
    assert!(numbers(&d["b"]).iter().all(|&v| v == 0.0 || v == 1.0));
    assert!(numbers(&d["c"]).iter().all(|&v| (0.0..=10.0).contains(&v)));
}

#[test]
fn the_truth_file_round_trips_through_params() {
    let d = dir("roundtrip");
    let m = write(&d, "h.mmi", &format!("{HIERARCHICAL}data {{ y: vector[J] }}\nlaw level = mu + 1\nmodality m {{ y ~ normal(theta, 0.1) }}\n"));
    write(&d, "h.data.json", r#"{"J": 4}"#);
    let truth = d.join("truth.json");
    let (d1, d2) = (d.join("d1.json"), d.join("d2.json"));
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (code, _, err) = mmi(&[
        "simulate",
        &m,
        "--seed",
        "7",
        "--output",
        &s(&d1),
        "--truth-output",
        &s(&truth),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = mmi(&[
        "simulate",
        &m,
        "--seed",
        "7",
        "--params",
        &s(&truth),
        "--output",
        &s(&d2),
    ]);
    assert_eq!(code, 0, "{err}");
    let (a, b) = (std::fs::read(&d1).unwrap(), std::fs::read(&d2).unwrap());
    assert_eq!(a, b, "the same seed and truth must give the same data");
    // The truth holds every latent and the law.
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    for k in ["mu", "tau", "theta", "s", "v", "level"] {
        assert!(t.get(k).is_some(), "no `{k}` in {t}");
    }
    assert_eq!(
        t["level"].as_f64().unwrap(),
        t["mu"].as_f64().unwrap() + 1.0
    );
    // Stdout without --output; another seed gives other data.
    let (code, out, _) = mmi(&["simulate", &m, "--seed", "8", "--params", &s(&truth)]);
    assert_eq!(code, 0);
    assert!(out.contains("\"y\"") && out.as_bytes() != a.as_slice());
}

#[test]
fn errors_are_clear_and_exit_with_the_right_codes() {
    let d = dir("errors");
    let m = write(&d, "normal.mmi", NORMAL);
    write(&d, "normal.data.json", r#"{"n": 3}"#);
    // A latent missing from --params.
    let p = write(&d, "partial.json", r#"{"mu": 1.0, "extra": 2}"#);
    let (code, _, err) = mmi(&["simulate", &m, "--params", &p, "--seed", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("no value for the latent `sigma`"), "{err}");
    // A latent value outside its bounds.
    let p = write(&d, "bad.json", r#"{"mu": 1.0, "sigma": -2}"#);
    let (code, _, err) = mmi(&["simulate", &m, "--params", &p, "--seed", "1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("`sigma`") && err.contains("lower bound"),
        "{err}"
    );
    // A flat prior without --params.
    let flat = write(
        &d,
        "flat.mmi",
        "data { y: vector[2] }\nlatent { mu: real  s: real > 0 ~ half_normal(1) }\nmodality m { y ~ normal(mu, s) }\n",
    );
    let (code, _, err) = mmi(&["simulate", &flat, "--seed", "1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("latent `mu` has no prior") && err.contains("--params"),
        "{err}"
    );
    // An improper random walk and a prior on a transform.
    let rw = write(
        &d,
        "rw.mmi",
        "latent { f: field[5] ~ rw1(sd = 1)  s: real > 0 }\nlog(s) ~ normal(0, 1)\n",
    );
    let (code, _, err) = mmi(&["simulate", &rw, "--seed", "1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("latent `f` has an improper `rw1` prior"),
        "{err}"
    );
    assert!(
        err.contains("latent `s` has its prior on a transform"),
        "{err}"
    );
    // A transform of data on the left.
    let log = write(
        &d,
        "log.mmi",
        "data { y: vector[2] }\nlatent { mu: real ~ normal(0, 1) }\nmodality m { log(y) ~ normal(mu, 1) }\n",
    );
    let (code, _, err) = mmi(&["simulate", &log, "--seed", "1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot simulate `log(y)`") && err.contains("log.mmi:3"),
        "{err}"
    );
    // Files that cannot be read are usage errors.
    let (code, _, err) = mmi(&["simulate", &m, "--params", "/nonexistent/truth.json"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = mmi(&["simulate", "/nonexistent/model.mmi"]);
    assert_eq!(code, 2);
    // The library says the same.
    match simulate(&model(NORMAL), r#"{"n": 3}"#, "d", Some("{}"), 1) {
        Err(SimError::Message(m)) => assert!(m.contains("`mu`, `sigma`"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn simulated_data_that_break_a_declared_bound_are_an_error() {
    let src = "data { y: real > 0 }\nlatent { mu: real ~ normal(0, 1) }\nmodality m { y ~ normal(mu, 1) }\n";
    match simulate(&model(src), "{}", "d", Some(r#"{"mu": -50}"#), 1) {
        Err(SimError::Diagnostics(d)) => assert!(!d.is_empty()),
        other => panic!("{other:?}"),
    }
    // Inside the bound it is fine, although the input had no `y` (a zero would break the bound).
    assert!(simulate(&model(src), "{}", "d", Some(r#"{"mu": 50}"#), 1).is_ok());
}

#[test]
fn simulate_then_sample_recovers_the_truth() {
    // A linear-Gaussian regression with 60 coefficients and a noise scale.
    let (n, p) = (150, 60);
    let src = "data { n: int > 0  p: int > 0  X: matrix[n, p]  y: vector[n] }
latent { beta: vector[p] ~ normal(0, 1)  sigma: real > 0 ~ half_normal(1) }
modality m { y ~ normal(X * beta, sigma) }
";
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let r: Vec<String> = (0..p)
                .map(|j| format!("{:.6}", ((i * 7 + j * 13) as f64 * 0.37).sin()))
                .collect();
            format!("[{}]", r.join(","))
        })
        .collect();
    let d = dir("recover");
    let m = write(&d, "lin.mmi", src);
    let data = write(
        &d,
        "input.json",
        &format!(r#"{{"n": {n}, "p": {p}, "X": [{}]}}"#, rows.join(",")),
    );
    let (sim, truth, out) = (d.join("sim.json"), d.join("truth.json"), d.join("fit"));
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (code, _, err) = mmi(&[
        "simulate",
        &m,
        "--data",
        &data,
        "--seed",
        "4",
        "--output",
        &s(&sim),
        "--truth-output",
        &s(&truth),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = mmi(&[
        "sample",
        &m,
        "--data",
        &s(&sim),
        "--seed",
        "1",
        "--quiet",
        "--output",
        &s(&out),
    ]);
    assert_eq!(code, 0, "{err}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    let mut elements: Vec<(String, f64)> = numbers(&t["beta"])
        .into_iter()
        .enumerate()
        .map(|(j, v)| (format!("beta[{}]", j + 1), v))
        .collect();
    elements.push(("sigma".into(), t["sigma"].as_f64().unwrap()));
    let covered = elements
        .iter()
        .filter(|(name, v)| {
            let q = &summary["quantities"][name];
            q["q5"].as_f64().unwrap() <= *v && *v <= q["q95"].as_f64().unwrap()
        })
        .count();
    assert!(
        covered as f64 >= 0.85 * elements.len() as f64,
        "90% intervals cover {covered} of {} latent elements",
        elements.len()
    );
}

#[test]
fn the_shipped_eliashberg_data_are_what_simulate_makes() {
    let (code, out, err) = mmi(&[
        "simulate",
        "models/eliashberg.mmi",
        "--params",
        "models/eliashberg.truth.json",
        "--seed",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    let shipped = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/eliashberg.data.json"),
    )
    .unwrap();
    assert_eq!(
        out, shipped,
        "models/eliashberg.data.json is not what the command in the model's header makes"
    );
}
