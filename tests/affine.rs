//! Affine fusion (`passes::affine`, `eval::affine`): the kernel against a dense reference and its
//! gradients against central finite differences; models whose sums of products and broadcast vectors
//! fuse give the same log density and gradient as without the pass, and fuse into what they should.

mod common;

use mmi::eval::affine::{affine, term_grad};
use mmi::eval::ops::matmul_grad;
use mmi::ir::graph::{Op, Spread};
use mmi::passes::Settings;

/// A fixed, well-spread sequence in [-1, 1] (no random state to seed).
fn values(seed: usize, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((seed * 131 + i * 37) as f64 * 0.618).sin())
        .collect()
}

const ROWS: usize = 3;
const COLS: usize = 4;
const K: usize = 2;

/// The inputs of the kernel test: a [3, 2] by [2, 4] product and one term of every spread.
fn inputs() -> Vec<Vec<f64>> {
    vec![
        values(1, ROWS * K),
        values(2, K * COLS),
        values(3, 1),
        values(4, ROWS),
        values(5, COLS),
        values(6, ROWS * COLS),
    ]
}

const SPREADS: [Spread; 4] = [Spread::All, Spread::PerRow, Spread::PerColumn, Spread::Full];

fn forward(x: &[Vec<f64>]) -> Vec<f64> {
    let terms: Vec<(Spread, &[f64])> = SPREADS
        .iter()
        .zip(&x[2..])
        .map(|(s, v)| (*s, v.as_slice()))
        .collect();
    let mut out = vec![f64::NAN; ROWS * COLS];
    affine(ROWS, COLS, Some((&x[0], K, &x[1])), &terms, &mut out);
    out
}

#[test]
fn affine_kernel_matches_the_dense_sum() {
    let x = inputs();
    let out = forward(&x);
    for i in 0..ROWS {
        for j in 0..COLS {
            let product: f64 = (0..K).map(|l| x[0][i * K + l] * x[1][l * COLS + j]).sum();
            let want = product + x[2][0] + x[3][i] + x[4][j] + x[5][i * COLS + j];
            assert!((out[i * COLS + j] - want).abs() < 1e-14, "({i}, {j})");
        }
    }
    // Without a product and without terms.
    let mut out = vec![f64::NAN; ROWS * COLS];
    affine(ROWS, COLS, None, &[(Spread::PerRow, &x[3])], &mut out);
    assert_eq!(out[COLS + 2], x[3][1]);
    affine(ROWS, COLS, Some((&x[0], K, &x[1])), &[], &mut out);
    assert!((out[5] - (x[0][2] * x[1][1] + x[0][3] * x[1][COLS + 1])).abs() < 1e-15);
}

/// Every input's gradient of the functional Σ w out, from the kernels, against central differences
/// (exact up to rounding: the node is linear in each input).
#[test]
fn affine_gradients_match_finite_differences() {
    let x = inputs();
    let w = values(9, ROWS * COLS);
    let functional =
        |x: &[Vec<f64>]| -> f64 { forward(x).iter().zip(&w).map(|(o, w)| o * w).sum() };
    let mut grads: Vec<Vec<f64>> = x.iter().map(|v| vec![0.0; v.len()]).collect();
    {
        let (ga, rest) = grads.split_at_mut(1);
        matmul_grad(&x[0], ROWS, K, &x[1], COLS, &w, Some(&mut ga[0]), None);
        matmul_grad(&x[0], ROWS, K, &x[1], COLS, &w, None, Some(&mut rest[0]));
    }
    for (k, s) in SPREADS.iter().enumerate() {
        term_grad(*s, ROWS, COLS, &w, &mut grads[k + 2]);
    }
    for (input, g) in grads.iter().enumerate() {
        for e in 0..g.len() {
            let h = 1e-5;
            let (mut up, mut down) = (x.clone(), x.clone());
            up[input][e] += h;
            down[input][e] -= h;
            let fd = (functional(&up) - functional(&down)) / (2.0 * h);
            assert!(
                (fd - g[e]).abs() < 1e-9,
                "input {input}, element {e}: {} vs {fd}",
                g[e]
            );
        }
    }
}

/// Sums of a product with broadcast vectors, in the forms models write them.
const MODEL: &str = r#"
data { n: int > 0, g: int > 0, u: vector[n], M: matrix[n, g], y: matrix[n, g] }
latent {
  z: matrix[n, 2] ~ normal(0, 1)
  W: matrix[2, g] ~ normal(0, 1)
  b: vector[g] ~ normal(0, 1)
  c: vector[n] ~ normal(0, 1)
  s: real ~ normal(0, 1)
}
law shared = z * W
modality a { y ~ normal((u + (z * W + b)')', 1) }
modality b { y ~ normal(s + (c + (M + z * W)')' + b, 2) }
modality c { y ~ normal(shared + b + s, 3) }
modality d { y ~ normal(b + M + s, 4) }
"#;
const DATA: &str = r#"{"n": 3, "g": 4, "u": [0.1, -0.4, 0.3],
  "M": [[1, 0.5, 0, -1], [0.2, -1, 0.3, 0], [0, 1, 1, 2]],
  "y": [[0.5, 1.5, -0.2, 0.9], [0, 1, 2, -1], [0.3, 0.3, -0.7, 1]]}"#;

fn density_and_gradient(settings: &Settings) -> (f64, Vec<f64>, mmi::eval::CompiledModel) {
    let model = common::compile(MODEL, DATA, settings);
    let x: Vec<f64> = (0..model.dim())
        .map(|i| 0.7 * (i as f64 * 1.3).sin())
        .collect();
    let mut grad = vec![0.0; model.dim()];
    let lp = model
        .evaluator()
        .log_density_and_gradient(&x, &mut grad)
        .unwrap();
    assert!(common::gradient_error(&model, &x) < 1e-7);
    (lp, grad, model)
}

#[test]
fn fused_models_keep_densities_and_gradients() {
    let off = Settings {
        fuse_affine: false,
        ..Settings::default()
    };
    let (lp_on, g_on, fused) = density_and_gradient(&Settings::default());
    let (lp_off, g_off, _) = density_and_gradient(&off);
    assert!((lp_on - lp_off).abs() < 1e-12 * lp_on.abs().max(1.0));
    for (a, b) in g_on.iter().zip(&g_off) {
        assert!((a - b).abs() < 1e-12 * a.abs().max(1.0), "{a} vs {b}");
    }
    // What each modality became: the product is fused unless something else reads it (the law in
    // modality c), vectors are read where they are, and a sum of data and vectors without a product
    // fuses too (modality d).
    let g = &fused.graph;
    let show = |x: &mmi::ir::graph::NodeId| -> String {
        match &g.node(*x).op {
            Op::Data(name, _) => name.clone(),
            Op::Param { .. } => "param".into(),
            Op::MatMul(..) => "matmul".into(),
            Op::Constrain(..) => "param".into(),
            other => format!("{other:?}"),
        }
    };
    let fused_nodes: Vec<String> = g
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::Affine { product, terms } => {
                let mut parts: Vec<String> = product.iter().map(|_| "product".into()).collect();
                parts.extend(
                    terms
                        .iter()
                        .map(|(s, t)| format!("{} {}", s.name(), show(t))),
                );
                Some(parts.join(" + "))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        fused_nodes,
        [
            "product + per_row u + per_column param",
            "product + all param + per_row param + full M + per_column param",
            "full matmul + per_column param + all param",
            "per_column param + full M + all param",
        ],
        "{}",
        mmi::ir::print::print(g)
    );
    assert!(mmi::ir::validate::validate(g).is_ok());
}
