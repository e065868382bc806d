//! The numeric kernels of `eval::ops`: forward values against closed forms, std and statrs; every
//! reverse-mode gradient against central finite differences of a random linear functional
//! Σᵢ wᵢ outᵢ at well-conditioned points (proptest), with broadcast operands and axis views; no panic
//! on NaN, infinities or empty slices; and no heap allocation in any kernel.

// Reference values are quoted with the 17 digits mpmath printed.
#![allow(clippy::excessive_precision)]

mod counting;

use std::f64::consts::{LN_2, PI};

use mmi::eval::ops::{self, Binary, Reduce, Unary};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use statrs::function::{erf, gamma};

use counting::allocations;

// ---------------------------------------------------------------------------------------------------
// The finite-difference harness.

type Forward<'a> = &'a dyn Fn(&[Vec<f64>]) -> Vec<f64>;
type Backward<'a> = &'a dyn Fn(&[Vec<f64>], &[f64], &[f64], &mut [Vec<f64>]);

/// Random weights of magnitude 0.5..1.5 and random sign, from a seed (splitmix64).
fn weights(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let u = (z >> 11) as f64 / (1u64 << 53) as f64;
            if z & 1 == 1 {
                -(0.5 + u)
            } else {
                0.5 + u
            }
        })
        .collect()
}

/// What the gradient slices hold before the backward pass, to check that kernels add into them.
const PREFILL: f64 = 0.25;

/// Checks `backward` against a fourth-order central difference of L = Σᵢ wᵢ forward(inputs)ᵢ, with
/// relative error below 1e-6 (relative to max(|analytic|, |numeric|, 1e-3)).
fn check_gradient(
    what: &str,
    inputs: &[Vec<f64>],
    seed: u64,
    forward: Forward,
    backward: Backward,
) -> Result<(), TestCaseError> {
    let out = forward(inputs);
    let w = weights(seed, out.len());
    let loss = |xs: &[Vec<f64>]| -> f64 { forward(xs).iter().zip(&w).map(|(o, w)| o * w).sum() };
    let mut grads: Vec<Vec<f64>> = inputs.iter().map(|x| vec![PREFILL; x.len()]).collect();
    backward(inputs, &out, &w, &mut grads);
    for (j, x) in inputs.iter().enumerate() {
        for k in 0..x.len() {
            let h = 1e-4 * x[k].abs().max(1.0);
            let at = |d: f64| {
                let mut xs = inputs.to_vec();
                xs[j][k] += d;
                loss(&xs)
            };
            let numeric = (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * h);
            let analytic = grads[j][k] - PREFILL;
            let err = (numeric - analytic).abs() / numeric.abs().max(analytic.abs()).max(1e-3);
            prop_assert!(
                err < 1e-6,
                "{}: d/d input{}[{}] at {:?}: analytic {}, numeric {} (relative error {:e})",
                what,
                j,
                k,
                inputs,
                analytic,
                numeric,
                err
            );
        }
    }
    Ok(())
}

fn lerp(lo: f64, hi: f64, u: f64) -> f64 {
    lo + (hi - lo) * u
}

/// A well-conditioned point of `op`'s domain (away from kinks, poles and jumps) from u in [0, 1).
fn unary_point(op: Unary, u: f64, flip: bool) -> f64 {
    use Unary::*;
    let sign = if flip { -1.0 } else { 1.0 };
    match op {
        Log | Sqrt | Lgamma | Digamma => lerp(0.1, 10.0, u),
        Cbrt | Abs => sign * lerp(0.1, 5.0, u),
        Log1p => lerp(-0.9, 10.0, u),
        Log1m => lerp(-10.0, 0.9, u),
        Asin | Acos => lerp(-0.9, 0.9, u),
        Tan => lerp(-1.3, 1.3, u),
        Logit => lerp(0.05, 0.95, u),
        InvPhi => lerp(0.02, 0.98, u),
        Log1pExp => lerp(-10.0, 10.0, u),
        Log1mExp => lerp(-10.0, -0.1, u),
        Floor | Ceil | Step => {
            let x = lerp(-3.0, 3.0, u);
            if (x - x.round()).abs() < 0.05 {
                x + 0.1
            } else {
                x
            }
        }
        Neg | Square | Atan | Logistic => lerp(-5.0, 5.0, u),
        Exp | Expm1 | Sin | Cos | Sinh | Cosh | Tanh | Erf | Erfc | Phi => lerp(-3.0, 3.0, u),
    }
}

/// Operands of `op` of the given lengths at well-conditioned points: comparisons and fmin/fmax get
/// b at least 0.1 away from the a it meets, so no perturbation flips them.
fn binary_points(op: Binary, us: &[(f64, f64, bool)], a_len: usize, b_len: usize) -> [Vec<f64>; 2] {
    use Binary::*;
    let sign = |flip: bool| if flip { -1.0 } else { 1.0 };
    let a: Vec<f64> = us[..a_len]
        .iter()
        .map(|&(u, _, flip)| match op {
            Pow => lerp(0.1, 5.0, u),
            Hypot => sign(flip) * lerp(0.1, 5.0, u),
            Lbeta => lerp(0.1, 10.0, u),
            _ => lerp(-5.0, 5.0, u),
        })
        .collect();
    let b = us[..b_len]
        .iter()
        .enumerate()
        .map(|(i, &(_, v, flip))| match op {
            Add | Sub | Mul => lerp(-5.0, 5.0, v),
            Div | Atan2 => sign(flip) * lerp(0.5, 5.0, v),
            Pow => lerp(-3.0, 3.0, v),
            Hypot => sign(!flip) * lerp(0.1, 5.0, v),
            Lbeta => lerp(0.1, 10.0, v),
            Fmin | Fmax | Eq | Ne | Lt | Le | Gt | Ge => {
                a[if a_len == 1 { 0 } else { i }] + sign(flip) * lerp(0.1, 2.0, v)
            }
        })
        .collect();
    [a, b]
}

/// The [outer, len, inner] view of `dims` reduced along `axis`.
fn view(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        dims[..axis].iter().product(),
        dims[axis],
        dims[axis + 1..].iter().product(),
    )
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a == b) || (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

fn unary1(op: Unary, x: f64) -> f64 {
    let mut out = [0.0];
    ops::unary(op, &[x], &mut out);
    out[0]
}

fn unary_grad1(op: Unary, x: f64) -> f64 {
    let y = unary1(op, x);
    let mut g = [0.0];
    ops::unary_grad(op, &[x], &[y], &[1.0], &mut g);
    g[0]
}

fn binary1(op: Binary, a: f64, b: f64) -> f64 {
    let mut out = [0.0];
    ops::binary(op, &[a], &[b], &mut out);
    out[0]
}

/// (∂/∂a, ∂/∂b) at one point.
fn binary_grad1(op: Binary, a: f64, b: f64) -> (f64, f64) {
    let y = binary1(op, a, b);
    let (mut ga, mut gb) = ([0.0], [0.0]);
    ops::binary_grad(op, &[a], &[b], &[y], &[1.0], Some(&mut ga), Some(&mut gb));
    (ga[0], gb[0])
}

fn reduce_all(op: Reduce, x: &[f64]) -> f64 {
    let mut out = [0.0];
    ops::reduce(op, x, 1, x.len(), 1, &mut out);
    out[0]
}

// ---------------------------------------------------------------------------------------------------
// Names.

#[test]
fn names_round_trip_and_match_the_builtin_table() {
    use mmi::library::functions::{self, Rule};
    for op in Unary::ALL {
        if op == Unary::Neg {
            assert_eq!(Unary::from_name(op.name()), None);
        } else {
            assert_eq!(Unary::from_name(op.name()), Some(op), "{op:?}");
            assert!(
                functions::lookup(op.name()).is_some(),
                "{} is not a built-in",
                op.name()
            );
        }
    }
    assert_eq!(Unary::from_name("inv_logit"), Some(Unary::Logistic));
    assert_eq!(Unary::from_name("nope"), None);
    // Every one-argument elementwise built-in has a kernel.
    for name in functions::names() {
        if let Some(spec) = functions::lookup(name) {
            if let Rule::Map1 { .. } = spec.rule {
                assert!(
                    Unary::from_name(name).is_some(),
                    "no Unary for built-in {name}"
                );
            }
        }
    }
    for op in Binary::ALL {
        let named = Binary::from_name(op.name());
        assert_eq!(
            named.is_some(),
            !op.is_comparison()
                && !matches!(op, Binary::Add | Binary::Sub | Binary::Mul | Binary::Div),
            "{op:?}"
        );
        if named.is_some() {
            assert_eq!(named, Some(op));
            assert!(
                functions::lookup(op.name()).is_some(),
                "{} is not a built-in",
                op.name()
            );
        }
    }
    assert_eq!(Binary::from_name("add"), None);
    for op in Reduce::ALL {
        assert_eq!(Reduce::from_name(op.name()), Some(op));
        assert!(
            functions::lookup(op.name()).is_some(),
            "{} is not a built-in",
            op.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// Forward values.

#[test]
fn normal_cdf_and_quantile() {
    // Reference values from mpmath.
    assert!(close(
        unary1(Unary::Phi, 1.96),
        0.975_002_104_851_779_56,
        1e-15
    ));
    assert!(close(unary1(Unary::Phi, 0.0), 0.5, 1e-15));
    assert!(close(
        unary1(Unary::Phi, -1.0),
        0.158_655_253_931_457_05,
        1e-15
    ));
    // The lower tail keeps its relative precision (up to the rounding of x/√2, amplified by the
    // condition number 2x²/2 = 100 of Φ at -10).
    let tail = unary1(Unary::Phi, -10.0);
    assert!(
        (tail - 7.619_853_024_160_526_1e-24).abs() < 1e-13 * tail,
        "Phi(-10) = {tail}"
    );
    assert!(close(
        unary1(Unary::InvPhi, 0.975_002_104_851_780),
        1.96,
        1e-12
    ));
    assert!(close(unary1(Unary::InvPhi, 0.5), 0.0, 1e-15));
    assert!(close(
        unary1(Unary::InvPhi, 7.619_853_024_160_527e-24),
        -10.0,
        1e-10
    ));
    for x in [-8.0, -5.0, -1.3, 0.2, 2.5, 4.0] {
        let p = unary1(Unary::Phi, x);
        assert!(
            close(unary1(Unary::InvPhi, p), x, 1e-9),
            "inv_Phi(Phi({x}))"
        );
    }
    assert_eq!(unary1(Unary::InvPhi, 0.0), f64::NEG_INFINITY);
    assert_eq!(unary1(Unary::InvPhi, 1.0), f64::INFINITY);
    assert!(unary1(Unary::InvPhi, 1.5).is_nan());
    assert!(unary1(Unary::InvPhi, -0.1).is_nan());
}

#[test]
fn logistic_family() {
    // (Beyond x = 10 the round trip is limited by how close to 1 a double can get.)
    for x in [-30.0, -3.0, -1e-3, 0.0, 0.7, 5.0, 10.0] {
        let p = unary1(Unary::Logistic, x);
        assert!(
            close(unary1(Unary::Logit, p), x, 1e-11),
            "logit(logistic({x}))"
        );
        assert!(close(p, 1.0 / (1.0 + (-x).exp()), 1e-15));
    }
    assert_eq!(unary1(Unary::Logistic, -800.0), 0.0);
    assert_eq!(unary1(Unary::Logistic, 800.0), 1.0);
    assert_eq!(unary1(Unary::Log1pExp, 800.0), 800.0);
    assert!(close(unary1(Unary::Log1pExp, 0.0), LN_2, 1e-15));
    assert!(close(unary1(Unary::Log1pExp, -40.0), (-40f64).exp(), 1e-14));
    assert!(close(
        unary1(Unary::Log1pExp, 3.0),
        (1.0 + 3f64.exp()).ln(),
        1e-15
    ));
    assert!(close(
        unary1(Unary::Log1mExp, -1e-20),
        (1e-20f64).ln(),
        1e-15
    ));
    assert!(close(
        unary1(Unary::Log1mExp, -50.0),
        -(-50f64).exp(),
        1e-14
    ));
    assert!(close(
        unary1(Unary::Log1mExp, -1.0),
        (1.0 - (-1f64).exp()).ln(),
        1e-15
    ));
    assert_eq!(unary1(Unary::Log1mExp, 0.0), f64::NEG_INFINITY);
    assert!(unary1(Unary::Log1mExp, 0.5).is_nan());
    assert!(close(unary1(Unary::Log1m, 0.25), 0.75f64.ln(), 1e-15));
    // The derivative of log1p_exp is the logistic function, also in the tails.
    assert_eq!(unary_grad1(Unary::Log1pExp, 800.0), 1.0);
    assert_eq!(unary_grad1(Unary::Log1pExp, -800.0), 0.0);
}

type Scalar = fn(f64) -> f64;

#[test]
fn elementwise_against_std() {
    let cases: [(Unary, Scalar); 18] = [
        (Unary::Exp, f64::exp),
        (Unary::Log, f64::ln),
        (Unary::Log1p, f64::ln_1p),
        (Unary::Expm1, f64::exp_m1),
        (Unary::Sqrt, f64::sqrt),
        (Unary::Cbrt, f64::cbrt),
        (Unary::Sin, f64::sin),
        (Unary::Cos, f64::cos),
        (Unary::Tan, f64::tan),
        (Unary::Asin, f64::asin),
        (Unary::Acos, f64::acos),
        (Unary::Atan, f64::atan),
        (Unary::Sinh, f64::sinh),
        (Unary::Cosh, f64::cosh),
        (Unary::Tanh, f64::tanh),
        (Unary::Floor, f64::floor),
        (Unary::Ceil, f64::ceil),
        (Unary::Abs, f64::abs),
    ];
    let xs = [-0.7, -0.25, 0.1, 0.5, 0.9];
    for (op, f) in cases {
        let mut out = [0.0; 5];
        ops::unary(op, &xs, &mut out);
        for (x, y) in xs.iter().zip(out) {
            let want = f(*x);
            assert!(
                (y.is_nan() && want.is_nan()) || y == want,
                "{op:?}({x}) = {y}, want {want}"
            );
        }
    }
    assert_eq!(unary1(Unary::Cbrt, -8.0), -2.0);
    assert_eq!(unary1(Unary::Square, -3.0), 9.0);
    assert_eq!(unary1(Unary::Neg, 2.5), -2.5);
    assert_eq!(unary1(Unary::Step, 0.0), 0.0);
    assert_eq!(unary1(Unary::Step, 1e-300), 1.0);
    assert_eq!(unary1(Unary::Step, -2.0), 0.0);
    assert!(unary1(Unary::Step, f64::NAN).is_nan());
    assert_eq!(unary_grad1(Unary::Abs, 0.0), 0.0);
    assert_eq!(unary_grad1(Unary::Abs, -2.0), -1.0);
    assert_eq!(unary_grad1(Unary::Step, 0.5), 0.0);
}

#[test]
fn gamma_family() {
    let sqrt_pi = PI.sqrt();
    assert!(close(unary1(Unary::Lgamma, 0.5), sqrt_pi.ln(), 1e-14));
    assert!(close(unary1(Unary::Lgamma, 1.0), 0.0, 1e-15));
    assert!(close(unary1(Unary::Lgamma, 10.0), 362_880f64.ln(), 1e-14));
    assert!(close(
        unary1(Unary::Lgamma, 0.1),
        gamma::ln_gamma(0.1),
        1e-14
    ));
    // log|Γ| where Γ is negative: Γ(-0.5) = -2√π, Γ(-2.5) = -8√π/15.
    assert!(close(
        unary1(Unary::Lgamma, -0.5),
        (2.0 * sqrt_pi).ln(),
        1e-13
    ));
    assert!(close(
        unary1(Unary::Lgamma, -2.5),
        (8.0 * sqrt_pi / 15.0).ln(),
        1e-12
    ));
    assert!(close(
        unary1(Unary::Lgamma, -1.5),
        (4.0 * sqrt_pi / 3.0).ln(),
        1e-13
    ));
    assert_eq!(unary1(Unary::Lgamma, 0.0), f64::INFINITY);
    assert_eq!(unary1(Unary::Lgamma, -3.0), f64::INFINITY);
    assert_eq!(unary1(Unary::Lgamma, f64::INFINITY), f64::INFINITY);
    assert!(close(
        unary1(Unary::Digamma, 1.0),
        -0.577_215_664_901_532_9,
        1e-14
    ));
    assert!(close(
        unary_grad1(Unary::Lgamma, 3.7),
        gamma::digamma(3.7),
        1e-15
    ));
    assert!(close(
        binary1(Binary::Lbeta, 2.0, 3.0),
        (1.0f64 / 12.0).ln(),
        1e-14
    ));
    assert!(close(binary1(Binary::Lbeta, 0.5, 0.5), PI.ln(), 1e-14));
}

#[test]
fn trigamma_values_and_derivative_of_digamma() {
    assert!(close(ops::trigamma(1.0), PI * PI / 6.0, 1e-15));
    assert!(close(ops::trigamma(0.5), PI * PI / 2.0, 1e-15));
    assert!(close(ops::trigamma(2.0), PI * PI / 6.0 - 1.0, 1e-15));
    assert!(close(ops::trigamma(-0.5), PI * PI / 2.0 + 4.0, 1e-14));
    assert!(close(ops::trigamma(1e-8), 1e16, 1e-7));
    assert!(close(ops::trigamma(1e8), 1e-8, 1e-7));
    assert_eq!(ops::trigamma(0.0), f64::INFINITY);
    assert_eq!(ops::trigamma(-2.0), f64::INFINITY);
    assert_eq!(ops::trigamma(f64::INFINITY), 0.0);
    assert!(ops::trigamma(f64::NAN).is_nan());
    for x in [
        -2.7f64, -0.3, 0.05, 0.4, 1.0, 2.5, 5.9, 6.0, 9.99, 10.0, 17.3, 250.0,
    ] {
        let h = 1e-4 * x.abs().clamp(0.01, 1.0);
        let d = |t: f64| gamma::digamma(x + t);
        let numeric = (8.0 * (d(h) - d(-h)) - (d(2.0 * h) - d(-2.0 * h))) / (12.0 * h);
        assert!(
            close(ops::trigamma(x), numeric, 1e-7),
            "trigamma({x}) = {} vs {numeric}",
            ops::trigamma(x)
        );
        assert!(close(unary_grad1(Unary::Digamma, x), ops::trigamma(x), 0.0));
    }
    // The gradient of lgamma also holds on the negative axis.
    for x in [-2.5, -0.7] {
        let d = |t: f64| unary1(Unary::Lgamma, x + t);
        let h = 1e-5;
        let numeric = (8.0 * (d(h) - d(-h)) - (d(2.0 * h) - d(-2.0 * h))) / (12.0 * h);
        assert!(
            close(unary_grad1(Unary::Lgamma, x), numeric, 1e-7),
            "lgamma'({x})"
        );
    }
}

/// erf and erfc against 17-digit values from mpmath (statrs 0.19's are only good to ~1e-10).
#[test]
fn error_functions() {
    let table = [
        (-3.0, -0.999_977_909_503_001_41, 1.999_977_909_503_001_4),
        (-1.2, -0.910_313_978_229_635_37, 1.910_313_978_229_635_4),
        (-0.5, -0.520_499_877_813_046_54, 1.520_499_877_813_046_5),
        (0.0, 0.0, 1.0),
        (0.1, 0.112_462_916_018_284_9, 0.887_537_083_981_715_1),
        (0.3, 0.328_626_759_459_127_42, 0.671_373_240_540_872_58),
        (0.5, 0.520_499_877_813_046_54, 0.479_500_122_186_953_46),
        (0.9, 0.796_908_212_422_832_14, 0.203_091_787_577_167_86),
        (1.0, 0.842_700_792_949_714_87, 0.157_299_207_050_285_13),
        (1.5, 0.966_105_146_475_310_73, 0.033_894_853_524_689_273),
        (2.0, 0.995_322_265_018_952_73, 0.004_677_734_981_047_265_8),
        (3.0, 0.999_977_909_503_001_41, 2.209_049_699_858_544_1e-5),
        (5.0, 0.999_999_999_998_462_54, 1.537_459_794_428_034_9e-12),
        (10.0, 1.0, 2.088_487_583_762_544_8e-45),
    ];
    for (x, erf, erfc) in table {
        assert!(
            close(unary1(Unary::Erf, x), erf, 4e-16),
            "erf({x}) = {}",
            unary1(Unary::Erf, x)
        );
        let got = unary1(Unary::Erfc, x);
        assert!(
            (got - erfc).abs() <= 4e-16 * erfc.abs(),
            "erfc({x}) = {got}, want {erfc}"
        );
        assert_eq!(ops::erf(x), unary1(Unary::Erf, x));
    }
    assert_eq!(unary1(Unary::Erf, f64::INFINITY), 1.0);
    assert_eq!(unary1(Unary::Erf, f64::NEG_INFINITY), -1.0);
    assert_eq!(unary1(Unary::Erfc, f64::INFINITY), 0.0);
    assert_eq!(unary1(Unary::Erfc, f64::NEG_INFINITY), 2.0);
    assert_eq!(unary1(Unary::Erfc, 40.0), 0.0);
    assert!(unary1(Unary::Erfc, 27.0) > 0.0);
    // Where statrs' erf is good (near 0) the two agree.
    assert!(close(unary1(Unary::Erf, 0.1), erf::erf(0.1), 1e-15));
}

#[test]
fn binary_values() {
    assert_eq!(binary1(Binary::Pow, 2.0, 10.0), 1024.0);
    assert_eq!(binary1(Binary::Atan2, 1.0, -1.0), 1f64.atan2(-1.0));
    assert_eq!(binary1(Binary::Hypot, 3.0, 4.0), 5.0);
    assert_eq!(binary1(Binary::Fmin, f64::NAN, 1.0), 1.0);
    assert_eq!(binary1(Binary::Fmax, 2.0, f64::NAN), 2.0);
    assert_eq!(binary1(Binary::Div, 1.0, 0.0), f64::INFINITY);
    let cmp = |op, a, b| binary1(op, a, b);
    assert_eq!(
        [cmp(Binary::Eq, 1.0, 1.0), cmp(Binary::Eq, 1.0, 2.0)],
        [1.0, 0.0]
    );
    assert_eq!(
        [cmp(Binary::Ne, 1.0, 1.0), cmp(Binary::Ne, 1.0, 2.0)],
        [0.0, 1.0]
    );
    assert_eq!(
        [cmp(Binary::Lt, 1.0, 2.0), cmp(Binary::Lt, 2.0, 2.0)],
        [1.0, 0.0]
    );
    assert_eq!(
        [cmp(Binary::Le, 2.0, 2.0), cmp(Binary::Le, 3.0, 2.0)],
        [1.0, 0.0]
    );
    assert_eq!(
        [cmp(Binary::Gt, 3.0, 2.0), cmp(Binary::Gt, 2.0, 2.0)],
        [1.0, 0.0]
    );
    assert_eq!(
        [cmp(Binary::Ge, 2.0, 2.0), cmp(Binary::Ge, 1.0, 2.0)],
        [1.0, 0.0]
    );
    // Broadcasting, both ways.
    let mut out = [0.0; 3];
    ops::binary(Binary::Sub, &[10.0], &[1.0, 2.0, 3.0], &mut out);
    assert_eq!(out, [9.0, 8.0, 7.0]);
    ops::binary(Binary::Div, &[1.0, 2.0, 3.0], &[2.0], &mut out);
    assert_eq!(out, [0.5, 1.0, 1.5]);
    // Gradient conventions at the edges.
    assert_eq!(binary_grad1(Binary::Pow, 0.0, 2.0), (0.0, 0.0));
    assert_eq!(binary_grad1(Binary::Pow, 0.0, 1.0), (1.0, 0.0));
    assert_eq!(binary_grad1(Binary::Pow, 3.0, 0.0).0, 0.0);
    assert_eq!(binary_grad1(Binary::Fmin, 1.0, 1.0), (1.0, 0.0));
    assert_eq!(binary_grad1(Binary::Fmax, 1.0, 1.0), (1.0, 0.0));
    assert_eq!(binary_grad1(Binary::Fmin, f64::NAN, 1.0), (0.0, 1.0));
    assert_eq!(binary_grad1(Binary::Hypot, 0.0, 0.0), (0.0, 0.0));
    assert_eq!(binary_grad1(Binary::Lt, 1.0, 2.0), (0.0, 0.0));
}

#[test]
fn binary_gradient_sides_are_independent() {
    let (a, b) = ([0.5, 1.5, 2.5], [2.0]);
    let mut out = [0.0; 3];
    ops::binary(Binary::Pow, &a, &b, &mut out);
    let g = [1.0, -2.0, 0.5];
    let (mut ga, mut gb) = ([0.0; 3], [0.0]);
    ops::binary_grad(Binary::Pow, &a, &b, &out, &g, Some(&mut ga), Some(&mut gb));
    let (mut ga_only, mut gb_only) = ([0.0; 3], [0.0]);
    ops::binary_grad(Binary::Pow, &a, &b, &out, &g, Some(&mut ga_only), None);
    ops::binary_grad(Binary::Pow, &a, &b, &out, &g, None, Some(&mut gb_only));
    assert_eq!(ga, ga_only);
    assert_eq!(gb, gb_only);
    assert_eq!(ga, [2.0 * 0.5, -2.0 * 2.0 * 1.5, 0.5 * 2.0 * 2.5]);
}

#[test]
fn reductions_of_vectors() {
    let x = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(reduce_all(Reduce::Sum, &x), 10.0);
    assert_eq!(reduce_all(Reduce::Mean, &x), 2.5);
    assert_eq!(reduce_all(Reduce::Prod, &x), 24.0);
    assert_eq!(reduce_all(Reduce::Min, &[3.0, -1.0, 2.0]), -1.0);
    assert_eq!(reduce_all(Reduce::Max, &[3.0, -1.0, 2.0]), 3.0);
    assert!(close(reduce_all(Reduce::Variance, &x), 5.0 / 3.0, 1e-15));
    assert!(close(
        reduce_all(Reduce::Sd, &x),
        (5.0f64 / 3.0).sqrt(),
        1e-15
    ));
    assert_eq!(reduce_all(Reduce::Sd, &[7.0]), 0.0);
    assert_eq!(reduce_all(Reduce::Norm, &[3.0, 4.0]), 5.0);
    assert!(close(
        reduce_all(Reduce::Norm, &[3e200, 4e200]),
        5e200,
        1e-15
    ));
    assert!(close(
        reduce_all(Reduce::Norm, &[3e-200, 4e-200]),
        5e-200,
        1e-15
    ));
    assert!(close(
        reduce_all(Reduce::LogSumExp, &[1000.0, 1000.0]),
        1000.0 + LN_2,
        1e-15
    ));
    assert!(close(
        reduce_all(Reduce::LogSumExp, &[-1000.0, -1000.0]),
        -1000.0 + LN_2,
        1e-15
    ));
    assert!(close(
        reduce_all(Reduce::LogSumExp, &[0.0, 1.0, 2.0]),
        (1.0 + 1f64.exp() + 2f64.exp()).ln(),
        1e-15
    ));
    let neg_inf = f64::NEG_INFINITY;
    assert_eq!(reduce_all(Reduce::LogSumExp, &[neg_inf, neg_inf]), neg_inf);
    assert_eq!(reduce_all(Reduce::LogSumExp, &[neg_inf, 3.0]), 3.0);
    // Empty lanes give the identity of the reduction.
    assert_eq!(reduce_all(Reduce::Sum, &[]), 0.0);
    assert_eq!(reduce_all(Reduce::Prod, &[]), 1.0);
    assert_eq!(reduce_all(Reduce::Min, &[]), f64::INFINITY);
    assert_eq!(reduce_all(Reduce::Max, &[]), neg_inf);
    assert_eq!(reduce_all(Reduce::LogSumExp, &[]), neg_inf);
    assert!(reduce_all(Reduce::Mean, &[]).is_nan());
    // NaN propagates through min and max.
    assert!(reduce_all(Reduce::Min, &[1.0, f64::NAN, 0.0]).is_nan());
    assert!(reduce_all(Reduce::Max, &[1.0, f64::NAN, 0.0]).is_nan());
    // Long sums take the chunked path.
    let long: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(reduce_all(Reduce::Sum, &long), 5050.0);
    // Min and max send the gradient to the first extremum only.
    let x = [2.0, -1.0, 5.0, -1.0, 5.0];
    for (op, want) in [
        (Reduce::Min, [0.0, 1.0, 0.0, 0.0, 0.0]),
        (Reduce::Max, [0.0, 0.0, 1.0, 0.0, 0.0]),
    ] {
        let out = [reduce_all(op, &x)];
        let mut g = [0.0; 5];
        ops::reduce_grad(op, &x, 1, 5, 1, &out, &[1.0], &mut g);
        assert_eq!(g, want, "{op:?}");
    }
    // A product with one zero: only the zero moves it.
    let x = [2.0, 0.0, 3.0];
    let mut g = [0.0; 3];
    ops::reduce_grad(Reduce::Prod, &x, 1, 3, 1, &[0.0], &[1.0], &mut g);
    assert_eq!(g, [0.0, 6.0, 0.0]);
    let x = [2.0, 0.0, 0.0];
    let mut g = [0.0; 3];
    ops::reduce_grad(Reduce::Prod, &x, 1, 3, 1, &[0.0], &[1.0], &mut g);
    assert_eq!(g, [0.0; 3]);
}

/// Every reduction of a [2, 3, 4] array along each axis, against lanes gathered by hand.
#[test]
fn reductions_along_each_axis_of_a_2x3x4_array() {
    let dims = [2, 3, 4];
    let x: Vec<f64> = (0..24).map(|i| ((i * 7) % 11) as f64 * 0.5 - 2.0).collect();
    for axis in 0..3 {
        let (outer, len, inner) = view(&dims, axis);
        for op in Reduce::ALL {
            let mut out = vec![0.0; outer * inner];
            ops::reduce(op, &x, outer, len, inner, &mut out);
            let mut cum = vec![0.0; x.len()];
            ops::cumsum(&x, outer, len, inner, &mut cum);
            for o in 0..outer {
                for i in 0..inner {
                    let lane: Vec<f64> = (0..len).map(|k| x[(o * len + k) * inner + i]).collect();
                    let want = reduce_all(op, &lane);
                    assert_eq!(
                        out[o * inner + i],
                        want,
                        "{op:?} axis {axis} lane ({o}, {i})"
                    );
                    let mut running = 0.0;
                    for k in 0..len {
                        running += lane[k];
                        assert_eq!(cum[(o * len + k) * inner + i], running);
                    }
                }
            }
        }
    }
    // And the lanes themselves against closed forms, for a few operations.
    let (outer, len, inner) = view(&dims, 1);
    let mut sums = vec![0.0; outer * inner];
    ops::reduce(Reduce::Sum, &x, outer, len, inner, &mut sums);
    for o in 0..2 {
        for i in 0..4 {
            let want: f64 = (0..3).map(|k| x[o * 12 + k * 4 + i]).sum();
            assert_eq!(sums[o * 4 + i], want);
        }
    }
    let mut sd = vec![0.0; outer * inner];
    ops::reduce(Reduce::Sd, &x, outer, len, inner, &mut sd);
    for o in 0..2 {
        for i in 0..4 {
            let lane: Vec<f64> = (0..3).map(|k| x[o * 12 + k * 4 + i]).collect();
            let mean = lane.iter().sum::<f64>() / 3.0;
            let var = lane.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0;
            assert!(close(sd[o * 4 + i], var.sqrt(), 1e-15));
        }
    }
}

#[test]
fn softmax_values() {
    let x = [1000.0, 1001.0, 999.0];
    let mut out = [0.0; 3];
    ops::softmax(&x, &mut out);
    assert!(close(out.iter().sum::<f64>(), 1.0, 1e-15));
    let z = 1.0 + 1f64.exp() + (-1f64).exp();
    assert!(close(out[1], 1f64.exp() / z, 1e-15));
    let mut log_out = [0.0; 3];
    ops::log_softmax(&x, &mut log_out);
    for (l, p) in log_out.iter().zip(out) {
        assert!(close(*l, p.ln(), 1e-15), "{l} vs {}", p.ln());
    }
    assert!(close(log_out[0], -z.ln(), 1e-15));
}

#[test]
fn products_and_gather_values() {
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 x 3
    let mut out = [0.0; 2];
    ops::matvec(&a, 2, 3, &[1.0, 0.0, -1.0], &mut out);
    assert_eq!(out, [-2.0, -2.0]);
    let b = [1.0, 0.0, 0.0, 1.0, 2.0, -1.0]; // 3 x 2
    let mut prod = [f64::NAN; 4];
    ops::matmul(&a, 2, 3, &b, 2, &mut prod);
    assert_eq!(prod, [7.0, -1.0, 16.0, -1.0]);
    let long: Vec<f64> = (0..25).map(f64::from).collect();
    assert_eq!(
        ops::dot(&long, &long),
        (0..25).map(|i| (i * i) as f64).sum::<f64>()
    );
    assert_eq!(ops::dot(&[], &[]), 0.0);
    let mut g = [f64::NAN; 4];
    ops::gather(&[10.0, 20.0, 30.0], &[2, 0, 2, 1], &mut g);
    assert_eq!(g, [30.0, 10.0, 30.0, 20.0]);
    let mut gx = [0.0; 3];
    ops::gather_grad(&[2, 0, 2, 1], &[1.0, 2.0, 3.0, 4.0], &mut gx);
    assert_eq!(gx, [2.0, 4.0, 4.0]);
    let mut sel = [0.0; 3];
    ops::select(&[1.0, 0.0, 2.0], &[5.0], &[7.0, 8.0, 9.0], &mut sel);
    assert_eq!(sel, [5.0, 8.0, 5.0]);
}

// ---------------------------------------------------------------------------------------------------
// Gradients against finite differences.

/// Every reduction and the cumulative sum of a fixed [2, 3, 4] array, along each axis.
#[test]
fn reduction_gradients_along_each_axis_of_a_2x3x4_array() {
    let dims = [2, 3, 4];
    // Distinct values (no ties for min and max), none near zero.
    let x: Vec<f64> = (0..24).map(|i| ((i * 7) % 24) as f64 * 0.2 - 2.3).collect();
    for axis in 0..3 {
        let (outer, len, inner) = view(&dims, axis);
        for op in Reduce::ALL {
            let input = if op == Reduce::Prod {
                x.iter().map(|v| v / 2.0 + v.signum()).collect()
            } else {
                x.clone()
            };
            check_gradient(
                &format!("{} along axis {axis}", op.name()),
                &[input],
                axis as u64,
                &|xs| {
                    let mut out = vec![0.0; outer * inner];
                    ops::reduce(op, &xs[0], outer, len, inner, &mut out);
                    out
                },
                &|xs, out, w, g| ops::reduce_grad(op, &xs[0], outer, len, inner, out, w, &mut g[0]),
            )
            .unwrap();
        }
        check_gradient(
            &format!("cumulative_sum along axis {axis}"),
            std::slice::from_ref(&x),
            axis as u64,
            &|xs| {
                let mut out = vec![0.0; 24];
                ops::cumsum(&xs[0], outer, len, inner, &mut out);
                out
            },
            &|_, _, w, g| ops::cumsum_grad(outer, len, inner, w, &mut g[0]),
        )
        .unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn unary_gradients(us in prop::collection::vec((0.0..1.0f64, any::<bool>()), 1..8), seed in any::<u64>()) {
        for op in Unary::ALL {
            let x: Vec<f64> = us.iter().map(|&(u, flip)| unary_point(op, u, flip)).collect();
            check_gradient(
                op.name(),
                &[x],
                seed,
                &|xs| {
                    let mut out = vec![0.0; xs[0].len()];
                    ops::unary(op, &xs[0], &mut out);
                    out
                },
                &|xs, out, w, g| ops::unary_grad(op, &xs[0], out, w, &mut g[0]),
            )?;
        }
    }

    #[test]
    fn binary_gradients(
        n in 1..7usize,
        broadcast_a in any::<bool>(),
        broadcast_b in any::<bool>(),
        us in prop::collection::vec((0.0..1.0f64, 0.0..1.0f64, any::<bool>()), 7),
        seed in any::<u64>(),
    ) {
        let (a_len, b_len) = (if broadcast_a { 1 } else { n }, if broadcast_b { 1 } else { n });
        for op in Binary::ALL {
            let inputs = binary_points(op, &us, a_len, b_len);
            check_gradient(
                &format!("{} [{a_len}] [{b_len}]", op.name()),
                &inputs,
                seed,
                &|xs| {
                    let mut out = vec![0.0; n];
                    ops::binary(op, &xs[0], &xs[1], &mut out);
                    out
                },
                &|xs, out, w, g| {
                    let (ga, gb) = g.split_at_mut(1);
                    ops::binary_grad(op, &xs[0], &xs[1], out, w, Some(&mut ga[0]), Some(&mut gb[0]));
                },
            )?;
        }
    }

    #[test]
    fn select_gradients(
        n in 1..7usize,
        broadcast in (any::<bool>(), any::<bool>(), any::<bool>()),
        conds in prop::collection::vec(any::<bool>(), 7),
        us in prop::collection::vec((-5.0..5.0f64, -5.0..5.0f64), 7),
        seed in any::<u64>(),
    ) {
        let len = |b: bool| if b { 1 } else { n };
        let c: Vec<f64> = conds[..len(broadcast.0)].iter().map(|&b| if b { 2.0 } else { 0.0 }).collect();
        let a: Vec<f64> = us[..len(broadcast.1)].iter().map(|u| u.0).collect();
        let b: Vec<f64> = us[..len(broadcast.2)].iter().map(|u| u.1).collect();
        let what = format!("select [{}] [{}] [{}]", c.len(), a.len(), b.len());
        check_gradient(
            &what,
            &[a, b],
            seed,
            &|xs| {
                let mut out = vec![0.0; n];
                ops::select(&c, &xs[0], &xs[1], &mut out);
                out
            },
            &|_, _, w, g| {
                let (ga, gb) = g.split_at_mut(1);
                ops::select_grad(&c, w, Some(&mut ga[0]), Some(&mut gb[0]));
            },
        )?;
    }

    #[test]
    fn reduce_and_cumsum_gradients(
        dims in (1..=4usize, 1..=4usize, 1..=4usize),
        axis in 0..3usize,
        long in 0..24usize,
        order in Just((0..64).collect::<Vec<usize>>()).prop_shuffle(),
        us in prop::collection::vec((0.0..1.0f64, any::<bool>()), 64),
        seed in any::<u64>(),
    ) {
        // Either a [d0, d1, d2] array reduced along one axis, or a long vector (the chunked paths).
        let (outer, len, inner) = if long > 8 { (1, long, 1) } else { view(&[dims.0, dims.1, dims.2], axis) };
        let total = outer * len * inner;
        // Distinct values at least 0.1 apart (min and max never tie), none within 0.025 of zero.
        let spread: Vec<f64> = (0..total).map(|i| (order[i] as f64 - 31.5) * 0.15 + 0.05 * us[i].0).collect();
        let positive: Vec<f64> = (0..total)
            .map(|i| if us[i].1 { -1.0 } else { 1.0 } * lerp(0.5, 2.0, us[i].0))
            .collect();
        for op in Reduce::ALL {
            let x = if op == Reduce::Prod { positive.clone() } else { spread.clone() };
            check_gradient(
                &format!("{} over [{outer}, {len}, {inner}]", op.name()),
                &[x],
                seed,
                &|xs| {
                    let mut out = vec![0.0; outer * inner];
                    ops::reduce(op, &xs[0], outer, len, inner, &mut out);
                    out
                },
                &|xs, out, w, g| ops::reduce_grad(op, &xs[0], outer, len, inner, out, w, &mut g[0]),
            )?;
        }
        check_gradient(
            &format!("cumulative_sum over [{outer}, {len}, {inner}]"),
            &[spread],
            seed,
            &|xs| {
                let mut out = vec![0.0; total];
                ops::cumsum(&xs[0], outer, len, inner, &mut out);
                out
            },
            &|_, _, w, g| ops::cumsum_grad(outer, len, inner, w, &mut g[0]),
        )?;
    }

    #[test]
    fn softmax_gradients(x in prop::collection::vec(-5.0..5.0f64, 1..10), seed in any::<u64>()) {
        check_gradient(
            "softmax",
            std::slice::from_ref(&x),
            seed,
            &|xs| {
                let mut out = vec![0.0; xs[0].len()];
                ops::softmax(&xs[0], &mut out);
                out
            },
            &|_, out, w, g| ops::softmax_grad(out, w, &mut g[0]),
        )?;
        check_gradient(
            "log_softmax",
            &[x],
            seed,
            &|xs| {
                let mut out = vec![0.0; xs[0].len()];
                ops::log_softmax(&xs[0], &mut out);
                out
            },
            &|_, out, w, g| ops::log_softmax_grad(out, w, &mut g[0]),
        )?;
    }

    #[test]
    fn matvec_gradients(
        rows in 1..6usize,
        cols in 1..20usize,
        values in prop::collection::vec(-3.0..3.0f64, 6 * 20 + 20),
        seed in any::<u64>(),
    ) {
        let a = values[..rows * cols].to_vec();
        let x = values[100..100 + cols].to_vec();
        check_gradient(
            &format!("matvec {rows}x{cols}"),
            &[a, x],
            seed,
            &|xs| {
                let mut out = vec![0.0; rows];
                ops::matvec(&xs[0], rows, cols, &xs[1], &mut out);
                out
            },
            &|xs, _, w, g| {
                let (ga, gx) = g.split_at_mut(1);
                ops::matvec_grad(&xs[0], rows, cols, &xs[1], w, Some(&mut ga[0]), Some(&mut gx[0]));
            },
        )?;
    }

    #[test]
    fn matmul_gradients(
        r in 1..5usize,
        k in 1..12usize,
        c in 1..5usize,
        values in prop::collection::vec(-3.0..3.0f64, 2 * 4 * 11),
        seed in any::<u64>(),
    ) {
        let a = values[..r * k].to_vec();
        let b = values[44..44 + k * c].to_vec();
        check_gradient(
            &format!("matmul {r}x{k} {k}x{c}"),
            &[a, b],
            seed,
            &|xs| {
                let mut out = vec![0.0; r * c];
                ops::matmul(&xs[0], r, k, &xs[1], c, &mut out);
                out
            },
            &|xs, _, w, g| {
                let (ga, gb) = g.split_at_mut(1);
                ops::matmul_grad(&xs[0], r, k, &xs[1], c, w, Some(&mut ga[0]), Some(&mut gb[0]));
            },
        )?;
    }

    #[test]
    fn dot_gradients(pairs in prop::collection::vec((-3.0..3.0f64, -3.0..3.0f64), 0..20), seed in any::<u64>()) {
        let (a, b): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
        check_gradient(
            "dot",
            &[a, b],
            seed,
            &|xs| vec![ops::dot(&xs[0], &xs[1])],
            &|xs, _, w, g| {
                let (ga, gb) = g.split_at_mut(1);
                ops::dot_grad(&xs[0], &xs[1], w[0], Some(&mut ga[0]), Some(&mut gb[0]));
            },
        )?;
    }

    #[test]
    fn gather_gradients(
        x in prop::collection::vec(-3.0..3.0f64, 1..6),
        picks in prop::collection::vec(0..1000u32, 1..12),
        seed in any::<u64>(),
    ) {
        // Indices into x, repeated whenever picks outnumber x.
        let map: Vec<u32> = picks.iter().map(|p| p % x.len() as u32).collect();
        check_gradient(
            "gather",
            &[x],
            seed,
            &|xs| {
                let mut out = vec![0.0; map.len()];
                ops::gather(&xs[0], &map, &mut out);
                out
            },
            &|_, _, w, g| ops::gather_grad(&map, w, &mut g[0]),
        )?;
    }
}

// ---------------------------------------------------------------------------------------------------
// Robustness.

const SPECIALS: [f64; 8] = [
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    1.0,
    -1.0,
    1e308,
];

/// Every kernel, forward and backward, on the special values and on empty slices: no panic, and
/// NaN in gives NaN out for the smooth elementwise functions.
#[test]
fn special_values_and_empty_slices_do_not_panic() {
    let x = SPECIALS;
    let mut out = [0.0; 8];
    let mut g = [0.0; 8];
    let mut g2 = [0.0; 8];
    for op in Unary::ALL {
        ops::unary(op, &x, &mut out);
        if !matches!(
            op,
            Unary::Floor | Unary::Ceil | Unary::Step | Unary::Abs | Unary::Neg | Unary::Square
        ) {
            assert!(out[0].is_nan(), "{op:?}(NaN) = {}", out[0]);
        }
        ops::unary_grad(op, &x, &out, &x, &mut g);
        ops::unary(op, &[], &mut []);
        ops::unary_grad(op, &[], &[], &[], &mut []);
    }
    let y: [f64; 8] = [
        1.0,
        f64::NAN,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        1e-308,
        -5.0,
    ];
    for op in Binary::ALL {
        for (a, b) in [
            (&x[..], &y[..]),
            (&y[..], &x[..]),
            (&x[..1], &y[..]),
            (&x[..], &y[1..2]),
        ] {
            ops::binary(op, a, b, &mut out);
            let (mut ga, mut gb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
            ops::binary_grad(op, a, b, &out, &y, Some(&mut ga), Some(&mut gb));
        }
        ops::binary(op, &[], &[], &mut []);
        ops::binary_grad(op, &[], &[], &[], &[], Some(&mut []), Some(&mut []));
    }
    ops::select(&x, &y, &x, &mut out);
    ops::select_grad(&x, &y, Some(&mut g), Some(&mut g2));
    ops::select(&[], &[], &[], &mut []);
    ops::select_grad(&[], &[], Some(&mut []), Some(&mut []));
    for op in Reduce::ALL {
        for (outer, len, inner) in [(1, 8, 1), (2, 4, 1), (1, 2, 4), (2, 2, 2), (8, 1, 1)] {
            let mut r = vec![0.0; outer * inner];
            ops::reduce(op, &x, outer, len, inner, &mut r);
            let gr = vec![1.0; r.len()];
            ops::reduce_grad(op, &x, outer, len, inner, &r, &gr, &mut g);
        }
        for (outer, len, inner) in [(0, 0, 0), (1, 0, 1), (3, 0, 2), (0, 5, 2), (2, 3, 0)] {
            let mut r = vec![0.0; outer * inner];
            ops::reduce(op, &[], outer, len, inner, &mut r);
            let gr = vec![1.0; r.len()];
            ops::reduce_grad(op, &[], outer, len, inner, &r, &gr, &mut []);
        }
    }
    ops::cumsum(&x, 2, 2, 2, &mut out);
    ops::cumsum_grad(2, 2, 2, &y, &mut g);
    ops::cumsum(&[], 1, 0, 1, &mut []);
    ops::cumsum_grad(3, 0, 2, &[], &mut []);
    ops::softmax(&x, &mut out);
    ops::softmax_grad(&out, &y, &mut g);
    ops::log_softmax(&x, &mut out);
    ops::log_softmax_grad(&out, &y, &mut g);
    ops::softmax(&[], &mut []);
    ops::softmax_grad(&[], &[], &mut []);
    ops::log_softmax(&[], &mut []);
    ops::log_softmax_grad(&[], &[], &mut []);
    let mut m = [0.0; 4];
    ops::matvec(&x, 4, 2, &y[..2], &mut m);
    ops::matvec_grad(&x, 4, 2, &y[..2], &m, Some(&mut g), Some(&mut g2[..2]));
    ops::matvec(&[], 0, 3, &[1.0, 2.0, 3.0], &mut []);
    ops::matvec(&[], 2, 0, &[], &mut m[..2]);
    assert_eq!(m[..2], [0.0, 0.0]);
    ops::matvec_grad(&[], 2, 0, &[], &[1.0, 1.0], Some(&mut []), Some(&mut []));
    ops::matmul(&x, 2, 4, &y, 2, &mut m);
    ops::matmul_grad(&x, 2, 4, &y, 2, &m, Some(&mut g), Some(&mut g2));
    ops::matmul(&[], 2, 0, &[], 2, &mut m);
    assert_eq!(m, [0.0; 4]);
    ops::matmul(&[], 0, 3, &[0.0; 6], 2, &mut []);
    ops::matmul(&[0.0; 3], 3, 1, &[], 0, &mut []);
    ops::matmul_grad(&[], 2, 0, &[], 2, &m, Some(&mut []), Some(&mut []));
    assert!(ops::dot(&x, &y).is_nan());
    ops::dot_grad(&x, &y, f64::NAN, Some(&mut g), Some(&mut g2));
    ops::dot_grad(&[], &[], 1.0, Some(&mut []), Some(&mut []));
    ops::gather(&x, &[7, 0, 0], &mut out[..3]);
    ops::gather_grad(&[7, 0, 0], &y[..3], &mut g);
    ops::gather(&[], &[], &mut []);
    ops::gather_grad(&[], &[], &mut []);
    for v in SPECIALS {
        let _ = (
            ops::trigamma(v),
            ops::lgamma(v),
            ops::inv_phi(v),
            ops::log1m_exp(v),
        );
    }
}

/// A broadcast scalar's gradient is the sum of its contributions, added to what was there.
#[test]
fn broadcast_gradients_accumulate() {
    let a = [2.0];
    let b = [1.0, 2.0, 3.0];
    let mut out = [0.0; 3];
    ops::binary(Binary::Mul, &a, &b, &mut out);
    let (mut ga, mut gb) = ([10.0], [0.0; 3]);
    ops::binary_grad(
        Binary::Mul,
        &a,
        &b,
        &out,
        &[1.0, 1.0, 1.0],
        Some(&mut ga),
        Some(&mut gb),
    );
    assert_eq!(ga, [16.0]);
    assert_eq!(gb, [2.0, 2.0, 2.0]);
    let (mut sa, mut sb) = ([1.0], [0.0; 3]);
    ops::select_grad(
        &[1.0, 0.0, 1.0],
        &[1.0, 2.0, 4.0],
        Some(&mut sa),
        Some(&mut sb),
    );
    assert_eq!(sa, [6.0]);
    assert_eq!(sb, [0.0, 2.0, 0.0]);
}

/// No kernel touches the heap (the buffers are allocated before counting starts).
#[test]
fn kernels_do_not_allocate() {
    let x: Vec<f64> = (0..24).map(|i| 0.1 + f64::from(i) * 0.03).collect();
    let y: Vec<f64> = (0..24).map(|i| 0.2 + f64::from(i) * 0.02).collect();
    let map: Vec<u32> = (0..24).map(|i| (i * 5) % 24).collect();
    let (mut out, mut g, mut g2) = (vec![0.0; 24], vec![0.0; 24], vec![0.0; 24]);
    let mut s = [0.0];
    let n = allocations(|| {
        for op in Unary::ALL {
            ops::unary(op, &x, &mut out);
            ops::unary_grad(op, &x, &out, &y, &mut g);
        }
        for op in Binary::ALL {
            ops::binary(op, &x, &y, &mut out);
            ops::binary_grad(op, &x, &y, &out, &y, Some(&mut g), Some(&mut g2));
            ops::binary(op, &x[..1], &y, &mut out);
            ops::binary_grad(op, &x[..1], &y, &out, &y, Some(&mut s), Some(&mut g2));
        }
        ops::select(&y, &x, &y[..1], &mut out);
        ops::select_grad(&y, &x, Some(&mut g), Some(&mut s));
        for op in Reduce::ALL {
            for (outer, len, inner) in [(1, 24, 1), (2, 3, 4)] {
                let r = &mut out[..outer * inner];
                ops::reduce(op, &x, outer, len, inner, r);
                ops::reduce_grad(op, &x, outer, len, inner, r, &y[..outer * inner], &mut g);
            }
        }
        ops::cumsum(&x, 2, 3, 4, &mut out);
        ops::cumsum_grad(2, 3, 4, &y, &mut g);
        ops::softmax(&x, &mut out);
        ops::softmax_grad(&out, &y, &mut g);
        ops::log_softmax(&x, &mut out);
        ops::log_softmax_grad(&out, &y, &mut g);
        ops::matvec(&x, 4, 6, &y[..6], &mut out[..4]);
        ops::matvec_grad(&x, 4, 6, &y[..6], &y[..4], Some(&mut g), Some(&mut g2[..6]));
        ops::matmul(&x, 4, 6, &y, 4, &mut out[..16]);
        ops::matmul_grad(&x, 4, 6, &y, 4, &y[..16], Some(&mut g), Some(&mut g2));
        s[0] = ops::dot(&x, &y);
        ops::dot_grad(&x, &y, 1.0, Some(&mut g), Some(&mut g2));
        ops::gather(&x, &map, &mut out);
        ops::gather_grad(&map, &y, &mut g);
    });
    assert_eq!(n, 0, "the kernels allocated {n} times");
    assert!(g.iter().any(|v| *v != 0.0) && s[0].is_finite());
}
