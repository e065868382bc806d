//! ODE solves with forward sensitivities: what a `solve_ode` / `solve_ode_stiff` node runs.
//!
//! A system is anything that implements [`System`]: its rate f(t, y; p), the rows of its Jacobian
//! with respect to z = (t, y, p), and optionally *switches*, piecewise-constant values inside the rate
//! (the comparisons of `ifelse(t < t_off, Ri, 0)`). Models' systems are compiled right-hand sides
//! (`graph.rs`); tests implement the trait by hand.
//!
//! Two solvers share one driver ([`solve`]): an adaptive explicit Dormand-Prince 5(4) method with its
//! dense output (`dopri.rs`) and a variable-order (1-5) BDF method in the quasi-constant step size form
//! of Shampine and Reichelt, with the NDF modification (the method of MATLAB's ode15s and scipy's
//! BDF; `bdf.rs`). The driver gives the outputs at the requested times from each method's
//! interpolant, so output times never shorten the steps.
//!
//! Sensitivities: the derivatives S = dy/dθ with respect to chosen columns θ (initial states and
//! parameters) are carried alongside the states in one augmented vector (y, S) and advanced by the
//! same steps: the explicit method applies its stages to dS/dt = J_y S + J_θ, the BDF method solves
//! the linearised corrector equation once the Newton iteration has converged. Either way S is the
//! exact derivative of the computed solution for the steps taken (internal differentiation), so the
//! gradient is consistent with the log density the sampler sees. Error control is on the states only:
//! the steps, and so the values, do not depend on whether a gradient was asked for; the sensitivities'
//! own accuracy follows the states' (they are derivatives of the same discrete solution). The
//! derivative with respect to the initial time follows from the initial-state columns:
//! dy(t)/dt0 = -S_y0(t) f(t0, y0).
//!
//! Discontinuities. During a step every switch is frozen at its value at the step's start, so each
//! step integrates one smooth right-hand side and the error control is never fooled by a jump. After
//! an accepted step the switches are re-evaluated at its end; if one flipped, the first time it flips
//! is located by bisection on the step's interpolant (to the last bit of t), the solution is cut
//! there, the sensitivities receive the jump S+ = S- + (f- - f+) dτ/dθ of the switching time τ (so a
//! lamp switch-off time may itself be a parameter), and the solver restarts on the other side. A
//! switch that flips and flips back within one step is not seen; a switched-off branch must stay finite
//! just beyond its switch, where it is evaluated while the switch is located.
//!
//! Failures (too many steps, a step size below ten units in the last place of t, a non-finite state,
//! an output time before the initial time) are values of [`Failure`], never panics: a model turns them
//! into a recoverable evaluation error (a divergence for NUTS). Nothing here allocates after
//! [`Workspace::new`].

pub mod bdf;
pub mod dopri;
pub mod graph;
mod linalg;
mod tape;

use std::fmt;

/// An ODE system dy/dt = f(t, y; p) as the solvers see it.
pub trait System {
    fn n_states(&self) -> usize;
    fn n_params(&self) -> usize;
    /// How many switch values the rate holds (0 for a smooth system).
    fn n_switches(&self) -> usize {
        0
    }
    /// The rate with every switch held at `modes` (one value per switch).
    fn rate(&mut self, t: f64, y: &[f64], p: &[f64], modes: &[f64], f: &mut [f64]);
    /// The rate and its Jacobian rows: `jac[i * (1 + n + m) + k]` is d f_i / d z_k with
    /// z = (t, y_1..y_n, p_1..p_m), switches held at `modes`.
    fn jacobian(
        &mut self,
        t: f64,
        y: &[f64],
        p: &[f64],
        modes: &[f64],
        f: &mut [f64],
        jac: &mut [f64],
    );
    /// The switches' values at (t, y), computed (not held): the modes a step starting here uses.
    fn modes(&mut self, _t: f64, _y: &[f64], _p: &[f64], _out: &mut [f64]) {}
    /// Switch `k`'s switching function (it flips where this changes sign) and its gradient with
    /// respect to z = (t, y, p), other switches held at `modes`.
    fn switch_gradient(
        &mut self,
        _k: usize,
        _t: f64,
        _y: &[f64],
        _p: &[f64],
        _modes: &[f64],
        grad: &mut [f64],
    ) -> f64 {
        grad.fill(0.0);
        0.0
    }
}

/// Which solver a call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `solve_ode`: adaptive explicit Dormand-Prince 5(4).
    Explicit,
    /// `solve_ode_stiff`: variable-order BDF (NDF) with a Newton iteration.
    Stiff,
}

impl Method {
    /// The built-in function that selects this method.
    pub fn function(self) -> &'static str {
        match self {
            Method::Explicit => "solve_ode",
            Method::Stiff => "solve_ode_stiff",
        }
    }

    /// A short name for printed graphs.
    pub fn name(self) -> &'static str {
        match self {
            Method::Explicit => "dopri5",
            Method::Stiff => "bdf",
        }
    }
}

/// Error control and effort bounds of one solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Relative tolerance of each step's local error estimate.
    pub rtol: f64,
    /// Absolute tolerance (the scale below which a state's digits do not matter).
    pub atol: f64,
    /// Most steps, accepted or rejected, over the whole solve.
    pub max_steps: usize,
}

impl Default for Tolerances {
    /// Stan's defaults for tolerances (1e-6); at most 100000 steps.
    fn default() -> Tolerances {
        Tolerances {
            rtol: 1e-6,
            atol: 1e-6,
            max_steps: 100_000,
        }
    }
}

/// A sensitivity column: the derivative of the solution with respect to one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The initial value of state j.
    Init(usize),
    /// Parameter j.
    Param(usize),
}

/// Why a solve stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureKind {
    /// The step budget was spent (the system may be stiff for an explicit method).
    TooManySteps(usize),
    /// The step size fell below the resolution of t (a singularity, or a blow-up of the solution).
    StepSizeUnderflow,
    /// The state or its derivatives stopped being finite numbers.
    NonFinite,
    /// An output time lies before the initial time.
    BeforeStart { time: f64 },
    /// The initial state, initial time or a parameter is not a finite number.
    BadInput,
}

/// A failed solve: what happened and the time the solution had reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Failure {
    pub t: f64,
    pub kind: FailureKind,
}

/// A time for messages: seven significant digits are enough to say where a solve stopped.
fn show_time(t: f64) -> String {
    if t == 0.0 || !t.is_finite() {
        return format!("{t}");
    }
    let digits = 6 - t.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    format!("{}", (t * scale).round() / scale)
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = show_time(self.t);
        match self.kind {
            FailureKind::TooManySteps(n) => write!(
                f,
                "it took more than {n} steps (max_steps) and stopped at t = {t}; if the system is stiff, solve_ode_stiff needs far fewer"
            ),
            FailureKind::StepSizeUnderflow => write!(
                f,
                "the step size became too small to advance t at t = {t} (the solution may blow up there)"
            ),
            FailureKind::NonFinite => {
                write!(f, "the solution stopped being finite at t = {t}")
            }
            FailureKind::BeforeStart { time } => write!(
                f,
                "the output time {} is before the initial time {t}",
                show_time(time)
            ),
            FailureKind::BadInput => write!(
                f,
                "the initial state, initial time or a parameter is not finite (t0 = {t})"
            ),
        }
    }
}

/// Work done by one solve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Steps attempted (accepted and rejected).
    pub steps: usize,
    pub rejected: usize,
    /// Evaluations of the rate alone, and of the rate with its Jacobian.
    pub rates: usize,
    pub jacobians: usize,
    /// LU factorisations (BDF).
    pub factorisations: usize,
    /// Switches located and crossed.
    pub events: usize,
}

/// Everything a solver step needs besides its own buffers.
pub(crate) struct Ctx<'a> {
    pub sys: &'a mut dyn System,
    pub p: &'a [f64],
    pub modes: &'a mut [f64],
    pub cols: &'a [Column],
    pub tol: Tolerances,
    pub stats: &'a mut Stats,
    pub n: usize,
    pub m: usize,
}

impl Ctx<'_> {
    /// Length of the augmented state (y, S).
    pub fn len(&self) -> usize {
        self.n * (1 + self.cols.len())
    }

    /// Counts one step attempt; fails when the budget is spent.
    pub fn count_step(&mut self, t: f64) -> Result<(), Failure> {
        if self.stats.steps >= self.tol.max_steps {
            return Err(Failure {
                t,
                kind: FailureKind::TooManySteps(self.tol.max_steps),
            });
        }
        self.stats.steps += 1;
        Ok(())
    }

    pub fn rate(&mut self, t: f64, y: &[f64], f: &mut [f64]) {
        self.stats.rates += 1;
        self.sys.rate(t, y, self.p, self.modes, f);
    }

    pub fn jacobian(&mut self, t: f64, y: &[f64], f: &mut [f64], jac: &mut [f64]) {
        self.stats.jacobians += 1;
        self.sys.jacobian(t, y, self.p, self.modes, f, jac);
    }

    /// The sensitivities' derivatives from the Jacobian: column c of dS/dt is J_y s_c, plus
    /// df/dp_j for a parameter column. `aug` is the augmented state, `out` its derivative (the states'
    /// part already holds f).
    pub fn sensitivity_rate(&self, aug: &[f64], jac: &[f64], out: &mut [f64]) {
        let (n, w) = (self.n, 1 + self.n + self.m);
        for (c, col) in self.cols.iter().enumerate() {
            let s = &aug[n * (1 + c)..n * (2 + c)];
            for i in 0..n {
                let row = &jac[i * w..(i + 1) * w];
                let mut v = match col {
                    Column::Param(j) => row[1 + n + j],
                    Column::Init(_) => 0.0,
                };
                for k in 0..n {
                    v += row[1 + k] * s[k];
                }
                out[n * (1 + c) + i] = v;
            }
        }
    }

    /// The derivative of the augmented state; `jac` is scratch for the Jacobian rows.
    pub fn augmented_rate(&mut self, t: f64, aug: &[f64], jac: &mut [f64], out: &mut [f64]) {
        let n = self.n;
        if self.cols.is_empty() {
            self.rate(t, &aug[..n], &mut out[..n]);
        } else {
            self.jacobian(t, &aug[..n], &mut out[..n], jac);
            self.sensitivity_rate(aug, jac, out);
        }
    }
}

/// The root-mean-square of `x / scale` over the states, the norm every error test uses.
pub(crate) fn rms(x: &[f64], scale: &[f64]) -> f64 {
    let s: f64 = x.iter().zip(scale).map(|(a, b)| (a / b) * (a / b)).sum();
    (s / x.len().max(1) as f64).sqrt()
}

/// Rounds a step size down onto the grid 2^(k/8) (k an integer). Step sizes follow from error estimates
/// that vary smoothly with the parameters; on a grid, the whole sequence of steps stays the same for
/// nearby parameters (it changes only where a choice flips), so the sensitivities, which differentiate
/// the steps taken, are the exact derivative of the computed solution there. Without it, the unmodelled
/// dependence of each step size on the parameters leaves gradient errors of the order of the tolerance
/// times the number of steps, which stall optimisers and bias HMC's energy. It costs ~4% more steps.
pub(crate) fn quantize(h: f64) -> f64 {
    if !(h > 0.0 && h.is_finite()) {
        return h;
    }
    ((h.log2() * 8.0).floor() / 8.0).exp2()
}

/// The smallest step that still advances `t`: ten units in its last place.
pub(crate) fn min_step(t: f64) -> f64 {
    10.0 * (next_up(t.abs()) - t.abs())
}

fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    if x == 0.0 {
        f64::from_bits(1)
    } else {
        f64::from_bits(bits + 1)
    }
}

/// A first step size from the rate at the start (Hairer, Nørsett & Wanner, II.4): the step an order
/// `order` method could take if the second derivative were as large as a finite difference says.
/// `y1` and `f1` are scratch of the states' length.
pub(crate) fn initial_step(
    cx: &mut Ctx,
    t: f64,
    y: &[f64],
    f0: &[f64],
    span: f64,
    order: usize,
    scratch: (&mut [f64], &mut [f64], &mut [f64]),
) -> f64 {
    let (scale, y1, f1) = scratch;
    for i in 0..y.len() {
        scale[i] = cx.tol.atol + cx.tol.rtol * y[i].abs();
    }
    let d0 = rms(y, scale);
    let d1 = rms(f0, scale);
    let mut h0 = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    h0 = h0.min(span);
    for i in 0..y.len() {
        y1[i] = y[i] + h0 * f0[i];
    }
    cx.rate(t + h0, y1, f1);
    for i in 0..y.len() {
        y1[i] = f1[i] - f0[i];
    }
    let d2 = rms(y1, scale) / h0;
    let h1 = if d1 <= 1e-15 && d2 <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(1.0 / (order as f64 + 1.0))
    };
    let h = (100.0 * h0).min(h1).min(span);
    if h.is_finite() && h > 0.0 {
        h
    } else {
        span.min(1e-6).max(min_step(t))
    }
}

/// What the driver asks of a solver.
pub(crate) trait Stepper {
    /// (Re)starts at `t` from the augmented state `aug` (the first `cx.len()` entries).
    fn start(&mut self, cx: &mut Ctx, t: f64, aug: &[f64], t_end: f64) -> Result<(), Failure>;
    /// Takes one accepted step towards `t_end` (never past it).
    fn step(&mut self, cx: &mut Ctx, t_end: f64) -> Result<(), Failure>;
    /// The current time and the start of the last step.
    fn t(&self) -> f64;
    fn t_old(&self) -> f64;
    /// The augmented state at the current time.
    fn state(&self) -> &[f64];
    /// The first `out.len()` entries of the augmented state at `s` in [t_old, t], from the last
    /// step's interpolant.
    fn interpolate(&self, s: f64, out: &mut [f64]);
}

enum Solver {
    Explicit(Box<dopri::Dopri>),
    Stiff(Box<bdf::Bdf>),
}

/// Preallocated memory for solves of one size: `n` states, `m` parameters, up to `max_cols`
/// sensitivity columns and `n_switches` switches.
pub struct Workspace {
    method: Method,
    n: usize,
    m: usize,
    max_cols: usize,
    aug: Vec<f64>,
    interp: Vec<f64>,
    modes: Vec<f64>,
    trial: Vec<f64>,
    f_minus: Vec<f64>,
    f_plus: Vec<f64>,
    grad: Vec<f64>,
    solver: Solver,
}

impl Workspace {
    pub fn new(method: Method, n: usize, m: usize, max_cols: usize, n_switches: usize) -> Self {
        let len = n * (1 + max_cols);
        let solver = match method {
            Method::Explicit => Solver::Explicit(Box::new(dopri::Dopri::new(n, m, max_cols))),
            Method::Stiff => Solver::Stiff(Box::new(bdf::Bdf::new(n, m, max_cols))),
        };
        Workspace {
            method,
            n,
            m,
            max_cols,
            aug: vec![0.0; len],
            interp: vec![0.0; len],
            modes: vec![0.0; n_switches],
            trial: vec![0.0; n_switches],
            f_minus: vec![0.0; n],
            f_plus: vec![0.0; n],
            grad: vec![0.0; 1 + n + m],
            solver,
        }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// The switch values at the start of the last solve.
    pub fn initial_modes(&self) -> &[f64] {
        &self.modes
    }
}

/// Solves dy/dt = f(t, y; p) from y(t0) = y0 and writes y at every time of `times` (non-decreasing,
/// none before t0) into `out` (times x states, row-major). With sensitivity columns, `sens` receives
/// d y(times[i]) / d θ_c at `sens[(i * cols.len() + c) * n + j]` for state j.
#[allow(clippy::too_many_arguments)]
pub fn solve(
    sys: &mut dyn System,
    tol: Tolerances,
    y0: &[f64],
    t0: f64,
    times: &[f64],
    p: &[f64],
    cols: &[Column],
    work: &mut Workspace,
    out: &mut [f64],
    sens: &mut [f64],
) -> Result<Stats, Failure> {
    let (n, m, k) = (sys.n_states(), sys.n_params(), cols.len());
    assert!(
        n == work.n && m == work.m && k <= work.max_cols && sys.n_switches() == work.modes.len(),
        "the workspace was made for another system"
    );
    let mut stats = Stats::default();
    if !t0.is_finite() || y0.iter().chain(p).any(|v| !v.is_finite()) {
        return Err(Failure {
            t: t0,
            kind: FailureKind::BadInput,
        });
    }
    if let Some(&time) = times.iter().find(|&&s| s < t0 || s.is_nan()) {
        return Err(Failure {
            t: t0,
            kind: FailureKind::BeforeStart { time },
        });
    }
    let len = n * (1 + k);
    let Workspace {
        aug,
        interp,
        modes,
        trial,
        f_minus,
        f_plus,
        grad,
        solver,
        ..
    } = work;
    let aug = &mut aug[..len];
    aug[..n].copy_from_slice(y0);
    for (c, col) in cols.iter().enumerate() {
        let s = &mut aug[n * (1 + c)..n * (2 + c)];
        s.fill(0.0);
        if let Column::Init(j) = col {
            s[*j] = 1.0;
        }
    }
    sys.modes(t0, y0, p, modes);
    let mut next = 0;
    let write = |i: usize, state: &[f64], out: &mut [f64], sens: &mut [f64]| {
        out[i * n..(i + 1) * n].copy_from_slice(&state[..n]);
        sens[i * k * n..(i + 1) * k * n].copy_from_slice(&state[n..len]);
    };
    while next < times.len() && times[next] <= t0 {
        write(next, aug, out, sens);
        next += 1;
    }
    if next == times.len() {
        return Ok(stats);
    }
    let t_end = times[times.len() - 1];
    let stepper: &mut dyn Stepper = match solver {
        Solver::Explicit(s) => s.as_mut(),
        Solver::Stiff(s) => s.as_mut(),
    };
    let mut cx = Ctx {
        sys,
        p,
        modes,
        cols,
        tol,
        stats: &mut stats,
        n,
        m,
    };
    stepper.start(&mut cx, t0, aug, t_end)?;
    loop {
        stepper.step(&mut cx, t_end)?;
        let (t_old, t_new) = (stepper.t_old(), stepper.t());
        // Did a switch flip during the step? Then cut the step where it first flips.
        let mut cut = None;
        if !trial.is_empty() {
            cx.sys.modes(t_new, &stepper.state()[..n], p, trial);
            if trial != cx.modes {
                let (mut lo, mut hi) = (t_old, t_new);
                loop {
                    let mid = lo + 0.5 * (hi - lo);
                    if mid <= lo || mid >= hi {
                        break;
                    }
                    stepper.interpolate(mid, &mut interp[..n]);
                    cx.sys.modes(mid, &interp[..n], p, trial);
                    if trial != cx.modes {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                cut = Some(hi);
            }
        }
        let t_stop = cut.unwrap_or(t_new);
        while next < times.len() && times[next] <= t_stop {
            if times[next] == t_new && cut.is_none() {
                write(next, stepper.state(), out, sens);
            } else {
                stepper.interpolate(times[next], &mut interp[..len]);
                write(next, interp, out, sens);
            }
            next += 1;
        }
        if next == times.len() {
            return Ok(stats);
        }
        let Some(tau) = cut else { continue };
        // Restart on the far side of the switch.
        stepper.interpolate(tau, aug);
        cx.sys.modes(tau, &aug[..n], p, trial);
        if k > 0 {
            let flipped = (0..trial.len())
                .find(|&s| trial[s] != cx.modes[s])
                .unwrap_or(0);
            jump(&mut cx, flipped, tau, aug, trial, (f_minus, f_plus, grad));
        }
        cx.stats.events += 1;
        cx.modes.copy_from_slice(trial);
        stepper.start(&mut cx, tau, aug, t_end)?;
    }
}

/// The sensitivities' jump where switch `k` flips at τ: S+ = S- + (f- - f+) dτ/dθ, with
/// dτ/dθ = -(g_y S- + g_θ) / (g_t + g_y f-) from the switching function g (implicit differentiation
/// of g(τ, y(τ)) = 0). `aug` holds (y, S) at τ; `new_modes` are the modes after the switch.
fn jump(
    cx: &mut Ctx,
    k: usize,
    tau: f64,
    aug: &mut [f64],
    new_modes: &[f64],
    bufs: (&mut [f64], &mut [f64], &mut [f64]),
) {
    let (f_minus, f_plus, grad) = bufs;
    let n = cx.n;
    let y = &aug[..n];
    cx.sys.rate(tau, y, cx.p, cx.modes, f_minus);
    cx.sys.rate(tau, y, cx.p, new_modes, f_plus);
    cx.stats.rates += 2;
    cx.sys.switch_gradient(k, tau, y, cx.p, cx.modes, grad);
    let gdot = grad[0] + (0..n).map(|i| grad[1 + i] * f_minus[i]).sum::<f64>();
    if gdot == 0.0 || !gdot.is_finite() {
        // The trajectory grazes the switch: τ does not move to first order.
        return;
    }
    for (c, col) in cx.cols.iter().enumerate() {
        let s = &mut aug[n * (1 + c)..n * (2 + c)];
        let mut num: f64 = (0..n).map(|i| grad[1 + i] * s[i]).sum();
        if let Column::Param(j) = col {
            num += grad[1 + n + j];
        }
        let dtau = -num / gdot;
        for i in 0..n {
            s[i] += (f_minus[i] - f_plus[i]) * dtau;
        }
    }
}
