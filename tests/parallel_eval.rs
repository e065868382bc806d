//! Data-parallel evaluation (`mmi::eval::parallel`): the chunked log densities and the row-blocked
//! affine node agree with the unsplit sequential kernels to rounding, give the same bits in rayon pools
//! of 1, 2 and 3 threads, and a model built of them has the gradient of its finite differences.

mod common;

use common::simulated::Rng;
use mmi::eval::dists::{self, Family};
use mmi::eval::parallel::{self, AFFINE_BLOCK, LPDF_CHUNK};
use mmi::eval::{affine, ops};
use mmi::ir::graph::{Op, Spread};

/// What an argument of a test statement holds.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Real,
    Positive,
    Unit,
    Count,
    Binary,
    Trials,
    Low,
    High,
}

/// The arguments of each univariate family, variate first (None: a multivariate family).
fn kinds(f: Family) -> Option<Vec<Kind>> {
    use Kind::*;
    Some(match f {
        Family::Normal | Family::Cauchy | Family::Laplace => vec![Real, Real, Positive],
        Family::StudentT => vec![Real, Positive, Real, Positive],
        Family::Huber => vec![Real, Real, Positive, Positive],
        Family::Lognormal => vec![Positive, Real, Positive],
        Family::Gamma | Family::InvGamma => vec![Positive, Positive, Positive],
        Family::Exponential | Family::HalfNormal | Family::HalfCauchy => vec![Positive, Positive],
        Family::Beta => vec![Unit, Positive, Positive],
        Family::Uniform => vec![Unit, Low, High],
        Family::PoissonLog => vec![Count, Real],
        Family::BernoulliLogit => vec![Binary, Real],
        Family::BinomialLogit => vec![Count, Trials, Real],
        Family::NegBinomial2Log => vec![Count, Real, Positive],
        Family::Dirichlet | Family::MultiNormalCholesky => return None,
    })
}

fn draw(kind: Kind, rng: &mut Rng) -> f64 {
    match kind {
        Kind::Real => rng.normal(),
        Kind::Positive => 0.5 + 2.5 * rng.next(),
        Kind::Unit => 0.05 + 0.9 * rng.next(),
        // Counts up to 4: below any number of trials.
        Kind::Count => (rng.next() * 5.0).floor(),
        Kind::Binary => (rng.next() < 0.5) as u32 as f64,
        Kind::Trials => 5.0 + (rng.next() * 5.0).floor(),
        Kind::Low => -1.0 - rng.next(),
        Kind::High => 1.0 + rng.next(),
    }
}

/// The log density and the gradient of every argument (None where none is asked), through the
/// chunked kernel (`parallel::lpdf`, with its scratch) or the sequential one (`dists::lpdf`).
fn evaluate(
    family: Family,
    args: &[Vec<f64>],
    constant: &[bool],
    normalised: bool,
    want_grad: bool,
    chunked: bool,
) -> (f64, Vec<Option<Vec<f64>>>) {
    let values: Vec<&[f64]> = args.iter().map(|a| a.as_slice()).collect();
    let lens = values.iter().map(|v| v.len());
    if chunked {
        let mut scratch = vec![f64::NAN; parallel::lpdf_scratch_len(family, lens)];
        let lp = parallel::lpdf(
            family,
            &values,
            1,
            constant,
            normalised,
            &mut scratch,
            want_grad,
        );
        let mut at = 0;
        let grads = values
            .iter()
            .zip(constant)
            .map(|(v, &c)| {
                at += v.len();
                (want_grad && !c).then(|| scratch[at - v.len()..at].to_vec())
            })
            .collect();
        (lp, grads)
    } else {
        let mut store: Vec<Vec<f64>> = values.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut grads: Vec<Option<&mut [f64]>> = store
            .iter_mut()
            .zip(constant)
            .map(|(g, &c)| (want_grad && !c).then_some(g.as_mut_slice()))
            .collect();
        let lp = dists::lpdf(family, &values, 1, constant, normalised, &mut grads);
        let wanted: Vec<bool> = grads.iter().map(|g| g.is_some()).collect();
        let grads = store
            .into_iter()
            .zip(wanted)
            .map(|(g, w)| w.then_some(g))
            .collect();
        (lp, grads)
    }
}

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-12 * scale.max(1.0)
}

/// Whether two sums of the same n numbers, added in different orders, agree: each differs from the
/// exact sum by at most (n - 1) eps Σ|x| (Higham's bound for recursive summation), which `scale` is.
/// (A sum of n equal numbers, a broadcast constant, does drift by about n eps / 2 relative.)
fn close_sums(a: f64, b: f64, n: usize, scale: f64) -> bool {
    (a - b).abs() <= 2.0 * n as f64 * f64::EPSILON * scale
}

/// Σ over the entries of a statement of |the entry's log density|: the scale of its sum's rounding.
fn entry_magnitudes(family: Family, args: &[Vec<f64>], constant: &[bool], normalised: bool) -> f64 {
    let n = args.iter().map(|a| a.len()).max().unwrap();
    let mut total = 0.0;
    for i in 0..n {
        let one: Vec<&[f64]> = args
            .iter()
            .map(|a| if a.len() == 1 { &a[..] } else { &a[i..i + 1] })
            .collect();
        let mut none: Vec<Option<&mut [f64]>> = one.iter().map(|_| None).collect();
        total += dists::lpdf(family, &one, 1, constant, normalised, &mut none).abs();
    }
    total
}

#[test]
fn chunked_log_densities_match_the_sequential_kernel() {
    // Three chunks, the last one short.
    let n = 2 * LPDF_CHUNK + 777;
    let mut rng = Rng(3);
    let mut tested = 0;
    for family in Family::ALL {
        let Some(kinds) = kinds(family) else {
            // Not a sum over independent entries: never chunked.
            assert_eq!(parallel::lpdf_chunks(family, [n, 3, 9].into_iter()), None);
            continue;
        };
        // Which parameters are broadcast (length 1): none, all, every other one.
        for mask in [0u32, !0, 0b1010] {
            let args: Vec<Vec<f64>> = kinds
                .iter()
                .enumerate()
                .map(|(i, &k)| {
                    let len = if i > 0 && mask & (1 << i) != 0 { 1 } else { n };
                    (0..len).map(|_| draw(k, &mut rng)).collect()
                })
                .collect();
            let constant: Vec<bool> = kinds
                .iter()
                .enumerate()
                .map(|(i, &k)| k == Kind::Trials || (i == 0 && family.is_discrete()))
                .collect();
            let lens = args.iter().map(|a| a.len());
            assert_eq!(parallel::lpdf_chunks(family, lens), Some(3));
            for normalised in [false, true] {
                let (lp, grads) = evaluate(family, &args, &constant, normalised, true, true);
                let (lp_ref, grads_ref) =
                    evaluate(family, &args, &constant, normalised, true, false);
                let what = format!("{} (mask {mask:b}, normalised {normalised})", family.name());
                assert!(lp.is_finite(), "{what}: {lp}");
                let scale = entry_magnitudes(family, &args, &constant, normalised);
                assert!(
                    close_sums(lp, lp_ref, n, scale),
                    "{what}: {lp} vs {lp_ref} (scale {scale})"
                );
                // The log density does not depend on whether gradients are asked for.
                let (lp_only, _) = evaluate(family, &args, &constant, normalised, false, true);
                assert_eq!(lp_only.to_bits(), lp.to_bits(), "{what}");
                for (i, (g, g_ref)) in grads.iter().zip(&grads_ref).enumerate() {
                    let (Some(g), Some(g_ref)) = (g, g_ref) else {
                        assert!(g.is_none() && g_ref.is_none());
                        continue;
                    };
                    if g.len() == n {
                        for (x, y) in g.iter().zip(g_ref) {
                            assert!(close(*x, *y, y.abs()), "{what}, argument {i}: {x} vs {y}");
                        }
                        continue;
                    }
                    // A broadcast argument's gradient is a sum over the entries: compare on the
                    // scale of the sum of their magnitudes (the argument repeated, unbroadcast).
                    let mut spread = args.clone();
                    spread[i] = vec![args[i][0]; n];
                    let (_, each) = evaluate(family, &spread, &constant, normalised, true, false);
                    let scale: f64 = each[i].as_ref().unwrap().iter().map(|x| x.abs()).sum();
                    assert!(
                        close_sums(g[0], g_ref[0], n, scale),
                        "{what}, broadcast argument {i}: {} vs {} (scale {scale})",
                        g[0],
                        g_ref[0]
                    );
                    tested += 1;
                }
            }
        }
    }
    assert!(tested > 30, "broadcast gradients compared: {tested}");
}

#[test]
fn out_of_the_support_in_one_chunk_gives_minus_infinity_and_zero_gradients() {
    let n = 3 * LPDF_CHUNK;
    let mut rng = Rng(5);
    let y: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    let mu = vec![0.1];
    let mut sigma: Vec<f64> = (0..n).map(|_| 1.0 + rng.next()).collect();
    sigma[n - 10] = -1.0;
    let args = vec![y, mu, sigma];
    let constant = [false; 3];
    let (lp, grads) = evaluate(Family::Normal, &args, &constant, false, true, true);
    let (lp_ref, _) = evaluate(Family::Normal, &args, &constant, false, true, false);
    assert_eq!(lp, f64::NEG_INFINITY);
    assert_eq!(lp_ref, f64::NEG_INFINITY);
    for g in grads.iter().flatten() {
        assert!(g.iter().all(|&x| x == 0.0));
    }
}

#[test]
fn statements_of_one_chunk_run_sequentially_with_the_same_scratch() {
    for n in [1, 100, LPDF_CHUNK] {
        let lens = [n, n, 1];
        assert_eq!(
            parallel::lpdf_chunks(Family::Normal, lens.into_iter()),
            None
        );
        assert_eq!(
            parallel::lpdf_scratch_len(Family::Normal, lens.into_iter()),
            2 * n + 1
        );
    }
    let lens = [LPDF_CHUNK + 1, LPDF_CHUNK + 1, 1];
    assert_eq!(
        parallel::lpdf_chunks(Family::Normal, lens.into_iter()),
        Some(2)
    );
    // Gradients, then 2 chunks' log densities and the broadcast scale's 2 partial gradients.
    assert_eq!(
        parallel::lpdf_scratch_len(Family::Normal, lens.into_iter()),
        2 * (LPDF_CHUNK + 1) + 1 + 2 * 2
    );
    assert_eq!(parallel::affine_blocks(100, 100), None);
    assert_eq!(parallel::affine_scratch_len(100, 100, 3), 0);
    assert_eq!(parallel::affine_blocks(2, AFFINE_BLOCK), Some((1, 2)));
}

/// Adds the adjoints of a product's factors and of each term, through the row-blocked kernels or the
/// sequential ones; the adjoints start from `init` (they accumulate).
#[allow(clippy::type_complexity)]
fn affine_adjoints(
    rows: usize,
    cols: usize,
    (a, k, b): (&[f64], usize, &[f64]),
    terms: &[(Spread, Vec<f64>)],
    g_out: &[f64],
    init: f64,
    blocked: bool,
) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    let mut scratch = vec![f64::NAN; parallel::affine_scratch_len(rows, cols, k)];
    let (mut g_a, mut g_b) = (vec![init; a.len()], vec![init; b.len()]);
    let mut g_terms: Vec<Vec<f64>> = terms.iter().map(|(_, v)| vec![init; v.len()]).collect();
    if blocked {
        parallel::affine_grad_left(rows, cols, a, k, b, g_out, &mut g_a);
        parallel::affine_grad_right(rows, cols, a, k, b, g_out, &mut scratch, &mut g_b);
        for ((s, _), g) in terms.iter().zip(&mut g_terms) {
            parallel::affine_grad_term(*s, rows, cols, g_out, &mut scratch, g);
        }
    } else {
        ops::matmul_grad(a, rows, k, b, cols, g_out, Some(&mut g_a), Some(&mut g_b));
        for ((s, _), g) in terms.iter().zip(&mut g_terms) {
            affine::term_grad(*s, rows, cols, g_out, g);
        }
    }
    (g_a, g_b, g_terms)
}

#[test]
fn row_blocked_affine_nodes_match_the_sequential_kernels() {
    // 65 rows per block: 5 blocks, the last one short.
    let (rows, cols, k) = (300, 1000, 2);
    assert_eq!(parallel::affine_blocks(rows, cols), Some((65, 5)));
    let mut rng = Rng(9);
    let mut normals = |len: usize| -> Vec<f64> { (0..len).map(|_| rng.normal()).collect() };
    let (a, b, g_out) = (normals(rows * k), normals(k * cols), normals(rows * cols));
    let terms = vec![
        (Spread::All, normals(1)),
        (Spread::PerRow, normals(rows)),
        (Spread::PerColumn, normals(cols)),
        (Spread::Full, normals(rows * cols)),
    ];
    let views: Vec<(Spread, &[f64])> = terms.iter().map(|(s, v)| (*s, v.as_slice())).collect();
    let (mut out, mut out_ref) = (vec![0.0; rows * cols], vec![0.0; rows * cols]);
    parallel::affine(rows, cols, Some((&a, k, &b)), &views, &mut out);
    affine::affine(rows, cols, Some((&a, k, &b)), &views, &mut out_ref);
    // Each row is computed as the sequential kernel computes it.
    assert!(out
        .iter()
        .zip(&out_ref)
        .all(|(x, y)| x.to_bits() == y.to_bits()));

    let product = (a.as_slice(), k, b.as_slice());
    let got = affine_adjoints(rows, cols, product, &terms, &g_out, 0.25, true);
    let want = affine_adjoints(rows, cols, product, &terms, &g_out, 0.25, false);
    // The scale of each adjoint: the same sums over magnitudes.
    let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    let (a_abs, b_abs, g_abs) = (abs(&a), abs(&b), abs(&g_out));
    let scale = affine_adjoints(rows, cols, (&a_abs, k, &b_abs), &terms, &g_abs, 0.25, false);
    let check = |what: &str, x: &[f64], y: &[f64], s: &[f64]| {
        assert_eq!(x.len(), y.len());
        for ((x, y), s) in x.iter().zip(y).zip(s) {
            assert!(close(*x, *y, *s), "{what}: {x} vs {y} (scale {s})");
        }
    };
    check("left factor", &got.0, &want.0, &scale.0);
    check("right factor", &got.1, &want.1, &scale.1);
    for (i, (s, _)) in terms.iter().enumerate() {
        check(&format!("{s:?} term"), &got.2[i], &want.2[i], &scale.2[i]);
    }
}

/// The chunked test model at a size where every likelihood has 5 chunks and the affine node 2 row
/// blocks (198 rows and 2).
fn chunked_model() -> mmi::eval::CompiledModel {
    let (n, m, k) = (200, 330, 2);
    let model = common::compile(
        common::chunked::MODEL,
        &common::chunked::data(n, m, k),
        &mmi::passes::Settings::default(),
    );
    let g = &model.graph;
    let len = |id: &mmi::ir::graph::NodeId| g.node(*id).len();
    let chunked = g
        .nodes
        .iter()
        .filter(|node| match &node.op {
            Op::Lpdf { family, args, .. } => {
                parallel::lpdf_chunks(*family, args.iter().map(len)) == Some(5)
            }
            _ => false,
        })
        .count();
    assert_eq!(chunked, 3, "the three likelihoods are chunked");
    assert!(g
        .nodes
        .iter()
        .any(|node| matches!(node.op, Op::Affine { .. })
            && parallel::affine_blocks(node.shape[0], node.shape[1]) == Some((198, 2))));
    model
}

#[test]
fn results_are_the_same_bits_whatever_the_number_of_threads() {
    let model = chunked_model();
    let x = common::chunked::point(model.dim(), 1);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut ev = model.evaluator();
            let mut grad = vec![0.0; x.len()];
            let lp = ev.log_density_and_gradient(&x, &mut grad).unwrap();
            let lp_only = ev.log_density(&x).unwrap();
            assert_eq!(lp.to_bits(), lp_only.to_bits());
            (lp, grad)
        })
    };
    let (lp1, grad1) = run(1);
    for threads in [2, 3] {
        let (lp, grad) = run(threads);
        assert_eq!(lp.to_bits(), lp1.to_bits(), "{threads} threads");
        assert!(
            grad.iter()
                .zip(&grad1)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{threads} threads"
        );
    }
    // From outside any pool (through rayon's injector) too.
    let mut ev = model.evaluator();
    let mut grad = vec![0.0; x.len()];
    let lp = ev.log_density_and_gradient(&x, &mut grad).unwrap();
    assert_eq!(lp.to_bits(), lp1.to_bits());
    assert!(grad
        .iter()
        .zip(&grad1)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn chunked_gradients_match_finite_differences() {
    let model = chunked_model();
    let x = common::chunked::point(model.dim(), 2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let mut ev = model.evaluator();
    let mut grad = vec![0.0; x.len()];
    pool.install(|| ev.log_density_and_gradient(&x, &mut grad).unwrap());
    // Central differences with h = 1e-4: the log density is ~1.6e5, a sum of 2e5 entries, whose
    // rounding (~1e-10 absolute) over a step of 1e-6 would swamp the comparison; at 1e-4 it is 100
    // times smaller, and the truncation error (h^2 / 6 times the third derivative) stays below 1e-7.
    let mut worst: f64 = 0.0;
    let mut xs = x.clone();
    for i in 0..x.len() {
        let h = 1e-4 * (1.0 + x[i].abs());
        xs[i] = x[i] + h;
        let up = pool.install(|| ev.log_density(&xs).unwrap());
        xs[i] = x[i] - h;
        let down = pool.install(|| ev.log_density(&xs).unwrap());
        xs[i] = x[i];
        let fd = (up - down) / (2.0 * h);
        worst = worst.max((fd - grad[i]).abs() / 1f64.max(grad[i].abs()));
    }
    assert!(worst < 1e-6, "gradient error {worst}");
}
