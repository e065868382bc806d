//! L-BFGS and the Laplace approximation on models with known answers: conjugate and linear-Gaussian
//! posteriors in closed form, an ill-conditioned Gaussian, a banana, logistic regression against
//! Newton's method, and readable errors (never panics) for improper posteriors and bad starts.

use mmi::infer::laplace::laplace;
use mmi::infer::lbfgs::{maximise, LbfgsSettings, MapError};
use mmi::infer::LogDensity;
use mmi::passes::Settings;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// Checks, loads and compiles a model; panics with the rendered diagnostics if any step fails.
fn compile(source: &str, json: &str, settings: &Settings) -> mmi::eval::CompiledModel {
    let out = mmi::check_source(source);
    let render = |d: &[mmi::Diagnostic]| mmi::diagnostic::render_all(d, "t.mmi", source, false);
    let model = out
        .model
        .unwrap_or_else(|| panic!("model does not check:\n{}", render(&out.diagnostics)));
    let (data, _) = mmi::data::load(&model, json, "t.json")
        .unwrap_or_else(|d| panic!("data do not load:\n{}", render(&d)));
    mmi::compile(&model, &data, settings)
        .unwrap_or_else(|d| panic!("model does not compile:\n{}", render(&d)))
}

fn json_vec(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:e}")).collect();
    format!("[{}]", items.join(", "))
}

fn json_mat(rows: &[Vec<f64>]) -> String {
    let items: Vec<String> = rows.iter().map(|r| json_vec(r)).collect();
    format!("[{}]", items.join(", "))
}

/// Solves the small dense system A x = b (row-major) by Gaussian elimination with partial pivoting.
fn solve(a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut row = a[i * n..(i + 1) * n].to_vec();
            row.push(b[i]);
            row
        })
        .collect();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))
            .unwrap();
        m.swap(c, p);
        for r in c + 1..n {
            let f = m[r][c] / m[c][c];
            let pivot_row = m[c].clone();
            for (a, b) in m[r][c..].iter_mut().zip(&pivot_row[c..]) {
                *a -= f * b;
            }
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| m[i][k] * x[k]).sum();
        x[i] = (m[i][n] - s) / m[i][i];
    }
    x
}

const CONJUGATE: &str = r#"
data { n: int > 0, y: vector[n], sigma: real > 0 }
latent { mu: real ~ normal(1, 2) }
modality obs { y ~ normal(mu, sigma) }
"#;

/// (a) A normal mean with known sigma: the posterior is normal with a closed-form mean and sd, so the
/// mode and the Laplace sd are exact.
#[test]
fn conjugate_normal_mode_and_sd_are_exact() {
    let y = [0.3, 1.9, 2.4, 0.8, 1.1];
    let sigma: f64 = 0.7;
    let json = format!(r#"{{"n": 5, "y": {}, "sigma": {sigma}}}"#, json_vec(&y));
    let model = compile(CONJUGATE, &json, &Settings::default());
    let mut ev = model.evaluator();
    let r = maximise(&mut ev, &[-3.0], &LbfgsSettings::default()).unwrap();
    let precision = 1.0 / 4.0 + y.len() as f64 / sigma.powi(2);
    let mean = (1.0 / 4.0 + y.iter().sum::<f64>() / sigma.powi(2)) / precision;
    assert!((r.x[0] - mean).abs() < 1e-8, "{} vs {mean}", r.x[0]);
    let la = laplace(&mut ev, &r.x).unwrap();
    let sd = precision.powf(-0.5);
    assert!((la.sd[0] - sd).abs() < 1e-6, "{} vs {sd}", la.sd[0]);
    assert!((la.hessian[0] + precision).abs() < 1e-6 * precision);
}

const GAUSSIAN_2D: &str = r#"
data { m: vector[2], L: matrix[2, 2] }
latent { x: vector[2] ~ multi_normal_cholesky(m, L) }
"#;

/// A 2-D Gaussian model with the given mean and covariance (through its Cholesky factor).
fn gaussian_2d(m: [f64; 2], cov: [[f64; 2]; 2]) -> mmi::eval::CompiledModel {
    let l11 = cov[0][0].sqrt();
    let l21 = cov[1][0] / l11;
    let l22 = (cov[1][1] - l21 * l21).sqrt();
    let json = format!(
        r#"{{"m": {}, "L": {}}}"#,
        json_vec(&m),
        json_mat(&[vec![l11, 0.0], vec![l21, l22]])
    );
    compile(GAUSSIAN_2D, &json, &Settings::default())
}

/// (b) Correlation 0.999 with scales 1 and 1000: a condition number near 2e9.
#[test]
fn ill_conditioned_gaussian_mode() {
    let (s1, s2, rho) = (1.0, 1000.0, 0.999);
    let m = [1.5, -700.0];
    let cov = [[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]];
    let model = gaussian_2d(m, cov);
    let mut ev = model.evaluator();
    let r = maximise(&mut ev, &[0.0, 0.0], &LbfgsSettings::default()).unwrap();
    for (i, (got, want)) in r.x.iter().zip(m).enumerate() {
        assert!(
            (got - want).abs() < 1e-6,
            "coordinate {i}: {got} vs {want} ({r:?})"
        );
    }
    // The Laplace covariance of a Gaussian is its covariance.
    let la = laplace(&mut ev, &r.x).unwrap();
    for (i, row) in cov.iter().enumerate() {
        for (j, want) in row.iter().enumerate() {
            let got = la.covariance[i * 2 + j];
            assert!(
                (got - want).abs() < 1e-5 * want.abs(),
                "cov[{i}][{j}]: {got} vs {want}"
            );
        }
    }
}

const BANANA: &str = r#"
latent { a: real, b: real }
b - a^2 ~ normal(0, 0.1)
a ~ normal(1, 1)
"#;

/// (c) A curved ridge (Rosenbrock-like): the mode is a = 1, b = 1.
#[test]
fn banana_mode() {
    let model = compile(BANANA, "{}", &Settings::default());
    let mut ev = model.evaluator();
    for x0 in [[-1.2, 1.0], [0.0, 0.0], [3.0, -4.0]] {
        let r = maximise(&mut ev, &x0, &LbfgsSettings::default()).unwrap();
        assert!(
            (r.x[0] - 1.0).abs() < 1e-6 && (r.x[1] - 1.0).abs() < 1e-6,
            "from {x0:?}: {r:?}"
        );
    }
}

/// (c') Too few iterations: the best point comes back inside a readable error.
#[test]
fn max_iterations_returns_best_point_and_hint() {
    let model = compile(BANANA, "{}", &Settings::default());
    let mut ev = model.evaluator();
    let settings = LbfgsSettings {
        max_iters: 3,
        ..LbfgsSettings::default()
    };
    let start = [-1.2, 1.0];
    let lp0 = ev.log_density(&start).unwrap();
    match maximise(&mut ev, &start, &settings) {
        Err(e @ MapError::MaxIterations(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("more iterations"), "{msg}");
            let MapError::MaxIterations(best) = e else {
                unreachable!()
            };
            assert_eq!(best.iterations, 3);
            assert!(best.log_density > lp0);
        }
        other => panic!("expected MaxIterations, got {other:?}"),
    }
}

const LOGISTIC: &str = r#"
data { n: int > 0, d: int > 0, X: matrix[n, d], y: int[n] }
latent {
  alpha: real ~ normal(0, 5)
  beta: vector[d] ~ normal(0, 1)
}
modality obs { y ~ bernoulli_logit(alpha + X * beta) }
"#;

/// (d) Logistic regression: the MAP agrees with Newton's method on the same log density.
#[test]
fn logistic_regression_matches_newton() {
    let (n, d) = (120, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let truth = [0.5, 1.0, -2.0, 0.3];
    let mut x_rows = vec![];
    let mut y = vec![];
    for _ in 0..n {
        let row: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        let eta = truth[0] + (0..d).map(|j| truth[1 + j] * row[j]).sum::<f64>();
        let u: f64 = rng.random();
        y.push(u32::from(u < 1.0 / (1.0 + (-eta).exp())));
        x_rows.push(row);
    }
    let ys: Vec<String> = y.iter().map(|v| v.to_string()).collect();
    let json = format!(
        r#"{{"n": {n}, "d": {d}, "X": {}, "y": [{}]}}"#,
        json_mat(&x_rows),
        ys.join(", ")
    );
    let model = compile(LOGISTIC, &json, &Settings::default());
    let mut ev = model.evaluator();
    let r = maximise(&mut ev, &[0.0; 4], &LbfgsSettings::default()).unwrap();

    // Newton's method on lp = -alpha^2/50 - |beta|^2/2 + sum(y eta - log(1 + e^eta)).
    let k = d + 1;
    let mut theta = vec![0.0; k];
    for _ in 0..100 {
        let mut g: Vec<f64> = (0..k)
            .map(|j| -theta[j] * if j == 0 { 1.0 / 25.0 } else { 1.0 })
            .collect();
        let mut h = vec![0.0; k * k];
        h[0] = -1.0 / 25.0;
        for j in 1..k {
            h[j * k + j] = -1.0;
        }
        for (row, &yi) in x_rows.iter().zip(&y) {
            let z: Vec<f64> = std::iter::once(1.0).chain(row.iter().copied()).collect();
            let eta: f64 = z.iter().zip(&theta).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-eta).exp());
            for a in 0..k {
                g[a] += (f64::from(yi) - p) * z[a];
                for b in 0..k {
                    h[a * k + b] -= p * (1.0 - p) * z[a] * z[b];
                }
            }
        }
        let step = solve(&h, &g);
        theta.iter_mut().zip(&step).for_each(|(t, s)| *t -= s);
        if step.iter().map(|s| s.abs()).fold(0.0, f64::max) < 1e-14 {
            break;
        }
    }
    for (j, (got, want)) in r.x.iter().zip(&theta).enumerate() {
        assert!(
            (got - want).abs() < 1e-6,
            "coordinate {j}: {got} vs Newton {want}"
        );
    }
}

const IMPROPER: &str = r#"
data { n: int > 0, y: vector[n] }
latent { s: real > 0 }
modality obs { y ~ normal(0, s) }
"#;

/// (e) With a flat prior on s and data at exactly 0 the log density grows without bound as s -> 0: a
/// readable error, not a panic and not a false convergence.
#[test]
fn improper_posterior_is_a_readable_error() {
    let model = compile(
        IMPROPER,
        r#"{"n": 3, "y": [0, 0, 0]}"#,
        &Settings::default(),
    );
    let mut ev = model.evaluator();
    let e = maximise(&mut ev, &[0.0], &LbfgsSettings::default()).unwrap_err();
    assert!(
        matches!(
            e,
            MapError::LineSearchFailed(_) | MapError::MaxIterations(_)
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("improper"), "{msg}");
    println!("{msg}");
}

/// (e') With one observation at 0 the density is flat in log s: any point is a "mode", and the Laplace
/// approximation says plainly that it is not a maximum.
#[test]
fn flat_density_has_no_laplace_approximation() {
    let model = compile(IMPROPER, r#"{"n": 1, "y": [0]}"#, &Settings::default());
    let mut ev = model.evaluator();
    let e = laplace(&mut ev, &[0.3]).unwrap_err();
    assert!(e.contains("not a maximum in every direction"), "{e}");
}

/// (f) A start outside the support, or not a number, or of the wrong length.
#[test]
fn bad_initial_points() {
    let model = compile(IMPROPER, r#"{"n": 2, "y": [1, -1]}"#, &Settings::default());
    let mut ev = model.evaluator();
    let s = LbfgsSettings::default();
    // exp(1000) overflows, so s is infinite and the density is not finite.
    for x0 in [[1000.0], [f64::NAN], [f64::INFINITY]] {
        let e = maximise(&mut ev, &x0, &s).unwrap_err();
        assert_eq!(e, MapError::BadInitialPoint);
        assert!(e.to_string().contains("initial point"), "{e}");
    }
    let e = maximise(&mut ev, &[0.0, 1.0], &s).unwrap_err();
    assert_eq!(
        e,
        MapError::Dimension {
            expected: 1,
            found: 2
        }
    );
    // A proper posterior from the same family: s is the root mean square of y, here 1, and the
    // density in log s peaks where n / s^2 = n - 1 (the Jacobian adds one power of s).
    let r = maximise(&mut ev, &[2.0], &s).unwrap();
    let want = (2.0f64).sqrt().ln();
    assert!((r.x[0] - want).abs() < 1e-8, "{} vs {want}", r.x[0]);
}

/// (g) Draws from the Laplace approximation have its mean and covariance within Monte Carlo error, and
/// a seed fixes them.
#[test]
fn laplace_draws_have_the_right_moments() {
    let m = [0.7, -1.3];
    let cov = [[2.0, 0.6], [0.6, 0.5]];
    let model = gaussian_2d(m, cov);
    let mut ev = model.evaluator();
    let r = maximise(&mut ev, &[0.0, 0.0], &LbfgsSettings::default()).unwrap();
    let la = laplace(&mut ev, &r.x).unwrap();
    let n = 20_000;
    let draws = la.draws(n, 42);
    assert_eq!(draws.len(), n);
    assert_eq!(draws, la.draws(n, 42));
    assert_ne!(draws[0], la.draws(1, 43)[0]);
    let nf = n as f64;
    let mean: Vec<f64> = (0..2)
        .map(|i| draws.iter().map(|x| x[i]).sum::<f64>() / nf)
        .collect();
    for i in 0..2 {
        let se = (cov[i][i] / nf).sqrt();
        assert!(
            (mean[i] - m[i]).abs() < 4.0 * se,
            "mean {i}: {} vs {}",
            mean[i],
            m[i]
        );
    }
    for i in 0..2 {
        for j in 0..2 {
            let c = draws
                .iter()
                .map(|x| (x[i] - mean[i]) * (x[j] - mean[j]))
                .sum::<f64>()
                / (nf - 1.0);
            // The variance of a Gaussian sample covariance is (s_ii s_jj + s_ij^2) / n.
            let se = ((cov[i][i] * cov[j][j] + cov[i][j].powi(2)) / nf).sqrt();
            assert!(
                (c - cov[i][j]).abs() < 4.0 * se,
                "cov[{i}][{j}]: {c} vs {}",
                cov[i][j]
            );
        }
    }
}

const LINEAR_GAUSSIAN: &str = r#"
data { n: int > 0, X: matrix[n, 2], y: vector[n], sigma: real > 0, tau: real > 0 }
latent { beta: vector[2] ~ normal(0, tau) }
modality obs { y ~ normal(X * beta, sigma) }
"#;

/// (h) The Laplace evidence of a linear-Gaussian model is exact: y ~ N(0, sigma^2 I + tau^2 X X').
#[test]
fn laplace_evidence_of_linear_gaussian_is_exact() {
    let x = [
        vec![1.0, -0.5],
        vec![1.0, 0.2],
        vec![1.0, 0.9],
        vec![1.0, 1.7],
        vec![1.0, 2.4],
        vec![1.0, -1.1],
    ];
    let y = [0.1, 0.8, 1.3, 2.2, 2.9, -0.4];
    let (sigma, tau) = (0.4, 1.5);
    let n = y.len();
    let json = format!(
        r#"{{"n": {n}, "X": {}, "y": {}, "sigma": {sigma}, "tau": {tau}}}"#,
        json_mat(&x),
        json_vec(&y)
    );
    let settings = Settings {
        keep_constants: true,
        ..Settings::default()
    };
    let model = compile(LINEAR_GAUSSIAN, &json, &settings);
    let mut ev = model.evaluator();
    let r = maximise(&mut ev, &[0.0, 0.0], &LbfgsSettings::default()).unwrap();
    let la = laplace(&mut ev, &r.x).unwrap();
    let got = la.log_evidence(r.log_density);

    // The closed form through a Cholesky factor of the marginal covariance.
    let mut s = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            s[i * n + j] = tau * tau * (x[i][0] * x[j][0] + x[i][1] * x[j][1]);
        }
        s[i * n + i] += sigma * sigma;
    }
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let p = s[j * n + j] - (0..j).map(|k| l[j * n + k] * l[j * n + k]).sum::<f64>();
        l[j * n + j] = p.sqrt();
        for i in j + 1..n {
            let v: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            l[i * n + j] = (s[i * n + j] - v) / l[j * n + j];
        }
    }
    let mut z = y.to_vec();
    for i in 0..n {
        let v: f64 = (0..i).map(|k| l[i * n + k] * z[k]).sum();
        z[i] = (z[i] - v) / l[i * n + i];
    }
    let log_det: f64 = 2.0 * (0..n).map(|i| l[i * n + i].ln()).sum::<f64>();
    let want = -0.5 * (n as f64) * (2.0 * std::f64::consts::PI).ln()
        - 0.5 * log_det
        - 0.5 * z.iter().map(|z| z * z).sum::<f64>();
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

/// A `LogDensity` written by hand: the optimiser works on any implementation, not only the evaluator,
/// and a point where the density is not finite only shortens the step.
struct Wall;

impl LogDensity for Wall {
    fn dim(&self) -> usize {
        1
    }

    /// -(x - 2)^2 / 2 for x < 3, not finite beyond: the first trial steps overshoot into the wall.
    fn log_density_gradient(
        &mut self,
        x: &[f64],
        grad: &mut [f64],
    ) -> Result<f64, mmi::infer::EvalError> {
        if x[0] >= 3.0 {
            return Err(mmi::infer::EvalError::NonFinite);
        }
        grad[0] = -(x[0] - 2.0);
        Ok(-0.5 * (x[0] - 2.0).powi(2))
    }
}

#[test]
fn non_finite_trial_points_shorten_the_step() {
    let r = maximise(&mut Wall, &[-50.0], &LbfgsSettings::default()).unwrap();
    assert!((r.x[0] - 2.0).abs() < 1e-8, "{r:?}");
}

/// log p(x) = x: no maximum and no edge, so the steps grow until the density overflows.
struct Linear;

impl LogDensity for Linear {
    fn dim(&self) -> usize {
        1
    }

    fn log_density_gradient(
        &mut self,
        x: &[f64],
        grad: &mut [f64],
    ) -> Result<f64, mmi::infer::EvalError> {
        grad[0] = 1.0;
        if x[0].is_finite() {
            Ok(x[0])
        } else {
            Err(mmi::infer::EvalError::NonFinite)
        }
    }
}

#[test]
fn unbounded_density_is_an_error() {
    let e = maximise(&mut Linear, &[0.0], &LbfgsSettings::default()).unwrap_err();
    assert!(
        matches!(
            e,
            MapError::LineSearchFailed(_) | MapError::MaxIterations(_)
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("improper"), "{e}");
    println!("{e}");
}

/// The default memory: Stan's 5 for small models, one pair per hundred coordinates up to 100, and back
/// to 5 where 4 x history x dimension would pass 10^6.
#[test]
fn default_history_grows_with_the_dimension_within_a_work_budget() {
    use mmi::infer::lbfgs::auto_history;
    assert_eq!(auto_history(8), 5);
    assert_eq!(auto_history(8_501), 85);
    assert_eq!(auto_history(10_000), 100);
    assert_eq!(auto_history(50_000), 20);
    assert_eq!(auto_history(1_000_000), 5);
}

/// Every history length works, down to none (steepest descent with the same line search).
#[test]
fn any_history_length_finds_the_mode() {
    let model = gaussian_2d([2.0, -1.0], [[1.0, 0.5], [0.5, 2.0]]);
    let mut ev = model.evaluator();
    for history in [0, 1, 5, 20] {
        let settings = LbfgsSettings {
            history: Some(history),
            ..LbfgsSettings::default()
        };
        let r = maximise(&mut ev, &[0.0, 0.0], &settings).unwrap();
        assert!(
            (r.x[0] - 2.0).abs() < 1e-6 && (r.x[1] + 1.0).abs() < 1e-6,
            "history {history}: {r:?}"
        );
    }
}

/// A density with a kink at its mode, as an adaptive ODE solve leaves (a step decision flips there):
/// f = -(1000 x^2 + y^2) / 2 + 0.05 x sign(y). d f / dx jumps by 0.1 across y = 0, so differences at
/// the usual step see a huge mixed partial on one side only; wider ones average it away and give the
/// curvature of the smooth part.
#[test]
fn a_kink_at_the_mode_is_averaged_over() {
    struct Kinked;
    impl LogDensity for Kinked {
        fn dim(&self) -> usize {
            2
        }
        fn log_density_gradient(
            &mut self,
            x: &[f64],
            g: &mut [f64],
        ) -> Result<f64, mmi::infer::EvalError> {
            let s = if x[1] > 0.0 {
                1.0
            } else if x[1] < 0.0 {
                -1.0
            } else {
                0.0
            };
            g[0] = -1000.0 * x[0] + 0.05 * s;
            g[1] = -x[1];
            Ok(-0.5 * (1000.0 * x[0] * x[0] + x[1] * x[1]) + 0.05 * x[0] * s)
        }
    }
    let lap = laplace(&mut Kinked, &[0.0, 0.0]).unwrap();
    // The wide differences still carry a little of the kink (0.05 / h off the diagonal), far below
    // the curvatures themselves.
    assert!((lap.hessian[0] + 1000.0).abs() < 1e-6, "{:?}", lap.hessian);
    assert!((lap.hessian[3] + 1.0).abs() < 1e-6, "{:?}", lap.hessian);
    assert!(lap.hessian[1].abs() < 30.0, "{:?}", lap.hessian);
}
