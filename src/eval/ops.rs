//! The numeric kernels of the graph's vector-level operations: the forward value and the reverse-mode
//! gradient of every elementwise function, comparison, selection, reduction, scan and product.
//!
//! These run millions of times inside a sampler, so every kernel is a plain loop over slices: no heap
//! allocation, no panic on any numeric input (NaN and infinities propagate), and broadcast operands
//! get their own monomorphised loop so that the compiler can vectorise each pattern. Slice lengths
//! that disagree are the caller's bug: they are checked by `debug_assert!` and, in release builds, the
//! kernels quietly work on the part that fits instead of panicking.
//!
//! Every `_grad` function adds (`+=`) into its gradient slices, which the caller zeroes; an input of
//! length 1 that was broadcast receives the sum of its contributions.

use std::f64::consts::{FRAC_2_SQRT_PI, LN_2, PI, SQRT_2};

use statrs::function::{erf as statrs_erf, gamma};

/// ln(π), for the reflection formula of `lgamma`.
const LN_PI: f64 = 1.144_729_885_849_400_2;
/// 1 / √(2π), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// √(2π).
const SQRT_2PI: f64 = 2.506_628_274_631_000_5;

// ---------------------------------------------------------------------------------------------------
// Scalar special functions (shared with the distributions).

/// log|Γ(x)|, +∞ at the poles (zero and the negative integers). statrs' `ln_gamma` returns NaN where
/// Γ is negative, so negative arguments go through the reflection formula here.
pub fn lgamma(x: f64) -> f64 {
    if x >= 0.5 {
        gamma::ln_gamma(x)
    } else if x.is_nan() {
        x
    } else if x == x.floor() {
        f64::INFINITY
    } else {
        // Γ(x) Γ(1 - x) = π / sin(πx).
        LN_PI - (PI * x).sin().abs().ln() - gamma::ln_gamma(1.0 - x)
    }
}

/// The digamma function ψ(x) = d/dx lgamma(x).
pub fn digamma(x: f64) -> f64 {
    gamma::digamma(x)
}

/// The trigamma function ψ₁(x) = d/dx ψ(x): reflection for negative arguments, the recurrence
/// ψ₁(x) = ψ₁(x + 1) + 1/x² up to x ≥ 10, then the asymptotic series, accurate to about 1e-15.
pub fn trigamma(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x <= 0.0 && x == x.floor() {
        return f64::INFINITY;
    }
    if x < 0.0 {
        // ψ₁(1 - x) + ψ₁(x) = π² / sin²(πx).
        let s = (PI * x).sin();
        return PI * PI / (s * s) - trigamma(1.0 - x);
    }
    let mut acc = 0.0;
    let mut z = x;
    // At most ten steps: z starts positive.
    while z < 10.0 {
        acc += 1.0 / (z * z);
        z += 1.0;
    }
    // ψ₁(z) ~ 1/z + 1/(2z²) + Σₖ B₂ₖ / z^(2k+1), Bernoulli numbers up to B₁₄.
    let r = 1.0 / z;
    let r2 = r * r;
    let series = 1.0 / 6.0
        - r2 * (1.0 / 30.0
            - r2 * (1.0 / 42.0
                - r2 * (1.0 / 30.0
                    - r2 * (5.0 / 66.0 - r2 * (691.0 / 2730.0 - r2 * (7.0 / 6.0))))));
    acc + r + 0.5 * r2 + r * r2 * series
}

/// The logistic function 1 / (1 + e⁻ˣ), evaluated so that neither tail overflows.
pub fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// log(1 + eˣ) without overflow for large x or loss of precision for very negative x.
pub fn log1p_exp(x: f64) -> f64 {
    // max(x, 0) + log1p(e^-|x|); a NaN x makes the second term NaN.
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// log(1 - eˣ) for x < 0 (NaN for x > 0, -∞ at 0), choosing the accurate form on each side of -ln 2.
pub fn log1m_exp(x: f64) -> f64 {
    if x > -LN_2 {
        (-x.exp_m1()).ln()
    } else {
        (-x.exp()).ln_1p()
    }
}

/// The standard normal cumulative distribution function.
pub fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / SQRT_2)
}

/// The standard normal quantile function, the inverse of [`phi`]; NaN outside [0, 1].
pub fn inv_phi(p: f64) -> f64 {
    if (0.0..=1.0).contains(&p) {
        // Through erfc⁻¹ rather than erf⁻¹(2p - 1), which would lose the lower tail to cancellation.
        -SQRT_2 * statrs_erf::erfc_inv(2.0 * p)
    } else {
        f64::NAN
    }
}

// ---------------------------------------------------------------------------------------------------
// The error function.
//
// statrs 0.19's `erf`/`erfc` are only good to about 1e-10 relative between 0.5 and 3 (its
// per-interval constants were transcribed with ten digits; fixed upstream in statrs PR #412), so
// Φ(1.96) would be off in the twelfth digit. These are FreeBSD msun's s_erf.c instead (via musl and
// the `libm` crate), within an ulp or two of mpmath. Its notice, which the licence asks to keep:
//
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//   Developed at SunPro, a Sun Microsystems, Inc. business. Permission to use, copy, modify, and
//   distribute this software is freely granted, provided that this notice is preserved.

// The constants keep the published digits, so that they can be checked against the source.
#[allow(clippy::excessive_precision)]
mod msun {
    pub const ERX: f64 = 8.45062911510467529297e-01;
    // erf on [0, 0.84375]: x + x R(x²), R = P/Q.
    pub const EFX8: f64 = 1.02703333676410069053e+00;
    pub const PP: [f64; 5] = [
        1.28379167095512558561e-01,
        -3.25042107247001499370e-01,
        -2.84817495755985104766e-02,
        -5.77027029648944159157e-03,
        -2.37630166566501626084e-05,
    ];
    pub const QQ: [f64; 5] = [
        3.97917223959155352819e-01,
        6.50222499887672944485e-02,
        5.08130628187576562776e-03,
        1.32494738004321644526e-04,
        -3.96022827877536812320e-06,
    ];
    // erf on [0.84375, 1.25]: erx + P/Q in s = |x| - 1.
    pub const PA: [f64; 7] = [
        -2.36211856075265944077e-03,
        4.14856118683748331666e-01,
        -3.72207876035701323847e-01,
        3.18346619901161753674e-01,
        -1.10894694282396677476e-01,
        3.54783043256182359371e-02,
        -2.16637559486879084300e-03,
    ];
    pub const QA: [f64; 6] = [
        1.06420880400844228286e-01,
        5.40397917702171048937e-01,
        7.18286544141962662868e-02,
        1.26171219808761642112e-01,
        1.36370839120290507362e-02,
        1.19844998467991074170e-02,
    ];
    // erfc on [1.25, 1/0.35]: exp(-x² - 0.5625 + R/S) / x in s = 1/x².
    pub const RA: [f64; 8] = [
        -9.86494403484714822705e-03,
        -6.93858572707181764372e-01,
        -1.05586262253232909814e+01,
        -6.23753324503260060396e+01,
        -1.62396669462573470355e+02,
        -1.84605092906711035994e+02,
        -8.12874355063065934246e+01,
        -9.81432934416914548592e+00,
    ];
    pub const SA: [f64; 8] = [
        1.96512716674392571292e+01,
        1.37657754143519042600e+02,
        4.34565877475229228821e+02,
        6.45387271733267880336e+02,
        4.29008140027567833386e+02,
        1.08635005541779435134e+02,
        6.57024977031928170135e+00,
        -6.04244152148580987438e-02,
    ];
    // erfc on [1/0.35, 28].
    pub const RB: [f64; 7] = [
        -9.86494292470009928597e-03,
        -7.99283237680523006574e-01,
        -1.77579549177547519889e+01,
        -1.60636384855821916062e+02,
        -6.37566443368389627722e+02,
        -1.02509513161107724954e+03,
        -4.83519191608651397019e+02,
    ];
    pub const SB: [f64; 7] = [
        3.03380607434824582924e+01,
        3.25792512996573918826e+02,
        1.53672958608443695994e+03,
        3.19985821950859553908e+03,
        2.55305040643316442583e+03,
        4.74528541206955367215e+02,
        -2.24409524465858183362e+01,
    ];

    /// c[0] + c[1] s + c[2] s² + ...
    #[inline(always)]
    pub fn poly(c: &[f64], s: f64) -> f64 {
        c.iter().rev().fold(0.0, |acc, &k| acc * s + k)
    }

    /// 1 + c[0] s + c[1] s² + ...
    #[inline(always)]
    pub fn poly1(c: &[f64], s: f64) -> f64 {
        1.0 + s * poly(c, s)
    }

    /// The top 32 bits of |x|, which select the interval.
    #[inline(always)]
    pub fn high_word(x: f64) -> u32 {
        ((x.to_bits() >> 32) as u32) & 0x7fff_ffff
    }

    /// erfc(|x|) for 0.84375 <= |x| < 28.
    pub fn erfc_mid(x: f64) -> f64 {
        let ix = high_word(x);
        let x = x.abs();
        if ix < 0x3ff4_0000 {
            // |x| < 1.25.
            let s = x - 1.0;
            return 1.0 - ERX - poly(&PA, s) / poly1(&QA, s);
        }
        let s = 1.0 / (x * x);
        let (r, big_s) = if ix < 0x4006_db6d {
            (poly(&RA, s), poly1(&SA, s))
        } else {
            (poly(&RB, s), poly1(&SB, s))
        };
        // z is x with its low 32 bits cleared, so that z² is exact.
        let z = f64::from_bits(x.to_bits() & 0xffff_ffff_0000_0000);
        (-z * z - 0.5625).exp() * ((z - x) * (z + x) + r / big_s).exp() / x
    }
}

/// The error function.
pub fn erf(x: f64) -> f64 {
    use msun::*;
    let ix = high_word(x);
    if ix >= 0x7ff0_0000 {
        // NaN, or ±1 at ±∞.
        return if x.is_nan() { x } else { x.signum() };
    }
    if ix < 0x3feb_0000 {
        // |x| < 0.84375.
        if ix < 0x3e30_0000 {
            return 0.125 * (8.0 * x + EFX8 * x);
        }
        let z = x * x;
        return x + x * (poly(&PP, z) / poly1(&QQ, z));
    }
    let y = if ix < 0x4018_0000 {
        1.0 - erfc_mid(x)
    } else {
        1.0
    };
    if x < 0.0 {
        -y
    } else {
        y
    }
}

/// The complementary error function 1 - erf(x), accurate in the upper tail.
pub fn erfc(x: f64) -> f64 {
    use msun::*;
    let ix = high_word(x);
    if ix >= 0x7ff0_0000 {
        // NaN, 0 at +∞, 2 at -∞.
        return if x.is_nan() {
            x
        } else if x > 0.0 {
            0.0
        } else {
            2.0
        };
    }
    if ix < 0x3feb_0000 {
        // |x| < 0.84375.
        if ix < 0x3c70_0000 {
            return 1.0 - x;
        }
        let z = x * x;
        let y = poly(&PP, z) / poly1(&QQ, z);
        return if x < 0.25 {
            1.0 - (x + x * y)
        } else {
            0.5 - (x - 0.5 + x * y)
        };
    }
    if ix < 0x403c_0000 {
        // 0.84375 <= |x| < 28.
        let r = erfc_mid(x);
        return if x < 0.0 { 2.0 - r } else { r };
    }
    if x < 0.0 {
        2.0
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------------------------------
// Loop helpers.

/// Independent accumulators for sums: a single accumulator is a serial dependency chain that the
/// compiler may not reorder, several pipeline and vectorise.
const LANES: usize = 8;

/// The sum of a slice.
#[inline]
pub(crate) fn sum(x: &[f64]) -> f64 {
    let chunks = x.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().sum();
    let mut acc = [0.0; LANES];
    for c in chunks {
        for (s, v) in acc.iter_mut().zip(c) {
            *s += v;
        }
    }
    fold_lanes(acc) + tail
}

#[inline(always)]
fn fold_lanes(acc: [f64; LANES]) -> f64 {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// Σ f(i) for i < n, with four accumulators.
#[inline(always)]
fn sum_by(n: usize, f: impl Fn(usize) -> f64) -> f64 {
    let mut acc = [0.0; 4];
    let mut i = 0;
    while i + 4 <= n {
        acc[0] += f(i);
        acc[1] += f(i + 1);
        acc[2] += f(i + 2);
        acc[3] += f(i + 3);
        i += 4;
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    while i < n {
        s += f(i);
        i += 1;
    }
    s
}

/// y += alpha * x.
#[inline]
pub(crate) fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    debug_assert_eq!(x.len(), y.len());
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// One operand of an elementwise kernel: a slice, or a length-1 input broadcast as a scalar.
trait Operand: Copy {
    /// How many elements the operand can supply (`usize::MAX` for a scalar).
    fn limit(self) -> usize;
    /// The operand cut to its first `n <= limit()` elements, so the loop's bounds checks vanish.
    fn cut(self, n: usize) -> Self;
    fn at(self, i: usize) -> f64;
}

#[derive(Clone, Copy)]
struct Scalar(f64);

impl Operand for Scalar {
    #[inline(always)]
    fn limit(self) -> usize {
        usize::MAX
    }
    #[inline(always)]
    fn cut(self, _: usize) -> Self {
        self
    }
    #[inline(always)]
    fn at(self, _: usize) -> f64 {
        self.0
    }
}

impl Operand for &[f64] {
    #[inline(always)]
    fn limit(self) -> usize {
        self.len()
    }
    #[inline(always)]
    fn cut(self, n: usize) -> Self {
        &self[..n]
    }
    #[inline(always)]
    fn at(self, i: usize) -> f64 {
        self[i]
    }
}

/// Evaluates `$body` with each named slice rebound as a [`Scalar`] when it has length 1 and as a
/// slice otherwise, so that every broadcast pattern gets its own loop.
macro_rules! operands {
    ($a:ident => $body:expr) => {
        if $a.len() == 1 {
            let $a = Scalar($a[0]);
            $body
        } else {
            let $a: &[f64] = $a;
            $body
        }
    };
    ($a:ident, $($rest:ident),+ => $body:expr) => {
        if $a.len() == 1 {
            let $a = Scalar($a[0]);
            operands!($($rest),+ => $body)
        } else {
            let $a: &[f64] = $a;
            operands!($($rest),+ => $body)
        }
    };
}

/// Whether an operand of length `len` is broadcast over `n` outputs.
fn broadcast_ok(len: usize, n: usize) -> bool {
    len == 1 || len == n
}

#[inline(always)]
fn map1(x: &[f64], out: &mut [f64], f: impl Fn(f64) -> f64) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o = f(x);
    }
}

/// g_x += g_out · d(x, out).
#[inline(always)]
fn acc1(x: &[f64], out: &[f64], g_out: &[f64], g_x: &mut [f64], d: impl Fn(f64, f64) -> f64) {
    let n = x.len().min(out.len()).min(g_out.len()).min(g_x.len());
    let (x, out, g_out, g_x) = (&x[..n], &out[..n], &g_out[..n], &mut g_x[..n]);
    for (i, g) in g_x.iter_mut().enumerate() {
        *g += g_out[i] * d(x[i], out[i]);
    }
}

#[inline(always)]
fn map2<A: Operand, B: Operand>(a: A, b: B, out: &mut [f64], f: impl Fn(f64, f64) -> f64) {
    let n = out.len().min(a.limit()).min(b.limit());
    let (a, b, out) = (a.cut(n), b.cut(n), &mut out[..n]);
    for (i, o) in out.iter_mut().enumerate() {
        *o = f(a.at(i), b.at(i));
    }
}

/// g += g_out · d(a, b, out), summed into `g[0]` when `g` belongs to a broadcast operand.
#[inline(always)]
fn acc2<A: Operand, B: Operand>(
    a: A,
    b: B,
    out: &[f64],
    g_out: &[f64],
    g: &mut [f64],
    d: impl Fn(f64, f64, f64) -> f64,
) {
    let n = out.len().min(g_out.len()).min(a.limit()).min(b.limit());
    if g.len() == 1 && n != 1 {
        let (a, b, out, g_out) = (a.cut(n), b.cut(n), &out[..n], &g_out[..n]);
        g[0] += sum_by(n, |i| g_out[i] * d(a.at(i), b.at(i), out[i]));
    } else {
        let n = n.min(g.len());
        let (a, b, out, g_out, g) = (a.cut(n), b.cut(n), &out[..n], &g_out[..n], &mut g[..n]);
        for (i, g) in g.iter_mut().enumerate() {
            *g += g_out[i] * d(a.at(i), b.at(i), out[i]);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Elementwise functions of one argument.

/// An elementwise function of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unary {
    Neg,
    Exp,
    Log,
    Log1p,
    Expm1,
    Log1m,
    Sqrt,
    Square,
    Cbrt,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Logistic,
    Logit,
    Log1pExp,
    Log1mExp,
    Lgamma,
    Digamma,
    Erf,
    Erfc,
    Phi,
    InvPhi,
    Floor,
    Ceil,
    Step,
    Abs,
}

impl Unary {
    /// Every variant, in declaration order.
    pub const ALL: [Unary; 32] = {
        use Unary::*;
        [
            Neg, Exp, Log, Log1p, Expm1, Log1m, Sqrt, Square, Cbrt, Sin, Cos, Tan, Asin, Acos,
            Atan, Sinh, Cosh, Tanh, Logistic, Logit, Log1pExp, Log1mExp, Lgamma, Digamma, Erf,
            Erfc, Phi, InvPhi, Floor, Ceil, Step, Abs,
        ]
    };

    /// The built-in function name (`inv_logit` is an alias of Logistic; Neg has no name -> never
    /// returned by from_name).
    pub fn from_name(name: &str) -> Option<Unary> {
        if name == "inv_logit" {
            return Some(Unary::Logistic);
        }
        Self::ALL
            .into_iter()
            .find(|&op| op != Unary::Neg && op.name() == name)
    }

    pub fn name(self) -> &'static str {
        use Unary::*;
        match self {
            Neg => "neg",
            Exp => "exp",
            Log => "log",
            Log1p => "log1p",
            Expm1 => "expm1",
            Log1m => "log1m",
            Sqrt => "sqrt",
            Square => "square",
            Cbrt => "cbrt",
            Sin => "sin",
            Cos => "cos",
            Tan => "tan",
            Asin => "asin",
            Acos => "acos",
            Atan => "atan",
            Sinh => "sinh",
            Cosh => "cosh",
            Tanh => "tanh",
            Logistic => "logistic",
            Logit => "logit",
            Log1pExp => "log1p_exp",
            Log1mExp => "log1m_exp",
            Lgamma => "lgamma",
            Digamma => "digamma",
            Erf => "erf",
            Erfc => "erfc",
            Phi => "Phi",
            InvPhi => "inv_Phi",
            Floor => "floor",
            Ceil => "ceil",
            Step => "step",
            Abs => "abs",
        }
    }
}

/// out[i] = op(x[i]).
pub fn unary(op: Unary, x: &[f64], out: &mut [f64]) {
    debug_assert_eq!(x.len(), out.len());
    use Unary::*;
    match op {
        Neg => map1(x, out, |x| -x),
        Exp => map1(x, out, f64::exp),
        Log => map1(x, out, f64::ln),
        Log1p => map1(x, out, f64::ln_1p),
        Expm1 => map1(x, out, f64::exp_m1),
        Log1m => map1(x, out, |x| (-x).ln_1p()),
        Sqrt => map1(x, out, f64::sqrt),
        Square => map1(x, out, |x| x * x),
        Cbrt => map1(x, out, f64::cbrt),
        Sin => map1(x, out, f64::sin),
        Cos => map1(x, out, f64::cos),
        Tan => map1(x, out, f64::tan),
        Asin => map1(x, out, f64::asin),
        Acos => map1(x, out, f64::acos),
        Atan => map1(x, out, f64::atan),
        Sinh => map1(x, out, f64::sinh),
        Cosh => map1(x, out, f64::cosh),
        Tanh => map1(x, out, f64::tanh),
        Logistic => map1(x, out, logistic),
        Logit => map1(x, out, |x| (x / (1.0 - x)).ln()),
        Log1pExp => map1(x, out, log1p_exp),
        Log1mExp => map1(x, out, log1m_exp),
        Lgamma => map1(x, out, lgamma),
        Digamma => map1(x, out, digamma),
        Erf => map1(x, out, erf),
        Erfc => map1(x, out, erfc),
        Phi => map1(x, out, phi),
        InvPhi => map1(x, out, inv_phi),
        Floor => map1(x, out, f64::floor),
        Ceil => map1(x, out, f64::ceil),
        // NaN stays NaN rather than becoming 0.
        Step => map1(x, out, |x| {
            if x > 0.0 {
                1.0
            } else if x.is_nan() {
                x
            } else {
                0.0
            }
        }),
        Abs => map1(x, out, f64::abs),
    }
}

/// g_x[i] += g_out[i] · op'(x[i]), given the forward values `out`.
pub fn unary_grad(op: Unary, x: &[f64], out: &[f64], g_out: &[f64], g_x: &mut [f64]) {
    debug_assert!(x.len() == out.len() && out.len() == g_out.len() && g_out.len() == g_x.len());
    use Unary::*;
    let (o, g, gx) = (out, g_out, g_x);
    match op {
        Neg => acc1(x, o, g, gx, |_, _| -1.0),
        Exp => acc1(x, o, g, gx, |_, y| y),
        Log => acc1(x, o, g, gx, |x, _| 1.0 / x),
        Log1p => acc1(x, o, g, gx, |x, _| 1.0 / (1.0 + x)),
        Expm1 => acc1(x, o, g, gx, |_, y| y + 1.0),
        Log1m => acc1(x, o, g, gx, |x, _| -1.0 / (1.0 - x)),
        Sqrt => acc1(x, o, g, gx, |_, y| 0.5 / y),
        Square => acc1(x, o, g, gx, |x, _| 2.0 * x),
        Cbrt => acc1(x, o, g, gx, |_, y| 1.0 / (3.0 * y * y)),
        Sin => acc1(x, o, g, gx, |x, _| x.cos()),
        Cos => acc1(x, o, g, gx, |x, _| -x.sin()),
        Tan => acc1(x, o, g, gx, |_, y| 1.0 + y * y),
        Asin => acc1(x, o, g, gx, |x, _| 1.0 / (1.0 - x * x).sqrt()),
        Acos => acc1(x, o, g, gx, |x, _| -1.0 / (1.0 - x * x).sqrt()),
        Atan => acc1(x, o, g, gx, |x, _| 1.0 / (1.0 + x * x)),
        Sinh => acc1(x, o, g, gx, |x, _| x.cosh()),
        Cosh => acc1(x, o, g, gx, |x, _| x.sinh()),
        Tanh => acc1(x, o, g, gx, |_, y| 1.0 - y * y),
        Logistic => acc1(x, o, g, gx, |_, y| y * (1.0 - y)),
        Logit => acc1(x, o, g, gx, |x, _| 1.0 / (x * (1.0 - x))),
        Log1pExp => acc1(x, o, g, gx, |x, _| logistic(x)),
        // d/dx log(1 - eˣ) = -eˣ / (1 - eˣ) = -1 / (e⁻ˣ - 1).
        Log1mExp => acc1(x, o, g, gx, |x, _| -1.0 / (-x).exp_m1()),
        Lgamma => acc1(x, o, g, gx, |x, _| digamma(x)),
        Digamma => acc1(x, o, g, gx, |x, _| trigamma(x)),
        Erf => acc1(x, o, g, gx, |x, _| FRAC_2_SQRT_PI * (-x * x).exp()),
        Erfc => acc1(x, o, g, gx, |x, _| -FRAC_2_SQRT_PI * (-x * x).exp()),
        Phi => acc1(x, o, g, gx, |x, _| FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()),
        InvPhi => acc1(x, o, g, gx, |_, y| SQRT_2PI * (0.5 * y * y).exp()),
        // Piecewise constant: no contribution.
        Floor | Ceil | Step => {}
        Abs => acc1(x, o, g, gx, |x, _| if x == 0.0 { 0.0 } else { x.signum() }),
    }
}

// ---------------------------------------------------------------------------------------------------
// Elementwise functions of two arguments.

/// An elementwise function of two arguments, broadcast together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Atan2,
    Hypot,
    Fmin,
    Fmax,
    Lbeta,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Binary {
    /// Every variant, in declaration order.
    pub const ALL: [Binary; 16] = {
        use Binary::*;
        [
            Add, Sub, Mul, Div, Pow, Atan2, Hypot, Fmin, Fmax, Lbeta, Eq, Ne, Lt, Le, Gt, Ge,
        ]
    };

    /// The built-in function of this name: pow, atan2, hypot, fmin, fmax, lbeta (the arithmetic and
    /// comparisons are operators, not functions).
    pub fn from_name(name: &str) -> Option<Binary> {
        use Binary::*;
        [Pow, Atan2, Hypot, Fmin, Fmax, Lbeta]
            .into_iter()
            .find(|op| op.name() == name)
    }

    pub fn name(self) -> &'static str {
        use Binary::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            Pow => "pow",
            Atan2 => "atan2",
            Hypot => "hypot",
            Fmin => "fmin",
            Fmax => "fmax",
            Lbeta => "lbeta",
            Eq => "eq",
            Ne => "ne",
            Lt => "lt",
            Le => "le",
            Gt => "gt",
            Ge => "ge",
        }
    }

    /// Whether the result is piecewise constant (the comparisons), so its gradient is zero.
    pub fn is_comparison(self) -> bool {
        use Binary::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
}

#[inline(always)]
fn indicator(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Whether fmin(a, b) takes `a`: the first on ties, and the number when the other is NaN.
#[inline(always)]
fn min_takes_a(a: f64, b: f64) -> bool {
    a <= b || b.is_nan()
}

#[inline(always)]
fn max_takes_a(a: f64, b: f64) -> bool {
    a >= b || b.is_nan()
}

/// ∂ a^b / ∂a; zero when b = 0 (also at a = 0, where the formula would give 0 · ∞).
#[inline(always)]
fn pow_da(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        b * a.powf(b - 1.0)
    }
}

/// ∂ a^b / ∂b = a^b ln a; zero at a = 0 with b > 0 (the limit), where the formula gives 0 · -∞.
#[inline(always)]
fn pow_db(a: f64, b: f64, y: f64) -> f64 {
    if a == 0.0 && b > 0.0 {
        0.0
    } else {
        y * a.ln()
    }
}

/// out[i] = op(a[i], b[i]). `a` and `b` each have length 1 (broadcast) or out.len(). Comparisons
/// give 1.0/0.0 and have zero gradient.
pub fn binary(op: Binary, a: &[f64], b: &[f64], out: &mut [f64]) {
    debug_assert!(broadcast_ok(a.len(), out.len()) && broadcast_ok(b.len(), out.len()));
    use Binary::*;
    operands!(a, b => match op {
        Add => map2(a, b, out, |a, b| a + b),
        Sub => map2(a, b, out, |a, b| a - b),
        Mul => map2(a, b, out, |a, b| a * b),
        Div => map2(a, b, out, |a, b| a / b),
        Pow => map2(a, b, out, f64::powf),
        Atan2 => map2(a, b, out, f64::atan2),
        Hypot => map2(a, b, out, f64::hypot),
        Fmin => map2(a, b, out, f64::min),
        Fmax => map2(a, b, out, f64::max),
        Lbeta => map2(a, b, out, |a, b| lgamma(a) + lgamma(b) - lgamma(a + b)),
        Eq => map2(a, b, out, |a, b| indicator(a == b)),
        Ne => map2(a, b, out, |a, b| indicator(a != b)),
        Lt => map2(a, b, out, |a, b| indicator(a < b)),
        Le => map2(a, b, out, |a, b| indicator(a <= b)),
        Gt => map2(a, b, out, |a, b| indicator(a > b)),
        Ge => map2(a, b, out, |a, b| indicator(a >= b)),
    })
}

/// Adds g_out · ∂op/∂a into `g_a` and g_out · ∂op/∂b into `g_b` (each summed when broadcast).
pub fn binary_grad(
    op: Binary,
    a: &[f64],
    b: &[f64],
    out: &[f64],
    g_out: &[f64],
    g_a: Option<&mut [f64]>,
    g_b: Option<&mut [f64]>,
) {
    debug_assert!(broadcast_ok(a.len(), out.len()) && broadcast_ok(b.len(), out.len()));
    debug_assert_eq!(out.len(), g_out.len());
    debug_assert!(g_a.as_ref().is_none_or(|g| g.len() == a.len()));
    debug_assert!(g_b.as_ref().is_none_or(|g| g.len() == b.len()));
    use Binary::*;
    if op.is_comparison() {
        return;
    }
    let (o, g) = (out, g_out);
    if let Some(ga) = g_a {
        operands!(a, b => match op {
            Add | Sub => acc2(a, b, o, g, ga, |_, _, _| 1.0),
            Mul => acc2(a, b, o, g, ga, |_, b, _| b),
            Div => acc2(a, b, o, g, ga, |_, b, _| 1.0 / b),
            Pow => acc2(a, b, o, g, ga, |a, b, _| pow_da(a, b)),
            Atan2 => acc2(a, b, o, g, ga, |a, b, _| b / (a * a + b * b)),
            Hypot => acc2(a, b, o, g, ga, |a, _, y| if y == 0.0 { 0.0 } else { a / y }),
            Fmin => acc2(a, b, o, g, ga, |a, b, _| indicator(min_takes_a(a, b))),
            Fmax => acc2(a, b, o, g, ga, |a, b, _| indicator(max_takes_a(a, b))),
            Lbeta => acc2(a, b, o, g, ga, |a, b, _| digamma(a) - digamma(a + b)),
            Eq | Ne | Lt | Le | Gt | Ge => {}
        });
    }
    if let Some(gb) = g_b {
        operands!(a, b => match op {
            Add => acc2(a, b, o, g, gb, |_, _, _| 1.0),
            Sub => acc2(a, b, o, g, gb, |_, _, _| -1.0),
            Mul => acc2(a, b, o, g, gb, |a, _, _| a),
            Div => acc2(a, b, o, g, gb, |_, b, y| -y / b),
            Pow => acc2(a, b, o, g, gb, pow_db),
            Atan2 => acc2(a, b, o, g, gb, |a, b, _| -a / (a * a + b * b)),
            Hypot => acc2(a, b, o, g, gb, |_, b, y| if y == 0.0 { 0.0 } else { b / y }),
            Fmin => acc2(a, b, o, g, gb, |a, b, _| indicator(!min_takes_a(a, b))),
            Fmax => acc2(a, b, o, g, gb, |a, b, _| indicator(!max_takes_a(a, b))),
            Lbeta => acc2(a, b, o, g, gb, |a, b, _| digamma(b) - digamma(a + b)),
            Eq | Ne | Lt | Le | Gt | Ge => {}
        });
    }
}

// ---------------------------------------------------------------------------------------------------
// Selection.

/// out[i] = if c[i] != 0 { a[i] } else { b[i] }, each of c, a, b length 1 or out.len().
pub fn select(c: &[f64], a: &[f64], b: &[f64], out: &mut [f64]) {
    let n = out.len();
    debug_assert!(broadcast_ok(c.len(), n) && broadcast_ok(a.len(), n) && broadcast_ok(b.len(), n));
    operands!(c, a, b => {
        let n = n.min(c.limit()).min(a.limit()).min(b.limit());
        let (c, a, b, out) = (c.cut(n), a.cut(n), b.cut(n), &mut out[..n]);
        for (i, o) in out.iter_mut().enumerate() {
            *o = if c.at(i) != 0.0 { a.at(i) } else { b.at(i) };
        }
    })
}

/// g_a[i] += g_out[i] where c[i] != 0 and g_b[i] += g_out[i] elsewhere (summed when broadcast).
pub fn select_grad(c: &[f64], g_out: &[f64], g_a: Option<&mut [f64]>, g_b: Option<&mut [f64]>) {
    debug_assert!(broadcast_ok(c.len(), g_out.len()));
    if let Some(ga) = g_a {
        operands!(c => acc2(c, Scalar(0.0), g_out, g_out, ga, |c, _, _| indicator(c != 0.0)));
    }
    if let Some(gb) = g_b {
        operands!(c => acc2(c, Scalar(0.0), g_out, g_out, gb, |c, _, _| indicator(c == 0.0)));
    }
}

// ---------------------------------------------------------------------------------------------------
// Reductions and scans along one axis.

/// A reduction along one axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reduce {
    Sum,
    Mean,
    Prod,
    Min,
    Max,
    LogSumExp,
    Sd,
    Variance,
    Norm,
}

impl Reduce {
    /// Every variant, in declaration order.
    pub const ALL: [Reduce; 9] = {
        use Reduce::*;
        [Sum, Mean, Prod, Min, Max, LogSumExp, Sd, Variance, Norm]
    };

    pub fn from_name(name: &str) -> Option<Reduce> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    pub fn name(self) -> &'static str {
        use Reduce::*;
        match self {
            Sum => "sum",
            Mean => "mean",
            Prod => "prod",
            Min => "min",
            Max => "max",
            LogSumExp => "log_sum_exp",
            Sd => "sd",
            Variance => "variance",
            Norm => "norm",
        }
    }
}

/// An array viewed as [outer, len, inner] row-major: `outer * inner` lanes of `len` elements, lane
/// (o, i) starting at `o * len * inner + i` with stride `inner`.
#[derive(Clone, Copy)]
struct View {
    outer: usize,
    len: usize,
    inner: usize,
}

impl View {
    /// The view, clipped to the lanes that an input of `x_len` and an output of `out_len` elements
    /// can hold (all of them unless the caller passed inconsistent sizes).
    fn new(outer: usize, len: usize, inner: usize, x_len: usize, out_len: usize) -> View {
        // With len = 0 every lane is empty and any number of them fits in x; with inner = 0 there
        // are no lanes at all.
        let fit_x = x_len
            .checked_div(len.saturating_mul(inner))
            .unwrap_or(outer);
        let fit_out = out_len.checked_div(inner).unwrap_or(0);
        View {
            outer: outer.min(fit_x).min(fit_out),
            len,
            inner,
        }
    }

    /// (output index, lane start) of every lane.
    fn lanes(self) -> impl Iterator<Item = (usize, usize)> {
        let View { outer, len, inner } = self;
        (0..outer).flat_map(move |o| (0..inner).map(move |i| (o * inner + i, o * len * inner + i)))
    }

    /// The index range a lane spans, from its first to its last element.
    fn span(self, start: usize) -> std::ops::Range<usize> {
        if self.len == 0 {
            start..start
        } else {
            start..start + (self.len - 1) * self.inner + 1
        }
    }

    /// The lane's elements (only called with inner > 0, as `lanes` yields nothing otherwise).
    fn lane(self, x: &[f64], start: usize) -> std::iter::StepBy<std::slice::Iter<'_, f64>> {
        x.get(self.span(start))
            .unwrap_or(&[])
            .iter()
            .step_by(self.inner)
    }

    fn lane_mut(
        self,
        x: &mut [f64],
        start: usize,
    ) -> std::iter::StepBy<std::slice::IterMut<'_, f64>> {
        x.get_mut(self.span(start))
            .unwrap_or(&mut [])
            .iter_mut()
            .step_by(self.inner)
    }
}

/// The position and value of the first minimum (or maximum) of a lane; the first NaN if any.
fn arg_extremum<'a>(lane: impl Iterator<Item = &'a f64>, max: bool) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (k, &v) in lane.enumerate() {
        if v.is_nan() {
            return Some((k, v));
        }
        best = match best {
            Some((_, b)) if !(if max { v > b } else { v < b }) => best,
            _ => Some((k, v)),
        };
    }
    best
}

/// Mean and n-1 variance of a lane (variance 0 for one element, as Stan; NaN for none).
fn mean_variance(view: View, x: &[f64], start: usize) -> (f64, f64) {
    let n = view.len as f64;
    let mean = view.lane(x, start).sum::<f64>() / n;
    let variance = match view.len {
        0 => f64::NAN,
        1 => 0.0,
        _ => {
            view.lane(x, start)
                .map(|v| (v - mean) * (v - mean))
                .sum::<f64>()
                / (n - 1.0)
        }
    };
    (mean, variance)
}

fn reduce_lane(op: Reduce, view: View, x: &[f64], start: usize) -> f64 {
    use Reduce::*;
    let lane = || view.lane(x, start);
    match op {
        Sum if view.inner == 1 => x.get(view.span(start)).map_or(0.0, sum),
        Sum => lane().sum(),
        Mean => lane().sum::<f64>() / view.len as f64,
        Prod => lane().product(),
        Min => arg_extremum(lane(), false).map_or(f64::INFINITY, |(_, v)| v),
        Max => arg_extremum(lane(), true).map_or(f64::NEG_INFINITY, |(_, v)| v),
        LogSumExp => match arg_extremum(lane(), true) {
            Some((_, m)) if m.is_finite() => m + lane().map(|v| (v - m).exp()).sum::<f64>().ln(),
            Some((_, m)) => m,
            None => f64::NEG_INFINITY,
        },
        Variance => mean_variance(view, x, start).1,
        Sd => mean_variance(view, x, start).1.sqrt(),
        Norm => {
            let ss: f64 = lane().map(|v| v * v).sum();
            // Rescale only when the squares overflowed or underflowed.
            if ss.is_nan() || (ss.is_finite() && ss > 1e-280) {
                ss.sqrt()
            } else {
                let scale = lane().fold(0.0, |m: f64, v| m.max(v.abs()));
                if scale == 0.0 || scale.is_infinite() {
                    scale
                } else {
                    scale
                        * lane()
                            .map(|v| (v / scale) * (v / scale))
                            .sum::<f64>()
                            .sqrt()
                }
            }
        }
    }
}

/// `x` is viewed as [outer, len, inner] row-major and reduced over the middle axis:
/// out[o*inner + i] = reduce over k of x[(o*len + k)*inner + i]. Sd and Variance use the n-1
/// denominator (as Stan); Norm is the 2-norm. Empty lanes give the identity (sum 0, prod 1, min +∞,
/// max and log_sum_exp -∞) or NaN (mean, sd, variance).
pub fn reduce(op: Reduce, x: &[f64], outer: usize, len: usize, inner: usize, out: &mut [f64]) {
    debug_assert_eq!(x.len(), outer * len * inner);
    debug_assert_eq!(out.len(), outer * inner);
    let view = View::new(outer, len, inner, x.len(), out.len());
    for (o, start) in view.lanes() {
        out[o] = reduce_lane(op, view, x, start);
    }
}

fn reduce_lane_grad(
    op: Reduce,
    view: View,
    x: &[f64],
    start: usize,
    y: f64,
    g: f64,
    g_x: &mut [f64],
) {
    use Reduce::*;
    let n = view.len as f64;
    let lane = view.lane(x, start);
    let mut lane_g = view.lane_mut(g_x, start);
    match op {
        Sum => lane_g.for_each(|gx| *gx += g),
        Mean => lane_g.for_each(|gx| *gx += g / n),
        Prod => match lane.clone().filter(|&&v| v == 0.0).count() {
            0 => lane_g.zip(lane).for_each(|(gx, &v)| *gx += g * (y / v)),
            // Only the zero moves the product: its derivative is the product of the others.
            1 => {
                let others: f64 = lane.clone().filter(|&&v| v != 0.0).product();
                lane_g
                    .zip(lane)
                    .filter(|(_, &v)| v == 0.0)
                    .for_each(|(gx, _)| *gx += g * others);
            }
            _ => {}
        },
        Min | Max => {
            if let Some((k, _)) = arg_extremum(lane, op == Max) {
                if let Some(gx) = lane_g.nth(k) {
                    *gx += g;
                }
            }
        }
        LogSumExp => {
            // All -∞ (or an empty lane): no direction increases the result.
            if y != f64::NEG_INFINITY {
                lane_g
                    .zip(lane)
                    .for_each(|(gx, &v)| *gx += g * (v - y).exp());
            }
        }
        Variance | Sd => {
            if view.len >= 2 {
                let (mean, _) = mean_variance(view, x, start);
                // d var / dx = 2 (x - mean) / (n - 1); d sd / dx = (x - mean) / ((n - 1) sd).
                let scale = match op {
                    Variance => 2.0 / (n - 1.0),
                    _ if y > 0.0 => 1.0 / ((n - 1.0) * y),
                    _ => 0.0,
                };
                lane_g
                    .zip(lane)
                    .for_each(|(gx, &v)| *gx += g * scale * (v - mean));
            }
        }
        Norm => {
            if y > 0.0 {
                lane_g.zip(lane).for_each(|(gx, &v)| *gx += g * (v / y));
            }
        }
    }
}

/// Adds the gradient of [`reduce`] into `g_x`, given its forward values `out`.
#[allow(clippy::too_many_arguments)]
pub fn reduce_grad(
    op: Reduce,
    x: &[f64],
    outer: usize,
    len: usize,
    inner: usize,
    out: &[f64],
    g_out: &[f64],
    g_x: &mut [f64],
) {
    debug_assert_eq!(x.len(), outer * len * inner);
    debug_assert_eq!(g_x.len(), x.len());
    debug_assert!(out.len() == outer * inner && g_out.len() == out.len());
    let view = View::new(
        outer,
        len,
        inner,
        x.len().min(g_x.len()),
        out.len().min(g_out.len()),
    );
    for (o, start) in view.lanes() {
        reduce_lane_grad(op, view, x, start, out[o], g_out[o], g_x);
    }
}

/// Cumulative sum along the middle axis of the same [outer, len, inner] view.
pub fn cumsum(x: &[f64], outer: usize, len: usize, inner: usize, out: &mut [f64]) {
    debug_assert_eq!(x.len(), outer * len * inner);
    debug_assert_eq!(out.len(), x.len());
    let lanes = outer.saturating_mul(inner);
    let view = View::new(outer, len, inner, x.len().min(out.len()), lanes);
    for (_, start) in view.lanes() {
        let mut s = 0.0;
        for (o, &v) in view.lane_mut(out, start).zip(view.lane(x, start)) {
            s += v;
            *o = s;
        }
    }
}

/// g_x[k] += Σ_{j ≥ k} g_out[j] along each lane.
pub fn cumsum_grad(outer: usize, len: usize, inner: usize, g_out: &[f64], g_x: &mut [f64]) {
    debug_assert_eq!(g_out.len(), outer * len * inner);
    debug_assert_eq!(g_x.len(), g_out.len());
    let lanes = outer.saturating_mul(inner);
    let view = View::new(outer, len, inner, g_out.len().min(g_x.len()), lanes);
    for (_, start) in view.lanes() {
        let mut s = 0.0;
        for (gx, &g) in view
            .lane_mut(g_x, start)
            .rev()
            .zip(view.lane(g_out, start).rev())
        {
            s += g;
            *gx += s;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Vector maps.

/// The largest element (NaN elements are skipped here and propagate through the sums).
fn max_of(x: &[f64]) -> f64 {
    x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v))
}

/// out = exp(x) / Σ exp(x), shifted by the maximum so that nothing overflows.
pub fn softmax(x: &[f64], out: &mut [f64]) {
    debug_assert_eq!(x.len(), out.len());
    let m = max_of(x);
    map1(x, out, |v| (v - m).exp());
    let scale = 1.0 / sum(out);
    for o in out.iter_mut() {
        *o *= scale;
    }
}

/// g_x[k] += out[k] (g_out[k] - Σ_j g_out[j] out[j]).
pub fn softmax_grad(out: &[f64], g_out: &[f64], g_x: &mut [f64]) {
    debug_assert!(out.len() == g_out.len() && g_out.len() == g_x.len());
    let s = dot(out, g_out);
    let n = out.len().min(g_out.len()).min(g_x.len());
    let (out, g_out, g_x) = (&out[..n], &g_out[..n], &mut g_x[..n]);
    for (i, gx) in g_x.iter_mut().enumerate() {
        *gx += out[i] * (g_out[i] - s);
    }
}

/// out = x - log Σ exp(x).
pub fn log_softmax(x: &[f64], out: &mut [f64]) {
    debug_assert_eq!(x.len(), out.len());
    let m = max_of(x);
    map1(x, out, |v| (v - m).exp());
    // (x - m) - log Σ exp(x - m) rather than x - lse: the shifted values are small, so nothing of
    // the result is lost to rounding at the magnitude of m.
    let log_sum = sum(out).ln();
    map1(x, out, |v| (v - m) - log_sum);
}

/// g_x[k] += g_out[k] - exp(out[k]) Σ_j g_out[j].
pub fn log_softmax_grad(out: &[f64], g_out: &[f64], g_x: &mut [f64]) {
    debug_assert!(out.len() == g_out.len() && g_out.len() == g_x.len());
    let s = sum(g_out);
    let n = out.len().min(g_out.len()).min(g_x.len());
    let (out, g_out, g_x) = (&out[..n], &g_out[..n], &mut g_x[..n]);
    for (i, gx) in g_x.iter_mut().enumerate() {
        *gx += g_out[i] - out[i].exp() * s;
    }
}

// ---------------------------------------------------------------------------------------------------
// Products.

/// a: rows x cols row-major; x: cols; out: rows.
pub fn matvec(a: &[f64], rows: usize, cols: usize, x: &[f64], out: &mut [f64]) {
    debug_assert!(a.len() == rows * cols && x.len() == cols && out.len() == rows);
    let n = rows.min(out.len());
    let out = &mut out[..n];
    if cols == 0 {
        out.fill(0.0);
        return;
    }
    for (o, row) in out.iter_mut().zip(a.chunks_exact(cols)) {
        *o = dot(row, x);
    }
}

/// g_a[r][c] += g_out[r] x[c] and g_x += Σ_r g_out[r] a[r], both as row-wise axpys.
pub fn matvec_grad(
    a: &[f64],
    rows: usize,
    cols: usize,
    x: &[f64],
    g_out: &[f64],
    g_a: Option<&mut [f64]>,
    g_x: Option<&mut [f64]>,
) {
    debug_assert!(a.len() == rows * cols && x.len() == cols && g_out.len() == rows);
    if cols == 0 {
        return;
    }
    let g_out = &g_out[..rows.min(g_out.len())];
    if let Some(g_x) = g_x {
        debug_assert_eq!(g_x.len(), cols);
        for (row, &g) in a.chunks_exact(cols).zip(g_out) {
            axpy(g, row, g_x);
        }
    }
    if let Some(g_a) = g_a {
        debug_assert_eq!(g_a.len(), a.len());
        for (g_row, &g) in g_a.chunks_exact_mut(cols).zip(g_out) {
            axpy(g, x, g_row);
        }
    }
}

/// a: r x k, b: k x c, out: r x c, all row-major. Each output row is built as Σ_l a[i][l] b[l], a
/// sequence of contiguous axpys.
pub fn matmul(a: &[f64], r: usize, k: usize, b: &[f64], c: usize, out: &mut [f64]) {
    debug_assert!(a.len() == r * k && b.len() == k * c && out.len() == r * c);
    if c == 0 {
        return;
    }
    if k == 0 {
        let n = (r * c).min(out.len());
        out[..n].fill(0.0);
        return;
    }
    for (out_row, a_row) in out.chunks_exact_mut(c).zip(a.chunks_exact(k)).take(r) {
        out_row.fill(0.0);
        for (&a_il, b_row) in a_row.iter().zip(b.chunks_exact(c)) {
            axpy(a_il, b_row, out_row);
        }
    }
}

/// g_a += g_out bᵀ (row dot products) and g_b += aᵀ g_out (row axpys).
#[allow(clippy::too_many_arguments)]
pub fn matmul_grad(
    a: &[f64],
    r: usize,
    k: usize,
    b: &[f64],
    c: usize,
    g_out: &[f64],
    g_a: Option<&mut [f64]>,
    g_b: Option<&mut [f64]>,
) {
    debug_assert!(a.len() == r * k && b.len() == k * c && g_out.len() == r * c);
    if c == 0 || k == 0 {
        return;
    }
    if let Some(g_a) = g_a {
        debug_assert_eq!(g_a.len(), a.len());
        for (g_a_row, g_row) in g_a.chunks_exact_mut(k).zip(g_out.chunks_exact(c)).take(r) {
            for (ga, b_row) in g_a_row.iter_mut().zip(b.chunks_exact(c)) {
                *ga += dot(g_row, b_row);
            }
        }
    }
    if let Some(g_b) = g_b {
        debug_assert_eq!(g_b.len(), b.len());
        for (a_row, g_row) in a.chunks_exact(k).zip(g_out.chunks_exact(c)).take(r) {
            for (&a_il, g_b_row) in a_row.iter().zip(g_b.chunks_exact_mut(c)) {
                axpy(a_il, g_row, g_b_row);
            }
        }
    }
}

/// Σ a[i] b[i].
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (ca, cb) = (a[..n].chunks_exact(LANES), b[..n].chunks_exact(LANES));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0; LANES];
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    fold_lanes(acc) + tail
}

/// g_a += g_out b and g_b += g_out a.
pub fn dot_grad(
    a: &[f64],
    b: &[f64],
    g_out: f64,
    g_a: Option<&mut [f64]>,
    g_b: Option<&mut [f64]>,
) {
    debug_assert_eq!(a.len(), b.len());
    if let Some(g_a) = g_a {
        axpy(g_out, b, g_a);
    }
    if let Some(g_b) = g_b {
        axpy(g_out, a, g_b);
    }
}

// ---------------------------------------------------------------------------------------------------
// Indexing.

/// out[i] = x[map[i]] (gather); an index out of range (a caller bug) gives NaN.
pub fn gather(x: &[f64], map: &[u32], out: &mut [f64]) {
    debug_assert_eq!(map.len(), out.len());
    debug_assert!(map.iter().all(|&m| (m as usize) < x.len()));
    for (o, &m) in out.iter_mut().zip(map) {
        *o = x.get(m as usize).copied().unwrap_or(f64::NAN);
    }
}

/// The adjoint of [`gather`]: g_x[map[i]] += g_out[i], so repeated indices accumulate.
pub fn gather_grad(map: &[u32], g_out: &[f64], g_x: &mut [f64]) {
    debug_assert_eq!(map.len(), g_out.len());
    debug_assert!(map.iter().all(|&m| (m as usize) < g_x.len()));
    for (&m, &g) in map.iter().zip(g_out) {
        if let Some(gx) = g_x.get_mut(m as usize) {
            *gx += g;
        }
    }
}
