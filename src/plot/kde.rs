//! Kernel density estimates for the density plots: a Gaussian kernel with Silverman's rule-of-thumb
//! bandwidth, optionally with weights (importance-reweighted draws).

/// Silverman's bandwidth 0.9 min(sd, IQR / 1.34) n^(-1/5) of (weighted) draws; the effective sample
/// size (sum w)^2 / sum w^2 stands for n. When the draws are constant, a tiny positive bandwidth.
pub fn silverman(values: &[f64], weights: Option<&[f64]>) -> f64 {
    let n = values.len();
    if n == 0 {
        return 1.0;
    }
    let w: Vec<f64> = match weights {
        Some(w) => w.to_vec(),
        None => vec![1.0; n],
    };
    let total: f64 = w.iter().sum();
    let mean = values.iter().zip(&w).map(|(v, w)| v * w).sum::<f64>() / total;
    let var = values
        .iter()
        .zip(&w)
        .map(|(v, w)| w * (v - mean).powi(2))
        .sum::<f64>()
        / total;
    let n_eff = total * total / w.iter().map(|w| w * w).sum::<f64>();
    let iqr = weighted_quantile(values, &w, 0.75) - weighted_quantile(values, &w, 0.25);
    let spread = match (var.sqrt(), iqr / 1.34) {
        (s, q) if q > 0.0 => s.min(q),
        (s, _) => s,
    };
    let h = 0.9 * spread * n_eff.powf(-0.2);
    if h > 0.0 && h.is_finite() {
        h
    } else {
        1e-3 * mean.abs().max(1.0)
    }
}

/// The `q` quantile of weighted values (the smallest value whose cumulative weight reaches q).
pub fn weighted_quantile(values: &[f64], weights: &[f64], q: f64) -> f64 {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    for &i in &order {
        acc += weights[i];
        if acc >= q * total {
            return values[i];
        }
    }
    order.last().map_or(f64::NAN, |&i| values[i])
}

/// The density at each point of `grid` of the Gaussian kernel estimate with bandwidth `h`:
/// sum_i w_i phi((x - v_i) / h) / (h sum_i w_i).
pub fn kde_with_bandwidth(
    values: &[f64],
    weights: Option<&[f64]>,
    h: f64,
    grid: &[f64],
) -> Vec<f64> {
    let norm = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    let total: f64 = match weights {
        Some(w) => w.iter().sum(),
        None => values.len() as f64,
    };
    grid.iter()
        .map(|x| {
            let s: f64 = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let z = (x - v) / h;
                    weights.map_or(1.0, |w| w[i]) * (-0.5 * z * z).exp()
                })
                .sum();
            norm * s / (h * total)
        })
        .collect()
}

/// The Gaussian kernel estimate with Silverman's bandwidth.
pub fn kde(values: &[f64], weights: Option<&[f64]>, grid: &[f64]) -> Vec<f64> {
    kde_with_bandwidth(values, weights, silverman(values, weights), grid)
}

/// `n` evenly spaced points from `lo` to `hi`.
pub fn grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let n = n.max(2);
    (0..n)
        .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_points_give_the_mixture_of_two_gaussians() {
        let h = 0.5;
        let x = [0.3];
        let got = kde_with_bandwidth(&[0.0, 1.0], None, h, &x)[0];
        let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let want = 0.5 * (phi(0.3 / h) + phi(-0.7 / h)) / h;
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        // Weights shift the mass: all weight on the second point is one Gaussian around 1.
        let got = kde_with_bandwidth(&[0.0, 1.0], Some(&[0.0, 2.0]), h, &x)[0];
        assert!((got - phi(-0.7 / h) / h).abs() < 1e-15);
    }

    #[test]
    fn silverman_follows_its_formula() {
        // 1..=5: sd (population) sqrt(2), IQR 4 - 2 = 2, so the sd is the smaller spread.
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        let want = 0.9 * 2f64.sqrt().min(2.0 / 1.34) * 5f64.powf(-0.2);
        assert!((silverman(&v, None) - want).abs() < 1e-12);
    }

    #[test]
    fn the_estimate_integrates_to_one() {
        let v: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin()).collect();
        let g = grid(-4.0, 4.0, 4001);
        let d = kde(&v, None, &g);
        let integral: f64 = d.iter().sum::<f64>() * (g[1] - g[0]);
        assert!((integral - 1.0).abs() < 1e-6, "{integral}");
    }
}
