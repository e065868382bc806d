//! The numeric kernels of the distributions: the summed log density of a vectorised `~` statement and
//! its gradient with respect to every argument, for each family in `library::distributions` except
//! the field priors.
//!
//! One entry point, [`lpdf`], serves the evaluator's fused log-density nodes. It runs once per
//! statement per gradient evaluation, so it never allocates: arguments are read in place with
//! broadcasting, special functions of a repeated (usually broadcast) parameter are computed once
//! through a one-entry cache (`Memo`), and the only scratch space (the multivariate normal's
//! triangular solves) lives on the stack or, for large vectors, in a thread-local buffer that is
//! reused from call to call.
//!
//! Terms are dropped the way Stan's `~` drops them: each term of a density is kept when
//! `keep_constants` is set or when one of the arguments it depends on is not constant. Gradients are
//! always those of the full density; the dropped terms do not depend on any argument whose gradient
//! is asked for, so the two agree.

use std::cell::RefCell;
use std::f64::consts::{FRAC_1_SQRT_2, LN_2, PI};

use statrs::function::gamma::{digamma, ln_gamma};

// statrs's erf is only good to ~1e-10 and jumps between its intervals, which would show in huber's
// normaliser and its delta gradient; ops has an accurate one.
use super::ops::erf;

use super::logistic::{LogisticBlock, BLOCK};

/// log(pi).
const LN_PI: f64 = 1.144_729_885_849_400_2;
/// log(sqrt(2 pi)).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// The families with numeric kernels, one per registry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Normal,
    StudentT,
    Cauchy,
    Laplace,
    Huber,
    Lognormal,
    Gamma,
    InvGamma,
    Exponential,
    Beta,
    HalfNormal,
    HalfCauchy,
    Uniform,
    PoissonLog,
    BernoulliLogit,
    BinomialLogit,
    NegBinomial2Log,
    Dirichlet,
    MultiNormalCholesky,
}

impl Family {
    /// Every family, in registry order.
    pub const ALL: [Family; 19] = [
        Family::Normal,
        Family::StudentT,
        Family::Cauchy,
        Family::Laplace,
        Family::Huber,
        Family::Lognormal,
        Family::Gamma,
        Family::InvGamma,
        Family::Exponential,
        Family::Beta,
        Family::HalfNormal,
        Family::HalfCauchy,
        Family::Uniform,
        Family::PoissonLog,
        Family::BernoulliLogit,
        Family::BinomialLogit,
        Family::NegBinomial2Log,
        Family::Dirichlet,
        Family::MultiNormalCholesky,
    ];

    /// The family registered under `name` ("normal", "student_t", ...), if it has a kernel here.
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The registry name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Normal => "normal",
            Family::StudentT => "student_t",
            Family::Cauchy => "cauchy",
            Family::Laplace => "laplace",
            Family::Huber => "huber",
            Family::Lognormal => "lognormal",
            Family::Gamma => "gamma",
            Family::InvGamma => "inv_gamma",
            Family::Exponential => "exponential",
            Family::Beta => "beta",
            Family::HalfNormal => "half_normal",
            Family::HalfCauchy => "half_cauchy",
            Family::Uniform => "uniform",
            Family::PoissonLog => "poisson_log",
            Family::BernoulliLogit => "bernoulli_logit",
            Family::BinomialLogit => "binomial_logit",
            Family::NegBinomial2Log => "neg_binomial_2_log",
            Family::Dirichlet => "dirichlet",
            Family::MultiNormalCholesky => "multi_normal_cholesky",
        }
    }

    /// How many arguments [`lpdf`] takes: the variate, then the parameters.
    pub fn arity(self) -> usize {
        match self {
            Family::Exponential
            | Family::HalfNormal
            | Family::HalfCauchy
            | Family::PoissonLog
            | Family::BernoulliLogit
            | Family::Dirichlet => 2,
            Family::StudentT | Family::Huber => 4,
            _ => 3,
        }
    }

    /// Whether the variate is integer data (no gradient is computed for it).
    pub fn is_discrete(self) -> bool {
        matches!(
            self,
            Family::PoissonLog
                | Family::BernoulliLogit
                | Family::BinomialLogit
                | Family::NegBinomial2Log
        )
    }

    /// Whether one draw is a vector of length `dims` rather than a single number.
    pub fn is_multivariate(self) -> bool {
        matches!(self, Family::Dirichlet | Family::MultiNormalCholesky)
    }
}

/// The summed log density of a vectorised `~` statement, and optionally its gradient.
///
/// `args[0]` is the variate (the left side of `~`), `args[1..]` the parameters in registry order.
/// Univariate families: every slice has length 1 (a scalar broadcast over all elements) or n (n = the
/// longest length); the result is the sum over the n elements. Integer-valued data (counts, 0/1,
/// trials) arrive as f64 holding integers.
/// Dirichlet: `args[0]` has length m*k (m independent simplex vectors of length k, row-major), alpha
/// has length k (or 1, broadcast); `dims` gives k.
/// MultiNormalCholesky: `args[0]` has length m*k (m independent vectors), mu length k (or 1), L is k*k
/// row-major lower-triangular Cholesky factor (its upper triangle is ignored and gets gradient 0);
/// `dims` gives k.
///
/// `constant[i]` says argument i does not depend on latents (a missing entry counts as not
/// constant). When `keep_constants` is false, terms that depend only on constant arguments are
/// dropped, as Stan's `~` does; when true the density is fully normalised.
///
/// `grads[i]`, when Some, is overwritten with d(result)/d(args[i]) (same length as `args[i]`; for a
/// broadcast length-1 argument, the sum over elements). Gradients of discrete variates and of
/// `trials` are 0.
///
/// Returns `f64::NEG_INFINITY` (with all requested gradients 0) when a parameter is out of its domain
/// or the variate is outside the support. NaN inputs may give NaN. Inconsistent argument counts or
/// lengths are a caller bug: they give NaN (and fail a debug assertion). Never allocates, except that
/// a multivariate normal with k > 32 grows a reused thread-local buffer the first time.
pub fn lpdf(
    family: Family,
    args: &[&[f64]],
    dims: usize,
    constant: &[bool],
    keep_constants: bool,
    grads: &mut [Option<&mut [f64]>],
) -> f64 {
    for g in grads.iter_mut().flatten() {
        g.fill(0.0);
    }
    let shape_ok = args.len() == family.arity();
    debug_assert!(
        shape_ok,
        "{} takes {} arguments",
        family.name(),
        family.arity()
    );
    if !shape_ok {
        return f64::NAN;
    }
    let t = Terms {
        constant,
        keep: keep_constants,
    };
    let mut g = Grads { g: grads };
    let lp = match family {
        Family::Dirichlet => dirichlet(args, dims, t, &mut g),
        Family::MultiNormalCholesky => multi_normal_cholesky(args, dims, t, &mut g),
        _ => {
            let Some(n) = common_len(args) else {
                debug_assert!(
                    false,
                    "{}: arguments of inconsistent lengths",
                    family.name()
                );
                return f64::NAN;
            };
            let a = args;
            match family {
                Family::Normal => normal(a, n, t, &mut g),
                Family::StudentT => student_t(a, n, t, &mut g),
                Family::Cauchy => cauchy(a, n, t, &mut g),
                Family::Laplace => laplace(a, n, t, &mut g),
                Family::Huber => huber(a, n, t, &mut g),
                Family::Lognormal => lognormal(a, n, t, &mut g),
                Family::Gamma => gamma(a, n, t, &mut g),
                Family::InvGamma => inv_gamma(a, n, t, &mut g),
                Family::Exponential => exponential(a, n, t, &mut g),
                Family::Beta => beta(a, n, t, &mut g),
                Family::HalfNormal => half_normal(a, n, t, &mut g),
                Family::HalfCauchy => half_cauchy(a, n, t, &mut g),
                Family::Uniform => uniform(a, n, t, &mut g),
                Family::PoissonLog => poisson_log(a, n, t, &mut g),
                Family::BernoulliLogit => bernoulli_logit(a, n, t, &mut g),
                Family::BinomialLogit => binomial_logit(a, n, t, &mut g),
                Family::NegBinomial2Log => neg_binomial_2_log(a, n, t, &mut g),
                Family::Dirichlet | Family::MultiNormalCholesky => unreachable!(),
            }
        }
    };
    if lp == f64::NEG_INFINITY {
        for g in g.g.iter_mut().flatten() {
            g.fill(0.0);
        }
    }
    lp
}

// ---------------------------------------------------------------------------------------------
// Shared machinery.

/// Which terms of a density to keep.
#[derive(Clone, Copy)]
struct Terms<'a> {
    constant: &'a [bool],
    keep: bool,
}

impl Terms<'_> {
    /// Whether a term that depends on exactly the arguments `on` is kept.
    fn live(&self, on: &[usize]) -> bool {
        self.keep
            || on
                .iter()
                .any(|&i| !self.constant.get(i).copied().unwrap_or(false))
    }
}

/// The gradient outputs, accumulated in place.
struct Grads<'s, 'g> {
    g: &'s mut [Option<&'g mut [f64]>],
}

impl Grads<'_, '_> {
    fn wants(&self, i: usize) -> bool {
        matches!(self.g.get(i), Some(Some(_)))
    }

    /// Adds `v` to the gradient of argument `i` at element `k` (at element 0 when it is broadcast).
    #[inline]
    fn add(&mut self, i: usize, k: usize, v: f64) {
        if let Some(Some(g)) = self.g.get_mut(i) {
            let j = if g.len() == 1 { 0 } else { k };
            if let Some(x) = g.get_mut(j) {
                *x += v;
            }
        }
    }
}

impl Grads<'_, '_> {
    /// Adds `v(j)` to the gradient of argument `i` at elements `start + j`, j < m (all to element 0
    /// when it is broadcast): the per-element `add` of a block, with the checks made once.
    #[inline]
    fn add_block(&mut self, i: usize, start: usize, m: usize, v: impl Fn(usize) -> f64) {
        if let Some(Some(g)) = self.g.get_mut(i) {
            if g.len() == 1 {
                g[0] += lane_sum(m, v);
            } else if let Some(g) = g.get_mut(start..start + m) {
                for (j, x) in g.iter_mut().enumerate() {
                    *x += v(j);
                }
            }
        }
    }
}

/// Σ f(j) for j < m with independent accumulators, so that the sum is not one serial chain of
/// additions (and vectorises).
#[inline(always)]
fn lane_sum(m: usize, f: impl Fn(usize) -> f64) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0; LANES];
    let full = m / LANES * LANES;
    for c in (0..full).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(c + l);
        }
    }
    let tail: f64 = (full..m).map(&f).sum();
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// A one-entry cache of a pure function of a parameter: with a broadcast (or repeated) parameter the
/// special functions of it are computed once per call instead of once per element.
struct Memo<K, V> {
    last: Option<(K, V)>,
}

impl<K: PartialEq + Copy, V: Copy> Memo<K, V> {
    fn new() -> Self {
        Memo { last: None }
    }

    #[inline]
    fn get(&mut self, key: K, f: impl FnOnce(K) -> V) -> V {
        match self.last {
            Some((k, v)) if k == key => v,
            _ => {
                let v = f(key);
                self.last = Some((key, v));
                v
            }
        }
    }
}

/// Element `k` of a broadcast argument.
#[inline]
fn at(a: &[f64], k: usize) -> f64 {
    if a.len() == 1 {
        a[0]
    } else {
        a[k]
    }
}

/// The common length n of univariate arguments (each of length 1 or n), or None when they disagree.
/// An empty argument makes the statement empty.
fn common_len(args: &[&[f64]]) -> Option<usize> {
    if args.iter().any(|a| a.is_empty()) {
        return Some(0);
    }
    let n = args.iter().map(|a| a.len()).max().unwrap_or(0);
    args.iter()
        .all(|a| a.len() == 1 || a.len() == n)
        .then_some(n)
}

/// The sign of x, 0 at 0 (the subgradient Stan uses for |x|).
#[inline]
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// x > 0, false for NaN (the domain checks are written so that NaN fails them).
#[inline]
fn positive(x: f64) -> bool {
    x > 0.0
}

/// x >= 0, false for NaN.
#[inline]
fn nonnegative(x: f64) -> bool {
    x >= 0.0
}

/// Whether x is a nonnegative integer (false for NaN and infinities).
#[inline]
fn is_count(x: f64) -> bool {
    // Adding 2^52 rounds any smaller nonnegative number to an integer; larger finite ones are
    // integers. (`fract` is a libm call on baseline x86-64, and this runs for every count.)
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    // `&` and `|`, not `&&` and `||`: no branches, so that loops over counts vectorise.
    (x >= 0.0) & (x != f64::INFINITY) & ((x >= TWO_52) | ((x + TWO_52) - TWO_52 == x))
}

/// `if cond { a } else { b }` without a branch: the conditions in the count likelihoods' loops
/// follow the data (a 0/1 variate, zero counts) and would be mispredicted half the time.
#[inline(always)]
fn select(cond: bool, a: f64, b: f64) -> f64 {
    let mask = (cond as u64).wrapping_neg();
    f64::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// log Gamma(x) and, when `want` is set, digamma(x).
#[inline]
fn lgamma_psi(x: f64, want: bool) -> (f64, f64) {
    (ln_gamma(x), if want { digamma(x) } else { 0.0 })
}

/// lgamma(y + phi) - lgamma(phi) and (when wanted) digamma(y + phi) - digamma(phi) for counts y and one
/// phi at a time, the count-dependent terms of the negative binomial. Counts of single-cell and other
/// sequencing data are mostly 0 and small, so the terms of small y come from the gamma function's
/// recurrence, log of the product (phi)(phi + 1)...(phi + y - 1) and the sum of 1 / (phi + j), exact
/// and without the cancellation of two lgammas when phi is large; they are kept per y while phi stays
/// the same (a dispersion shared by many entries). Larger counts use lgamma and digamma.
struct RisingCache {
    phi: f64,
    /// Which of `terms` are filled, bit y.
    filled: u64,
    terms: [(f64, f64); RisingCache::SMALL],
}

impl RisingCache {
    /// Counts below this use the recurrence (its product is taken in two halves of at most 32
    /// factors, whose logs are added).
    const SMALL: usize = 64;
    /// A half of at most 32 factors stays finite ((1e9 + 63)^32 < 1e289) for phi below this.
    const PRODUCT_MAX: f64 = 1e9;

    fn new() -> Self {
        RisingCache {
            phi: f64::NAN,
            filled: 0,
            terms: [(0.0, 0.0); Self::SMALL],
        }
    }

    /// The two terms for count y (a nonnegative integer) and dispersion phi > 0; `lg_phi` and
    /// `psi_phi` are lgamma(phi) and digamma(phi) (the latter only read when `want_psi`).
    #[inline]
    fn get(&mut self, y: f64, phi: f64, lg_phi: f64, psi_phi: f64, want_psi: bool) -> (f64, f64) {
        if y == 0.0 {
            return (0.0, 0.0);
        }
        if y >= Self::SMALL as f64 || phi >= Self::PRODUCT_MAX {
            let (lg, psi) = lgamma_psi(y + phi, want_psi);
            return (lg - lg_phi, if want_psi { psi - psi_phi } else { 0.0 });
        }
        if phi != self.phi {
            self.phi = phi;
            self.filled = 0;
        }
        let yi = y as usize;
        if self.filled & (1 << yi) == 0 {
            self.terms[yi] = Self::rising(phi, yi);
            self.filled |= 1 << yi;
        }
        let (lg, psi) = self.terms[yi];
        (lg, if want_psi { psi } else { 0.0 })
    }

    /// log of phi (phi + 1) ... (phi + y - 1) and the sum of 1 / (phi + j), for y < SMALL.
    fn rising(phi: f64, y: usize) -> (f64, f64) {
        // Two partial products of at most 32 factors each, so neither overflows.
        let (mut lo, mut hi, mut inv) = (1.0, 1.0, 0.0);
        for j in 0..y {
            let f = phi + j as f64;
            if j < 32 {
                lo *= f;
            } else {
                hi *= f;
            }
            inv += 1.0 / f;
        }
        (lo.ln() + hi.ln(), inv)
    }

    /// Every small count's terms for one phi at once (the same values `get` gives), for a dispersion
    /// shared by a whole block: then an entry's terms are one table lookup, without `get`'s checks.
    /// None where phi is too large for the products.
    fn table(&mut self, phi: f64) -> Option<&[(f64, f64); RisingCache::SMALL]> {
        // (NaN is not below the bound either: it takes the general path, which rejects it.)
        if phi.partial_cmp(&Self::PRODUCT_MAX) != Some(std::cmp::Ordering::Less) {
            return None;
        }
        if phi != self.phi || self.filled != u64::MAX {
            self.phi = phi;
            for y in 0..Self::SMALL {
                self.terms[y] = Self::rising(phi, y);
            }
            self.filled = u64::MAX;
        }
        Some(&self.terms)
    }
}

/// Runs `f` on `len` numbers of scratch space: on the stack when small, else in a thread-local buffer
/// that is kept between calls (so it allocates only when it first grows).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f64]) -> R) -> R {
    const STACK: usize = 64;
    thread_local! {
        static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    }
    if len <= STACK {
        let mut buf = [0.0; STACK];
        return f(&mut buf[..len]);
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        // Only reachable if a kernel ever re-entered itself; stay correct rather than panic.
        Err(_) => f(&mut vec![0.0; len]),
    })
}

// ---------------------------------------------------------------------------------------------
// Continuous univariate families. Arguments: 0 is the variate, then the parameters in order.

/// normal(y | mu, sigma) = -z^2/2 - log sigma - log sqrt(2 pi), z = (y - mu) / sigma.
fn normal(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, mu, sigma) = (a[0], a[1], a[2]);
    let kernel = t.live(&[0, 1, 2]);
    let scale = t.live(&[2]);
    let mut ln_sigma = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let s = at(sigma, k);
        if !positive(s) {
            return f64::NEG_INFINITY;
        }
        let z = (at(y, k) - at(mu, k)) / s;
        if kernel {
            lp -= 0.5 * z * z;
        }
        if scale {
            lp -= ln_sigma.get(s, f64::ln);
        }
        g.add(0, k, -z / s);
        g.add(1, k, z / s);
        g.add(2, k, (z * z - 1.0) / s);
    }
    if t.keep {
        lp -= n as f64 * LN_SQRT_2PI;
    }
    lp
}

/// student_t(y | nu, mu, sigma) = lgamma((nu+1)/2) - lgamma(nu/2) - log(nu pi)/2 - log sigma
/// - (nu+1)/2 log(1 + z^2/nu).
fn student_t(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, nu, mu, sigma) = (a[0], a[1], a[2], a[3]);
    let kernel = t.live(&[0, 1, 2, 3]);
    let shape = t.live(&[1]);
    let scale = t.live(&[3]);
    let want_nu = g.wants(1);
    let mut nu_terms = Memo::new();
    let mut ln_sigma = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (v, s) = (at(nu, k), at(sigma, k));
        if !(v > 0.0 && s > 0.0) {
            return f64::NEG_INFINITY;
        }
        let z = (at(y, k) - at(mu, k)) / s;
        let r = z * z / v;
        let log_t = r.ln_1p();
        if kernel {
            lp -= 0.5 * (v + 1.0) * log_t;
        }
        // The terms in nu alone, and their derivative.
        let (c, dc) = nu_terms.get(v, |v| {
            let (lg1, psi1) = lgamma_psi(0.5 * (v + 1.0), want_nu);
            let (lg0, psi0) = lgamma_psi(0.5 * v, want_nu);
            (lg1 - lg0 - 0.5 * v.ln(), 0.5 * (psi1 - psi0 - 1.0 / v))
        });
        if shape {
            lp += c;
        }
        if scale {
            lp -= ln_sigma.get(s, f64::ln);
        }
        let tt = 1.0 + r;
        let dy = -(v + 1.0) * z / (v * s * tt);
        g.add(0, k, dy);
        g.add(2, k, -dy);
        g.add(3, k, (-1.0 + (v + 1.0) * r / tt) / s);
        if want_nu {
            g.add(1, k, dc - 0.5 * log_t + 0.5 * (v + 1.0) * r / (v * tt));
        }
    }
    if t.keep {
        lp -= n as f64 * 0.5 * LN_PI;
    }
    lp
}

/// cauchy(y | mu, sigma) = -log pi - log sigma - log(1 + z^2).
fn cauchy(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, mu, sigma) = (a[0], a[1], a[2]);
    let kernel = t.live(&[0, 1, 2]);
    let scale = t.live(&[2]);
    let mut ln_sigma = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let s = at(sigma, k);
        if !positive(s) {
            return f64::NEG_INFINITY;
        }
        let z = (at(y, k) - at(mu, k)) / s;
        if kernel {
            lp -= (z * z).ln_1p();
        }
        if scale {
            lp -= ln_sigma.get(s, f64::ln);
        }
        let tt = 1.0 + z * z;
        let dy = -2.0 * z / (s * tt);
        g.add(0, k, dy);
        g.add(1, k, -dy);
        g.add(2, k, (-1.0 + 2.0 * z * z / tt) / s);
    }
    if t.keep {
        lp -= n as f64 * LN_PI;
    }
    lp
}

/// laplace(y | mu, b) = -log 2 - log b - |y - mu| / b.
fn laplace(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, mu, scale_arg) = (a[0], a[1], a[2]);
    let kernel = t.live(&[0, 1, 2]);
    let scale = t.live(&[2]);
    let mut ln_b = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let b = at(scale_arg, k);
        if !positive(b) {
            return f64::NEG_INFINITY;
        }
        let d = at(y, k) - at(mu, k);
        if kernel {
            lp -= d.abs() / b;
        }
        if scale {
            lp -= ln_b.get(b, f64::ln);
        }
        let s = sign(d) / b;
        g.add(0, k, -s);
        g.add(1, k, s);
        g.add(2, k, (-1.0 + d.abs() / b) / b);
    }
    if t.keep {
        lp -= n as f64 * LN_2;
    }
    lp
}

/// huber(y | mu, sigma, delta) = -rho_delta(r) - log sigma - log Z(delta), r = (y - mu) / sigma,
/// rho = r^2/2 for |r| <= delta and delta (|r| - delta/2) beyond, and
/// Z(delta) = sqrt(2 pi) (2 Phi(delta) - 1) + 2 exp(-delta^2/2) / delta.
fn huber(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, mu, sigma, delta) = (a[0], a[1], a[2], a[3]);
    let kernel = t.live(&[0, 1, 2, 3]);
    let scale = t.live(&[2]);
    let norm = t.live(&[3]);
    let mut ln_sigma = Memo::new();
    // log Z(delta) and d(-log Z)/d delta = 2 exp(-delta^2/2) / (delta^2 Z), since
    // Z'(delta) = -2 exp(-delta^2/2) / delta^2.
    let mut ln_z = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (s, dl) = (at(sigma, k), at(delta, k));
        if !(s > 0.0 && dl > 0.0) {
            return f64::NEG_INFINITY;
        }
        let r = (at(y, k) - at(mu, k)) / s;
        // rho, d rho / d r and d rho / d delta.
        let (rho, drho, drho_ddelta) = if r.abs() <= dl {
            (0.5 * r * r, r, 0.0)
        } else {
            (dl * (r.abs() - 0.5 * dl), dl * sign(r), r.abs() - dl)
        };
        if kernel {
            lp -= rho;
        }
        if scale {
            lp -= ln_sigma.get(s, f64::ln);
        }
        let (lz, dlz) = ln_z.get(dl, |dl| {
            let tail = 2.0 * (-0.5 * dl * dl).exp();
            let z = (2.0 * PI).sqrt() * erf(dl * FRAC_1_SQRT_2) + tail / dl;
            (z.ln(), tail / (dl * dl * z))
        });
        if norm {
            lp -= lz;
        }
        g.add(0, k, -drho / s);
        g.add(1, k, drho / s);
        g.add(2, k, (drho * r - 1.0) / s);
        g.add(3, k, -drho_ddelta + dlz);
    }
    lp
}

/// lognormal(y | mu, sigma) = -z^2/2 - log sigma - log y - log sqrt(2 pi), z = (log y - mu) / sigma.
fn lognormal(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, mu, sigma) = (a[0], a[1], a[2]);
    let kernel = t.live(&[0, 1, 2]);
    let scale = t.live(&[2]);
    let jac = t.live(&[0]);
    let mut ln_sigma = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (yk, s) = (at(y, k), at(sigma, k));
        if !(s > 0.0 && yk > 0.0) {
            return f64::NEG_INFINITY;
        }
        let ly = yk.ln();
        let z = (ly - at(mu, k)) / s;
        if kernel {
            lp -= 0.5 * z * z;
        }
        if scale {
            lp -= ln_sigma.get(s, f64::ln);
        }
        if jac {
            lp -= ly;
        }
        g.add(0, k, -(z / s + 1.0) / yk);
        g.add(1, k, z / s);
        g.add(2, k, (z * z - 1.0) / s);
    }
    if t.keep {
        lp -= n as f64 * LN_SQRT_2PI;
    }
    lp
}

/// gamma(y | alpha, beta) with rate beta = alpha log beta - lgamma(alpha) + (alpha - 1) log y - beta y.
fn gamma(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, alpha, beta) = (a[0], a[1], a[2]);
    let (t_ab, t_a, t_ya, t_yb) = (
        t.live(&[1, 2]),
        t.live(&[1]),
        t.live(&[0, 1]),
        t.live(&[0, 2]),
    );
    let want_alpha = g.wants(1);
    let mut alpha_terms = Memo::new();
    let mut ln_beta = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (yk, al, be) = (at(y, k), at(alpha, k), at(beta, k));
        if !(al > 0.0 && be > 0.0 && yk > 0.0) {
            return f64::NEG_INFINITY;
        }
        let (lg, psi) = alpha_terms.get(al, |al| lgamma_psi(al, want_alpha));
        let lb = ln_beta.get(be, f64::ln);
        let ly = yk.ln();
        if t_ab {
            lp += al * lb;
        }
        if t_a {
            lp -= lg;
        }
        if t_ya {
            lp += (al - 1.0) * ly;
        }
        if t_yb {
            lp -= be * yk;
        }
        g.add(0, k, (al - 1.0) / yk - be);
        g.add(1, k, lb - psi + ly);
        g.add(2, k, al / be - yk);
    }
    lp
}

/// inv_gamma(y | alpha, beta) with scale beta
/// = alpha log beta - lgamma(alpha) - (alpha + 1) log y - beta / y.
fn inv_gamma(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, alpha, beta) = (a[0], a[1], a[2]);
    let (t_ab, t_a, t_ya, t_yb) = (
        t.live(&[1, 2]),
        t.live(&[1]),
        t.live(&[0, 1]),
        t.live(&[0, 2]),
    );
    let want_alpha = g.wants(1);
    let mut alpha_terms = Memo::new();
    let mut ln_beta = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (yk, al, be) = (at(y, k), at(alpha, k), at(beta, k));
        if !(al > 0.0 && be > 0.0 && yk > 0.0) {
            return f64::NEG_INFINITY;
        }
        let (lg, psi) = alpha_terms.get(al, |al| lgamma_psi(al, want_alpha));
        let lb = ln_beta.get(be, f64::ln);
        let ly = yk.ln();
        if t_ab {
            lp += al * lb;
        }
        if t_a {
            lp -= lg;
        }
        if t_ya {
            lp -= (al + 1.0) * ly;
        }
        if t_yb {
            lp -= be / yk;
        }
        g.add(0, k, (-(al + 1.0) + be / yk) / yk);
        g.add(1, k, lb - psi - ly);
        g.add(2, k, al / be - 1.0 / yk);
    }
    lp
}

/// exponential(y | rate) = log rate - rate y, on y >= 0.
fn exponential(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, rate) = (a[0], a[1]);
    let kernel = t.live(&[0, 1]);
    let norm = t.live(&[1]);
    let mut ln_rate = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (yk, l) = (at(y, k), at(rate, k));
        if !(l > 0.0 && yk >= 0.0) {
            return f64::NEG_INFINITY;
        }
        if kernel {
            lp -= l * yk;
        }
        if norm {
            lp += ln_rate.get(l, f64::ln);
        }
        g.add(0, k, -l);
        g.add(1, k, 1.0 / l - yk);
    }
    lp
}

/// beta(y | a, b) = lgamma(a + b) - lgamma(a) - lgamma(b) + (a - 1) log y + (b - 1) log(1 - y),
/// on 0 < y < 1.
fn beta(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, pa, pb) = (a[0], a[1], a[2]);
    let (t_ab, t_ya, t_yb) = (t.live(&[1, 2]), t.live(&[0, 1]), t.live(&[0, 2]));
    let want = g.wants(1) || g.wants(2);
    // -log B(a, b), then the digammas psi(a + b), psi(a), psi(b).
    let mut norm = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (yk, al, be) = (at(y, k), at(pa, k), at(pb, k));
        if !(al > 0.0 && be > 0.0 && yk > 0.0 && yk < 1.0) {
            return f64::NEG_INFINITY;
        }
        let (c, psi_ab, psi_a, psi_b) = norm.get((al, be), |(al, be)| {
            let (lab, pab) = lgamma_psi(al + be, want);
            let (la, pa) = lgamma_psi(al, want);
            let (lb, pb) = lgamma_psi(be, want);
            (lab - la - lb, pab, pa, pb)
        });
        let (ly, l1y) = (yk.ln(), (-yk).ln_1p());
        if t_ab {
            lp += c;
        }
        if t_ya {
            lp += (al - 1.0) * ly;
        }
        if t_yb {
            lp += (be - 1.0) * l1y;
        }
        g.add(0, k, (al - 1.0) / yk - (be - 1.0) / (1.0 - yk));
        g.add(1, k, psi_ab - psi_a + ly);
        g.add(2, k, psi_ab - psi_b + l1y);
    }
    lp
}

/// half_normal(y | sigma) = log 2 - log sqrt(2 pi) - log sigma - (y / sigma)^2 / 2, on y >= 0.
fn half_normal(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, sigma) = (a[0], a[1]);
    let kernel = t.live(&[0, 1]);
    let scale = t.live(&[1]);
    let mut ln_sigma = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (yk, s) = (at(y, k), at(sigma, k));
        if !(s > 0.0 && yk >= 0.0) {
            return f64::NEG_INFINITY;
        }
        let z = yk / s;
        if kernel {
            lp -= 0.5 * z * z;
        }
        if scale {
            lp -= ln_sigma.get(s, f64::ln);
        }
        g.add(0, k, -z / s);
        g.add(1, k, (z * z - 1.0) / s);
    }
    if t.keep {
        lp += n as f64 * (LN_2 - LN_SQRT_2PI);
    }
    lp
}

/// half_cauchy(y | sigma) = log 2 - log pi - log sigma - log(1 + (y / sigma)^2), on y >= 0.
fn half_cauchy(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, sigma) = (a[0], a[1]);
    let kernel = t.live(&[0, 1]);
    let scale = t.live(&[1]);
    let mut ln_sigma = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (yk, s) = (at(y, k), at(sigma, k));
        if !(s > 0.0 && yk >= 0.0) {
            return f64::NEG_INFINITY;
        }
        let z = yk / s;
        if kernel {
            lp -= (z * z).ln_1p();
        }
        if scale {
            lp -= ln_sigma.get(s, f64::ln);
        }
        let tt = 1.0 + z * z;
        g.add(0, k, -2.0 * z / (s * tt));
        g.add(1, k, (-1.0 + 2.0 * z * z / tt) / s);
    }
    if t.keep {
        lp += n as f64 * (LN_2 - LN_PI);
    }
    lp
}

/// uniform(y | lo, hi) = -log(hi - lo) on lo <= y <= hi, -inf elsewhere.
fn uniform(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, lo, hi) = (a[0], a[1], a[2]);
    let norm = t.live(&[1, 2]);
    let mut ln_width = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (yk, l, h) = (at(y, k), at(lo, k), at(hi, k));
        if !(l < h && yk >= l && yk <= h) {
            return f64::NEG_INFINITY;
        }
        if norm {
            lp -= ln_width.get((l, h), |(l, h)| (h - l).ln());
        }
        let inv = 1.0 / (h - l);
        g.add(1, k, inv);
        g.add(2, k, -inv);
    }
    lp
}

// ---------------------------------------------------------------------------------------------
// Discrete families: the variate is integer data, so it is never differentiated.

/// poisson_log(y | eta) = y eta - exp(eta) - lgamma(y + 1).
fn poisson_log(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, eta) = (a[0], a[1]);
    let kernel = t.live(&[0, 1]);
    let factorial = t.live(&[0]);
    let mut ln_fact = Memo::new();
    let mut lp = 0.0;
    for k in 0..n {
        let (yk, e) = (at(y, k), at(eta, k));
        if !is_count(yk) {
            return f64::NEG_INFINITY;
        }
        let rate = e.exp();
        if kernel {
            // y eta is skipped at y = 0 so that eta = -inf gives 0, not NaN.
            if yk != 0.0 {
                lp += yk * e;
            }
            lp -= rate;
        }
        if factorial {
            lp -= ln_fact.get(yk, |yk| ln_gamma(yk + 1.0));
        }
        g.add(1, k, yk - rate);
    }
    lp
}

/// bernoulli_logit(y | eta) = y eta - log(1 + exp(eta)), y in {0, 1}.
fn bernoulli_logit(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, eta) = (a[0], a[1]);
    let kernel = t.live(&[0, 1]);
    let mut lp = 0.0;
    let (mut x, mut yb, mut s) = ([0.0; BLOCK], [0.0; BLOCK], LogisticBlock::default());
    for start in (0..n).step_by(BLOCK) {
        let m = BLOCK.min(n - start);
        for j in 0..m {
            (x[j], yb[j]) = (at(eta, start + j), at(y, start + j));
        }
        // The domain for the whole block (no early exit inside, no branch on the data).
        if !yb[..m]
            .iter()
            .fold(true, |ok, &v| ok & ((v == 0.0) | (v == 1.0)))
        {
            return f64::NEG_INFINITY;
        }
        s.fill(&x[..m]);
        if kernel {
            lp -= lane_sum(m, |j| {
                select(yb[j] == 1.0, s.softplus_neg[j], s.softplus[j])
            });
        }
        g.add_block(1, start, m, |j| yb[j] - s.p[j]);
    }
    lp
}

/// binomial_logit(y | trials, eta) = log C(trials, y) + y log p + (trials - y) log(1 - p),
/// p = inv_logit(eta).
fn binomial_logit(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, trials, eta) = (a[0], a[1], a[2]);
    let kernel = t.live(&[0, 1, 2]);
    let choose = t.live(&[0, 1]);
    let want = g.wants(2);
    let mut ln_choose = Memo::new();
    let mut lp = 0.0;
    let (mut x, mut block) = ([0.0; BLOCK], LogisticBlock::default());
    for start in (0..n).step_by(BLOCK) {
        let m = BLOCK.min(n - start);
        for (j, x) in x[..m].iter_mut().enumerate() {
            *x = at(eta, start + j);
        }
        block.fill(&x[..m]);
        for j in 0..m {
            let k = start + j;
            let (yk, nk) = (at(y, k), at(trials, k));
            if !(is_count(yk) && is_count(nk) && yk <= nk) {
                return f64::NEG_INFINITY;
            }
            let s = block.get(j);
            if kernel {
                // log p = -log(1 + exp(-eta)), log(1 - p) = -log(1 + exp(eta)); zero counts are
                // skipped so that an infinite eta cannot give 0 * inf.
                if yk != 0.0 {
                    lp -= yk * s.softplus_neg;
                }
                if nk != yk {
                    lp -= (nk - yk) * s.softplus;
                }
            }
            if choose {
                lp += ln_choose.get((nk, yk), |(nk, yk)| {
                    ln_gamma(nk + 1.0) - ln_gamma(yk + 1.0) - ln_gamma(nk - yk + 1.0)
                });
            }
            if want {
                g.add(2, k, yk - nk * s.p);
            }
        }
    }
    lp
}

/// neg_binomial_2_log(y | eta, phi): mean mu = exp(eta), variance mu + mu^2 / phi.
/// = lgamma(y + phi) - lgamma(phi) - lgamma(y + 1) + phi log(phi / (mu + phi)) + y log(mu / (mu + phi)),
/// written with x = eta - log phi as -phi log(1 + exp(x)) - y log(1 + exp(-x)) so that neither a large
/// mean nor a large dispersion overflows.
fn neg_binomial_2_log(a: &[&[f64]], n: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, eta, phi) = (a[0], a[1], a[2]);
    let kernel = t.live(&[0, 1, 2]);
    let t_yphi = t.live(&[0, 2]);
    let factorial = t.live(&[0]);
    let want_phi = g.wants(2);
    // log phi, lgamma(phi), digamma(phi).
    let mut phi_terms = Memo::new();
    let phi_special = |p: f64| {
        let (lg, psi) = lgamma_psi(p, want_phi);
        (p.ln(), lg, psi)
    };
    let mut ln_fact = Memo::new();
    let mut rising = RisingCache::new();
    let mut lp = 0.0;
    let (mut x, mut yb, mut pb) = ([0.0; BLOCK], [0.0; BLOCK], [0.0; BLOCK]);
    let (mut lg_ratio, mut psi_diff, mut s) =
        ([0.0; BLOCK], [0.0; BLOCK], LogisticBlock::default());
    for start in (0..n).step_by(BLOCK) {
        let m = BLOCK.min(n - start);
        for j in 0..m {
            (yb[j], pb[j]) = (at(y, start + j), at(phi, start + j));
        }
        // The domain for the whole block (no early exit inside, no branch on the data).
        let ok = yb[..m]
            .iter()
            .zip(&pb[..m])
            .fold(true, |ok, (&y, &p)| ok & is_count(y) & (p > 0.0));
        if !ok {
            return f64::NEG_INFINITY;
        }
        // x = eta - log phi, so that p = mu / (mu + phi) = inv_logit(x), q = phi / (mu + phi).
        if phi.len() == 1 {
            let log_phi = phi_terms.get(pb[0], phi_special).0;
            for j in 0..m {
                x[j] = at(eta, start + j) - log_phi;
            }
        } else {
            for j in 0..m {
                x[j] = at(eta, start + j) - phi_terms.get(pb[j], phi_special).0;
            }
        }
        s.fill(&x[..m]);
        // The count terms (cached per count while phi repeats) and the factorials, entry by entry.
        let mut lp_counts = 0.0;
        if t_yphi || want_phi || factorial {
            let (_, lg_phi, psi_phi) = phi_terms.get(pb[0], phi_special);
            let shared = if phi.len() == 1 {
                rising.table(pb[0])
            } else {
                None
            };
            if let Some(table) = shared {
                // One dispersion for the whole block: small counts are a lookup.
                for j in 0..m {
                    let y = yb[j];
                    (lg_ratio[j], psi_diff[j]) = if y < RisingCache::SMALL as f64 {
                        table[y as usize]
                    } else {
                        let (lg, psi) = lgamma_psi(y + pb[j], want_phi);
                        (lg - lg_phi, psi - psi_phi)
                    };
                }
                if !want_phi {
                    psi_diff[..m].fill(0.0);
                }
            } else {
                for j in 0..m {
                    let (_, lg_phi, psi_phi) = phi_terms.get(pb[j], phi_special);
                    (lg_ratio[j], psi_diff[j]) =
                        rising.get(yb[j], pb[j], lg_phi, psi_phi, want_phi);
                }
            }
            if t_yphi {
                lp_counts += lane_sum(m, |j| lg_ratio[j]);
            }
            if factorial {
                for &y in &yb[..m] {
                    lp_counts -= ln_fact.get(y, |y| ln_gamma(y + 1.0));
                }
            }
        }
        lp += lp_counts;
        if kernel {
            // Zero counts skip y log(1 + exp(-x)), so that x = -inf cannot give 0 * inf.
            lp -= lane_sum(m, |j| {
                pb[j] * s.softplus[j] + select(yb[j] != 0.0, yb[j] * s.softplus_neg[j], 0.0)
            });
        }
        g.add_block(1, start, m, |j| yb[j] - (yb[j] + pb[j]) * s.p[j]);
        if want_phi {
            g.add_block(2, start, m, |j| {
                psi_diff[j] - s.softplus[j] + s.p[j] - yb[j] * s.q[j] / pb[j]
            });
        }
    }
    lp
}

// ---------------------------------------------------------------------------------------------
// Multivariate families: the variate holds m vectors of length k = dims, row-major.

/// dirichlet(theta | alpha) = lgamma(sum alpha) - sum lgamma(alpha_i) + sum (alpha_i - 1) log theta_i.
/// Theta is not checked to sum to one (a simplex latent does so by construction, simplex data are
/// checked when loaded), only to be nonnegative, so that its gradient is the plain partial derivative.
fn dirichlet(a: &[&[f64]], k: usize, t: Terms, g: &mut Grads) -> f64 {
    let (theta, alpha) = (a[0], a[1]);
    if theta.is_empty() {
        return 0.0;
    }
    let shape_ok = k > 0 && theta.len() % k == 0 && (alpha.len() == k || alpha.len() == 1);
    debug_assert!(shape_ok, "dirichlet: inconsistent lengths");
    if !shape_ok {
        return f64::NAN;
    }
    let m = theta.len() / k;
    let norm = t.live(&[1]);
    let kernel = t.live(&[0, 1]);
    let mut sum_alpha = 0.0;
    let mut sum_lgamma = 0.0;
    for i in 0..k {
        let ai = at(alpha, i);
        if !positive(ai) {
            return f64::NEG_INFINITY;
        }
        sum_alpha += ai;
        if norm {
            sum_lgamma += ln_gamma(ai);
        }
    }
    let mut lp = 0.0;
    if norm {
        lp += m as f64 * (ln_gamma(sum_alpha) - sum_lgamma);
    }
    if g.wants(1) {
        let psi_sum = digamma(sum_alpha);
        for i in 0..k {
            g.add(1, i, m as f64 * (psi_sum - digamma(at(alpha, i))));
        }
    }
    for (j, row) in theta.chunks_exact(k).enumerate() {
        for (i, &th) in row.iter().enumerate() {
            if !nonnegative(th) {
                return f64::NEG_INFINITY;
            }
            let ai = at(alpha, i);
            let ln_th = th.ln();
            // alpha_i = 1 contributes nothing, even at theta_i = 0.
            if ai != 1.0 {
                if kernel {
                    lp += (ai - 1.0) * ln_th;
                }
                g.add(0, j * k + i, (ai - 1.0) / th);
            }
            g.add(1, i, ln_th);
        }
    }
    lp
}

/// multi_normal_cholesky(y | mu, L) = -|z|^2/2 - sum log L_ii - k log sqrt(2 pi), with L z = y - mu.
/// With w = L^-T z the gradients are -w for y, w for mu and w z^T - diag(1 / L_ii) for L's lower
/// triangle.
fn multi_normal_cholesky(a: &[&[f64]], k: usize, t: Terms, g: &mut Grads) -> f64 {
    let (y, mu, l) = (a[0], a[1], a[2]);
    if y.is_empty() {
        return 0.0;
    }
    let shape_ok =
        k > 0 && y.len() % k == 0 && (mu.len() == k || mu.len() == 1) && l.len() == k * k;
    debug_assert!(shape_ok, "multi_normal_cholesky: inconsistent lengths");
    if !shape_ok {
        return f64::NAN;
    }
    let m = y.len() / k;
    let mut log_det = 0.0;
    for i in 0..k {
        let d = l[i * k + i];
        if !positive(d) {
            return f64::NEG_INFINITY;
        }
        log_det += d.ln();
    }
    let mut lp = 0.0;
    if t.live(&[2]) {
        lp -= m as f64 * log_det;
    }
    if t.keep {
        lp -= (m * k) as f64 * LN_SQRT_2PI;
    }
    for i in 0..k {
        g.add(2, i * k + i, -(m as f64) / l[i * k + i]);
    }
    let kernel = t.live(&[0, 1, 2]);
    let want_w = g.wants(0) || g.wants(1) || g.wants(2);
    let want_l = g.wants(2);
    if !kernel && !want_w {
        return lp;
    }
    with_scratch(2 * k, |buf| {
        let (z, w) = buf.split_at_mut(k);
        for (j, yj) in y.chunks_exact(k).enumerate() {
            // Forward substitution: L z = y - mu.
            let mut quad = 0.0;
            for i in 0..k {
                let row = &l[i * k..i * k + i];
                let mut s = yj[i] - at(mu, i);
                for (lij, zj) in row.iter().zip(&z[..i]) {
                    s -= lij * zj;
                }
                z[i] = s / l[i * k + i];
                quad += z[i] * z[i];
            }
            if kernel {
                lp -= 0.5 * quad;
            }
            if !want_w {
                continue;
            }
            // Back substitution: L^T w = z.
            for i in (0..k).rev() {
                let mut s = z[i];
                for r in i + 1..k {
                    s -= l[r * k + i] * w[r];
                }
                w[i] = s / l[i * k + i];
            }
            for (i, &wi) in w.iter().enumerate() {
                g.add(0, j * k + i, -wi);
                g.add(1, i, wi);
                if want_l {
                    for (c, &zc) in z[..=i].iter().enumerate() {
                        g.add(2, i * k + c, wi * zc);
                    }
                }
            }
        }
    });
    lp
}
