//! The ODE solvers on their own, with hand-written systems: solutions against closed forms (exponential
//! decay, logistic growth, linear systems through the matrix exponential), sensitivities against
//! closed-form derivatives and finite differences of the solver itself, switches (a lamp switched off,
//! a state crossing a threshold) against piecewise closed forms, Robertson's stiff kinetics against
//! published values with a step bound, and failures as values.

// States, columns and times index several arrays in step; index loops say that most plainly.
#![allow(clippy::needless_range_loop)]

use mmi::ode::{solve, Column, Failure, FailureKind, Method, Stats, System, Tolerances, Workspace};
use nalgebra::DMatrix;

const BOTH: [Method; 2] = [Method::Explicit, Method::Stiff];

/// A smooth system from two functions: the rate, and the Jacobian rows over z = (t, y, p).
struct Fun {
    n: usize,
    m: usize,
    rate: fn(f64, &[f64], &[f64], &mut [f64]),
    jac: fn(f64, &[f64], &[f64], &mut [f64]),
}

impl System for Fun {
    fn n_states(&self) -> usize {
        self.n
    }
    fn n_params(&self) -> usize {
        self.m
    }
    fn rate(&mut self, t: f64, y: &[f64], p: &[f64], _: &[f64], f: &mut [f64]) {
        (self.rate)(t, y, p, f)
    }
    fn jacobian(&mut self, t: f64, y: &[f64], p: &[f64], _: &[f64], f: &mut [f64], j: &mut [f64]) {
        (self.rate)(t, y, p, f);
        (self.jac)(t, y, p, j)
    }
}

struct Solution {
    out: Vec<f64>,
    sens: Vec<f64>,
    stats: Stats,
}

#[allow(clippy::too_many_arguments)]
fn run(
    sys: &mut dyn System,
    method: Method,
    tol: Tolerances,
    y0: &[f64],
    t0: f64,
    times: &[f64],
    p: &[f64],
    cols: &[Column],
) -> Result<Solution, Failure> {
    let n = sys.n_states();
    let mut work = Workspace::new(method, n, sys.n_params(), cols.len(), sys.n_switches());
    let mut out = vec![0.0; times.len() * n];
    let mut sens = vec![0.0; times.len() * n * cols.len()];
    let stats = solve(
        sys, tol, y0, t0, times, p, cols, &mut work, &mut out, &mut sens,
    )?;
    Ok(Solution { out, sens, stats })
}

fn tol(rtol: f64, atol: f64) -> Tolerances {
    Tolerances {
        rtol,
        atol,
        max_steps: 100_000,
    }
}

fn decay() -> Fun {
    Fun {
        n: 1,
        m: 1,
        rate: |_, y, p, f| f[0] = -p[0] * y[0],
        jac: |_, y, p, j| {
            j[0] = 0.0;
            j[1] = -p[0];
            j[2] = -y[0];
        },
    }
}

fn logistic() -> Fun {
    // y' = r y (1 - y / K), p = (r, K)
    Fun {
        n: 1,
        m: 2,
        rate: |_, y, p, f| f[0] = p[0] * y[0] * (1.0 - y[0] / p[1]),
        jac: |_, y, p, j| {
            j[0] = 0.0;
            j[1] = p[0] * (1.0 - 2.0 * y[0] / p[1]);
            j[2] = y[0] * (1.0 - y[0] / p[1]);
            j[3] = p[0] * y[0] * y[0] / (p[1] * p[1]);
        },
    }
}

fn logistic_exact(t: f64, y0: f64, r: f64, k: f64) -> f64 {
    let e = (r * t).exp();
    k * y0 * e / (k + y0 * (e - 1.0))
}

/// A linear system y' = A(p) y with A = A0 + p1 A1 + p2 A2: a damped oscillation coupled to a slow
/// decaying third state (complex and real eigenvalues).
struct Linear;

fn linear_matrix(p: &[f64]) -> DMatrix<f64> {
    DMatrix::from_row_slice(
        3,
        3,
        &[
            -0.1, p[0], 0.0, //
            -p[0], -0.2, 0.3, //
            0.0, p[1], -0.5,
        ],
    )
}

impl System for Linear {
    fn n_states(&self) -> usize {
        3
    }
    fn n_params(&self) -> usize {
        2
    }
    fn rate(&mut self, _: f64, y: &[f64], p: &[f64], _: &[f64], f: &mut [f64]) {
        let a = linear_matrix(p);
        for i in 0..3 {
            f[i] = (0..3).map(|k| a[(i, k)] * y[k]).sum();
        }
    }
    fn jacobian(&mut self, t: f64, y: &[f64], p: &[f64], m: &[f64], f: &mut [f64], j: &mut [f64]) {
        self.rate(t, y, p, m, f);
        let a = linear_matrix(p);
        j.fill(0.0);
        for i in 0..3 {
            for k in 0..3 {
                j[i * 6 + 1 + k] = a[(i, k)];
            }
        }
        // d(A y)/d p1: A[0][1] = p1, A[1][0] = -p1; d/d p2: A[2][1] = p2.
        j[4] = y[1];
        j[6 + 4] = -y[0];
        j[2 * 6 + 5] = y[1];
    }
}

fn expm_solution(p: &[f64], y0: &[f64], t: f64) -> Vec<f64> {
    let e = (linear_matrix(p) * t).exp();
    let y = e * nalgebra::DVector::from_column_slice(y0);
    y.iter().copied().collect()
}

fn max_rel_err(a: &[f64], b: &[f64], floor: f64) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(floor))
        .fold(0.0, f64::max)
}

#[test]
fn exponential_decay_and_its_sensitivities_match_the_closed_form() {
    let times = [0.0, 0.1, 0.5, 1.0, 2.5, 4.0];
    let (y0, k) = (2.0, 1.3);
    for method in BOTH {
        let mut errors = vec![];
        for rtol in [1e-5, 1e-8, 1e-11] {
            let s = run(
                &mut decay(),
                method,
                tol(rtol, 1e-14),
                &[y0],
                0.0,
                &times,
                &[k],
                &[Column::Init(0), Column::Param(0)],
            )
            .unwrap();
            let exact: Vec<f64> = times.iter().map(|t| y0 * (-k * t).exp()).collect();
            let err = max_rel_err(&s.out, &exact, 1e-300);
            // Error-per-step control on a contractive problem: the global error is at most the sum
            // of the local errors, each within the tolerance (a factor 2 for the estimate).
            let bound = 2.0 * s.stats.steps as f64 * rtol;
            eprintln!(
                "{method:?} rtol {rtol:e}: error {err:.2e}, {} steps",
                s.stats.steps
            );
            assert!(
                err < bound,
                "{method:?} rtol {rtol}: error {err:e}, {:?}",
                s.stats
            );
            let d_y0: Vec<f64> = times.iter().map(|t| (-k * t).exp()).collect();
            let d_k: Vec<f64> = times.iter().map(|t| -t * y0 * (-k * t).exp()).collect();
            let got_y0: Vec<f64> = (0..times.len()).map(|i| s.sens[i * 2]).collect();
            let got_k: Vec<f64> = (0..times.len()).map(|i| s.sens[i * 2 + 1]).collect();
            // The sensitivities are derivatives of the same discrete solution: as accurate.
            assert!(max_rel_err(&got_y0, &d_y0, 1e-3) < bound, "{method:?}");
            assert!(max_rel_err(&got_k, &d_k, 1e-3) < bound, "{method:?}");
            errors.push(err);
        }
        // Tighter tolerances buy accuracy.
        assert!(errors[2] < errors[0] * 1e-3, "{method:?}: {errors:?}");
    }
}

#[test]
fn logistic_growth_matches_the_closed_form() {
    let times: Vec<f64> = (0..=20).map(|i| 0.5 * i as f64).collect();
    let (y0, r, k) = (0.05, 1.2, 3.0);
    let exact: Vec<f64> = times.iter().map(|&t| logistic_exact(t, y0, r, k)).collect();
    for method in BOTH {
        let cols = [Column::Init(0), Column::Param(0), Column::Param(1)];
        let s = run(
            &mut logistic(),
            method,
            tol(1e-9, 1e-12),
            &[y0],
            0.0,
            &times,
            &[r, k],
            &cols,
        )
        .unwrap();
        let err = max_rel_err(&s.out, &exact, 1e-12);
        // As for the decay: at most the sum of the local errors (see there).
        let bound = 2.0 * s.stats.steps as f64 * 1e-9;
        assert!(err < bound, "{method:?}: error {err:e}, {:?}", s.stats);
        // Derivatives of the closed form by central differences (exact to ~1e-9 here), compared on
        // the scale each sensitivity reaches along the trajectory (its "atol").
        let h = 1e-6;
        for (c, _) in cols.iter().enumerate() {
            let fd: Vec<f64> = times
                .iter()
                .map(|&t| {
                    let bump = |d: f64| {
                        let mut q = [y0, r, k];
                        q[c] += d;
                        logistic_exact(t, q[0], q[1], q[2])
                    };
                    (bump(h) - bump(-h)) / (2.0 * h)
                })
                .collect();
            let scale = fd.iter().fold(0.0f64, |a, b| a.max(b.abs()));
            for (i, &t) in times.iter().enumerate() {
                let got = s.sens[i * 3 + c];
                assert!(
                    (got - fd[i]).abs() < bound * scale,
                    "{method:?} column {c} at t = {t}: {got} vs {}",
                    fd[i]
                );
            }
        }
    }
}

#[test]
fn linear_systems_match_the_matrix_exponential() {
    let times = [0.0, 0.3, 1.0, 2.0, 5.0, 9.0];
    let p = [1.7, 0.4];
    let y0 = [1.0, -0.5, 2.0];
    let cols = [
        Column::Init(0),
        Column::Init(1),
        Column::Init(2),
        Column::Param(0),
        Column::Param(1),
    ];
    for method in BOTH {
        let s = run(
            &mut Linear,
            method,
            tol(1e-10, 1e-12),
            &y0,
            0.0,
            &times,
            &p,
            &cols,
        )
        .unwrap();
        for (i, &t) in times.iter().enumerate() {
            let exact = expm_solution(&p, &y0, t);
            for st in 0..3 {
                let got = s.out[i * 3 + st];
                assert!(
                    (got - exact[st]).abs() < 1e-8,
                    "{method:?} y{st}({t}): {got} vs {}",
                    exact[st]
                );
            }
            // d y / d y0 is the matrix exponential itself.
            let e = (linear_matrix(&p) * t).exp();
            for c in 0..3 {
                for st in 0..3 {
                    let got = s.sens[(i * 5 + c) * 3 + st];
                    assert!((got - e[(st, c)]).abs() < 1e-8, "{method:?} dy{st}/dy0_{c}");
                }
            }
            // d y / d p from the matrix exponential by central differences.
            for c in 0..2 {
                let h = 1e-6;
                let mut up = p;
                let mut down = p;
                up[c] += h;
                down[c] -= h;
                let (a, b) = (expm_solution(&up, &y0, t), expm_solution(&down, &y0, t));
                for st in 0..3 {
                    let fd = (a[st] - b[st]) / (2.0 * h);
                    let got = s.sens[(i * 5 + 3 + c) * 3 + st];
                    assert!(
                        (got - fd).abs() < 1e-6,
                        "{method:?} dy{st}/dp{c} at {t}: {got} vs {fd}"
                    );
                }
            }
        }
    }
}

/// Lotka-Volterra predator and prey, for sensitivities against finite differences of the solver.
fn lotka_volterra() -> Fun {
    // x' = a x - b x y, y' = d x y - g y; p = (a, b, d, g)
    Fun {
        n: 2,
        m: 4,
        rate: |_, y, p, f| {
            f[0] = p[0] * y[0] - p[1] * y[0] * y[1];
            f[1] = p[2] * y[0] * y[1] - p[3] * y[1];
        },
        jac: |_, y, p, j| {
            j.fill(0.0);
            j[1] = p[0] - p[1] * y[1];
            j[2] = -p[1] * y[0];
            j[3] = y[0];
            j[4] = -y[0] * y[1];
            j[8] = p[2] * y[1];
            j[9] = p[2] * y[0] - p[3];
            j[7 + 5] = y[0] * y[1];
            j[7 + 6] = -y[1];
        },
    }
}

#[test]
fn sensitivities_match_finite_differences_of_the_solver() {
    let times = [0.5, 2.0, 4.0, 7.5, 10.0];
    let y0 = [1.0, 0.5];
    let p = [1.1, 0.4, 0.1, 0.4];
    let cols: Vec<Column> = (0..2)
        .map(Column::Init)
        .chain((0..4).map(Column::Param))
        .collect();
    for method in BOTH {
        let t = tol(1e-12, 1e-14);
        let s = run(
            &mut lotka_volterra(),
            method,
            t,
            &y0,
            0.0,
            &times,
            &p,
            &cols,
        )
        .unwrap();
        for (c, col) in cols.iter().enumerate() {
            let h = 1e-5;
            let at = |d: f64| {
                let (mut y, mut q) = (y0, p);
                match col {
                    Column::Init(j) => y[*j] += d,
                    Column::Param(j) => q[*j] += d,
                }
                run(&mut lotka_volterra(), method, t, &y, 0.0, &times, &q, &[])
                    .unwrap()
                    .out
            };
            let (up, down) = (at(h), at(-h));
            for i in 0..times.len() {
                for st in 0..2 {
                    let fd = (up[i * 2 + st] - down[i * 2 + st]) / (2.0 * h);
                    let got = s.sens[(i * cols.len() + c) * 2 + st];
                    assert!(
                        (got - fd).abs() < 1e-5 * fd.abs().max(1.0),
                        "{method:?} {col:?} state {st} at {}: {got} vs {fd}",
                        times[i]
                    );
                }
            }
        }
    }
}

/// y' = ifelse(t < τ, a, 0) - k y with p = (a, k, τ): a source switched off at τ.
struct Lamp;

impl System for Lamp {
    fn n_states(&self) -> usize {
        1
    }
    fn n_params(&self) -> usize {
        3
    }
    fn n_switches(&self) -> usize {
        1
    }
    fn rate(&mut self, _: f64, y: &[f64], p: &[f64], modes: &[f64], f: &mut [f64]) {
        f[0] = modes[0] * p[0] - p[1] * y[0];
    }
    fn jacobian(&mut self, t: f64, y: &[f64], p: &[f64], m: &[f64], f: &mut [f64], j: &mut [f64]) {
        self.rate(t, y, p, m, f);
        j.copy_from_slice(&[0.0, -p[1], m[0], -y[0], 0.0]);
    }
    fn modes(&mut self, t: f64, _: &[f64], p: &[f64], out: &mut [f64]) {
        out[0] = if t < p[2] { 1.0 } else { 0.0 };
    }
    fn switch_gradient(
        &mut self,
        _: usize,
        t: f64,
        _: &[f64],
        p: &[f64],
        _: &[f64],
        g: &mut [f64],
    ) -> f64 {
        g.copy_from_slice(&[1.0, 0.0, 0.0, 0.0, -1.0]);
        t - p[2]
    }
}

fn lamp_exact(t: f64, y0: f64, a: f64, k: f64, tau: f64) -> f64 {
    let on = |s: f64| a / k + (y0 - a / k) * (-k * s).exp();
    if t < tau {
        on(t)
    } else {
        on(tau) * (-k * (t - tau)).exp()
    }
}

#[test]
fn a_switched_source_is_located_and_its_time_is_differentiable() {
    let times: Vec<f64> = (1..=40).map(|i| 0.25 * i as f64).collect();
    let (y0, a, k, tau) = (0.2, 2.0, 0.7, 3.3);
    let cols = [
        Column::Init(0),
        Column::Param(0),
        Column::Param(1),
        Column::Param(2),
    ];
    for method in BOTH {
        let s = run(
            &mut Lamp,
            method,
            tol(1e-10, 1e-12),
            &[y0],
            0.0,
            &times,
            &[a, k, tau],
            &cols,
        )
        .unwrap();
        assert_eq!(s.stats.events, 1, "{method:?}");
        for (i, &t) in times.iter().enumerate() {
            let exact = lamp_exact(t, y0, a, k, tau);
            assert!(
                (s.out[i] - exact).abs() < 1e-8,
                "{method:?} at {t}: {} vs {exact}",
                s.out[i]
            );
            // Derivatives of the closed form, τ included (the jump of the sensitivities).
            for c in 0..4 {
                let h = 1e-6;
                let bump = |d: f64| {
                    let mut q = [y0, a, k, tau];
                    q[c] += d;
                    lamp_exact(t, q[0], q[1], q[2], q[3])
                };
                let fd = (bump(h) - bump(-h)) / (2.0 * h);
                let got = s.sens[i * 4 + c];
                assert!(
                    (got - fd).abs() < 1e-6,
                    "{method:?} column {c} at t = {t}: {got} vs {fd}"
                );
            }
        }
        // The switch does not make the error control thrash: few rejected steps.
        assert!(s.stats.rejected <= 3, "{method:?}: {:?}", s.stats);
    }
}

/// y' = ifelse(y < 1, a, a / 2): a rate that halves when the state crosses 1 (a state-dependent
/// switch); piecewise linear, so both methods are exact up to rounding once the switch is located.
struct Threshold;

impl System for Threshold {
    fn n_states(&self) -> usize {
        1
    }
    fn n_params(&self) -> usize {
        1
    }
    fn n_switches(&self) -> usize {
        1
    }
    fn rate(&mut self, _: f64, _: &[f64], p: &[f64], modes: &[f64], f: &mut [f64]) {
        f[0] = if modes[0] == 1.0 { p[0] } else { 0.5 * p[0] };
    }
    fn jacobian(&mut self, t: f64, y: &[f64], p: &[f64], m: &[f64], f: &mut [f64], j: &mut [f64]) {
        self.rate(t, y, p, m, f);
        j.copy_from_slice(&[0.0, 0.0, if m[0] == 1.0 { 1.0 } else { 0.5 }]);
    }
    fn modes(&mut self, _: f64, y: &[f64], _: &[f64], out: &mut [f64]) {
        out[0] = if y[0] < 1.0 { 1.0 } else { 0.0 };
    }
    fn switch_gradient(
        &mut self,
        _: usize,
        _: f64,
        y: &[f64],
        _: &[f64],
        _: &[f64],
        g: &mut [f64],
    ) -> f64 {
        g.copy_from_slice(&[0.0, 1.0, 0.0]);
        y[0] - 1.0
    }
}

#[test]
fn a_state_crossing_a_threshold_is_located_with_its_sensitivity_jump() {
    let (y0, a) = (0.25, 0.6);
    let tau = (1.0 - y0) / a;
    let times = [0.5, 1.0, tau - 0.01, tau + 0.01, 2.0, 4.0];
    for method in BOTH {
        let s = run(
            &mut Threshold,
            method,
            tol(1e-8, 1e-10),
            &[y0],
            0.0,
            &times,
            &[a],
            &[Column::Init(0), Column::Param(0)],
        )
        .unwrap();
        assert_eq!(s.stats.events, 1);
        for (i, &t) in times.iter().enumerate() {
            let (y, dy0, da) = if t < tau {
                (y0 + a * t, 1.0, t)
            } else {
                (1.0 + a * t / 2.0 - (1.0 - y0) / 2.0, 0.5, t / 2.0)
            };
            assert!((s.out[i] - y).abs() < 1e-12, "{method:?} y({t})");
            assert!(
                (s.sens[i * 2] - dy0).abs() < 1e-10,
                "{method:?} dy/dy0({t})"
            );
            assert!(
                (s.sens[i * 2 + 1] - da).abs() < 1e-10,
                "{method:?} dy/da({t})"
            );
        }
    }
}

fn robertson() -> Fun {
    Fun {
        n: 3,
        m: 0,
        rate: |_, y, _, f| {
            f[0] = -0.04 * y[0] + 1e4 * y[1] * y[2];
            f[1] = 0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] * y[1];
            f[2] = 3e7 * y[1] * y[1];
        },
        jac: |_, y, _, j| {
            j.copy_from_slice(&[
                0.0,
                -0.04,
                1e4 * y[2],
                1e4 * y[1],
                0.0,
                0.04,
                -1e4 * y[2] - 6e7 * y[1],
                -1e4 * y[1],
                0.0,
                0.0,
                6e7 * y[1],
                0.0,
            ])
        },
    }
}

#[test]
fn robertson_kinetics_are_solved_by_the_stiff_solver_in_few_steps() {
    // The output of SUNDIALS' cvRoberts_dns example (CVODE's BDF at rtol 1e-4, so good to about 2e-4
    // relative: two releases differ by that much).
    let times = [0.4, 4.0, 40.0, 400.0, 4000.0, 40000.0];
    let reference = [
        [9.851641e-01, 3.386242e-05, 1.480205e-02],
        [9.055097e-01, 2.240338e-05, 9.446793e-02],
        [7.158017e-01, 9.185037e-06, 2.841892e-01],
        [4.505360e-01, 3.223271e-06, 5.494608e-01],
        [1.832299e-01, 8.944378e-07, 8.167692e-01],
        [3.898902e-02, 1.622006e-07, 9.610108e-01],
    ];
    let mut times_to_end = times.to_vec();
    times_to_end.push(1e5);
    let s = run(
        &mut robertson(),
        Method::Stiff,
        tol(1e-6, 1e-12),
        &[1.0, 0.0, 0.0],
        0.0,
        &times_to_end,
        &[],
        &[],
    )
    .unwrap();
    for (i, r) in reference.iter().enumerate() {
        for st in 0..3 {
            let got = s.out[i * 3 + st];
            assert!(
                (got - r[st]).abs() <= 1e-3 * r[st],
                "y{st}({}) = {got}, published {}",
                times[i],
                r[st]
            );
        }
    }
    // A few hundred steps: CVODE's BDF takes 542 steps for the whole span to t = 4e10 at rtol 1e-4
    // (cvRoberts_dns), and a hundred times tighter tolerance costs a fifth-order method about
    // 100^(1/5) = 2.5 times more steps per decade of time; an explicit method needs ~1e8 steps here
    // (stability caps its step at ~3 / |λ| with |λ| ~ 1e4).
    assert!(s.stats.steps < 500, "{:?}", s.stats);
    // Mass is conserved by every linear multistep method.
    let last = &s.out[times.len() * 3..];
    assert!((last.iter().sum::<f64>() - 1.0).abs() < 1e-8);
    eprintln!("Robertson to t = 1e5 at rtol 1e-6: {:?}", s.stats);
    // CVODE's own setting, to t = 4e10 at rtol 1e-4 (our one atol is the tightest of its three).
    let s = run(
        &mut robertson(),
        Method::Stiff,
        tol(1e-4, 1e-14),
        &[1.0, 0.0, 0.0],
        0.0,
        &[4e7, 4e10],
        &[],
        &[],
    )
    .unwrap();
    eprintln!("Robertson to t = 4e10 at rtol 1e-4: {:?}", s.stats);
    assert!(s.stats.steps < 800, "CVODE needs 542: {:?}", s.stats);
    // CVODE prints y1(4e7) = 5.2024e-5 (5.1996e-5 in another release).
    assert!(
        (s.out[0] - 5.2024e-5).abs() < 1e-2 * 5.2024e-5,
        "{:?}",
        s.out
    );
}

#[test]
fn the_explicit_solver_gives_up_on_robertson_with_a_clear_error() {
    let t = Tolerances {
        rtol: 1e-6,
        atol: 1e-12,
        max_steps: 20_000,
    };
    let err = run(
        &mut robertson(),
        Method::Explicit,
        t,
        &[1.0, 0.0, 0.0],
        0.0,
        &[1e5],
        &[],
        &[],
    )
    .err()
    .expect("too many steps");
    assert_eq!(err.kind, FailureKind::TooManySteps(20_000));
    // Stability, not accuracy, limits the step (h ~ 3.3 / |λ| with |λ| ~ 1e4): it stalls early.
    assert!(err.t > 0.0 && err.t < 100.0, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("more than 20000 steps") && text.contains("solve_ode_stiff"),
        "{text}"
    );
}

#[test]
fn failures_are_values_not_panics() {
    // y' = y^2 from y(0) = 1 blows up at t = 1.
    let mut blowup = Fun {
        n: 1,
        m: 0,
        rate: |_, y, _, f| f[0] = y[0] * y[0],
        jac: |_, y, _, j| {
            j[0] = 0.0;
            j[1] = 2.0 * y[0];
        },
    };
    for method in BOTH {
        let err = run(
            &mut blowup,
            method,
            tol(1e-6, 1e-6),
            &[1.0],
            0.0,
            &[2.0],
            &[],
            &[],
        )
        .err()
        .expect("no solution past the blow-up");
        assert!(
            matches!(
                err.kind,
                FailureKind::StepSizeUnderflow
                    | FailureKind::NonFinite
                    | FailureKind::TooManySteps(_)
            ),
            "{method:?}: {err:?}"
        );
        assert!(
            (err.t - 1.0).abs() < 1e-2,
            "{method:?} stopped at {}",
            err.t
        );
        let before = run(
            &mut decay(),
            method,
            tol(1e-6, 1e-6),
            &[1.0],
            1.0,
            &[0.5],
            &[1.0],
            &[],
        )
        .err()
        .unwrap();
        assert_eq!(before.kind, FailureKind::BeforeStart { time: 0.5 });
        let bad = run(
            &mut decay(),
            method,
            tol(1e-6, 1e-6),
            &[f64::NAN],
            0.0,
            &[1.0],
            &[1.0],
            &[],
        )
        .err()
        .unwrap();
        assert_eq!(bad.kind, FailureKind::BadInput);
    }
}

#[test]
fn outputs_at_the_initial_time_and_repeated_times_need_no_steps() {
    for method in BOTH {
        let s = run(
            &mut decay(),
            method,
            tol(1e-8, 1e-10),
            &[3.0],
            1.0,
            &[1.0, 1.0, 2.0, 2.0],
            &[0.5],
            &[Column::Init(0), Column::Param(0)],
        )
        .unwrap();
        assert_eq!(&s.out[..2], &[3.0, 3.0]);
        assert_eq!(&s.sens[..4], &[1.0, 0.0, 1.0, 0.0]);
        assert_eq!(s.out[2], s.out[3]);
        let only_start = run(
            &mut decay(),
            method,
            tol(1e-8, 1e-10),
            &[3.0],
            1.0,
            &[1.0],
            &[0.5],
            &[],
        )
        .unwrap();
        assert_eq!(only_start.stats.steps, 0);
    }
}
