//! The distribution kernels (`mmi::eval::dists`): log densities against statrs and closed forms,
//! broadcasting, Stan-style dropping of constant terms, gradients against finite differences
//! (proptest, fixed seed), out-of-domain arguments, and the promise not to allocate.

mod counting;

use mmi::eval::dists::{lpdf, Family};
use mmi::library::distributions::{Class, DISTRIBUTIONS};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use statrs::distribution::{
    Beta, Binomial, Cauchy, Continuous, ContinuousCDF, Discrete, Exp, Gamma, InverseGamma, Laplace,
    LogNormal, NegativeBinomial, Normal, Poisson, StudentsT, Uniform,
};
use statrs::function::gamma::ln_gamma;

use counting::allocations;

const LN_2PI: f64 = 1.837_877_066_409_345_5;

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The log density without gradients.
fn value(f: Family, args: &[&[f64]], dims: usize, constant: &[bool], keep: bool) -> f64 {
    let mut none: Vec<Option<&mut [f64]>> = (0..args.len()).map(|_| None).collect();
    lpdf(f, args, dims, constant, keep, &mut none)
}

/// The fully normalised log density of one element (every argument a scalar).
fn full(f: Family, args: &[f64]) -> f64 {
    let refs: Vec<&[f64]> = args.iter().map(std::slice::from_ref).collect();
    value(f, &refs, 1, &vec![false; args.len()], true)
}

/// The log density and the gradient of every argument for which `wanted` is set (the others come
/// back empty). The buffers start as NaN, so an entry the kernel fails to overwrite shows.
fn with_grads(
    f: Family,
    args: &[&[f64]],
    dims: usize,
    constant: &[bool],
    keep: bool,
    wanted: &[bool],
) -> (f64, Vec<Vec<f64>>) {
    let mut bufs: Vec<Vec<f64>> = args
        .iter()
        .zip(wanted)
        .map(|(a, &w)| if w { vec![f64::NAN; a.len()] } else { vec![] })
        .collect();
    let mut gs: Vec<Option<&mut [f64]>> = bufs
        .iter_mut()
        .zip(wanted)
        .map(|(b, &w)| if w { Some(b.as_mut_slice()) } else { None })
        .collect();
    let v = lpdf(f, args, dims, constant, keep, &mut gs);
    drop(gs);
    (v, bufs)
}

fn refs(args: &[Vec<f64>]) -> Vec<&[f64]> {
    args.iter().map(Vec::as_slice).collect()
}

/// Relative closeness, absolute below magnitude 1.
fn close(a: f64, b: f64, tol: f64) -> bool {
    a == b || (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

fn inv_logit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Which arguments are always data: the variate of a discrete family and binomial trials.
fn data_args(f: Family) -> Vec<bool> {
    let mut c = vec![false; f.arity()];
    if f.is_discrete() {
        c[0] = true;
    }
    if f == Family::BinomialLogit {
        c[1] = true;
    }
    c
}

fn univariate() -> impl Iterator<Item = Family> {
    Family::ALL.into_iter().filter(|f| !f.is_multivariate())
}

/// The values each argument of a univariate family is drawn from. The ranges keep every combination
/// valid (uniform's y lies between any lo and hi; binomial's y never exceeds trials).
#[derive(Clone, Copy, Debug)]
enum Dom {
    Real(f64, f64),
    Int(i64, i64),
}

fn domains(f: Family) -> &'static [Dom] {
    use Dom::*;
    const Y: Dom = Real(-3.0, 3.0);
    const LOC: Dom = Real(-3.0, 3.0);
    const SCALE: Dom = Real(0.1, 5.0);
    const POS: Dom = Real(0.05, 10.0);
    const SHAPE: Dom = Real(0.2, 10.0);
    const ETA: Dom = Real(-3.0, 3.0);
    match f {
        Family::Normal | Family::Cauchy | Family::Laplace => &[Y, LOC, SCALE],
        Family::StudentT => &[Y, Real(0.5, 30.0), LOC, SCALE],
        Family::Huber => &[Y, LOC, SCALE, Real(0.1, 3.0)],
        Family::Lognormal => &[POS, Real(-2.0, 2.0), Real(0.1, 3.0)],
        Family::Gamma | Family::InvGamma => &[POS, SHAPE, SCALE],
        Family::Exponential => &[POS, SCALE],
        Family::Beta => &[Real(0.05, 0.95), SHAPE, SHAPE],
        Family::HalfNormal | Family::HalfCauchy => &[Real(0.01, 5.0), SCALE],
        Family::Uniform => &[Real(-1.0, 1.0), Real(-3.0, -1.1), Real(1.1, 3.0)],
        Family::PoissonLog => &[Int(0, 20), ETA],
        Family::BernoulliLogit => &[Int(0, 1), Real(-5.0, 5.0)],
        Family::BinomialLogit => &[Int(0, 10), Int(10, 20), ETA],
        Family::NegBinomial2Log => &[Int(0, 30), ETA, Real(0.1, 50.0)],
        Family::Dirichlet | Family::MultiNormalCholesky => unreachable!(),
    }
}

/// A small deterministic generator (SplitMix64) for the table-driven tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn draw(&mut self, d: Dom) -> f64 {
        match d {
            Dom::Real(lo, hi) => self.uniform(lo, hi),
            Dom::Int(lo, hi) => (lo + (self.next() % (hi - lo + 1) as u64) as i64) as f64,
        }
    }
}

/// One draw of every argument of a univariate family, each of length n.
fn draw_args(f: Family, rng: &mut Rng, n: usize) -> Vec<Vec<f64>> {
    domains(f)
        .iter()
        .map(|&d| (0..n).map(|_| rng.draw(d)).collect())
        .collect()
}

/// A random lower-triangular k x k Cholesky factor (row-major) with a positive diagonal.
fn draw_cholesky(rng: &mut Rng, k: usize) -> Vec<f64> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..i {
            l[i * k + j] = rng.uniform(-1.0, 1.0);
        }
        l[i * k + i] = rng.uniform(0.5, 2.0);
    }
    l
}

/// m random points of a k-simplex, row-major.
fn draw_simplex(rng: &mut Rng, m: usize, k: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(m * k);
    for _ in 0..m {
        let w: Vec<f64> = (0..k).map(|_| rng.uniform(0.1, 1.0)).collect();
        let s: f64 = w.iter().sum();
        out.extend(w.iter().map(|x| x / s));
    }
    out
}

/// A valid argument list (and dims) of any family, m elements or vectors long.
fn draw_any(f: Family, rng: &mut Rng, m: usize) -> (Vec<Vec<f64>>, usize) {
    match f {
        Family::Dirichlet => {
            let k = 4;
            let alpha = (0..k).map(|_| rng.uniform(0.2, 5.0)).collect();
            (vec![draw_simplex(rng, m, k), alpha], k)
        }
        Family::MultiNormalCholesky => {
            let k = 3;
            let y = (0..m * k).map(|_| rng.uniform(-3.0, 3.0)).collect();
            let mu = (0..k).map(|_| rng.uniform(-3.0, 3.0)).collect();
            (vec![y, mu, draw_cholesky(rng, k)], k)
        }
        _ => (draw_args(f, rng, m), 1),
    }
}

// ---------------------------------------------------------------------------------------------
// Names.

#[test]
fn families_match_the_registry() {
    for f in Family::ALL {
        assert_eq!(Family::from_name(f.name()), Some(f));
    }
    let mut seen = 0;
    for spec in DISTRIBUTIONS {
        if spec.class == Class::FieldPrior {
            assert_eq!(Family::from_name(spec.name), None, "{}", spec.name);
            continue;
        }
        let f = Family::from_name(spec.name).unwrap_or_else(|| panic!("no kernel: {}", spec.name));
        assert_eq!(f.arity(), spec.params.len() + 1, "{}", spec.name);
        assert_eq!(f.is_discrete(), spec.discrete, "{}", spec.name);
        assert_eq!(f.is_multivariate(), spec.class == Class::Multivariate);
        seen += 1;
    }
    assert_eq!(seen, Family::ALL.len());
    assert_eq!(Family::from_name("gmrf"), None);
    assert_eq!(Family::from_name("Normal"), None);
}

// ---------------------------------------------------------------------------------------------
// Values.

type Reference = fn(&[f64]) -> f64;

#[test]
fn continuous_densities_match_statrs() {
    let cases: &[(Family, Reference, &[&[f64]])] = &[
        (
            Family::Normal,
            |p| Normal::new(p[1], p[2]).unwrap().ln_pdf(p[0]),
            &[
                &[0.3, -1.2, 0.7],
                &[5.0, 0.0, 1.0],
                &[-2.5, 3.0, 12.0],
                &[1e-3, 2e-3, 1e-2],
            ],
        ),
        (
            Family::StudentT,
            |p| StudentsT::new(p[2], p[3], p[1]).unwrap().ln_pdf(p[0]),
            &[
                &[0.3, 3.0, -1.2, 0.7],
                &[5.0, 0.6, 0.0, 1.0],
                &[-2.5, 45.0, 3.0, 12.0],
            ],
        ),
        (
            Family::Cauchy,
            |p| Cauchy::new(p[1], p[2]).unwrap().ln_pdf(p[0]),
            &[&[0.3, -1.2, 0.7], &[50.0, 0.0, 1.0], &[-2.5, 3.0, 12.0]],
        ),
        (
            Family::Laplace,
            |p| Laplace::new(p[1], p[2]).unwrap().ln_pdf(p[0]),
            &[
                &[0.3, -1.2, 0.7],
                &[5.0, 0.0, 1.0],
                &[-2.5, 3.0, 12.0],
                &[1.0, 1.0, 0.2],
            ],
        ),
        (
            Family::Lognormal,
            |p| LogNormal::new(p[1], p[2]).unwrap().ln_pdf(p[0]),
            &[&[0.3, -1.2, 0.7], &[5.0, 0.0, 1.0], &[20.0, 3.0, 2.5]],
        ),
        (
            Family::Gamma,
            |p| Gamma::new(p[1], p[2]).unwrap().ln_pdf(p[0]),
            &[
                &[0.3, 0.5, 0.7],
                &[5.0, 2.0, 1.0],
                &[20.0, 7.5, 0.3],
                &[1.5, 1.0, 2.0],
            ],
        ),
        (
            Family::InvGamma,
            |p| InverseGamma::new(p[1], p[2]).unwrap().ln_pdf(p[0]),
            &[
                &[0.3, 0.5, 0.7],
                &[5.0, 2.0, 1.0],
                &[2.0, 7.5, 3.0],
                &[1.5, 1.0, 2.0],
            ],
        ),
        (
            Family::Exponential,
            |p| Exp::new(p[1]).unwrap().ln_pdf(p[0]),
            &[&[0.3, 0.5], &[5.0, 2.0], &[0.0, 3.0]],
        ),
        (
            Family::Beta,
            |p| Beta::new(p[1], p[2]).unwrap().ln_pdf(p[0]),
            &[
                &[0.3, 0.5, 0.7],
                &[0.9, 2.0, 1.0],
                &[0.01, 7.5, 3.0],
                &[0.5, 20.0, 20.0],
            ],
        ),
        (
            Family::Uniform,
            |p| Uniform::new(p[1], p[2]).unwrap().ln_pdf(p[0]),
            &[&[0.3, -0.5, 0.7], &[5.0, 2.0, 10.0], &[2.0, 2.0, 3.0]],
        ),
    ];
    for (f, reference, points) in cases {
        for p in *points {
            let (got, want) = (full(*f, p), reference(p));
            assert!(
                close(got, want, 1e-10),
                "{} at {p:?}: {got} vs statrs {want}",
                f.name()
            );
        }
    }
}

#[test]
fn discrete_masses_match_statrs() {
    let cases: &[(Family, Reference, &[&[f64]])] = &[
        (
            Family::PoissonLog,
            |p| Poisson::new(p[1].exp()).unwrap().ln_pmf(p[0] as u64),
            &[&[0.0, 0.3], &[3.0, 1.2], &[17.0, -0.5], &[250.0, 5.0]],
        ),
        (
            Family::BinomialLogit,
            |p| {
                let b = Binomial::new(inv_logit(p[2]), p[1] as u64).unwrap();
                b.ln_pmf(p[0] as u64)
            },
            &[
                &[0.0, 5.0, 0.3],
                &[3.0, 10.0, -1.2],
                &[10.0, 10.0, 2.0],
                &[40.0, 200.0, -1.0],
            ],
        ),
        (
            Family::NegBinomial2Log,
            |p| {
                let (mu, phi) = (p[1].exp(), p[2]);
                let nb = NegativeBinomial::new(phi, phi / (phi + mu)).unwrap();
                nb.ln_pmf(p[0] as u64)
            },
            &[
                &[0.0, 0.3, 2.0],
                &[3.0, 1.2, 0.5],
                &[17.0, 2.0, 40.0],
                &[120.0, 4.0, 7.0],
            ],
        ),
    ];
    for (f, reference, points) in cases {
        for p in *points {
            let (got, want) = (full(*f, p), reference(p));
            assert!(
                close(got, want, 1e-10),
                "{} at {p:?}: {got} vs statrs {want}",
                f.name()
            );
        }
    }
}

#[test]
fn half_distributions_and_bernoulli_match_closed_forms() {
    for &(y, s) in &[(0.0, 1.0), (0.3, 0.7), (4.0, 1.5), (12.0, 0.2)] {
        let hn = 0.5 * (2.0 / std::f64::consts::PI).ln() - f64::ln(s) - 0.5 * (y / s) * (y / s);
        assert!(close(full(Family::HalfNormal, &[y, s]), hn, 1e-10));
        let hc = (2.0 / (std::f64::consts::PI * s * (1.0 + (y / s) * (y / s)))).ln();
        assert!(close(full(Family::HalfCauchy, &[y, s]), hc, 1e-10));
    }
    for &eta in &[-4.0, -0.3, 0.0, 1.7, 6.0] {
        let p = inv_logit(eta);
        assert!(close(
            full(Family::BernoulliLogit, &[1.0, eta]),
            p.ln(),
            1e-10
        ));
        assert!(close(
            full(Family::BernoulliLogit, &[0.0, eta]),
            (1.0 - p).ln(),
            1e-10
        ));
    }
    // The stable forms stay finite and accurate where the naive ones overflow.
    assert!(close(
        full(Family::BernoulliLogit, &[1.0, 800.0]),
        0.0,
        1e-12
    ));
    assert!(close(
        full(Family::BernoulliLogit, &[0.0, 800.0]),
        -800.0,
        1e-12
    ));
    assert!(close(
        full(Family::BernoulliLogit, &[1.0, -800.0]),
        -800.0,
        1e-12
    ));
}

fn huber_closed_form(y: f64, mu: f64, sigma: f64, delta: f64) -> f64 {
    let r = (y - mu) / sigma;
    let rho = if r.abs() <= delta {
        0.5 * r * r
    } else {
        delta * (r.abs() - 0.5 * delta)
    };
    let phi = Normal::new(0.0, 1.0).unwrap().cdf(delta);
    let z = (2.0 * std::f64::consts::PI).sqrt() * (2.0 * phi - 1.0)
        + 2.0 * (-0.5 * delta * delta).exp() / delta;
    -rho - sigma.ln() - z.ln()
}

#[test]
fn huber_matches_its_closed_form_and_integrates_to_one() {
    for &(y, mu, s, d) in &[
        (0.3, -0.2, 0.7, 1.345),
        (5.0, 0.0, 1.0, 1.345),
        (-2.5, 3.0, 2.0, 0.1),
        (0.0, 0.0, 1.0, 3.0),
    ] {
        let got = full(Family::Huber, &[y, mu, s, d]);
        let want = huber_closed_form(y, mu, s, d);
        assert!(
            close(got, want, 1e-10),
            "huber({y}, {mu}, {s}, {d}): {got} vs {want}"
        );
    }
    // -log Z(delta) at r = 0, sigma = 1; references from glibc's erf (Python's math.erf).
    for &(delta, want) in &[
        (0.05, -3.6901284134877907),
        (0.3, -1.9408167360616497),
        (std::f64::consts::FRAC_1_SQRT_2, -1.2548981075430963),
        (1.0, -1.0730585907133918),
        (1.345, -0.9785981945718368),
        (2.0, -0.927393392552819),
        (3.5, -0.9189719503139842),
        (6.0, -0.9189385332567916),
        (9.0, -0.9189385332046727),
    ] {
        let got = full(Family::Huber, &[0.25, 0.25, 1.0, delta]);
        assert!(close(got, want, 1e-14), "log Z({delta}): {got} vs {want}");
    }
    // Simpson's rule over the body and enough tail that exp(-delta |r|) is below 1e-20.
    for &delta in &[0.1, 0.7, 1.345, 3.0] {
        let (mu, sigma) = (0.4, 1.7);
        let half = sigma * (delta + 50.0 / delta);
        let steps = 400_000;
        let h = 2.0 * half / steps as f64;
        let mut total = 0.0;
        for i in 0..=steps {
            let y = mu - half + i as f64 * h;
            let w = if i == 0 || i == steps {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            total += w * full(Family::Huber, &[y, mu, sigma, delta]).exp();
        }
        total *= h / 3.0;
        assert!(
            (total - 1.0).abs() < 1e-7,
            "delta {delta}: integral {total}"
        );
    }
}

#[test]
fn discrete_masses_sum_to_one() {
    for &(eta, phi) in &[(0.5, 2.0), (2.0, 0.7), (-1.0, 30.0)] {
        let nb: f64 = (0..2000)
            .map(|y| full(Family::NegBinomial2Log, &[y as f64, eta, phi]).exp())
            .sum();
        assert!(
            (nb - 1.0).abs() < 1e-10,
            "neg_binomial_2_log({eta}, {phi}): {nb}"
        );
        let po: f64 = (0..200)
            .map(|y| full(Family::PoissonLog, &[y as f64, eta]).exp())
            .sum();
        assert!((po - 1.0).abs() < 1e-10, "poisson_log({eta}): {po}");
        let bi: f64 = (0..=25)
            .map(|y| full(Family::BinomialLogit, &[y as f64, 25.0, eta]).exp())
            .sum();
        assert!((bi - 1.0).abs() < 1e-10, "binomial_logit(25, {eta}): {bi}");
    }
}

#[test]
fn dirichlet_matches_closed_form_and_beta() {
    let theta: [f64; 3] = [0.2, 0.5, 0.3];
    let alpha: [f64; 3] = [0.7, 2.0, 3.5];
    let want = ln_gamma(alpha.iter().sum()) - alpha.iter().map(|&a| ln_gamma(a)).sum::<f64>()
        + theta
            .iter()
            .zip(&alpha)
            .map(|(t, a)| (a - 1.0) * t.ln())
            .sum::<f64>();
    let got = value(
        Family::Dirichlet,
        &[&theta, &alpha],
        3,
        &[false, false],
        true,
    );
    assert!(close(got, want, 1e-10), "{got} vs {want}");
    // With two components the first is beta distributed.
    for &(x, a, b) in &[(0.3, 0.5, 0.7), (0.9, 2.0, 1.0), (0.5, 20.0, 3.0)] {
        let got = value(
            Family::Dirichlet,
            &[&[x, 1.0 - x], &[a, b]],
            2,
            &[false; 2],
            true,
        );
        let want = Beta::new(a, b).unwrap().ln_pdf(x);
        assert!(
            close(got, want, 1e-9),
            "beta({a}, {b}) at {x}: {got} vs {want}"
        );
    }
}

/// The inverse and determinant of a 3 x 3 matrix by cofactors.
fn inverse3(a: [[f64; 3]; 3]) -> ([[f64; 3]; 3], f64) {
    let c = |i: usize, j: usize| {
        let (r0, r1) = ((i + 1) % 3, (i + 2) % 3);
        let (c0, c1) = ((j + 1) % 3, (j + 2) % 3);
        a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]
    };
    let det = a[0][0] * c(0, 0) + a[0][1] * c(0, 1) + a[0][2] * c(0, 2);
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = c(j, i) / det;
        }
    }
    (inv, det)
}

#[test]
fn multi_normal_cholesky_matches_explicit_covariance() {
    let mut rng = Rng(11);
    for _ in 0..20 {
        let l = draw_cholesky(&mut rng, 3);
        let y: Vec<f64> = (0..3).map(|_| rng.uniform(-3.0, 3.0)).collect();
        let mu: Vec<f64> = (0..3).map(|_| rng.uniform(-3.0, 3.0)).collect();
        let mut sigma = [[0.0; 3]; 3];
        for (i, row) in sigma.iter_mut().enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                *x = (0..3).map(|c| l[i * 3 + c] * l[j * 3 + c]).sum();
            }
        }
        let (inv, det) = inverse3(sigma);
        let r: Vec<f64> = y.iter().zip(&mu).map(|(a, b)| a - b).collect();
        let mut quad = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                quad += r[i] * inv[i][j] * r[j];
            }
        }
        let want = -0.5 * quad - 0.5 * det.ln() - 1.5 * LN_2PI;
        let got = value(
            Family::MultiNormalCholesky,
            &[&y, &mu, &l],
            3,
            &[false; 3],
            true,
        );
        assert!(close(got, want, 1e-10), "{got} vs {want}");
    }
    // k = 1 is the normal distribution.
    let got = value(
        Family::MultiNormalCholesky,
        &[&[0.3], &[-1.0], &[0.6]],
        1,
        &[false; 3],
        true,
    );
    assert!(close(got, full(Family::Normal, &[0.3, -1.0, 0.6]), 1e-12));
}

// ---------------------------------------------------------------------------------------------
// Broadcasting and vectorisation.

/// A dispersion shared by every entry takes the count terms from a table filled once per call; one
/// phi per entry takes them entry by entry. Both, for counts on either side of the table's end (64),
/// give the same log density and gradients, with constants kept or dropped.
#[test]
fn neg_binomial_shared_dispersion_matches_per_entry_dispersion() {
    let y = [0.0, 1.0, 5.0, 63.0, 64.0, 65.0, 200.0, 5000.0, 2.0, 0.0];
    let eta: Vec<f64> = (0..y.len()).map(|i| -1.0 + 0.9 * i as f64).collect();
    let f = Family::NegBinomial2Log;
    let (constant, wanted) = ([true, false, false], [false, true, true]);
    for phi in [0.3, 7.5, 1e10] {
        let each = vec![phi; y.len()];
        for keep in [false, true] {
            let (v1, g1) = with_grads(f, &[&y, &eta, &[phi]], 1, &constant, keep, &wanted);
            let (v2, g2) = with_grads(f, &[&y, &eta, &each], 1, &constant, keep, &wanted);
            assert!(close(v1, v2, 1e-13), "phi {phi}: {v1} vs {v2}");
            for (a, b) in g1[1].iter().zip(&g2[1]) {
                assert!(close(*a, *b, 1e-13), "phi {phi}: d/d eta {a} vs {b}");
            }
            let summed: f64 = g2[2].iter().sum();
            assert!(
                close(g1[2][0], summed, 1e-12),
                "phi {phi}: {} vs {summed}",
                g1[2][0]
            );
        }
    }
}

#[test]
fn vectorised_sums_equal_scalar_sums_for_every_broadcast_pattern() {
    let mut rng = Rng(7);
    let n = 4;
    for f in univariate() {
        let arity = f.arity();
        let constant = data_args(f);
        let wanted: Vec<bool> = constant.iter().map(|c| !c).collect();
        for mask in 0..(1u32 << arity) {
            let drawn = draw_args(f, &mut rng, n);
            // Bit j set: argument j is a broadcast scalar.
            let args: Vec<Vec<f64>> = drawn
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    if mask >> j & 1 == 1 {
                        vec![v[0]]
                    } else {
                        v.clone()
                    }
                })
                .collect();
            let (total, grads) = with_grads(f, &refs(&args), 1, &constant, false, &wanted);
            let normalised = value(f, &refs(&args), 1, &constant, true);
            let mut want_total = 0.0;
            let mut want_normalised = 0.0;
            let mut want_grads: Vec<Vec<f64>> = args.iter().map(|a| vec![0.0; a.len()]).collect();
            let len = args.iter().map(Vec::len).max().unwrap();
            for k in 0..len {
                let at = |a: &Vec<f64>| if a.len() == 1 { a[0] } else { a[k] };
                let scalars: Vec<Vec<f64>> = args.iter().map(|a| vec![at(a)]).collect();
                let (v, g) = with_grads(f, &refs(&scalars), 1, &constant, false, &wanted);
                want_total += v;
                want_normalised += value(f, &refs(&scalars), 1, &constant, true);
                for j in 0..arity {
                    if wanted[j] {
                        let e = if args[j].len() == 1 { 0 } else { k };
                        want_grads[j][e] += g[j][0];
                    }
                }
            }
            let what = format!("{} mask {mask:b}", f.name());
            assert!(
                close(total, want_total, 1e-12),
                "{what}: {total} vs {want_total}"
            );
            assert!(
                close(normalised, want_normalised, 1e-12),
                "{what} normalised: {normalised} vs {want_normalised}"
            );
            for j in 0..arity {
                if !wanted[j] {
                    continue;
                }
                for (a, b) in grads[j].iter().zip(&want_grads[j]) {
                    assert!(close(*a, *b, 1e-12), "{what} d/darg{j}: {a} vs {b}");
                }
            }
        }
    }
}

#[test]
fn multivariate_rows_are_independent_draws() {
    let mut rng = Rng(8);
    for f in [Family::Dirichlet, Family::MultiNormalCholesky] {
        let (args, k) = draw_any(f, &mut rng, 3);
        let constant = vec![false; args.len()];
        let wanted = vec![true; args.len()];
        let (total, grads) = with_grads(f, &refs(&args), k, &constant, true, &wanted);
        let mut sum = 0.0;
        let mut param_grads: Vec<Vec<f64>> = args[1..].iter().map(|a| vec![0.0; a.len()]).collect();
        for j in 0..3 {
            let mut one = args.clone();
            one[0] = args[0][j * k..(j + 1) * k].to_vec();
            let (v, g) = with_grads(f, &refs(&one), k, &constant, true, &wanted);
            sum += v;
            for (i, x) in g[0].iter().enumerate() {
                assert!(close(grads[0][j * k + i], *x, 1e-12), "{} d/dy", f.name());
            }
            for (acc, gi) in param_grads.iter_mut().zip(&g[1..]) {
                acc.iter_mut().zip(gi).for_each(|(a, b)| *a += b);
            }
        }
        assert!(close(total, sum, 1e-12), "{}: {total} vs {sum}", f.name());
        for (a, b) in grads[1..]
            .iter()
            .flatten()
            .zip(param_grads.iter().flatten())
        {
            assert!(
                close(*a, *b, 1e-12),
                "{} parameter gradient: {a} vs {b}",
                f.name()
            );
        }
    }
    // A scalar alpha or mu broadcasts over the vector.
    let theta = [0.2, 0.5, 0.3];
    let a = value(Family::Dirichlet, &[&theta, &[1.7]], 3, &[false; 2], true);
    let b = value(
        Family::Dirichlet,
        &[&theta, &[1.7; 3]],
        3,
        &[false; 2],
        true,
    );
    assert!(close(a, b, 1e-14));
    let l = [1.0, 0.0, 0.5, 2.0];
    let a = value(
        Family::MultiNormalCholesky,
        &[&[0.1, 0.2], &[0.3], &l],
        2,
        &[false; 3],
        true,
    );
    let b = value(
        Family::MultiNormalCholesky,
        &[&[0.1, 0.2], &[0.3; 2], &l],
        2,
        &[false; 3],
        true,
    );
    assert!(close(a, b, 1e-14));
}

#[test]
fn empty_statements_are_zero() {
    for f in Family::ALL {
        let args: Vec<&[f64]> = vec![&[]; f.arity()];
        assert_eq!(
            value(f, &args, 3, &vec![false; f.arity()], true),
            0.0,
            "{}",
            f.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Dropping constants.

#[test]
fn dropping_constants_drops_only_terms_of_constant_arguments() {
    let mut rng = Rng(9);
    for f in Family::ALL {
        let arity = f.arity();
        let always = data_args(f);
        for mask in 0..(1u32 << arity) {
            let constant: Vec<bool> = (0..arity)
                .map(|j| always[j] || mask >> j & 1 == 1)
                .collect();
            let (first, dims) = draw_any(f, &mut rng, 3);
            let (mut second, _) = draw_any(f, &mut rng, 3);
            // Constant arguments keep their values; the others move.
            for j in 0..arity {
                if constant[j] {
                    second[j] = first[j].clone();
                }
            }
            let dropped = |args: &[Vec<f64>]| {
                let r = refs(args);
                value(f, &r, dims, &constant, false) - value(f, &r, dims, &constant, true)
            };
            let (d1, d2) = (dropped(&first), dropped(&second));
            assert!(
                close(d1, d2, 1e-9),
                "{} constant {constant:?}: dropped {d1} at one point, {d2} at another",
                f.name()
            );
            if constant.iter().all(|&c| c) {
                let r = refs(&first);
                assert_eq!(value(f, &r, dims, &constant, false), 0.0, "{}", f.name());
            }
        }
    }
}

#[test]
fn normal_with_data_scale_keeps_only_the_quadratic() {
    let (y, mu, s) = ([1.3, -0.2], [0.4], [0.8]);
    let got = value(
        Family::Normal,
        &[&y, &mu, &s],
        1,
        &[true, false, true],
        false,
    );
    let want: f64 = y.iter().map(|y| -0.5 * ((y - mu[0]) / s[0]).powi(2)).sum();
    assert!(close(got, want, 1e-14), "{got} vs {want}");
    // With a latent scale, -log sigma stays but -log sqrt(2 pi) goes.
    let got = value(
        Family::Normal,
        &[&y, &mu, &s],
        1,
        &[true, false, false],
        false,
    );
    assert!(close(got, want - 2.0 * s[0].ln(), 1e-14));
}

// ---------------------------------------------------------------------------------------------
// Gradients against finite differences.

/// Checks every requested gradient against a five-point central difference, and that asking for
/// one gradient at a time or keeping the constants changes nothing.
fn check_gradients(f: Family, args: &[Vec<f64>], dims: usize) -> Result<(), TestCaseError> {
    let constant = data_args(f);
    let wanted: Vec<bool> = constant.iter().map(|c| !c).collect();
    let (v, grads) = with_grads(f, &refs(args), dims, &constant, false, &wanted);
    prop_assert!(v.is_finite(), "{} gave {v}", f.name());
    let (_, kept) = with_grads(f, &refs(args), dims, &constant, true, &wanted);
    for j in (0..args.len()).filter(|&j| wanted[j]) {
        let mut only = vec![false; args.len()];
        only[j] = true;
        let (_, alone) = with_grads(f, &refs(args), dims, &constant, false, &only);
        for e in 0..args[j].len() {
            let x = args[j][e];
            let h = 1e-5 * (1.0 + x.abs());
            let at = |d: f64| {
                let mut moved = args.to_vec();
                moved[j][e] = x + d;
                value(f, &refs(&moved), dims, &constant, false)
            };
            let fd = (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * h);
            let g = grads[j][e];
            prop_assert!(
                (g - fd).abs() <= 1e-6 * g.abs().max(1.0),
                "{} d/d arg{j}[{e}]: analytic {g}, finite difference {fd}",
                f.name()
            );
            prop_assert!(
                close(kept[j][e], g, 1e-12),
                "keep_constants changed the gradient"
            );
            prop_assert!(
                close(alone[j][e], g, 1e-12),
                "asking for one gradient changed it"
            );
        }
    }
    Ok(())
}

fn config() -> Config {
    Config {
        cases: 96,
        rng_seed: RngSeed::Fixed(0x6d6d69),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Arguments of a univariate family, each of length 3 or broadcast from length 1.
fn univariate_args(f: Family) -> BoxedStrategy<Vec<Vec<f64>>> {
    let values: Vec<BoxedStrategy<Vec<f64>>> = domains(f)
        .iter()
        .map(|&d| match d {
            Dom::Real(lo, hi) => prop::collection::vec(lo..hi, 3).boxed(),
            Dom::Int(lo, hi) => prop::collection::vec((lo..=hi).prop_map(|i| i as f64), 3).boxed(),
        })
        .collect();
    let broadcast = prop::collection::vec(any::<bool>(), domains(f).len());
    (values, broadcast)
        .prop_map(|(values, broadcast)| {
            values
                .into_iter()
                .zip(broadcast)
                .map(|(v, b)| if b { vec![v[0]] } else { v })
                .collect()
        })
        .boxed()
}

/// The elements at which a kinked density is not differentiable to finite-difference accuracy.
fn near_kink(f: Family, args: &[Vec<f64>]) -> bool {
    let at = |j: usize, k: usize| {
        if args[j].len() == 1 {
            args[j][0]
        } else {
            args[j][k]
        }
    };
    (0..3).any(|k| match f {
        Family::Laplace => (at(0, k) - at(1, k)).abs() < 1e-3,
        Family::Huber => (((at(0, k) - at(1, k)) / at(2, k)).abs() - at(3, k)).abs() < 1e-3,
        _ => false,
    })
}

fn gradients_univariate(f: Family) {
    TestRunner::new(config())
        .run(&univariate_args(f), |args| {
            prop_assume!(!near_kink(f, &args));
            check_gradients(f, &args, 1)
        })
        .unwrap();
}

macro_rules! gradient_tests {
    ($($name:ident: $family:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                gradients_univariate(Family::$family);
            }
        )*
    };
}

gradient_tests! {
    gradient_normal: Normal,
    gradient_student_t: StudentT,
    gradient_cauchy: Cauchy,
    gradient_laplace: Laplace,
    gradient_huber: Huber,
    gradient_lognormal: Lognormal,
    gradient_gamma: Gamma,
    gradient_inv_gamma: InvGamma,
    gradient_exponential: Exponential,
    gradient_beta: Beta,
    gradient_half_normal: HalfNormal,
    gradient_half_cauchy: HalfCauchy,
    gradient_uniform: Uniform,
    gradient_poisson_log: PoissonLog,
    gradient_bernoulli_logit: BernoulliLogit,
    gradient_binomial_logit: BinomialLogit,
    gradient_neg_binomial_2_log: NegBinomial2Log,
}

#[test]
fn gradient_dirichlet() {
    let strategy = (1usize..=5, 1usize..=3).prop_flat_map(|(k, m)| {
        (
            prop::collection::vec(0.1f64..1.0, m * k),
            prop::collection::vec(0.2f64..5.0, k),
            Just(k),
        )
    });
    TestRunner::new(config())
        .run(&strategy, |(weights, alpha, k)| {
            // Each row normalised onto the simplex (the kernel differentiates theta freely).
            let mut theta = weights;
            for row in theta.chunks_mut(k) {
                let s: f64 = row.iter().sum();
                row.iter_mut().for_each(|x| *x /= s);
            }
            check_gradients(Family::Dirichlet, &[theta, alpha], k)
        })
        .unwrap();
}

#[test]
fn gradient_multi_normal_cholesky() {
    let strategy = (1usize..=4, 1usize..=3).prop_flat_map(|(k, m)| {
        (
            prop::collection::vec(-3.0f64..3.0, m * k),
            prop::collection::vec(-3.0f64..3.0, k),
            prop::collection::vec(-1.0f64..1.0, k * k),
            prop::collection::vec(0.5f64..2.0, k),
            Just(k),
        )
    });
    TestRunner::new(config())
        .run(&strategy, |(y, mu, mut l, diag, k)| {
            // Lower triangular with a positive diagonal; the upper triangle's gradient must be 0.
            for i in 0..k {
                l[i * k + i] = diag[i];
                for j in i + 1..k {
                    l[i * k + j] = 0.0;
                }
            }
            check_gradients(Family::MultiNormalCholesky, &[y, mu, l], k)
        })
        .unwrap();
}

#[test]
fn gradients_survive_extreme_but_valid_arguments() {
    // Large linear predictors: the stable forms give finite, correct limits.
    let (v, g) = with_grads(
        Family::BernoulliLogit,
        &[&[1.0], &[800.0]],
        1,
        &[true, false],
        false,
        &[false, true],
    );
    assert!(v.is_finite() && g[1][0].abs() < 1e-300);
    let (v, g) = with_grads(
        Family::BinomialLogit,
        &[&[3.0], &[10.0], &[-800.0]],
        1,
        &[true, true, false],
        false,
        &[false, false, true],
    );
    assert!(v.is_finite() && close(g[2][0], 3.0, 1e-12));
    let (v, g) = with_grads(
        Family::NegBinomial2Log,
        &[&[4.0], &[800.0], &[2.0]],
        1,
        &[true, false, false],
        false,
        &[false, true, true],
    );
    assert!(
        v.is_finite() && g[1][0].is_finite() && g[2][0].is_finite(),
        "{v} {g:?}"
    );
    assert!(close(g[1][0], -2.0, 1e-9), "d/deta -> -phi: {}", g[1][0]);
}

// ---------------------------------------------------------------------------------------------
// Out of domain.

#[test]
fn out_of_domain_arguments_give_negative_infinity() {
    let nan = f64::NAN;
    let cases: &[(Family, &[f64])] = &[
        (Family::Normal, &[0.0, 0.0, 0.0]),
        (Family::Normal, &[0.0, 0.0, -1.0]),
        (Family::StudentT, &[0.0, 0.0, 0.0, 1.0]),
        (Family::StudentT, &[0.0, 3.0, 0.0, -1.0]),
        (Family::Cauchy, &[0.0, 0.0, 0.0]),
        (Family::Laplace, &[0.0, 0.0, -2.0]),
        (Family::Huber, &[0.0, 0.0, 0.0, 1.0]),
        (Family::Huber, &[0.0, 0.0, 1.0, 0.0]),
        (Family::Huber, &[0.0, 0.0, 1.0, -1.0]),
        (Family::Lognormal, &[0.0, 0.0, 1.0]),
        (Family::Lognormal, &[-1.0, 0.0, 1.0]),
        (Family::Lognormal, &[1.0, 0.0, 0.0]),
        (Family::Gamma, &[1.0, 0.0, 1.0]),
        (Family::Gamma, &[1.0, 1.0, -1.0]),
        (Family::Gamma, &[-1.0, 2.0, 1.0]),
        (Family::Gamma, &[0.0, 2.0, 1.0]),
        (Family::InvGamma, &[0.0, 2.0, 1.0]),
        (Family::InvGamma, &[1.0, -2.0, 1.0]),
        (Family::Exponential, &[1.0, 0.0]),
        (Family::Exponential, &[-0.5, 1.0]),
        (Family::Beta, &[1.5, 2.0, 2.0]),
        (Family::Beta, &[0.0, 2.0, 2.0]),
        (Family::Beta, &[1.0, 2.0, 2.0]),
        (Family::Beta, &[0.5, 0.0, 2.0]),
        (Family::HalfNormal, &[-1.0, 1.0]),
        (Family::HalfNormal, &[1.0, 0.0]),
        (Family::HalfCauchy, &[-1.0, 1.0]),
        (Family::HalfCauchy, &[1.0, -1.0]),
        (Family::Uniform, &[3.0, 0.0, 1.0]),
        (Family::Uniform, &[-0.1, 0.0, 1.0]),
        (Family::Uniform, &[0.5, 1.0, 0.0]),
        (Family::Uniform, &[0.5, 0.5, 0.5]),
        (Family::Uniform, &[nan, 0.0, 1.0]),
        (Family::PoissonLog, &[-1.0, 0.0]),
        (Family::PoissonLog, &[1.5, 0.0]),
        (Family::PoissonLog, &[f64::INFINITY, 0.0]),
        (Family::BernoulliLogit, &[2.0, 0.0]),
        (Family::BernoulliLogit, &[0.5, 0.0]),
        (Family::BernoulliLogit, &[-1.0, 0.0]),
        (Family::BinomialLogit, &[6.0, 5.0, 0.0]),
        (Family::BinomialLogit, &[0.0, -1.0, 0.0]),
        (Family::BinomialLogit, &[1.0, 2.5, 0.0]),
        (Family::BinomialLogit, &[-1.0, 5.0, 0.0]),
        (Family::NegBinomial2Log, &[1.0, 0.0, 0.0]),
        (Family::NegBinomial2Log, &[1.0, 0.0, -2.0]),
        (Family::NegBinomial2Log, &[-1.0, 0.0, 2.0]),
        (Family::NegBinomial2Log, &[0.5, 0.0, 2.0]),
    ];
    for (f, args) in cases {
        let arity = f.arity();
        // Alone, then as one bad element among good ones (the other elements valid), with every
        // argument's gradient requested and with constants dropped or kept.
        let good = draw_args(*f, &mut Rng(1), 3);
        let mut mixed: Vec<Vec<f64>> = good.clone();
        for (j, col) in mixed.iter_mut().enumerate() {
            col[1] = args[j];
        }
        let single: Vec<Vec<f64>> = args.iter().map(|&x| vec![x]).collect();
        for candidate in [single, mixed] {
            for keep in [false, true] {
                let constant = data_args(*f);
                let (v, grads) = with_grads(
                    *f,
                    &refs(&candidate),
                    1,
                    &constant,
                    keep,
                    &vec![true; arity],
                );
                assert_eq!(v, f64::NEG_INFINITY, "{} at {candidate:?}", f.name());
                assert!(
                    grads.iter().flatten().all(|&g| g == 0.0),
                    "{}: {grads:?}",
                    f.name()
                );
            }
        }
    }
    // Multivariate: a zero alpha, a negative simplex entry, a non-positive Cholesky diagonal.
    let cases: &[(Family, [&[f64]; 3], usize)] = &[
        (Family::Dirichlet, [&[0.5, 0.5], &[1.0, 0.0], &[]], 2),
        (Family::Dirichlet, [&[1.2, -0.2], &[1.0, 2.0], &[]], 2),
        (
            Family::MultiNormalCholesky,
            [&[0.0, 0.0], &[0.0, 0.0], &[1.0, 0.0, 0.5, 0.0]],
            2,
        ),
        (
            Family::MultiNormalCholesky,
            [&[0.0, 0.0], &[0.0, 0.0], &[-1.0, 0.0, 0.5, 1.0]],
            2,
        ),
    ];
    for (f, args, k) in cases {
        let args = &args[..f.arity()];
        let (v, grads) = with_grads(
            *f,
            args,
            *k,
            &vec![false; args.len()],
            true,
            &vec![true; args.len()],
        );
        assert_eq!(v, f64::NEG_INFINITY, "{} at {args:?}", f.name());
        assert!(grads.iter().flatten().all(|&g| g == 0.0));
    }
}

#[test]
fn boundary_points_inside_the_support_are_finite() {
    assert!(full(Family::Exponential, &[0.0, 2.0]).is_finite());
    assert!(full(Family::HalfNormal, &[0.0, 2.0]).is_finite());
    assert!(full(Family::HalfCauchy, &[0.0, 2.0]).is_finite());
    assert!(close(
        full(Family::Uniform, &[0.0, 0.0, 2.0]),
        -(2.0f64.ln()),
        1e-15
    ));
    assert!(close(
        full(Family::Uniform, &[2.0, 0.0, 2.0]),
        -(2.0f64.ln()),
        1e-15
    ));
    assert!(close(
        full(Family::PoissonLog, &[0.0, f64::NEG_INFINITY]),
        0.0,
        1e-15
    ));
    // A simplex corner where alpha is 1 contributes nothing rather than 0 * -inf.
    let v = value(
        Family::Dirichlet,
        &[&[0.0, 1.0], &[1.0, 1.0]],
        2,
        &[false; 2],
        true,
    );
    assert!(close(v, 0.0, 1e-14), "{v}");
}

// ---------------------------------------------------------------------------------------------
// No allocation.

#[test]
fn kernels_do_not_allocate() {
    let mut rng = Rng(10);
    let mut cases: Vec<(Family, Vec<Vec<f64>>, usize)> = Family::ALL
        .into_iter()
        .map(|f| {
            let (args, dims) = draw_any(f, &mut rng, 50);
            (f, args, dims)
        })
        .collect();
    // A multivariate normal too large for the stack scratch space.
    let k = 40;
    let y: Vec<f64> = (0..2 * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
    cases.push((
        Family::MultiNormalCholesky,
        vec![y, vec![0.0; k], draw_cholesky(&mut rng, k)],
        k,
    ));
    for (f, args, dims) in &cases {
        let r = refs(args);
        let constant = data_args(*f);
        let mut bufs: Vec<Vec<f64>> = args.iter().map(|a| vec![0.0; a.len()]).collect();
        let mut gs: Vec<Option<&mut [f64]>> = bufs
            .iter_mut()
            .zip(&constant)
            .map(|(b, &c)| if c { None } else { Some(b.as_mut_slice()) })
            .collect();
        // The first call may size the thread-local scratch buffer; later calls must not allocate.
        let first = lpdf(*f, &r, *dims, &constant, true, &mut gs);
        assert!(first.is_finite(), "{}", f.name());
        let n = allocations(|| {
            for keep in [false, true] {
                lpdf(*f, &r, *dims, &constant, keep, &mut gs);
            }
        });
        assert_eq!(n, 0, "{} allocated {n} times", f.name());
    }
}
