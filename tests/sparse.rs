//! Sparse matrices and linear solves against dense references: products with data and assembled
//! sparse matrices equal the dense products of the same matrices; `solve` with a dense or sparse A and
//! a vector or matrix b equals nalgebra's LU solve; a finite-volume Poisson solve matches its closed
//! form; gradients of every new node agree with finite differences; a singular matrix is a
//! recoverable evaluation error with a message.

mod common;

use mmi::eval::{CompiledModel, EvalError};
use mmi::passes::Settings;
use nalgebra::{DMatrix, DVector};

/// The named output (latent or law) at unconstrained `x`.
fn output(model: &CompiledModel, x: &[f64], name: &str) -> Vec<f64> {
    let mut ev = model.evaluator();
    let outs = ev.constrain(x).expect("the point evaluates");
    outs.into_iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no output `{name}`"))
        .values
}

/// A deterministic, well-spread point (no symmetry to hide a transposed index).
fn point(dim: usize) -> Vec<f64> {
    (0..dim)
        .map(|i| 0.9 * ((i as f64) * 1.37 + 0.4).sin())
        .collect()
}

/// The dense row-major matrix of 1-based coordinates, duplicates summed.
fn dense(r: usize, c: usize, i: &[usize], j: &[usize], x: &[f64]) -> DMatrix<f64> {
    let mut m = DMatrix::zeros(r, c);
    for k in 0..x.len() {
        m[(i[k] - 1, j[k] - 1)] += x[k];
    }
    m
}

fn assert_close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (k, (u, v)) in a.iter().zip(b).enumerate() {
        assert!(
            (u - v).abs() <= tol * (1.0 + v.abs()),
            "{what}[{k}]: {u} against {v}"
        );
    }
}

/// Row-major values of a nalgebra matrix.
fn row_major(m: &DMatrix<f64>) -> Vec<f64> {
    let mut v = vec![];
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            v.push(m[(i, j)]);
        }
    }
    v
}

const AI: [usize; 7] = [1, 2, 4, 3, 1, 4, 2];
const AJ: [usize; 7] = [2, 5, 1, 3, 2, 4, 1];
const AX: [f64; 7] = [1.5, -2.0, 0.7, 3.0, 0.25, -1.1, 0.9];

const PRODUCTS: &str = r#"
data { A: sparse_matrix[4, 5], ii: int[3], jj: int[3], y: vector[4] }
latent {
  x: vector[5] ~ normal(0, 1)
  X: matrix[5, 2] ~ normal(0, 1)
  v: vector[4] ~ normal(0, 1)
  w: vector[3] ~ normal(0, 1)
  F: field[5] ~ normal(0, 1)
}
law p = A * x
law t = A' * v
law M = A * X
law s = (A + sparse(ii, jj, w, 4, 5)) * x
law d = (A - sparse(ii, jj, w, 4, 5)) * F
law q = sparse(ii, jj, w, 4, 5)' * v
law e = A[2, 5] + sum(A) + size(A)
modality m { y ~ normal(p + t[1:4] + M[:, 2] + s + d + q[1:4] + e, 1) }
"#;

fn products_data() -> String {
    let list = |v: &[usize]| {
        v.iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let xs = AX
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"{{"A": {{"rows": 4, "cols": 5, "i": [{}], "j": [{}], "x": [{xs}]}},
            "ii": [1, 4, 1], "jj": [2, 2, 5], "y": [0.1, 0.2, 0.3, 0.4]}}"#,
        list(&AI),
        list(&AJ)
    )
}

#[test]
fn sparse_products_equal_dense_products() {
    let model = common::compile(PRODUCTS, &products_data(), &Settings::default());
    let x = point(model.dim());
    let a = dense(4, 5, &AI, &AJ, &AX);
    let get = |n: &str| output(&model, &x, n);
    let xv = DVector::from_vec(get("x"));
    let xm = get("X");
    let xm = DMatrix::from_row_slice(5, 2, &xm);
    let v = DVector::from_vec(get("v"));
    let w = get("w");
    let f = DVector::from_vec(get("F"));
    let b = dense(4, 5, &[1, 4, 1], &[2, 2, 5], &w);
    assert_close(&get("p"), (&a * &xv).as_slice(), 1e-14, "A * x");
    assert_close(&get("t"), (a.transpose() * &v).as_slice(), 1e-14, "A' * v");
    assert_close(&get("M"), &row_major(&(&a * &xm)), 1e-14, "A * X");
    assert_close(
        &get("s"),
        ((&a + &b) * &xv).as_slice(),
        1e-14,
        "(A + B) * x",
    );
    assert_close(&get("d"), ((&a - &b) * &f).as_slice(), 1e-14, "(A - B) * F");
    assert_close(&get("q"), (b.transpose() * &v).as_slice(), 1e-14, "B' * v");
    // Any other use sees the dense matrix: an element, a sum, the number of elements.
    assert_close(
        &get("e"),
        &[a[(1, 4)] + a.sum() + 20.0],
        1e-14,
        "dense uses",
    );
    for seed in 0..3 {
        let x: Vec<f64> = point(model.dim())
            .iter()
            .map(|v| v * (1.0 + seed as f64))
            .collect();
        let err = common::gradient_error(&model, &x);
        assert!(err < 1e-6, "gradient error {err:e}");
    }
}

const SOLVES: &str = r#"
data { n: int > 0, m: int > 0, ii: int[m], jj: int[m], A: sparse_matrix[n, n], y: vector[n] }
latent {
  M: matrix[n, n] ~ normal(0, 1)
  c: vector[m] ~ normal(0, 1)
  b: vector[n] ~ normal(0, 1)
  B: matrix[n, 2] ~ normal(0, 1)
}
law D = M + diag_matrix(rep(3.0, n))
law zd = solve(D, b)
law Zd = solve(D, B)
law zs = solve(sparse(ii, jj, c, n, n), b)
law Zs = solve(sparse(ii, jj, c, n, n), B)
law za = solve(A, b)
law Za = solve(A', B)
modality m {
  y ~ normal(zd + Zd[:, 1] + zs .* zs + Zs[:, 2] + za + exp(Za[:, 1]), 1)
}
"#;

/// Pattern of a 4 x 4 matrix with a full diagonal (shifted up so the point keeps it nonsingular),
/// off-diagonal entries and one duplicate.
const SI: [usize; 9] = [1, 2, 3, 4, 1, 2, 4, 3, 1];
const SJ: [usize; 9] = [1, 2, 3, 4, 3, 1, 2, 4, 1];

fn solves_data() -> String {
    r#"{"n": 4, "m": 9, "ii": [1, 2, 3, 4, 1, 2, 4, 3, 1], "jj": [1, 2, 3, 4, 3, 1, 2, 4, 1],
        "A": {"rows": 4, "cols": 4, "i": [1, 2, 3, 4, 1, 3], "j": [1, 2, 3, 4, 4, 2], "x": [2, 3, -2.5, 4, 1, 0.5]},
        "y": [0.3, -0.2, 0.8, 0.1]}"#
        .to_string()
}

/// A point where the assembled matrix is diagonally dominant: diagonal entries 3 plus the point.
fn solve_point(model: &CompiledModel) -> Vec<f64> {
    let mut x = point(model.dim());
    // c sits after M (16 coordinates); its first four entries are the diagonal.
    for k in 0..4 {
        x[16 + k] += 3.0;
    }
    x
}

#[test]
fn solves_equal_nalgebra_solves() {
    let model = common::compile(SOLVES, &solves_data(), &Settings::default());
    let x = solve_point(&model);
    let get = |n: &str| output(&model, &x, n);
    let d = DMatrix::from_row_slice(4, 4, &get("D"));
    let b = DVector::from_vec(get("b"));
    let bm = DMatrix::from_row_slice(4, 2, &get("B"));
    let k = dense(4, 4, &SI, &SJ, &get("c"));
    let a = dense(
        4,
        4,
        &[1, 2, 3, 4, 1, 3],
        &[1, 2, 3, 4, 4, 2],
        &[2.0, 3.0, -2.5, 4.0, 1.0, 0.5],
    );
    let lu = |m: &DMatrix<f64>| m.clone().lu();
    assert_close(
        &get("zd"),
        lu(&d).solve(&b).unwrap().as_slice(),
        1e-12,
        "dense, vector",
    );
    assert_close(
        &get("Zd"),
        &row_major(&lu(&d).solve(&bm).unwrap()),
        1e-12,
        "dense, matrix",
    );
    assert_close(
        &get("zs"),
        lu(&k).solve(&b).unwrap().as_slice(),
        1e-12,
        "sparse, vector",
    );
    assert_close(
        &get("Zs"),
        &row_major(&lu(&k).solve(&bm).unwrap()),
        1e-12,
        "sparse, matrix",
    );
    assert_close(
        &get("za"),
        lu(&a).solve(&b).unwrap().as_slice(),
        1e-12,
        "data A, vector",
    );
    let at = a.transpose();
    assert_close(
        &get("Za"),
        &row_major(&lu(&at).solve(&bm).unwrap()),
        1e-12,
        "data A', matrix",
    );
}

#[test]
fn solve_gradients_agree_with_finite_differences() {
    let model = common::compile(SOLVES, &solves_data(), &Settings::default());
    let base = solve_point(&model);
    for seed in 0..4 {
        let x: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(i, v)| v + 0.1 * ((i * (seed + 3)) as f64).cos())
            .collect();
        let err = common::gradient_error(&model, &x);
        assert!(err < 1e-6, "gradient error {err:e} at seed {seed}");
    }
    // The same with no optimisation passes (data-only solves evaluated by the evaluator itself).
    let raw = common::compile(SOLVES, &solves_data(), &Settings::none());
    let err = common::gradient_error(&raw, &base);
    assert!(err < 1e-6, "gradient error {err:e} without passes");
}

#[test]
fn a_singular_matrix_is_a_recoverable_error_with_a_message() {
    let model = common::compile(SOLVES, &solves_data(), &Settings::default());
    let mut x = solve_point(&model);
    let mut grad = vec![0.0; x.len()];
    let mut ev = model.evaluator();
    assert!(ev.log_density_and_gradient(&x, &mut grad).is_ok());
    // Row 3 of the assembled matrix holds c[3] (column 3) and c[8] (column 4): zero both.
    x[16 + 2] = 0.0;
    x[16 + 7] = 0.0;
    let e = ev.log_density_and_gradient(&x, &mut grad).unwrap_err();
    assert!(e.is_recoverable());
    let EvalError::Numerical(msg) = &e else {
        panic!("expected a numerical error, got {e:?}");
    };
    assert!(msg.contains("singular"), "{msg}");
    assert!(ev.log_density(&x).is_err());
    // A dense singular matrix: D = M + 3 I with M = -3 I has a zero pivot.
    let mut x = solve_point(&model);
    for i in 0..4 {
        for j in 0..4 {
            x[i * 4 + j] = if i == j { -3.0 } else { 0.0 };
        }
    }
    let e = ev.log_density(&x).unwrap_err();
    assert!(e.to_string().contains("singular"), "{e}");
    // The evaluator recovers at a good point.
    let x = solve_point(&model);
    assert!(ev.log_density_and_gradient(&x, &mut grad).is_ok());
}

/// 1-D finite volumes: cells of width h, face conductances sigma / h^2 between neighbours, the left
/// boundary held at 0 through a half cell (conductance 2 sigma / h^2), no flux through the right one,
/// a current q / h injected into cell `s`. The potential is exactly q x / sigma left of the source
/// (x the distance of the cell centre from the boundary) and flat right of it.
const POISSON: &str = r#"
data { n: int > 1, h: real > 0, q: real, s: int > 0, left: int[n - 1], ground: int[1] }
latent { sigma: real > 0 ~ lognormal(0, 1) }
law c = rep(sigma / h^2, n - 1)
law K = sparse(to_vector([left, left + 1, left, left + 1]), to_vector([left, left + 1, left + 1, left]),
               to_vector([c, c, -c, -c]), n, n)
        + sparse(ground, ground, rep(2 * sigma / h^2, 1), n, n)
law f = [ifelse(i == s, q / h, 0) for i in 1:n]
law u = solve(K, f)
modality m { ground ~ poisson_log(u[1:1]) }
"#;

#[test]
fn finite_volume_poisson_matches_the_closed_form() {
    let n = 12;
    let left: Vec<String> = (1..n).map(|k| k.to_string()).collect();
    let data = format!(
        r#"{{"n": {n}, "h": 0.5, "q": 2.0, "s": 7, "left": [{}], "ground": [1]}}"#,
        left.join(", ")
    );
    let model = common::compile(POISSON, &data, &Settings::default());
    let x = [0.4f64];
    let sigma = x[0].exp();
    let u = output(&model, &x, "u");
    for (i, ui) in u.iter().enumerate() {
        let centre = (i.min(6) as f64 + 0.5) * 0.5;
        let exact = 2.0 * centre / sigma;
        assert!(
            (ui - exact).abs() < 1e-12,
            "u[{}] = {ui}, exact {exact}",
            i + 1
        );
    }
    let err = common::gradient_error(&model, &x);
    assert!(err < 1e-6, "gradient error {err:e}");
}

/// The same finite-volume model as an observation model: `mmi simulate` evaluates the solve with the
/// forward evaluator and draws the readings around the closed form.
const POISSON_SIM: &str = r#"
data { n: int > 1, h: real > 0, q: real, s: int > 0, left: int[n - 1], ground: int[1], v: vector[n] }
latent { sigma: real > 0 ~ lognormal(0, 1) }
law c = rep(sigma / h^2, n - 1)
law K = sparse(to_vector([left, left + 1, left, left + 1]), to_vector([left, left + 1, left + 1, left]),
               to_vector([c, c, -c, -c]), n, n)
        + sparse(ground, ground, rep(2 * sigma / h^2, 1), n, n)
law u = solve(K, [ifelse(i == s, q / h, 0) for i in 1:n])
modality ert { v ~ normal(u, 1e-6) }
"#;

#[test]
fn simulation_evaluates_solves() {
    let n = 8;
    let left: Vec<String> = (1..n).map(|k| k.to_string()).collect();
    let data = format!(
        r#"{{"n": {n}, "h": 0.5, "q": 2.0, "s": 3, "left": [{}], "ground": [1]}}"#,
        left.join(", ")
    );
    let model = mmi::check_source(POISSON_SIM).model.expect("checks");
    let sim =
        mmi::infer::simulate::simulate(&model, &data, "poisson.json", Some(r#"{"sigma": 1.6}"#), 7)
            .unwrap_or_else(|_| panic!("simulates"));
    let (_, v) = sim
        .data
        .iter()
        .find(|(name, _)| name == "v")
        .expect("v simulated");
    for (i, vi) in v.values.iter().enumerate() {
        let exact = 2.0 * (i.min(2) as f64 + 0.5) * 0.5 / 1.6;
        assert!(
            (vi - exact).abs() < 1e-5,
            "v[{}] = {vi}, exact {exact}",
            i + 1
        );
    }
}

/// The ocean model's altimetry operator is a sparse data matrix times the flattened steric height: the
/// whole model (whitened Matérn fields included) compiles with it and has exact gradients.
#[test]
fn the_ocean_model_compiles_with_its_sparse_altimetry_operator() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/ocean.mmi");
    let source = std::fs::read_to_string(path).unwrap();
    let model = mmi::check_source(&source).model.expect("checks");
    let data = common::placeholder_data(&model);
    let compiled = common::compile(&source, &data, &Settings::default());
    let text = mmi::ir::print::print(&compiled.graph);
    assert!(text.contains("spmul(pattern#"), "{text}");
    let x: Vec<f64> = (0..compiled.dim())
        .map(|i| 0.3 * ((i as f64) * 0.7).sin())
        .collect();
    let err = common::gradient_error(&compiled, &x);
    assert!(err < 1e-6, "gradient error {err:e}");
}
