//! The count likelihoods' fast paths against direct formulas: the negative binomial's count terms
//! lgamma(y + phi) - lgamma(phi) (and their digamma derivative in phi) come from the gamma function's
//! recurrence for counts below 64, cached per count while phi repeats; the logistic terms of
//! `bernoulli_logit` and the negative binomial take log(1 + e) from one `ln`. Both are checked across
//! every branch (counts on either side of the cache, dispersions on either side of the product's
//! limit, vectors of counts sharing one phi) against statrs' lgamma and Rust's ln_1p.

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

/// bernoulli_logit's log(1 + exp(-|eta|)) through one `ln` keeps full relative accuracy, also where
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
