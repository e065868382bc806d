//! Gradient speed: a logistic regression (N = 5000 rows, D = 25 predictors, simulated with a fixed seed)
//! through mmi's compiled graph against a hand-written Rust gradient of the same log density.
//! Run with `cargo bench --bench logistic`; prints both timings and their ratio.

mod support;

use std::time::Instant;
use support::simulated::Rng;

const N: usize = 5000;
const D: usize = 25;

const MODEL: &str = r#"
data { n: int > 0, d: int > 0, X: matrix[n, d], y: int[n] }
latent {
  alpha: real ~ normal(0, 5)
  beta: vector[d] ~ normal(0, 1)
}
modality obs { y ~ bernoulli_logit(alpha + X * beta) }
"#;

fn log1p_exp(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The same log density (constants dropped, as mmi does) and its gradient, written by hand.
fn hand_written(x_mat: &[f64], y: &[f64], theta: &[f64], grad: &mut [f64]) -> f64 {
    let alpha = theta[0];
    let beta = &theta[1..];
    let mut lp = -0.5 * (alpha / 5.0).powi(2) - 0.5 * beta.iter().map(|b| b * b).sum::<f64>();
    grad[0] = -alpha / 25.0;
    for j in 0..D {
        grad[1 + j] = -beta[j];
    }
    for i in 0..N {
        let row = &x_mat[i * D..(i + 1) * D];
        let eta = alpha + row.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>();
        lp += y[i] * eta - log1p_exp(eta);
        let r = y[i] - 1.0 / (1.0 + (-eta).exp());
        grad[0] += r;
        for j in 0..D {
            grad[1 + j] += r * row[j];
        }
    }
    lp
}

fn time<F: FnMut()>(mut f: F) -> f64 {
    for _ in 0..20 {
        f();
    }
    let mut runs = vec![];
    for _ in 0..15 {
        let reps = 200;
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        runs.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs[runs.len() / 2]
}

fn main() {
    let mut rng = Rng(20261127);
    let truth: Vec<f64> = (0..=D).map(|_| rng.normal() * 0.5).collect();
    let mut x_mat = vec![0.0; N * D];
    let mut y = vec![0.0; N];
    for i in 0..N {
        let mut eta = truth[0];
        for j in 0..D {
            x_mat[i * D + j] = rng.normal();
            eta += x_mat[i * D + j] * truth[1 + j];
        }
        y[i] = if rng.next() < 1.0 / (1.0 + (-eta).exp()) {
            1.0
        } else {
            0.0
        };
    }
    let rows: Vec<String> = (0..N)
        .map(|i| {
            let r: Vec<String> = x_mat[i * D..(i + 1) * D]
                .iter()
                .map(|v| format!("{v}"))
                .collect();
            format!("[{}]", r.join(","))
        })
        .collect();
    let ys: Vec<String> = y.iter().map(|v| format!("{}", *v as i64)).collect();
    let json = format!(
        r#"{{"n": {N}, "d": {D}, "X": [{}], "y": [{}]}}"#,
        rows.join(","),
        ys.join(",")
    );

    let checked = mmi::check_source(MODEL)
        .model
        .expect("the benchmark model checks");
    let (data, _) =
        mmi::data::load(&checked, &json, "bench.json").expect("the benchmark data load");
    let compiled =
        mmi::compile(&checked, &data, &mmi::passes::Settings::default()).expect("compiles");
    let mut ev = compiled.evaluator();

    let theta: Vec<f64> = (0..=D).map(|j| 0.1 * (j as f64).sin()).collect();
    let mut g1 = vec![0.0; D + 1];
    let mut g2 = vec![0.0; D + 1];
    let lp1 = ev.log_density_and_gradient(&theta, &mut g1).unwrap();
    let lp2 = hand_written(&x_mat, &y, &theta, &mut g2);
    let max_diff = g1
        .iter()
        .zip(&g2)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        (lp1 - lp2).abs() < 1e-8 * lp2.abs(),
        "log densities differ: {lp1} vs {lp2}"
    );
    assert!(max_diff < 1e-8, "gradients differ by {max_diff}");

    let t_mmi = time(|| {
        ev.log_density_and_gradient(std::hint::black_box(&theta), &mut g1)
            .unwrap();
    });
    let t_hand = time(|| {
        hand_written(&x_mat, &y, std::hint::black_box(&theta), &mut g2);
    });
    println!("logistic regression N = {N}, D = {D}: log density + gradient");
    println!("  mmi graph:     {:8.1} us", t_mmi * 1e6);
    println!("  hand-written:  {:8.1} us", t_hand * 1e6);
    println!("  ratio mmi / hand-written: {:.2}", t_mmi / t_hand);
}
