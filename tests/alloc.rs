//! The gradient evaluation allocates nothing: after the first call, `log_density_and_gradient` and
//! `log_density` make no heap allocation on the evaluating thread (a counting global allocator proves
//! it, `counting`).

mod common;

mod counting;

use counting::allocations;

/// Every kind of node: transforms, elementwise maps, reductions, gathers, products, lists,
/// comprehensions, several distributions, a numerical min-max worst case.
const MODEL: &str = r#"
data { n: int > 0, X: matrix[n, 2], y: vector[n], c: int[n], idx: int[2] }
latent {
  beta: vector[2] ~ normal(0, 1)
  s: real > 0 ~ half_normal(1)
  w: simplex[3] ~ dirichlet(rep(1.5, 3))
  o: ordered[2] ~ normal(0, 2)
  p: real in (0, 1) ~ beta(2, 2)
}
law eta = X * beta + sum(w) * [o[1], o[2], p][idx[2]]
law K = [exp(-(y[i] - y[j])^2 / s) for i in 1:n, j in 1:n]
modality a { y ~ student_t(4, eta + cumulative_sum(log_softmax(eta)), s) }
modality b { c ~ poisson_log(K * y / 10 + log_sum_exp(eta)) }
modality d { y[idx] ~ normal(max(eta) + sd(eta) + diff(o)[1], s + p) }
combine minmax { a: 0.5 }
"#;
const DATA: &str = r#"{"n": 4, "X": [[1, 0.5], [0.2, -1], [0, 1], [1, 1]], "y": [0.5, 1.5, -0.2, 0.9],
  "c": [1, 0, 3, 2], "idx": [4, 1]}"#;

/// Sparse products and sums, assembled and data sparse matrices, dense and sparse solves with vector
/// and matrix right sides, and the field operators.
const SPARSE_MODEL: &str = r#"
data {
  n: int > 0, m: int > 0, ii: int[m], jj: int[m], A: sparse_matrix[n, n], y: vector[n]
  px: vector[2], py: vector[2], Y: matrix[n, n]
}
latent {
  c: vector[m] ~ normal(0, 1)
  b: vector[n] ~ normal(0, 1)
  B: matrix[n, 2] ~ normal(0, 1)
  T: field[n, n] ~ normal(0, 1)
}
law K = sparse(ii, jj, c, n, n) + A
law z = solve(K, b) + solve(A, b) + solve(diag_matrix(exp(b)) + Y, b) + K * b + A' * b
law Z = solve(K, B) + solve(to_matrix(exp(T), n, n), B)
law F = laplacian(T) + grad(T, axis = 1) + convolve(T, [[0, 1, 0], [1, 2, 1], [0, 1, 0]])
modality a { y ~ normal(z + Z[:, 1] + interp(T, px, py)[1], 1) }
modality d { Y ~ normal(F, 2) }
"#;
const SPARSE_DATA: &str = r#"{"n": 3, "m": 5, "ii": [1, 2, 3, 1, 3], "jj": [1, 2, 3, 2, 1],
  "A": {"rows": 3, "cols": 3, "i": [1, 2, 3, 2], "j": [1, 2, 3, 3], "x": [4, 5, 6, 1]},
  "y": [0.1, 0.5, -0.3], "px": [1.5, 2.0], "py": [2.5, 3.0],
  "Y": [[1, 0, 0.5], [0, 1, 0], [0.2, 0, 1]]}"#;

/// Field priors: spectral Matérn/GMRF log densities with latent range, sd and mean (DCT and Hartley
/// transforms), a whitened field, random walks on a grid.
const FIELDS: &str = r#"
data { k: int > 0, ix: int[k], iy: int[k], y: vector[k] }
latent {
  rho: real > 0 ~ lognormal(1, 0.5)
  s: real > 0 ~ half_normal(1)
  m: vector[5] ~ normal(0, 1)
  f: field[4, 5, spacing = [1, 2]] ~ matern(nu = 0.7, range = [rho, 2 * rho], sd = s, mean = m)
  g: field[4, 5, boundary = [periodic, neumann]] ~ gmrf(range = rho, sd = s, param = whitened)
  r: field[4, 5] ~ rw2(s)
  p: field[3, 2, 2, boundary = periodic] ~ rw1(s)
}
modality obs { y ~ normal(f[ix, iy] + g[ix, iy] + r[ix, iy] + sum(p), 0.5) }
"#;
const FIELD_DATA: &str = r#"{"k": 3, "ix": [1, 2, 4], "iy": [5, 3, 1], "y": [0.3, -0.2, 1.1]}"#;
/// ODE solves, explicit and stiff, with a switch (the lamp), a latent initial state and time, a data
/// parameter, and two solves merged into one.
const ODE_MODEL: &str = r#"
data { n: int > 0, t_a: vector[n], t_b: vector[n], y: vector[n], t_off: real }
ode lamp(t; A, B; k, j, t_off) {
  dA/dt = ifelse(t < t_off, 1, 0) - k * A * B
  dB/dt = k * A * B - j * B
}
latent {
  k: real > 0 ~ lognormal(0, 0.5)
  j: real > 0 ~ lognormal(0, 0.5)
  a0: real > 0 ~ lognormal(0, 0.5)
  t0: real < 0.1 ~ normal(0, 0.1)
}
law s1 = solve_ode(lamp, [a0, 0.5], t0, t_a, k, j, t_off)
law s2 = solve_ode_stiff(lamp, [a0, 0.5], t0, t_a, k, j, t_off)
law s3 = solve_ode_stiff(lamp, [a0, 0.5], t0, t_b, k, j, t_off)
modality m { y ~ normal(s1[:, 1] + s2[:, 2] + s3[:, 2], 0.1) }
"#;
const ODE_DATA: &str = r#"{"n": 3, "t_a": [0.5, 1.5, 3], "t_b": [0.7, 1.5, 2.5], "y": [1, 1.2, 0.9],
  "t_off": 1}"#;

#[test]
fn gradient_evaluation_does_not_allocate() {
    let model = common::compile(MODEL, DATA, &mmi::passes::Settings::default());
    let sparse = common::compile(SPARSE_MODEL, SPARSE_DATA, &mmi::passes::Settings::default());
    let fields = common::compile(FIELDS, FIELD_DATA, &mmi::passes::Settings::default());
    assert_no_allocation(&model);
    assert_no_allocation(&sparse);
    assert_no_allocation(&fields);
    // Affine nodes (a product with per-row and per-column offsets), negative binomial and logistic
    // likelihoods.
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |f: &str| std::fs::read_to_string(format!("{root}/models/{f}")).unwrap();
    let multiome = common::compile(
        &read("multiome.mmi"),
        &read("multiome.data.json"),
        &mmi::passes::Settings::default(),
    );
    assert!(multiome
        .graph
        .nodes
        .iter()
        .any(|n| matches!(n.op, mmi::ir::graph::Op::Affine { .. })));
    assert_no_allocation(&multiome);
    let ode = common::compile(ODE_MODEL, ODE_DATA, &mmi::passes::Settings::default());
    assert_eq!(ode.graph.solves.len(), 2, "the stiff solves are merged");
    assert_no_allocation(&ode);
}

/// Likelihoods and an affine node big enough to be split over rayon's threads (`eval::parallel`): no
/// allocation on the evaluating thread either, inside a 2-thread pool (from outside any pool a join
/// goes through rayon's injector, which allocates; `mmi map` and the chains run inside the pool).
#[test]
fn chunked_evaluation_does_not_allocate() {
    use mmi::eval::parallel::{affine_blocks, lpdf_chunks};
    use mmi::ir::graph::Op;
    let model = common::compile(
        common::chunked::MODEL,
        &common::chunked::data(200, 330, 2),
        &mmi::passes::Settings::default(),
    );
    let g = &model.graph;
    let chunked = |n: &mmi::ir::graph::Node| match &n.op {
        Op::Lpdf { family, args, .. } => {
            lpdf_chunks(*family, args.iter().map(|a| g.node(*a).len())).is_some()
        }
        _ => false,
    };
    let blocked = |n: &mmi::ir::graph::Node| {
        matches!(n.op, Op::Affine { .. }) && affine_blocks(n.shape[0], n.shape[1]).is_some()
    };
    assert!(g.nodes.iter().any(chunked) && g.nodes.iter().any(blocked));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| assert_no_allocation(&model));
}

/// After a first (warm-up) evaluation, further evaluations allocate nothing.
fn assert_no_allocation(model: &mmi::eval::CompiledModel) {
    let mut ev = model.evaluator();
    let x: Vec<f64> = (0..model.dim())
        .map(|i| 0.3 + 0.5 * (i as f64 * 1.3).sin())
        .collect();
    let mut grad = vec![0.0; x.len()];
    ev.log_density_and_gradient(&x, &mut grad).unwrap();
    ev.log_density(&x).unwrap();
    let during = allocations(|| {
        for _ in 0..10 {
            ev.log_density_and_gradient(&x, &mut grad).unwrap();
            ev.log_density(&x).unwrap();
        }
    });
    assert_eq!(during, 0, "allocations during evaluation");
    // The counter works: building a new evaluator allocates its buffers.
    assert!(allocations(|| drop(model.evaluator())) > 0);
}
