//! Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao and Gabry, 2024): importance
//! weights whose largest values are replaced by the quantiles of a generalised Pareto fitted to the
//! tail, with the fitted shape k-hat as the diagnostic (k-hat < 0.7: the estimate is reliable). Used to
//! turn draws of the joint posterior into draws of a posterior with one modality removed or reweighted.
//! Follows the reference implementation (ArviZ `psislw`, the `loo` R package) with r_eff = 1.

/// The smoothed, normalised importance weights (summing to 1) and k-hat, from log weights. Non-finite
/// log weights count as zero weight.
pub fn psis(log_w: &[f64]) -> (Vec<f64>, f64) {
    let n = log_w.len();
    if n == 0 {
        return (vec![], f64::INFINITY);
    }
    let top = log_w
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return (vec![1.0 / n as f64; n], f64::INFINITY);
    }
    let mut lw: Vec<f64> = log_w
        .iter()
        .map(|x| {
            if x.is_finite() {
                x - top
            } else {
                f64::NEG_INFINITY
            }
        })
        .collect();
    let tail_len = ((0.2 * n as f64).min(3.0 * (n as f64).sqrt())).ceil() as usize;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| lw[*a].total_cmp(&lw[*b]));
    let khat = if tail_len <= 4 || tail_len + 1 > n {
        f64::INFINITY
    } else {
        let cutoff = lw[order[n - tail_len - 1]].max(f64::MIN_POSITIVE.ln());
        let exp_cutoff = cutoff.exp();
        let tail: Vec<usize> = order[n - tail_len..]
            .iter()
            .copied()
            .filter(|i| lw[*i] > cutoff)
            .collect();
        if tail.len() <= 4 {
            f64::INFINITY
        } else {
            let exceed: Vec<f64> = tail.iter().map(|i| lw[*i].exp() - exp_cutoff).collect();
            let (k, sigma) = gpd_fit(&exceed);
            if k.is_finite() {
                let m = tail.len() as f64;
                for (j, i) in tail.iter().enumerate() {
                    let p = (j as f64 + 0.5) / m;
                    lw[*i] = (gpd_quantile(p, k, sigma) + exp_cutoff).ln().min(0.0);
                }
            }
            k
        }
    };
    let total: f64 = lw.iter().map(|x| x.exp()).sum();
    (lw.iter().map(|x| x.exp() / total).collect(), khat)
}

/// The generalised Pareto fit of Zhang and Stephens (2009) with the weakly informative prior on k of
/// Vehtari et al.: `x` are positive exceedances in ascending order. Returns (k, sigma).
fn gpd_fit(x: &[f64]) -> (f64, f64) {
    let n = x.len();
    let (prior_bs, prior_k) = (3.0, 10.0);
    let m = 30 + (n as f64).sqrt() as usize;
    let quartile = x[((n as f64) / 4.0 + 0.5) as usize - 1];
    let last = x[n - 1];
    let b: Vec<f64> = (1..=m)
        .map(|j| {
            let v = 1.0 - (m as f64 / (j as f64 - 0.5)).sqrt();
            v / (prior_bs * quartile) + 1.0 / last
        })
        .collect();
    let k_of = |b: f64| x.iter().map(|v| (-b * v).ln_1p()).sum::<f64>() / n as f64;
    let len_scale: Vec<f64> = b
        .iter()
        .map(|&bj| {
            let k = k_of(bj);
            n as f64 * ((-bj / k).ln() - k - 1.0)
        })
        .collect();
    let mut w: Vec<f64> = len_scale
        .iter()
        .map(|li| 1.0 / len_scale.iter().map(|lj| (lj - li).exp()).sum::<f64>())
        .collect();
    for wi in w.iter_mut() {
        if !(wi.is_finite() && *wi >= 10.0 * f64::EPSILON) {
            *wi = 0.0;
        }
    }
    let total: f64 = w.iter().sum();
    if total <= 0.0 {
        return (f64::INFINITY, f64::NAN);
    }
    let b_post: f64 = b.iter().zip(&w).map(|(bj, wj)| bj * wj).sum::<f64>() / total;
    let k = k_of(b_post);
    let sigma = -k / b_post;
    // Shrink towards 0.5 as the prior says.
    let k = (n as f64 * k + prior_k * 0.5) / (n as f64 + prior_k);
    (k, sigma)
}

fn gpd_quantile(p: f64, k: f64, sigma: f64) -> f64 {
    if k.abs() < 1e-12 {
        -sigma * (-p).ln_1p()
    } else {
        sigma * ((-k * (-p).ln_1p()).exp_m1()) / k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    /// Importance sampling N(0, 1) draws towards N(mu, 1): the weighted mean is mu and k-hat is small
    /// for a modest shift, large for a shift far into the tail.
    #[test]
    fn shifted_normal_is_reweighted_and_diagnosed() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(3);
        let draws: Vec<f64> = (0..4000)
            .map(|_| Normal::new(0.0, 1.0).unwrap().sample(&mut rng))
            .collect();
        let reweight = |mu: f64| {
            let lw: Vec<f64> = draws.iter().map(|x| mu * x - 0.5 * mu * mu).collect();
            let (w, k) = psis(&lw);
            let mean: f64 = w.iter().zip(&draws).map(|(w, x)| w * x).sum();
            (mean, k)
        };
        let (mean, k) = reweight(0.5);
        // The effective sample size is about n / exp(mu^2) = 3100: a 4 sigma bound is 0.07.
        assert!((mean - 0.5).abs() < 0.07, "{mean}");
        assert!(k < 0.5, "{k}");
        // A shift of 4 sds: the target's bulk has almost no draws; the tail shape says so.
        let (_, k) = reweight(4.0);
        assert!(k > 0.7, "{k}");
    }

    /// The fit recovers the shape of exact generalised Pareto samples.
    #[test]
    fn gpd_fit_recovers_the_shape() {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(9);
        use rand::RngExt;
        for k in [0.2, 0.5, 0.9] {
            let mut x: Vec<f64> = (0..2000)
                .map(|_| gpd_quantile(rng.random::<f64>(), k, 1.0))
                .collect();
            x.sort_by(f64::total_cmp);
            let (kh, sigma) = gpd_fit(&x);
            // The standard error of k-hat at n = 2000 is about (1 + k) / sqrt(n) < 0.043.
            assert!((kh - k).abs() < 0.13, "k {k}: {kh}");
            assert!((sigma - 1.0).abs() < 0.2, "sigma {sigma}");
        }
    }
}
