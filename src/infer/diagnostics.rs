//! Convergence diagnostics of MCMC draws: rank-normalised split R-hat, bulk and tail effective sample
//! sizes, the Monte Carlo standard error of the mean, quantiles and the HMC-specific E-BFMI.
//!
//! The definitions are those of Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-normalization,
//! folding, and localization: an improved R-hat for assessing convergence of MCMC", written to agree
//! number for number with ArviZ (`az.rhat(method="rank")`, `az.ess(method="bulk"|"tail"|"mean")`,
//! `az.mcse(method="mean")`), which follows the `posterior` R package. `tests/diagnostics.rs` holds
//! reference values computed by ArviZ.
//!
//! Every function takes the draws of one scalar quantity as `chains[c][i]`, draw `i` of chain `c`, and
//! never panics: where a diagnostic is undefined it is NaN. It is NaN when a draw is NaN, when the chains
//! have different lengths, or when a chain has fewer than 4 draws (a split chain then has fewer than 2).
//! An infinite draw is ranked like any other, so R-hat and the bulk and tail ESS stay defined, while the
//! ESS and MCSE of the mean become NaN.
//!
//! Cost: for 4 chains of 1000 draws a summary takes a few hundred microseconds, mostly one sort of the
//! draws and the autocovariances (summed directly for the few lags well-mixed chains need, by FFT for
//! slowly mixing ones: see `DIRECT_LAGS`); the normal scores of ranks are computed once a thread.
//!
//! Where ArviZ and `posterior` differ, this module follows ArviZ, except in one place: R-hat of a single
//! chain is computed from its two halves (as `posterior` does) instead of being NaN (as ArviZ does).

use statrs::function::erf::erfc_inv;
use std::cell::RefCell;

/// Draws of one quantity laid out chain after chain, every chain `len` draws long.
struct Draws {
    len: usize,
    values: Vec<f64>,
}

impl Draws {
    /// The draws, when the diagnostics are defined for them: at least one chain, all chains of the same
    /// length, at least 4 draws a chain and no NaN (ArviZ's validity check).
    fn validated(chains: &[Vec<f64>]) -> Option<Draws> {
        let len = chains.first()?.len();
        if len < 4
            || chains
                .iter()
                .any(|c| c.len() != len || c.iter().any(|x| x.is_nan()))
        {
            return None;
        }
        Some(Draws {
            len,
            values: chains.concat(),
        })
    }

    fn chains(&self) -> impl Iterator<Item = &[f64]> {
        self.values.chunks_exact(self.len)
    }

    fn count(&self) -> usize {
        self.values.len() / self.len
    }

    /// Each chain cut into its first and last halves, dropping the middle draw of an odd-length chain.
    /// As in ArviZ, all first halves come first, then all second halves.
    fn split(&self) -> Draws {
        let half = self.len / 2;
        let mut values = Vec::with_capacity(2 * half * self.count());
        for chain in self.chains() {
            values.extend_from_slice(&chain[..half]);
        }
        for chain in self.chains() {
            values.extend_from_slice(&chain[self.len - half..]);
        }
        Draws { len: half, values }
    }

    /// The same layout with every draw mapped through `f`.
    fn map(&self, f: impl Fn(f64) -> f64) -> Draws {
        Draws {
            len: self.len,
            values: self.values.iter().map(|&x| f(x)).collect(),
        }
    }
}

/// Rank-normalised split R-hat: the larger of the bulk R-hat (of the rank-normalised split chains) and
/// the tail R-hat (of the rank-normalised split chains folded about their median), as `posterior::rhat`.
/// NaN when undefined (see the module doc) and for a constant quantity.
pub fn rhat(chains: &[Vec<f64>]) -> f64 {
    match Draws::validated(chains) {
        Some(draws) => SplitRanks::new(&draws).rhat(),
        None => f64::NAN,
    }
}

/// Bulk effective sample size: the ESS of the rank-normalised split chains, as `posterior::ess_bulk`.
pub fn ess_bulk(chains: &[Vec<f64>]) -> f64 {
    match Draws::validated(chains) {
        Some(draws) => ess(&SplitRanks::new(&draws).bulk),
        None => f64::NAN,
    }
}

/// Tail effective sample size: the smaller ESS of the indicators of the 5% and 95% quantiles, as
/// `posterior::ess_tail`.
pub fn ess_tail(chains: &[Vec<f64>]) -> f64 {
    match Draws::validated(chains) {
        Some(draws) => tail_ess(&draws, &sorted(&draws.values)),
        None => f64::NAN,
    }
}

/// Effective sample size of the mean: the plain (not rank-normalised) ESS of the split chains, as
/// `posterior::ess_mean` and ArviZ's `method="mean"`.
pub fn ess_mean(chains: &[Vec<f64>]) -> f64 {
    match Draws::validated(chains) {
        Some(draws) => ess(&draws.split()),
        None => f64::NAN,
    }
}

/// Monte Carlo standard error of the mean: the standard deviation of all draws over the square root of
/// [`ess_mean`].
pub fn mcse_mean(chains: &[Vec<f64>]) -> f64 {
    match Draws::validated(chains) {
        Some(draws) => sd(&draws.values) / ess(&draws.split()).sqrt(),
        None => f64::NAN,
    }
}

/// The `q` quantile of all draws, defined as numpy's default (linear interpolation between order
/// statistics, Hyndman and Fan's type 7). Chains may have different lengths here. NaN when there are no
/// draws, a draw is NaN or `q` is outside [0, 1].
pub fn quantile(chains: &[Vec<f64>], q: f64) -> f64 {
    let all = chains.concat();
    if all.is_empty() || all.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    numpy_quantile(&sorted(&all), q)
}

/// E-BFMI of one chain from its `energy__` values: `sum (E_i - E_{i-1})^2 / sum (E_i - mean E)^2`
/// (ArviZ's `bfmi`). Values below 0.3 suggest the momentum resampling explores the energy poorly. NaN
/// with fewer than 2 values or a constant energy.
pub fn e_bfmi(energy: &[f64]) -> f64 {
    if energy.len() < 2 {
        return f64::NAN;
    }
    let mean = energy.iter().sum::<f64>() / energy.len() as f64;
    let jumps: f64 = energy.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    let spread: f64 = energy.iter().map(|e| (e - mean).powi(2)).sum();
    jumps / spread
}

/// Everything the summary table shows for one quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub sd: f64,
    pub mcse_mean: f64,
    pub q5: f64,
    pub q50: f64,
    pub q95: f64,
    pub ess_bulk: f64,
    pub ess_tail: f64,
    pub rhat: f64,
}

/// The summary of one quantity, sharing the sorts and rank normalisation between its columns (each
/// column equals the function of the same name). Mean, sd and quantiles are over all draws and so are
/// defined for chains of any lengths; the diagnostics follow the module doc.
pub fn summarize(chains: &[Vec<f64>]) -> Summary {
    let Some(draws) = Draws::validated(chains) else {
        // No diagnostics; the moments and quantiles of all draws may still be defined.
        let all = chains.concat();
        let has_nan = all.iter().any(|x| x.is_nan());
        let order = sorted(&all);
        let q = |p| {
            if has_nan || all.is_empty() {
                f64::NAN
            } else {
                numpy_quantile(&order, p)
            }
        };
        let (mean, sd) = if has_nan {
            (f64::NAN, f64::NAN)
        } else {
            (mean(&all), sd(&all))
        };
        let nan = f64::NAN;
        return Summary {
            mean,
            sd,
            mcse_mean: nan,
            q5: q(0.05),
            q50: q(0.5),
            q95: q(0.95),
            ess_bulk: nan,
            ess_tail: nan,
            rhat: nan,
        };
    };
    let ranks = SplitRanks::new(&draws);
    // With an even chain length the split chains hold every draw, so their sort serves the quantiles.
    let order = if draws.len % 2 == 0 {
        ranks.order.iter().map(|&(x, _)| x).collect()
    } else {
        sorted(&draws.values)
    };
    let sd = sd(&draws.values);
    Summary {
        mean: mean(&draws.values),
        sd,
        mcse_mean: sd / ess(&ranks.split).sqrt(),
        q5: numpy_quantile(&order, 0.05),
        q50: numpy_quantile(&order, 0.5),
        q95: numpy_quantile(&order, 0.95),
        ess_bulk: ess(&ranks.bulk),
        ess_tail: tail_ess(&draws, &order),
        rhat: ranks.rhat(),
    }
}

/// The split chains of validated draws with their sorted order and rank normalisation: what R-hat and
/// the bulk ESS share.
struct SplitRanks {
    split: Draws,
    /// Every split draw with its index in `split.values`, in increasing order.
    order: Vec<(f64, usize)>,
    /// The rank-normalised split chains.
    bulk: Draws,
}

impl SplitRanks {
    fn new(draws: &Draws) -> SplitRanks {
        let split = draws.split();
        let mut order: Vec<(f64, usize)> = split.values.iter().copied().zip(0..).collect();
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let bulk = normal_scores(&order, split.len);
        SplitRanks { split, order, bulk }
    }

    /// The larger of the R-hats of the rank-normalised split chains and of the rank-normalised split
    /// chains folded about their median. As in ArviZ, a NaN tail R-hat (the folded draws are constant, as
    /// for a quantity taking two values equally often) leaves the bulk R-hat, and a constant quantity has
    /// no R-hat (rank normalisation maps it to exact zeros, for which R-hat is 0 / 0; this says so
    /// directly).
    fn rhat(&self) -> f64 {
        if self.order[0].0 == self.order[self.order.len() - 1].0 {
            return f64::NAN;
        }
        let bulk_rhat = classic_rhat(&self.bulk);
        let tail_rhat = classic_rhat(&normal_scores(&self.folded_order(), self.split.len));
        if tail_rhat > bulk_rhat {
            tail_rhat
        } else {
            bulk_rhat
        }
    }

    /// The split draws folded about their median, `|x - median|`, in increasing order. Folding reverses
    /// the draws below the median and keeps those above in order (rounding is monotone, so this holds
    /// exactly), so merging the two runs sorts them without another sort.
    fn folded_order(&self) -> Vec<(f64, usize)> {
        let order = &self.order;
        let s = order.len();
        // numpy's median: the middle draw, or the mean of the middle two.
        let median = if s % 2 == 1 {
            order[s / 2].0
        } else {
            (order[s / 2 - 1].0 + order[s / 2].0) / 2.0
        };
        let fold = |&(x, i): &(f64, usize)| ((x - median).abs(), i);
        let first_above = order.partition_point(|&(x, _)| x < median);
        let mut below = order[..first_above].iter().rev().map(fold).peekable();
        let mut above = order[first_above..].iter().map(fold).peekable();
        let mut folded = Vec::with_capacity(s);
        loop {
            let next = match (below.peek(), above.peek()) {
                (Some(a), Some(b)) if a.0 <= b.0 => below.next(),
                (Some(_), Some(_)) => above.next(),
                _ => break,
            };
            folded.extend(next);
        }
        folded.extend(below.chain(above));
        folded
    }
}

/// Gelman and Rubin's R-hat of chains taken as they are: `sqrt((B / W + n - 1) / n)` with `B` the
/// between-chain variance `n * var(chain means)` and `W` the mean within-chain variance. NaN when both
/// variances are zero.
fn classic_rhat(draws: &Draws) -> f64 {
    let n = draws.len as f64;
    let means: Vec<f64> = draws.chains().map(mean).collect();
    let within = draws.chains().map(variance).sum::<f64>() / draws.count() as f64;
    let between = n * variance(&means);
    ((between / within + n - 1.0) / n).sqrt()
}

/// Below this spread (numpy's `finfo(float).resolution`) ArviZ counts draws as constant and their ESS as
/// the number of draws.
const CONSTANT_SPREAD: f64 = 1e-15;

/// The effective sample size of chains taken as they are (pass split chains), by Geyer's initial monotone
/// sequence estimator with the improvement of Vehtari et al. (2021) for antithetic chains, exactly as
/// ArviZ's `_ess`: autocorrelations are combined over chains through the multi-chain variance estimate,
/// pairs of consecutive autocorrelations are summed while their sum stays positive, the pair sums are
/// made monotone, and the result is capped at `S * log10(S)` for `S` draws in all.
fn ess(draws: &Draws) -> f64 {
    let size = draws.values.len() as f64;
    // Written with plain comparisons (not `f64::min`) so that it vectorises.
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &x in &draws.values {
        min = if x < min { x } else { min };
        max = if x > max { x } else { max };
    }
    if max - min < CONSTANT_SPREAD {
        return size;
    }
    let n = draws.len;
    let nf = n as f64;
    let mut acov = Autocovariance::new(draws);
    let chain_means: Vec<f64> = draws.chains().map(mean).collect();
    let mean_var = acov.at(0) * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if draws.count() > 1 {
        var_plus += variance(&chain_means);
    }
    let mut rho = |lag: usize| 1.0 - (mean_var - acov.at(lag)) / var_plus;

    // `rho_hat[t]` is the autocorrelation at lag `t`; indices are signed because ArviZ's `max_t` is -1
    // when the first pair is already non-positive.
    let mut rho_hat = vec![0.0; n];
    let mut even = 1.0;
    rho_hat[0] = even;
    let mut odd = rho(1);
    rho_hat[1] = odd;
    let mut any_nan = odd.is_nan();

    // Geyer's initial positive sequence.
    let mut t: isize = 1;
    while t < n as isize - 3 && even + odd > 0.0 {
        let lag = t as usize;
        even = rho(lag + 1);
        odd = rho(lag + 2);
        if even + odd >= 0.0 {
            rho_hat[lag + 1] = even;
            rho_hat[lag + 2] = odd;
            any_nan |= even.is_nan() || odd.is_nan();
        }
        t += 2;
    }
    let max_t = t - 2;
    // The improved estimate keeps a positive even-lag term past the truncation point.
    if even > 0.0 {
        rho_hat[(max_t + 1) as usize] = even;
    }

    // Geyer's initial monotone sequence.
    let mut t: isize = 1;
    while t <= max_t - 2 {
        let i = t as usize;
        if rho_hat[i + 1] + rho_hat[i + 2] > rho_hat[i - 1] + rho_hat[i] {
            rho_hat[i + 1] = (rho_hat[i - 1] + rho_hat[i]) / 2.0;
            rho_hat[i + 2] = rho_hat[i + 1];
        }
        t += 2;
    }

    let kept = (max_t + 1) as usize;
    let tau = -1.0 + 2.0 * rho_hat[..kept].iter().sum::<f64>() + rho_hat[kept];
    // Python's `max(tau, floor)` keeps a NaN `tau`, which `f64::max` would drop.
    let floor = 1.0 / size.log10();
    let tau = if floor > tau { floor } else { tau };
    if any_nan {
        f64::NAN
    } else {
        size / tau
    }
}

/// Through this lag autocovariances are summed directly; a request past it computes every lag at once
/// by FFT.
///
/// Geyer's estimator stops at the first lag pair whose autocorrelations sum to a non-positive value, so
/// for well-mixed chains it needs only a handful of lags, and a direct sum of `chains * len` products a
/// lag is cheapest. Slowly mixing chains can need hundreds of lags, where the direct sum costs
/// `O(len^2)`; the FFT computes all lags in `O(len log len)` per chain pair, about as much as 30-60 direct
/// lags for chains of a few hundred draws. Both are exact up to rounding (the FFT's error is about
/// `1e-16 * log2(len)` of the lag-0 autocovariance), so the switch does not change the estimate beyond
/// the last few digits. ArviZ and `posterior` use the FFT throughout.
const DIRECT_LAGS: usize = 32;

/// The autocovariances of the chains averaged over chains, lag by lag on request: at lag `k`,
/// `mean_c (1 / n) sum_i d_c[i] d_c[i + k]` with `d_c` chain `c` minus its mean (the biased estimate
/// Geyer recommends, as ArviZ's `autocov`).
struct Autocovariance {
    len: usize,
    centred: Vec<f64>,
    all_lags: Option<Vec<f64>>,
}

impl Autocovariance {
    fn new(draws: &Draws) -> Autocovariance {
        let mut centred = Vec::with_capacity(draws.values.len());
        for chain in draws.chains() {
            let m = mean(chain);
            centred.extend(chain.iter().map(|x| x - m));
        }
        Autocovariance {
            len: draws.len,
            centred,
            all_lags: None,
        }
    }

    fn at(&mut self, lag: usize) -> f64 {
        let n = self.len;
        let chains = (self.centred.len() / n) as f64;
        if lag <= DIRECT_LAGS && self.all_lags.is_none() {
            let total: f64 = self
                .centred
                .chunks_exact(n)
                .map(|d| lagged_products(d, lag) / n as f64)
                .sum();
            return total / chains;
        }
        let all = self.all_lags.get_or_insert_with(|| {
            fft_autocovariance_sum(&self.centred, n)
                .into_iter()
                .map(|s| s / n as f64 / chains)
                .collect()
        });
        all[lag]
    }
}

/// `sum_i d[i] d[i + lag]`, in eight interleaved partial sums so that the compiler can vectorise it.
fn lagged_products(d: &[f64], lag: usize) -> f64 {
    const LANES: usize = 8;
    let (a, b) = (
        d[..d.len() - lag].chunks_exact(LANES),
        d[lag..].chunks_exact(LANES),
    );
    let rest: f64 = a
        .remainder()
        .iter()
        .zip(b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut sums = [0.0; LANES];
    for (x, y) in a.zip(b) {
        for k in 0..LANES {
            sums[k] += x[k] * y[k];
        }
    }
    sums.iter().sum::<f64>() + rest
}

/// For chains of `len` centred draws laid end to end, `sum_c sum_i d_c[i] d_c[i + k]` for every lag `k`
/// below `len`: the inverse transform of the summed power spectra of the chains zero-padded to a power of
/// two at least `2 len` (so the circular correlation does not wrap). Two real chains share one complex
/// transform `z = a + i b`, because `|Z_k|^2 + |Z_{-k}|^2 = 2 (|A_k|^2 + |B_k|^2)`.
fn fft_autocovariance_sum(centred: &[f64], len: usize) -> Vec<f64> {
    let size = (2 * len).next_power_of_two();
    let twiddles = Twiddles::new(size);
    let mut power = vec![0.0; size];
    let mut buffer = vec![(0.0, 0.0); size];
    let chains: Vec<&[f64]> = centred.chunks_exact(len).collect();
    for pair in chains.chunks(2) {
        buffer.fill((0.0, 0.0));
        for (i, slot) in buffer.iter_mut().take(len).enumerate() {
            *slot = (pair[0][i], pair.get(1).map_or(0.0, |b| b[i]));
        }
        fft(&mut buffer, &twiddles);
        for (k, p) in power.iter_mut().enumerate() {
            let (a, b) = (buffer[k], buffer[(size - k) % size]);
            *p += (a.0 * a.0 + a.1 * a.1 + b.0 * b.0 + b.1 * b.1) / 2.0;
        }
    }
    // The power spectrum is real and even, so its forward transform is its inverse transform times `size`.
    let mut spectrum: Vec<(f64, f64)> = power.into_iter().map(|p| (p, 0.0)).collect();
    fft(&mut spectrum, &twiddles);
    spectrum[..len].iter().map(|c| c.0 / size as f64).collect()
}

/// `exp(-2 pi i k / size)` for `k < size / 2`, each computed directly for accuracy.
struct Twiddles(Vec<(f64, f64)>);

impl Twiddles {
    fn new(size: usize) -> Twiddles {
        Twiddles(
            (0..size / 2)
                .map(|k| {
                    let angle = -2.0 * std::f64::consts::PI * k as f64 / size as f64;
                    (angle.cos(), angle.sin())
                })
                .collect(),
        )
    }
}

/// In-place iterative radix-2 decimation-in-time FFT of a power-of-two length, `X_k = sum_j x_j
/// exp(-2 pi i j k / n)`.
fn fft(x: &mut [(f64, f64)], twiddles: &Twiddles) {
    let n = x.len();
    let bits = n.trailing_zeros();
    if n < 2 {
        return;
    }
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            x.swap(i, j);
        }
    }
    let mut width = 2;
    while width <= n {
        let stride = n / width;
        for block in x.chunks_exact_mut(width) {
            let (lo, hi) = block.split_at_mut(width / 2);
            for (k, (a, b)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
                let w = twiddles.0[k * stride];
                let t = (w.0 * b.0 - w.1 * b.1, w.0 * b.1 + w.1 * b.0);
                *b = (a.0 - t.0, a.1 - t.1);
                *a = (a.0 + t.0, a.1 + t.1);
            }
        }
        width *= 2;
    }
}

/// Tail ESS from the draws and all their values sorted: the ESS of the split indicator chains
/// `x <= quantile` for the 5% and 95% quantiles, the smaller of the two.
fn tail_ess(draws: &Draws, sorted: &[f64]) -> f64 {
    let quantile_ess = |p: f64| {
        let q = mquantile(sorted, p);
        ess(&draws.map(|x| if x <= q { 1.0 } else { 0.0 }).split())
    };
    quantile_ess(0.05).min(quantile_ess(0.95))
}

/// The `p` quantile of sorted values as ArviZ computes it for the tail ESS: `scipy.stats.mstats.mquantiles`
/// with `alphap = betap = 1`, type 7 like [`numpy_quantile`] but rounded as `(1 - g) x[k-1] + g x[k]`,
/// which decides whether a draw equal to the quantile counts as below it.
fn mquantile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let aleph = n as f64 * p + (1.0 - p);
    let k = aleph.clamp(1.0, (n - 1) as f64).floor();
    let gamma = (aleph - k).clamp(0.0, 1.0);
    let k = k as usize;
    (1.0 - gamma) * sorted[k - 1] + gamma * sorted[k]
}

/// numpy's default quantile of sorted values: virtual index `(n - 1) q`, interpolated as numpy's `_lerp`
/// (from the nearer end, so the result stays between the two order statistics).
fn numpy_quantile(sorted: &[f64], q: f64) -> f64 {
    if !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let n = sorted.len();
    let virtual_index = (n - 1) as f64 * q;
    if virtual_index >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    let below = virtual_index.floor();
    let gamma = virtual_index - below;
    let (a, b) = (sorted[below as usize], sorted[below as usize + 1]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Rank normalisation of draws given in increasing order with their indices: each draw's rank `r` among
/// all `S` draws (ties share their average rank) becomes `Phi^-1((r - 3/8) / (S + 1/4))` (Blom's offset,
/// as ArviZ and `posterior`), laid out as chains of `len` draws.
fn normal_scores(order: &[(f64, usize)], len: usize) -> Draws {
    let s = order.len();
    let mut z = vec![0.0; s];
    NORMAL_SCORES.with_borrow_mut(|(size, scores)| {
        if *size != s {
            *size = s;
            scores.clear();
            scores.resize(2 * s - 1, f64::NAN);
        }
        let mut start = 0;
        while start < s {
            let end = start
                + order[start..]
                    .iter()
                    .take_while(|(x, _)| *x == order[start].0)
                    .count();
            // Twice the average rank of draws `start..end` (1-based ranks `start + 1..=end`).
            let twice_rank = start + 1 + end;
            let score = &mut scores[twice_rank - 2];
            if score.is_nan() {
                *score = normal_score(twice_rank, s);
            }
            for &(_, i) in &order[start..end] {
                z[i] = *score;
            }
            start = end;
        }
    });
    Draws { len, values: z }
}

thread_local! {
    /// `(S, scores)`: the normal scores of ranks 1, 1.5, 2, ..., S among `S` draws, NaN until needed. The
    /// inverse normal CDF is most of the cost of rank normalisation, and every quantity of a run has the
    /// same number of draws, so each score is computed once a thread instead of once a draw.
    static NORMAL_SCORES: RefCell<(usize, Vec<f64>)> = const { RefCell::new((0, Vec::new())) };
}

/// The normal score of average rank `twice_rank / 2` among `s` draws, `Phi^-1((r - 3/8) / (s + 1/4))`
/// with `Phi^-1` as statrs's standard normal `inverse_cdf` computes it (through `erfc_inv` directly,
/// because the argument is in (0, 1) by construction).
fn normal_score(twice_rank: usize, s: usize) -> f64 {
    let p = (twice_rank as f64 / 2.0 - 0.375) / (s as f64 - 0.75 + 1.0);
    -(std::f64::consts::SQRT_2 * erfc_inv(2.0 * p))
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    sorted
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample variance with denominator `n - 1` (NaN for one value).
fn variance(values: &[f64]) -> f64 {
    let m = mean(values);
    values.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (values.len() as f64 - 1.0)
}

fn sd(values: &[f64]) -> f64 {
    variance(values).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FFT path and the direct sum agree at every lag (of the reference cases in
    /// `tests/diagnostics.rs`, only the slowly mixing ones reach the FFT).
    #[test]
    fn fft_autocovariance_matches_direct_sum() {
        for (chains, len) in [(1, 5), (3, 37), (4, 100), (5, 64)] {
            let mut state = 7_u64;
            let values: Vec<f64> = (0..chains * len)
                .map(|i| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 11) as f64 / (1u64 << 53) as f64 + (i % 7) as f64 * 0.1
                })
                .collect();
            let draws = Draws { len, values };
            let direct = Autocovariance::new(&draws);
            let fft = fft_autocovariance_sum(&direct.centred, len);
            for (lag, total) in fft.iter().enumerate() {
                let exact: f64 = direct
                    .centred
                    .chunks_exact(len)
                    .map(|d| {
                        d[..len - lag]
                            .iter()
                            .zip(&d[lag..])
                            .map(|(a, b)| a * b)
                            .sum::<f64>()
                    })
                    .sum();
                assert!(
                    (total - exact).abs() < 1e-12,
                    "lag {lag}: {total} vs {exact}"
                );
            }
        }
    }
}
