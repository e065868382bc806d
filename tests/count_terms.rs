//! The count likelihoods' fast paths against direct formulas: the negative binomial's count terms
//! lgamma(y + phi) - lgamma(phi) (and their digamma derivative in phi) come from the gamma function's
//! recurrence for counts below 64, cached per count while phi repeats; the logistic terms of
//! `bernoulli_logit` and the negative binomial come from polynomial exp and log1p evaluated a block
//! at a time (`eval::logistic`). Both are checked across every branch (counts on either side of the
//! cache, dispersions on either side of the product's limit, vectors of counts sharing one phi)
//! against statrs' lgamma and Rust's exp and ln_1p; blocks against the scalar function bit for bit.

use mmi::eval::dists::{lpdf, Family};
use statrs::function::gamma::ln_gamma;

/// The fully normalised log density of one entry, and its derivatives in eta and phi.
fn nb(y: f64, eta: f64, phi: f64) -> (f64, f64, f64) {
    let (mut ge, mut gp) = ([0.0], [0.0]);
    let lp = lpdf(
        Family::NegBinomial2Log,
        &[&[y], &[eta], &[phi]],
        1,
        &[true, false, false],
        true,
        &mut [None, Some(&mut ge), Some(&mut gp)],
    );
    (lp, ge[0], gp[0])
}

/// The textbook form, written with log(phi / (mu + phi)) = -log1p(mu / phi) so it stays accurate.
fn nb_reference(y: f64, eta: f64, phi: f64) -> f64 {
    let mu = eta.exp();
    ln_gamma(y + phi) - ln_gamma(phi) - ln_gamma(y + 1.0) - phi * (mu / phi).ln_1p()
        + y * (mu / (mu + phi)).ln()
}

#[test]
fn negative_binomial_count_terms_match_lgamma_on_every_branch() {
    for &phi in &[1e-3, 0.7, 8.0, 1234.5, 1e6] {
        for &y in &[
            0.0, 1.0, 2.0, 5.0, 31.0, 32.0, 33.0, 63.0, 64.0, 65.0, 200.0, 5000.0,
        ] {
            for &eta in &[-3.0, 0.0, 2.5, 8.0] {
                let (lp, _, gp) = nb(y, eta, phi);
                let want = nb_reference(y, eta, phi);
                // lgamma(y + phi) - lgamma(phi) of the reference loses about eps * lgamma(y + phi).
                let tol = 1e-13 * (1.0 + want.abs() + ln_gamma(y + phi).abs());
                assert!(
                    (lp - want).abs() < tol,
                    "y {y}, eta {eta}, phi {phi}: {lp} vs {want}"
                );
                // d/dphi against a central difference of the reference, in log phi steps.
                let h = 1e-6 * phi;
                let fd =
                    (nb_reference(y, eta, phi + h) - nb_reference(y, eta, phi - h)) / (2.0 * h);
                let scale = 1.0 + fd.abs() + (ln_gamma(y + phi).abs() + 1.0) * 1e-10 / h;
                assert!(
                    (gp - fd).abs() < 1e-6 * scale,
                    "d/dphi at y {y}, eta {eta}, phi {phi}: {gp} vs {fd}"
                );
            }
        }
    }
}

/// Dispersions past the product's limit (1e9) go through lgamma; both sides of it agree with the
/// reference to the accuracy the reference itself has there.
#[test]
fn negative_binomial_large_dispersions_stay_accurate() {
    for &phi in &[5e8, 9.99e8, 1e9, 2e9, 1e12] {
        for &y in &[1.0, 7.0, 40.0] {
            let (lp, ..) = nb(y, 1.0, phi);
            let want = nb_reference(y, 1.0, phi);
            // The reference's lgamma difference cancels: eps * lgamma(phi) of absolute error.
            let tol = 4.0 * f64::EPSILON * ln_gamma(phi).abs() + 1e-12 * want.abs();
            assert!((lp - want).abs() < tol, "y {y}, phi {phi}: {lp} vs {want}");
        }
    }
}

/// A vector of counts with one shared phi (the cached case), and with one phi per entry (the cache
/// refilled at each change), sums to the per-entry densities.
#[test]
fn negative_binomial_cache_follows_phi() {
    let y: Vec<f64> = (0..300).map(|i| ((i * 37) % 70) as f64).collect();
    let eta: Vec<f64> = (0..300).map(|i| (i as f64 * 0.1).sin() * 2.0).collect();
    for phis in [
        vec![3.7],
        (0..300).map(|i| 0.5 + (i % 4) as f64).collect::<Vec<f64>>(),
    ] {
        let mut gp = vec![0.0; phis.len()];
        let lp = lpdf(
            Family::NegBinomial2Log,
            &[&y, &eta, &phis],
            1,
            &[true, false, false],
            true,
            &mut [None, None, Some(&mut gp)],
        );
        let phi = |k: usize| if phis.len() == 1 { phis[0] } else { phis[k] };
        let want: f64 = (0..300).map(|k| nb_reference(y[k], eta[k], phi(k))).sum();
        assert!((lp - want).abs() < 1e-11 * want.abs(), "{lp} vs {want}");
        let want_g: f64 = (0..300).map(|k| nb(y[k], eta[k], phi(k)).2).sum();
        let got_g: f64 = gp.iter().sum();
        assert!((got_g - want_g).abs() < 1e-10 * (1.0 + want_g.abs()));
    }
}

/// bernoulli_logit's log(1 + exp(-|eta|)) keeps full relative accuracy, also where
/// it is tiny (eta far from 0) and where 1 + e rounds.
#[test]
fn bernoulli_logit_matches_ln_1p_to_a_few_ulps() {
    let mut eta = -745.0;
    while eta < 745.0 {
        for y in [0.0, 1.0] {
            let lp = lpdf(
                Family::BernoulliLogit,
                &[&[y], &[eta]],
                1,
                &[true, false],
                true,
                &mut [None, None],
            );
            // log p = -log(1 + exp(-eta)), log(1 - p) = -log(1 + exp(eta)).
            let s = if y == 1.0 { -eta } else { eta };
            let want = -(if s > 0.0 {
                s + (-s).exp().ln_1p()
            } else {
                s.exp().ln_1p()
            });
            assert!(
                (lp - want).abs() <= 8.0 * f64::EPSILON * want.abs() + f64::MIN_POSITIVE,
                "y {y}, eta {eta}: {lp} vs {want}"
            );
        }
        eta += 0.0371;
    }
}

/// The logistic terms' polynomial exp and log1p against libm: within two ulps over the whole range
/// (exp down to its subnormal results, log1p on [0, 1] including where 1 + e rounds).
#[test]
fn logistic_exp_and_log1p_match_libm() {
    use mmi::eval::logistic::{exp_nonpositive, ln_1p_unit};
    let ulps = |got: f64, want: f64| (got - want).abs() / (want.abs() * f64::EPSILON);
    let mut x = -745.0;
    while x <= 0.0 {
        let (got, want) = (exp_nonpositive(x), x.exp());
        if want >= f64::MIN_POSITIVE {
            assert!(ulps(got, want) <= 2.0, "exp({x}): {got} vs {want}");
        } else {
            // Subnormal: within one unit of the subnormal spacing.
            assert!((got - want).abs() <= 5e-324, "exp({x}): {got} vs {want}");
        }
        x += 0.013_7;
    }
    assert_eq!(exp_nonpositive(0.0), 1.0);
    assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
    assert!(exp_nonpositive(f64::NAN).is_nan());
    for i in 0..=100_000 {
        let e = i as f64 / 100_000.0;
        for e in [e, e * 1e-8, e * 1e-17, e * 1e-300] {
            let (got, want) = (ln_1p_unit(e), e.ln_1p());
            assert!(
                got == want || ulps(got, want) <= 2.0,
                "ln_1p({e}): {got} vs {want}"
            );
        }
    }
}

/// Blocks (vectorised, with AVX2 where the processor has it) compute exactly what the scalar
/// function does, so results do not depend on the machine or on where a block starts.
#[test]
fn logistic_blocks_equal_the_scalar_function() {
    use mmi::eval::logistic::{logistic, LogisticBlock, BLOCK};
    let x: Vec<f64> = (0..BLOCK)
        .map(|j| (j as f64 - 31.5) * 1.7 + (j as f64).sin())
        .chain([0.0, -0.0, 800.0, -800.0, 1e-300, -1e-300])
        .collect();
    let mut block = LogisticBlock::default();
    for chunk in x.chunks(BLOCK) {
        block.fill(chunk);
        for (j, &xj) in chunk.iter().enumerate() {
            let (b, s) = (block.get(j), logistic(xj));
            for (u, v) in [
                (b.softplus, s.softplus),
                (b.softplus_neg, s.softplus_neg),
                (b.p, s.p),
                (b.q, s.q),
            ] {
                assert_eq!(u.to_bits(), v.to_bits(), "x = {xj}");
            }
        }
    }
    // Where it is exact: x = 0 gives log 2 and 1/2; far tails give x and 0 or 1.
    let s = logistic(0.0);
    assert_eq!((s.p, s.q), (0.5, 0.5));
    assert!((s.softplus - std::f64::consts::LN_2).abs() <= f64::EPSILON * 0.7);
    let s = logistic(800.0);
    assert_eq!(
        (s.softplus, s.softplus_neg, s.p, s.q),
        (800.0, 0.0, 1.0, 0.0)
    );
}
