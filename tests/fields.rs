//! Field priors against dense references: on small grids (1-D, 2-D, 3-D; reflecting and periodic
//! boundaries; anisotropic ranges; non-integer alpha) the spectral log densities equal the dense
//! multivariate normal built from the explicitly assembled precision matrix (Laplacian matrices,
//! matrix power by eigen-decomposition, log-determinant from the eigenvalues); gradients with
//! respect to the field, mean, range and sd agree with finite differences; the whitened map's
//! covariance is the prior covariance; random walks on grids match a dense pseudo-determinant.

use mmi::eval::fields::{FieldKind, FieldSpec};
use mmi::library::distributions::Boundary::{self, Neumann, Periodic};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use std::f64::consts::PI;

/// The 1-D negative second difference with unit spacing: D'D for reflecting ends (D the n - 1 first
/// differences), the circulant one for a periodic axis.
fn lap1(n: usize, b: Boundary) -> DMatrix<f64> {
    let d = diff1(n, 1, b);
    d.transpose() * d
}

/// First (order 1) or second (order 2) differences along one axis of length n: n - order rows on a
/// free axis, n rows (wrapping around) on a periodic one.
fn diff1(n: usize, order: usize, b: Boundary) -> DMatrix<f64> {
    let rows = match b {
        Periodic => n,
        Neumann => n.saturating_sub(order),
    };
    let mut d = DMatrix::zeros(rows, n);
    let stencil: &[f64] = if order == 1 {
        &[-1.0, 1.0]
    } else {
        &[1.0, -2.0, 1.0]
    };
    for r in 0..rows {
        for (j, s) in stencil.iter().enumerate() {
            d[(r, (r + j) % n)] += s;
        }
    }
    d
}

/// I (x) A (x) I placing a 1-D operator on axis `a` of a row-major grid.
fn on_axis(a: usize, shape: &[usize], m: &DMatrix<f64>) -> DMatrix<f64> {
    let before: usize = shape[..a].iter().product();
    let after: usize = shape[a + 1..].iter().product();
    let eye = |k: usize| DMatrix::<f64>::identity(k, k);
    eye(before).kronecker(m).kronecker(&eye(after))
}

/// Dense Matérn precision: M = 8 nu I + sum_a (range_a / h_a)^2 L_a, Q = c M^alpha with
/// c = tr(M^-alpha) / (n sd^2); returns Q and log det Q.
fn dense_matern(
    shape: &[usize],
    h: &[f64],
    b: &[Boundary],
    nu: f64,
    range: &[f64],
    sd: f64,
) -> (DMatrix<f64>, f64) {
    let n: usize = shape.iter().product();
    let d = shape.len();
    let alpha = nu + d as f64 / 2.0;
    let mut m = DMatrix::identity(n, n) * (8.0 * nu);
    for a in 0..d {
        let r = if range.len() == 1 { range[0] } else { range[a] };
        m += on_axis(a, shape, &lap1(shape[a], b[a])) * (r / h[a]).powi(2);
    }
    power(&m, alpha, sd)
}

/// c M^alpha by eigen-decomposition, with c making the average variance sd^2; and its log det.
fn power(m: &DMatrix<f64>, alpha: f64, sd: f64) -> (DMatrix<f64>, f64) {
    let n = m.nrows();
    let eig = SymmetricEigen::new(m.clone());
    let trace_inv: f64 = eig.eigenvalues.iter().map(|l| l.powf(-alpha)).sum();
    let c = trace_inv / (n as f64 * sd * sd);
    let pw = DMatrix::from_diagonal(&eig.eigenvalues.map(|l| c * l.powf(alpha)));
    let q = &eig.eigenvectors * pw * eig.eigenvectors.transpose();
    let logdet = n as f64 * c.ln() + alpha * eig.eigenvalues.iter().map(|l| l.ln()).sum::<f64>();
    (q, logdet)
}

fn dense_lpdf(q: &DMatrix<f64>, logdet: f64, x: &[f64], mean: &[f64]) -> f64 {
    let n = x.len();
    let r = DVector::from_iterator(n, (0..n).map(|i| x[i] - mean[i % mean.len()]));
    -0.5 * n as f64 * (2.0 * PI).ln() + 0.5 * logdet - 0.5 * (r.transpose() * q * &r)[(0, 0)]
}

/// A deterministic, irregular test vector.
fn wiggle(n: usize, seed: f64) -> Vec<f64> {
    (0..n)
        .map(|i| (seed * (i as f64 + 1.0)).sin() + 0.3 * (0.37 * i as f64 * seed).cos())
        .collect()
}

/// The spectral log density and every argument's gradient ([x, mean, range, sd] end to end).
fn spectral(spec: &FieldSpec, args: &[&[f64]]) -> (f64, Vec<f64>) {
    let lens: Vec<usize> = args.iter().map(|a| a.len()).collect();
    let mut scratch = vec![0.0; spec.prior_scratch_len(lens.iter().sum())];
    let lp = spec.log_density(args, true, true, &mut scratch, [true; 4]);
    let grads = scratch[..lens.iter().sum::<usize>()].to_vec();
    // A second call reuses the cached spectrum and must agree.
    let again = spec.log_density(args, true, true, &mut scratch, [false; 4]);
    assert_eq!(lp, again, "the cached spectrum changes the value");
    (lp, grads)
}

/// Central finite differences of the log density with respect to every argument element.
fn finite_differences(spec: &FieldSpec, args: &[Vec<f64>]) -> Vec<f64> {
    let mut out = vec![];
    for k in 0..args.len() {
        for i in 0..args[k].len() {
            let h = 1e-6 * (1.0 + args[k][i].abs());
            let at = |delta: f64| {
                let mut a = args.to_vec();
                a[k][i] += delta;
                let refs: Vec<&[f64]> = a.iter().map(|v| v.as_slice()).collect();
                let lens: Vec<usize> = refs.iter().map(|r| r.len()).collect();
                let mut scratch = vec![0.0; spec.prior_scratch_len(lens.iter().sum())];
                spec.log_density(&refs, true, true, &mut scratch, [false; 4])
            };
            out.push((at(h) - at(-h)) / (2.0 * h));
        }
    }
    out
}

fn assert_grads(name: &str, analytic: &[f64], fd: &[f64]) {
    for (i, (a, f)) in analytic.iter().zip(fd).enumerate() {
        let err = (a - f).abs() / (1.0 + f.abs());
        assert!(
            err < 2e-6,
            "{name}: gradient {i}: analytic {a}, finite difference {f}"
        );
    }
}

struct Case {
    shape: Vec<usize>,
    h: Vec<f64>,
    b: Vec<Boundary>,
    nu: f64,
}

fn cases() -> Vec<Case> {
    let c = |shape: &[usize], h: &[f64], b: &[Boundary], nu: f64| Case {
        shape: shape.to_vec(),
        h: h.to_vec(),
        b: b.to_vec(),
        nu,
    };
    vec![
        c(&[7], &[1.0], &[Neumann], 1.5),
        c(&[8], &[0.5], &[Periodic], 0.3), // alpha = 0.8
        c(&[5, 6], &[1.0, 2.0], &[Neumann, Neumann], 1.0),
        c(&[4, 5], &[1.0, 1.0], &[Periodic, Neumann], 0.7), // alpha = 1.7
        c(&[6, 6], &[1.5, 1.5], &[Periodic, Periodic], 2.5),
        c(
            &[3, 4, 5],
            &[2.0, 1.0, 0.5],
            &[Neumann, Neumann, Neumann],
            0.5,
        ),
        c(
            &[2, 3, 4],
            &[1.0, 1.0, 1.0],
            &[Periodic, Periodic, Periodic],
            1.25,
        ),
        c(
            &[4, 1, 3],
            &[1.0, 1.0, 1.0],
            &[Neumann, Periodic, Neumann],
            0.5,
        ),
    ]
}

#[test]
fn matern_log_density_equals_the_dense_normal() {
    for (ci, case) in cases().iter().enumerate() {
        let n: usize = case.shape.iter().product();
        let d = case.shape.len();
        let spec = FieldSpec::new(
            FieldKind::Matern { nu: case.nu },
            &case.shape,
            &case.h,
            &case.b,
        );
        let last = *case.shape.last().unwrap();
        let per_axis: Vec<f64> = (0..d).map(|a| 1.3 + 0.9 * a as f64).collect();
        let settings: Vec<(Vec<f64>, f64, Vec<f64>)> = vec![
            (vec![2.0], 1.0, vec![0.0]),
            (vec![0.7], 0.4, vec![0.5]),
            (per_axis.clone(), 2.5, wiggle(last, 0.8)),
            (per_axis, 0.9, wiggle(n, 1.9)),
        ];
        for (range, sd, mean) in settings {
            let x = wiggle(n, 1.1 + ci as f64);
            let (q, logdet) = dense_matern(&case.shape, &case.h, &case.b, case.nu, &range, sd);
            let want = dense_lpdf(&q, logdet, &x, &mean);
            let (got, grads) = spectral(&spec, &[&x, &mean, &range, &[sd]]);
            assert!(
                (got - want).abs() < 1e-8 * (1.0 + want.abs()),
                "case {ci} range {range:?} sd {sd}: spectral {got}, dense {want}"
            );
            let fd = finite_differences(&spec, &[x.clone(), mean.clone(), range.clone(), vec![sd]]);
            assert_grads(&format!("case {ci} range {range:?} sd {sd}"), &grads, &fd);
        }
    }
}

/// One range is the isotropic operator the brief defines: Q = c (kappa^2 I - Laplacian_h)^alpha with
/// kappa = sqrt(8 nu) / range; the per-axis rescaling gives the same precision.
#[test]
fn one_range_is_the_isotropic_spde_operator() {
    let (shape, h, b) = ([5usize, 4], [2.0, 2.0], [Neumann, Periodic]);
    let (nu, range, sd) = (1.0, 5.0, 0.8);
    let n = 20;
    let kappa2 = 8.0 * nu / (range * range);
    let mut k = DMatrix::identity(n, n) * kappa2;
    for a in 0..2 {
        k += on_axis(a, &shape, &lap1(shape[a], b[a])) / (h[a] * h[a]);
    }
    let (q, logdet) = power(&k, nu + 1.0, sd);
    let x = wiggle(n, 0.6);
    let want = dense_lpdf(&q, logdet, &x, &[0.2]);
    let spec = FieldSpec::new(FieldKind::Matern { nu }, &shape, &h, &b);
    let (got, _) = spectral(&spec, &[&x, &[0.2], &[range], &[sd]]);
    assert!((got - want).abs() < 1e-9 * want.abs(), "{got} vs {want}");
}

/// The average marginal variance trace(Q^-1) / n is sd^2; on a periodic grid every cell has it.
#[test]
fn sd_is_the_average_marginal_sd() {
    for b in [Neumann, Periodic] {
        let shape = [6usize, 7];
        let (q, _) = dense_matern(&shape, &[1.0, 1.0], &[b, b], 1.0, &[3.0], 0.7);
        let cov = q.try_inverse().unwrap();
        let avg = cov.trace() / 42.0;
        assert!((avg - 0.49).abs() < 1e-10, "{b:?}: average variance {avg}");
        let spread = (0..42)
            .map(|i| (cov[(i, i)] - 0.49).abs())
            .fold(0.0, f64::max);
        if b == Periodic {
            assert!(spread < 1e-10, "periodic cells differ by {spread}");
        } else {
            assert!(
                spread > 1e-3,
                "reflecting boundaries should give the corners more variance"
            );
        }
    }
}

/// The whitened map z -> mean + Q^(-1/2) z has covariance Q^-1, inverts (`unwhiten`), and its
/// reverse sweep matches finite differences for every argument.
#[test]
fn whitening_has_the_prior_covariance_and_exact_gradients() {
    for (ci, case) in cases().iter().enumerate() {
        let n: usize = case.shape.iter().product();
        let d = case.shape.len();
        let spec = FieldSpec::new(
            FieldKind::Matern { nu: case.nu },
            &case.shape,
            &case.h,
            &case.b,
        );
        let range: Vec<f64> = (0..d).map(|a| 1.1 + 0.7 * a as f64).collect();
        let sd = 1.3;
        let zero = [0.0];
        // Columns of W: the images of unit vectors.
        let mut w = DMatrix::zeros(n, n);
        for j in 0..n {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            let col = spec.draw(&e, &zero, &range, sd).unwrap();
            w.set_column(j, &DVector::from_vec(col));
        }
        let (q, _) = dense_matern(&case.shape, &case.h, &case.b, case.nu, &range, sd);
        let err = (&w * w.transpose() - q.try_inverse().unwrap()).abs().max();
        assert!(err < 1e-10, "case {ci}: W W' differs from Q^-1 by {err}");

        let z = wiggle(n, 0.9 + ci as f64);
        let mean = wiggle(*case.shape.last().unwrap(), 2.3);
        let x = spec.draw(&z, &mean, &range, sd).unwrap();
        let back = spec.unwhiten(&x, &mean, &range, sd).unwrap();
        let round = z
            .iter()
            .zip(&back)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            round < 1e-10,
            "case {ci}: unwhiten(whiten(z)) is off by {round}"
        );

        // F = sum_i a_i x_i: the reverse sweep with adjoint a against finite differences of F.
        let a = wiggle(n, 3.7);
        let args: Vec<Vec<f64>> = vec![z, mean, range.clone(), vec![sd]];
        let f = |args: &[Vec<f64>]| -> f64 {
            let x = spec.draw(&args[0], &args[1], &args[2], args[3][0]).unwrap();
            x.iter().zip(&a).map(|(x, a)| x * a).sum()
        };
        let mut scratch = vec![0.0; spec.whiten_scratch_len()];
        let mut out = vec![0.0; n];
        let refs: Vec<&[f64]> = args.iter().map(|v| v.as_slice()).collect();
        assert!(spec.whiten(&refs, &mut out, &mut scratch));
        spec.whiten_adjoint(&a, &mut scratch);
        for k in 0..4 {
            let mut g = vec![0.0; args[k].len()];
            spec.whiten_grad(k, &refs, &a, &scratch, &mut g);
            for i in 0..args[k].len() {
                let h = 1e-6 * (1.0 + args[k][i].abs());
                let mut p = args.clone();
                p[k][i] += h;
                let mut m = args.clone();
                m[k][i] -= h;
                let fd = (f(&p) - f(&m)) / (2.0 * h);
                let err = (g[i] - fd).abs() / (1.0 + fd.abs());
                assert!(err < 2e-6, "case {ci} argument {k}[{i}]: {} vs {fd}", g[i]);
            }
        }
    }
}

/// The orthonormal transforms: inverse(forward(x)) = x and norms are kept.
#[test]
fn transforms_are_orthonormal() {
    for case in cases() {
        let n: usize = case.shape.iter().product();
        let spec = FieldSpec::new(FieldKind::Matern { nu: 1.0 }, &case.shape, &case.h, &case.b);
        let x = wiggle(n, 0.77);
        let y = spec.transform_copy(&x, false);
        let back = spec.transform_copy(&y, true);
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();
        assert!((norm(&x) - norm(&y)).abs() < 1e-10 * norm(&x));
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}

/// Random walks on grids: Q = (1/sd^2) sum_a D_a' D_a; the value is the generalised normal density
/// with the structure matrix's pseudo-determinant left out, rank and pseudo-determinant from a dense
/// eigen-decomposition.
#[test]
fn random_walks_match_a_dense_pseudo_determinant() {
    let grids: Vec<(Vec<usize>, Vec<Boundary>)> = vec![
        (vec![9], vec![Neumann]),
        (vec![6, 5], vec![Neumann, Neumann]),
        (vec![4, 7], vec![Periodic, Neumann]),
        (vec![2, 5], vec![Neumann, Neumann]),
        (vec![5, 4], vec![Periodic, Periodic]),
        (vec![3, 3, 4], vec![Neumann, Neumann, Neumann]),
        (vec![1, 6], vec![Neumann, Neumann]),
    ];
    for order in [1, 2] {
        for (shape, b) in &grids {
            let n: usize = shape.iter().product();
            let mut r = DMatrix::zeros(n, n);
            for a in 0..shape.len() {
                let d = diff1(shape[a], order, b[a]);
                r += on_axis(a, shape, &(d.transpose() * d));
            }
            let eig = SymmetricEigen::new(r.clone());
            let top = eig.eigenvalues.max();
            let nonzero: Vec<f64> = eig
                .eigenvalues
                .iter()
                .copied()
                .filter(|l| *l > 1e-9 * top)
                .collect();
            let rank = nonzero.len();
            let log_pdet_r: f64 = nonzero.iter().map(|l| l.ln()).sum();
            let spec = FieldSpec::new(
                FieldKind::RandomWalk { order },
                shape,
                &vec![1.0; shape.len()],
                b,
            );
            assert_eq!(spec.rw_rank(), rank, "rw{order} on {shape:?} {b:?}");
            for sd in [0.3, 1.0, 2.2] {
                let x = wiggle(n, 0.45 + sd);
                let xv = DVector::from_vec(x.clone());
                let q = &r / (sd * sd);
                let log_pdet_q = log_pdet_r - 2.0 * rank as f64 * sd.ln();
                let want = -0.5 * rank as f64 * (2.0 * PI).ln() + 0.5 * log_pdet_q
                    - 0.5 * (xv.transpose() * &q * &xv)[(0, 0)]
                    - 0.5 * log_pdet_r;
                let (got, grads) = spectral(&spec, &[&x, &[sd]]);
                assert!(
                    (got - want).abs() < 1e-9 * (1.0 + want.abs()),
                    "rw{order} {shape:?} sd {sd}: {got} vs {want}"
                );
                let fd = finite_differences(&spec, &[x.clone(), vec![sd]]);
                assert_grads(&format!("rw{order} {shape:?}"), &grads, &fd);
            }
        }
    }
}

/// In one dimension the value is what mmi always computed: the increments' normal density.
#[test]
fn one_dimensional_random_walks_keep_their_values() {
    let x = wiggle(12, 0.8);
    let sd: f64 = 0.6;
    for order in [1usize, 2] {
        let mut d = x.clone();
        for _ in 0..order {
            d = d.windows(2).map(|w| w[1] - w[0]).collect();
        }
        let k = d.len() as f64;
        let want = -0.5 * k * (2.0 * PI).ln()
            - k * sd.ln()
            - d.iter().map(|v| v * v).sum::<f64>() / (2.0 * sd * sd);
        let spec = FieldSpec::new(FieldKind::RandomWalk { order }, &[12], &[1.0], &[Neumann]);
        let (got, _) = spectral(&spec, &[&x, &[sd]]);
        assert!(
            (got - want).abs() < 1e-12 * want.abs(),
            "rw{order}: {got} vs {want}"
        );
    }
}

/// A spectrum primed at compile time (a data range) is what evaluations use: priming with the same
/// range gives the fresh value, and a cache primed by another prior (a different nu) is read as is.
#[test]
fn primed_spectra_are_used() {
    let shape = [5usize, 6];
    let make = |nu: f64| {
        FieldSpec::new(
            FieldKind::Matern { nu },
            &shape,
            &[1.0, 1.0],
            &[Neumann, Neumann],
        )
    };
    let (a, b) = (make(1.0), make(2.0));
    let x = wiggle(30, 0.4);
    let args: [&[f64]; 4] = [&x, &[0.0], &[2.5], &[1.2]];
    let grads = 30 + 1 + 1 + 1;
    let fresh = |spec: &FieldSpec| {
        let mut s = vec![0.0; spec.prior_scratch_len(grads)];
        spec.log_density(&args, true, true, &mut s, [false; 4])
    };
    let mut primed = vec![0.0; a.prior_scratch_len(grads)];
    a.prime(&[2.5], &mut primed, grads);
    assert_eq!(
        a.log_density(&args, true, true, &mut primed, [false; 4]),
        fresh(&a)
    );
    let mut foreign = vec![0.0; a.prior_scratch_len(grads)];
    b.prime(&[2.5], &mut foreign, grads);
    let read = a.log_density(&args, true, true, &mut foreign, [false; 4]);
    assert!(
        (read - fresh(&a)).abs() > 1e-3,
        "the primed cache was not read"
    );
    // Whitening nodes keep their spectrum after the field's own buffer.
    let mut w = vec![0.0; a.whiten_scratch_len()];
    a.prime(&[2.5], &mut w, 0);
    let mut out = vec![0.0; 30];
    let z = wiggle(30, 1.3);
    assert!(a.whiten(&[&z, &[0.0], &[2.5], &[1.2]], &mut out, &mut w));
    assert_eq!(out, a.draw(&z, &[0.0], &[2.5], 1.2).unwrap());
}
