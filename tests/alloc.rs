//! The gradient evaluation allocates nothing: after the first call, `log_density_and_gradient` and
//! `log_density` make no heap allocation (a counting global allocator proves it). This file holds one
//! test so that no other test allocates concurrently.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Every kind of node: transforms, elementwise maps, reductions, gathers, products, lists,
/// comprehensions, several distributions.
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
"#;
const DATA: &str = r#"{"n": 4, "X": [[1, 0.5], [0.2, -1], [0, 1], [1, 1]], "y": [0.5, 1.5, -0.2, 0.9],
  "c": [1, 0, 3, 2], "idx": [4, 1]}"#;

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

#[test]
fn gradient_evaluation_does_not_allocate() {
    assert_no_allocation(MODEL, DATA);
    assert_no_allocation(FIELDS, FIELD_DATA);
}

fn assert_no_allocation(source: &str, data: &str) {
    let model = common::compile(source, data, &mmi::passes::Settings::default());
    let mut ev = model.evaluator();
    let x: Vec<f64> = (0..model.dim()).map(|i| 0.1 * i as f64 - 0.3).collect();
    let mut grad = vec![0.0; x.len()];
    ev.log_density_and_gradient(&x, &mut grad).unwrap();
    ev.log_density(&x).unwrap();
    // Moving the point changes the range, so field priors recompute their spectra too.
    let points: Vec<Vec<f64>> = (0..10)
        .map(|k| x.iter().map(|v| v + 0.01 * k as f64).collect())
        .collect();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for xk in &points {
        ev.log_density_and_gradient(xk, &mut grad).unwrap();
        ev.log_density(xk).unwrap();
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "allocations during evaluation");
    // The counter works: building a new evaluator allocates its buffers.
    let _other = model.evaluator();
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > after);
}
