//! The logistic quantities of the count likelihoods (bernoulli_logit, binomial_logit,
//! neg_binomial_2_log), computed a block of entries at a time so that they vectorise.
//!
//! Every entry needs one exp and one log1p. Through libm these are two calls per entry that cannot be
//! vectorised, and for 10^6 and more entries per gradient they were most of its time. Here both are
//! branch-free polynomials (Cody-Waite reduction and a degree-13 Taylor polynomial for exp; fdlibm's
//! log1p with its minimax polynomial), evaluated over a block by plain loops the compiler vectorises
//! (with AVX-512 or AVX2 where the processor has them, chosen at run time; the paths compute the
//! same IEEE operations, so results do not depend on the machine). Accuracy: within a few ulps of libm.

// fdlibm's constants are quoted as published (more digits than an f64 holds).
#![allow(clippy::excessive_precision)]

use std::f64::consts::SQRT_2;

/// ln 2 split so that n LN2_HI is exact for |n| < 2^11 (fdlibm's constants).
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;

/// Entries per block: the stack arrays stay small (2.5 KB) and the vector loops long.
pub const BLOCK: usize = 64;

/// The logistic quantities of one entry x.
#[derive(Clone, Copy, Debug)]
pub struct Logistic {
    /// log(1 + exp(x)).
    pub softplus: f64,
    /// log(1 + exp(-x)).
    pub softplus_neg: f64,
    /// inv_logit(x) = 1 / (1 + exp(-x)).
    pub p: f64,
    /// 1 - inv_logit(x).
    pub q: f64,
}

/// The logistic quantities of up to `BLOCK` entries, array by array.
pub struct LogisticBlock {
    pub softplus: [f64; BLOCK],
    pub softplus_neg: [f64; BLOCK],
    pub p: [f64; BLOCK],
    pub q: [f64; BLOCK],
}

impl Default for LogisticBlock {
    fn default() -> Self {
        LogisticBlock {
            softplus: [0.0; BLOCK],
            softplus_neg: [0.0; BLOCK],
            p: [0.0; BLOCK],
            q: [0.0; BLOCK],
        }
    }
}

impl LogisticBlock {
    /// Fills the block from x (at most `BLOCK` entries; entry j of the block is x[j]).
    pub fn fill(&mut self, x: &[f64]) {
        debug_assert!(x.len() <= BLOCK);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512F, the only feature the function enables.
            unsafe { self.fill_avx512(x) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, the only feature the function enables.
            unsafe { self.fill_avx2(x) };
            return;
        }
        self.fill_portable(x);
    }

    /// Entry j.
    #[inline]
    pub fn get(&self, j: usize) -> Logistic {
        Logistic {
            softplus: self.softplus[j],
            softplus_neg: self.softplus_neg[j],
            p: self.p[j],
            q: self.q[j],
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fill_avx2(&mut self, x: &[f64]) {
        self.fill_portable(x);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn fill_avx512(&mut self, x: &[f64]) {
        self.fill_portable(x);
    }

    #[inline(always)]
    fn fill_portable(&mut self, x: &[f64]) {
        let n = x.len().min(BLOCK);
        let (sp, sn) = (&mut self.softplus[..n], &mut self.softplus_neg[..n]);
        let (p, q) = (&mut self.p[..n], &mut self.q[..n]);
        for j in 0..n {
            let s = logistic(x[j]);
            sp[j] = s.softplus;
            sn[j] = s.softplus_neg;
            p[j] = s.p;
            q[j] = s.q;
        }
    }
}

/// The logistic quantities of x, from one exp and one log1p, without overflow or cancellation for
/// any x. Branch-free (the selects become blends), so that loops over it vectorise.
#[inline(always)]
pub fn logistic(x: f64) -> Logistic {
    let e = exp_nonpositive(-x.abs());
    let (l, r) = ln_1p_and_reciprocal(e);
    let (big, small) = (r, e * r);
    let positive = x >= 0.0;
    Logistic {
        softplus: if positive { x + l } else { l },
        softplus_neg: if positive { l } else { l - x },
        p: if positive { big } else { small },
        q: if positive { small } else { big },
    }
}

/// Round-to-nearest of |v| < 2^51 by adding and subtracting 1.5 2^52 (no libm call, vectorises).
const ROUND: f64 = 6_755_399_441_055_744.0;

/// 2^m for an integer-valued m in [-1022, 1023], built from its exponent bits.
#[inline(always)]
fn pow2(m: f64) -> f64 {
    // m + ROUND has m in its low mantissa bits: subtracting ROUND's bits leaves m as an integer.
    let m = ((m + ROUND).to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    f64::from_bits((m.wrapping_add(1023) as u64) << 52)
}

/// exp(x) for x <= 0 (NaN gives NaN), to about an ulp, with subnormal results rounded once more
/// than libm's. Cody-Waite reduction x = n ln 2 + r, |r| <= ln 2 / 2, then Taylor to degree 13
/// (remainder below 2e-16 relative) and a scaling by 2^n in two halves, so that results below
/// 2^-1022 come out subnormal instead of being flushed.
#[inline(always)]
pub fn exp_nonpositive(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    // exp(-745.2) rounds to 0; clamping keeps n within the range of the two-step scaling.
    let x = if x < -745.2 { -745.2 } else { x };
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Estrin's scheme: a dependency chain of 8 operations instead of Horner's 26, so that the
    // processor overlaps more of the (otherwise latency-bound) entries.
    let (r2, c) = (r * r, |k: u32| {
        1.0 / (1..=k).map(f64::from).product::<f64>()
    });
    let (r4, p01, p23) = (r2 * r2, 1.0 + r, c(2) + c(3) * r);
    let (r8, p45, p67) = (r4 * r4, c(4) + c(5) * r, c(6) + c(7) * r);
    let (p89, p1011, p1213) = (c(8) + c(9) * r, c(10) + c(11) * r, c(12) + c(13) * r);
    let low = (p01 + r2 * p23) + r4 * (p45 + r2 * p67);
    let high = (p89 + r2 * p1011) + r4 * p1213;
    let poly = low + r8 * high;
    // n in [-1075, 0]: two halves of at least -538 each, both normal numbers.
    let half = (n * 0.5 + ROUND) - ROUND;
    poly * pow2(half) * pow2(n - half)
}

/// log(1 + e) for e in [0, 1] (fdlibm's log1p, branch-free): 1 + e = 2^k (1 + f) with 1 + f in
/// [sqrt(2)/2, sqrt(2)), the rounding of 1 + e carried as a correction c, and log(1 + f) from
/// s = f / (2 + f) and a minimax polynomial in s^2. Below an ulp of error, also for tiny e.
#[inline(always)]
pub fn ln_1p_unit(e: f64) -> f64 {
    ln_1p_and_reciprocal(e).0
}

/// [`ln_1p_unit`] and 1 / (1 + e), which the logistic terms need too, from one division.
#[inline(always)]
fn ln_1p_and_reciprocal(e: f64) -> (f64, f64) {
    const LG1: f64 = 6.666_666_666_666_735_130e-1;
    const LG2: f64 = 3.999_999_999_940_941_908e-1;
    const LG3: f64 = 2.857_142_874_366_239_149e-1;
    const LG4: f64 = 2.222_219_843_214_978_396e-1;
    const LG5: f64 = 1.818_357_216_161_805_012e-1;
    const LG6: f64 = 1.531_383_769_920_937_332e-1;
    const LG7: f64 = 1.479_819_860_511_658_591e-1;
    let u = 1.0 + e;
    let big = u > SQRT_2;
    // k = 1: f = u / 2 - 1 exactly, and u - 1 is exact (Sterbenz), so c is the rounding of u.
    let f = if big { 0.5 * u - 1.0 } else { e };
    // s = f / (2 + f) and r = 1 / u share the division by (2 + f) u (an extra rounding or two: s
    // only scales log1p's small correction terms).
    let inv = 1.0 / ((2.0 + f) * u);
    let (s, r) = (f * u * inv, (2.0 + f) * inv);
    let c = if big { (e - (u - 1.0)) * r } else { 0.0 };
    let k = if big { 1.0 } else { 0.0 };
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let t = t2 + t1;
    let hfsq = 0.5 * f * f;
    let l = k * LN2_HI - ((hfsq - (s * (hfsq + t) + (k * LN2_LO + c))) - f);
    (l, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector paths compute the same IEEE operations as the portable one, so every bit agrees:
    /// results do not depend on the processor. Checked over ordinary values, the extremes where exp
    /// underflows to subnormals and zero, signed zeros, infinities and NaN.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let mut xs: Vec<f64> = (0..4096)
            .map(|i| -800.0 + 1600.0 * f64::from(i) / 4095.0)
            .collect();
        xs.extend((0..2048).map(|i| -40.0 + 80.0 * f64::from(i) / 2047.0));
        xs.extend([0.0, -0.0, 1e-300, -1e-300, 745.2, -745.2, 709.8, -709.8]);
        xs.extend([
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MAX,
            f64::MIN,
        ]);
        let bits = |b: &LogisticBlock, n: usize| -> Vec<[u64; 4]> {
            (0..n)
                .map(|j| {
                    let l = b.get(j);
                    [l.softplus, l.softplus_neg, l.p, l.q].map(f64::to_bits)
                })
                .collect()
        };
        let mut paths = 0;
        for chunk in xs.chunks(BLOCK) {
            let mut portable = LogisticBlock::default();
            portable.fill_portable(chunk);
            let want = bits(&portable, chunk.len());
            // Each entry is the scalar function's value, too.
            for (j, &x) in chunk.iter().enumerate() {
                let l = logistic(x);
                assert_eq!(
                    want[j],
                    [l.softplus, l.softplus_neg, l.p, l.q].map(f64::to_bits)
                );
            }
            #[cfg(target_arch = "x86_64")]
            {
                let mut b = LogisticBlock::default();
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the processor has AVX2.
                    unsafe { b.fill_avx2(chunk) };
                    assert_eq!(bits(&b, chunk.len()), want, "avx2");
                    paths += 1;
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the processor has AVX-512F.
                    unsafe { b.fill_avx512(chunk) };
                    assert_eq!(bits(&b, chunk.len()), want, "avx512f");
                    paths += 1;
                }
            }
        }
        if paths == 0 {
            println!(
                "skipped: this processor has neither AVX2 nor AVX-512F, only the portable path ran"
            );
        }
    }
}
