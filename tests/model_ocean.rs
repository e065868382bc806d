//! models/ocean.mmi: the shipped data regenerate from the truth; the model is linear-Gaussian (its
//! hyperparameters are data), so its posterior is known exactly and the MAP, NUTS and the per-modality
//! report are checked against a dense reference built here from the data; NUTS's 90% intervals cover
//! the truth; and the two claims of the model's comments hold: altimetry narrows the columns no float
//! visited, and Argo fixes the thermal / haline split of the steric height that altimetry alone leaves
//! open.
//!
//! The reference: the prior precision Q of (T, S, eta0) is read off the model itself (the Hessian of
//! the prior-only log density in the centred parameterisation, exact by central differences since the
//! density is quadratic); the likelihoods are written out independently from the data file (the Argo
//! gathers, the steric sum, the sparse along-track operator, the offset), so a wrong forward model in
//! the engine would show. Posterior precision P = Q + sum_k w_k A_k' A_k / sigma_k^2.

mod common;

use common::shipped::{covered, regenerates, sample_with_truth};
use nalgebra::{DMatrix, DVector};
use std::sync::OnceLock;

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn read_json(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{}/{path}", root())).unwrap()).unwrap()
}

fn flat(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| flat(x, out)),
        x => out.push(x.as_f64().unwrap()),
    }
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap()
}

fn ints(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// The model's sizes and the dense pieces of the exact posterior.
struct Reference {
    nx: usize,
    ny: usize,
    nz: usize,
    /// Prior precision and mean of x = (T, S, eta0), T and S row-major (ix, iy, iz).
    q: DMatrix<f64>,
    m: DVector<f64>,
    /// Per modality (argo, altimetry): the stacked rows A, the data y and the noise variances.
    lik: Vec<(DMatrix<f64>, DVector<f64>, DVector<f64>)>,
    /// Columns (0-based ix, iy) a float profiled; columns the altimetry sees (a nonzero of H).
    profiled: Vec<(usize, usize)>,
    on_track: Vec<(usize, usize)>,
    dz: Vec<f64>,
    alpha: f64,
    beta: f64,
}

impl Reference {
    fn dim(&self) -> usize {
        2 * self.nx * self.ny * self.nz + 1
    }
    fn t(&self, ix: usize, iy: usize, iz: usize) -> usize {
        (ix * self.ny + iy) * self.nz + iz
    }
    fn s(&self, ix: usize, iy: usize, iz: usize) -> usize {
        self.nx * self.ny * self.nz + self.t(ix, iy, iz)
    }
    /// The coefficients of a column's thermosteric and halosteric heights (m) on x.
    fn steric_parts(&self, ix: usize, iy: usize) -> (DVector<f64>, DVector<f64>) {
        let (mut th, mut ha) = (DVector::zeros(self.dim()), DVector::zeros(self.dim()));
        for iz in 0..self.nz {
            th[self.t(ix, iy, iz)] = self.dz[iz] * self.alpha;
            ha[self.s(ix, iy, iz)] = -self.dz[iz] * self.beta;
        }
        (th, ha)
    }

    /// The exact posterior (mean, covariance) with these modality weights.
    fn posterior(&self, weights: [f64; 2]) -> (DVector<f64>, DMatrix<f64>) {
        let mut p = self.q.clone();
        let mut b = &self.q * &self.m;
        for ((a, y, var), w) in self.lik.iter().zip(weights) {
            let scaled = DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| w * a[(i, j)] / var[i]);
            p += scaled.transpose() * a;
            b += scaled.transpose() * y;
        }
        let chol = p
            .cholesky()
            .expect("the posterior precision is positive definite");
        (chol.solve(&b), chol.inverse())
    }
}

fn hessian(ev: &mut mmi::eval::Evaluator, x: &[f64]) -> DMatrix<f64> {
    let d = x.len();
    let mut h = DMatrix::zeros(d, d);
    let (mut gp, mut gm) = (vec![0.0; d], vec![0.0; d]);
    let mut y = x.to_vec();
    for j in 0..d {
        // A quadratic's gradient is linear: central differences are exact for any step.
        y[j] = x[j] + 1.0;
        ev.log_density_and_gradient(&y, &mut gp).unwrap();
        y[j] = x[j] - 1.0;
        ev.log_density_and_gradient(&y, &mut gm).unwrap();
        y[j] = x[j];
        for i in 0..d {
            h[(i, j)] = (gp[i] - gm[i]) / 2.0;
        }
    }
    (&h + h.transpose()) / 2.0
}

fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| {
        let data = read_json("models/ocean.data.json");
        let (nx, ny, nz) = (
            data["nx"].as_u64().unwrap() as usize,
            data["ny"].as_u64().unwrap() as usize,
            data["nz"].as_u64().unwrap() as usize,
        );
        let n = nx * ny * nz;
        let d = 2 * n + 1;
        let (mut dz, mut t_clim, mut s_clim) = (vec![], vec![], vec![]);
        flat(&data["dz"], &mut dz);
        flat(&data["T_clim"], &mut t_clim);
        flat(&data["S_clim"], &mut s_clim);
        let m = DVector::from_fn(d, |i, _| match i {
            i if i < n => t_clim[i % nz],
            i if i < 2 * n => s_clim[i % nz],
            _ => 0.0,
        });
        // The prior precision, from the centred form of the model with both modalities off.
        let source = std::fs::read_to_string(format!("{}/models/ocean.mmi", root()))
            .unwrap()
            .replace(", param = whitened", "");
        let json = std::fs::read_to_string(format!("{}/models/ocean.data.json", root())).unwrap();
        let model = common::compile(&source, &json, &mmi::passes::Settings::default());
        assert_eq!(model.dim(), d);
        let mut ev = model.evaluator();
        ev.set_modality_weight(0, 0.0);
        ev.set_modality_weight(1, 0.0);
        let q = -hessian(&mut ev, m.as_slice());
        let mut r = Reference {
            nx,
            ny,
            nz,
            q,
            m,
            lik: vec![],
            profiled: vec![],
            on_track: vec![],
            dz,
            alpha: num(&data["alpha"]),
            beta: num(&data["beta"]),
        };
        // Argo: T_prof[level, float] = T[prof_x, prof_y, level] + N(0, 0.1^2), S likewise with 0.02.
        let (px, py) = (ints(&data["prof_x"]), ints(&data["prof_y"]));
        r.profiled = px.iter().zip(&py).map(|(x, y)| (x - 1, y - 1)).collect();
        let nz_argo = data["nz_argo"].as_u64().unwrap() as usize;
        let (mut rows, mut y, mut var) = (vec![], vec![], vec![]);
        for (what, sd, at) in [
            ("T_prof", 0.1, 0usize),
            ("S_prof", 0.02, n), // S follows T in x
        ] {
            for level in 0..nz_argo {
                for (k, &(ix, iy)) in r.profiled.iter().enumerate() {
                    let mut row = vec![0.0; d];
                    row[at + r.t(ix, iy, level)] = 1.0;
                    rows.push(row);
                    y.push(num(&data[what][level][k]));
                    var.push(sd * sd);
                }
            }
        }
        let argo = DMatrix::from_fn(rows.len(), d, |i, j| rows[i][j]);
        r.lik
            .push((argo, DVector::from_vec(y), DVector::from_vec(var)));
        // Altimetry: ssh = H * steric + eta0 + N(0, sigma_alt^2), steric = thermosteric + halosteric.
        let h = &data["H"];
        let (hi, hj) = (ints(&h["i"]), ints(&h["j"]));
        let mut hx = vec![];
        flat(&h["x"], &mut hx);
        let n_alt = data["n_alt"].as_u64().unwrap() as usize;
        let mut alt = DMatrix::zeros(n_alt, d);
        for ((&i, &j), &w) in hi.iter().zip(&hj).zip(&hx) {
            let (ix, iy) = ((j - 1) / ny, (j - 1) % ny);
            if w > 0.0 && !r.on_track.contains(&(ix, iy)) {
                r.on_track.push((ix, iy));
            }
            let (th, ha) = r.steric_parts(ix, iy);
            for c in 0..d {
                alt[(i - 1, c)] += w * (th[c] + ha[c]);
            }
        }
        for i in 0..n_alt {
            alt[(i, d - 1)] = 1.0;
        }
        let mut ssh = vec![];
        flat(&data["ssh"], &mut ssh);
        let s2 = num(&data["sigma_alt"]).powi(2);
        // The steric height is of the anomalies (T - T_clim, S - S_clim): A (x - m) = ssh - noise, and
        // m's offset is 0.
        let y = DVector::from_vec(ssh) + &alt * &r.m;
        r.lik.push((alt, y, DVector::from_element(n_alt, s2)));
        r
    })
}

/// The prior precision read off the model is the Matérn one's block structure: T and S independent
/// of each other and of the offset, whose precision is 1 / 0.02^2.
#[test]
fn the_reference_prior_has_the_expected_structure() {
    let r = reference();
    let n = r.nx * r.ny * r.nz;
    let off_diagonal_block = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| r.q[(i, n + j)].abs())
        .fold(0.0, f64::max);
    assert_eq!(off_diagonal_block, 0.0);
    assert!((r.q[(2 * n, 2 * n)] - 1.0 / 0.02f64.powi(2)).abs() < 1e-6);
    // The prior sd averages to sd_T and sd_S over the cells (the Matérn normalisation).
    let cov = r.q.clone().cholesky().unwrap().inverse();
    let mean_var = |from: usize| (from..from + n).map(|i| cov[(i, i)]).sum::<f64>() / n as f64;
    assert!((mean_var(0).sqrt() - 1.5).abs() < 1e-6, "{}", mean_var(0));
    assert!((mean_var(n).sqrt() - 0.3).abs() < 1e-6, "{}", mean_var(n));
}

/// The shipped model's MAP (L-BFGS in its whitened coordinates, constrained back to T and S) is the
/// exact posterior mean.
#[test]
fn the_map_is_the_exact_posterior_mean() {
    let r = reference();
    let (mean, _) = r.posterior([1.0, 1.0]);
    let source = std::fs::read_to_string(format!("{}/models/ocean.mmi", root())).unwrap();
    let json = std::fs::read_to_string(format!("{}/models/ocean.data.json", root())).unwrap();
    let model = common::compile(&source, &json, &mmi::passes::Settings::default());
    let mut ev = model.evaluator();
    let x0 = vec![0.0; model.dim()];
    // Tolerances tighter than the defaults (which stop at a relative change of 1e-12 in the log
    // density, some 1e-5 deg C from the mode here): the comparison is to 1e-6.
    let settings = mmi::infer::lbfgs::LbfgsSettings {
        tol_rel_obj: 0.0,
        tol_rel_param: 0.0,
        tol_grad: 1e-6,
        max_iters: 20_000,
        ..Default::default()
    };
    let map = mmi::infer::lbfgs::maximise(&mut ev, &x0, &settings).unwrap();
    let out = ev.constrain(&map.x).unwrap();
    let got: Vec<f64> = out[..3].iter().flat_map(|o| o.values.clone()).collect();
    let worst = got
        .iter()
        .zip(mean.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!("largest |MAP - exact mean| {worst:.2e}");
    assert!(worst < 1e-6, "{worst}");
}

/// One NUTS run of the shipped model (seed 1), shared by the tests below: summary, truth, and the
/// directory holding the chains (`run/`).
fn nuts() -> &'static (serde_json::Value, serde_json::Value, std::path::PathBuf) {
    static RUN: OnceLock<(serde_json::Value, serde_json::Value, std::path::PathBuf)> =
        OnceLock::new();
    RUN.get_or_init(|| {
        let dir = regenerates("ocean");
        let (summary, truth) = sample_with_truth("ocean", &dir);
        (summary, truth, dir.join("run"))
    })
}

fn names(r: &Reference) -> Vec<String> {
    let mut out = vec![];
    for v in ["T", "S"] {
        for ix in 1..=r.nx {
            for iy in 1..=r.ny {
                for iz in 1..=r.nz {
                    out.push(format!("{v}[{ix},{iy},{iz}]"));
                }
            }
        }
    }
    out.push("eta0".into());
    out
}

/// NUTS draws' means and sds agree with the exact ones within their Monte Carlo errors, and the run
/// has no divergences.
#[test]
fn nuts_matches_the_exact_posterior() {
    let r = reference();
    let (summary, _, run) = nuts();
    let all = names(r);
    let chains = mmi::report::csv::read_chains(run, &all).unwrap();
    assert_eq!(summary["divergences"].as_u64(), Some(0));
    assert!(
        summary["warnings"].as_array().unwrap().is_empty(),
        "{}",
        summary["warnings"]
    );
    let (mean, cov) = r.posterior([1.0, 1.0]);
    // 769 elements: a bound of 5 Monte Carlo errors is crossed by chance with probability ~4e-4.
    let (mut worst_mean, mut worst_sd) = (0.0f64, 0.0f64);
    for (i, name) in all.iter().enumerate() {
        let q = &summary["quantities"][name];
        let sd = cov[(i, i)].sqrt();
        let z_mean = (num(&q["mean"]) - mean[i]) / num(&q["mcse_mean"]);
        // The Monte Carlo error of the sd, from that of the variance (the mean of the squared
        // deviations, with its own ESS, which for NUTS is far below the mean's): se(sd) = se(var) / 2sd.
        let m = num(&q["mean"]);
        let sq: Vec<Vec<f64>> = chains
            .iter()
            .map(|c| c.iter().map(|d| (d[i] - m).powi(2)).collect())
            .collect();
        let mcse_sd = mmi::infer::diagnostics::mcse_mean(&sq) / (2.0 * num(&q["sd"]));
        let z_sd = (num(&q["sd"]) - sd) / mcse_sd;
        assert!(
            z_mean.abs() < 5.0,
            "{name}: mean {} vs exact {}",
            q["mean"],
            mean[i]
        );
        assert!(z_sd.abs() < 5.0, "{name}: sd {} vs exact {sd}", q["sd"]);
        worst_mean = worst_mean.max(z_mean.abs());
        worst_sd = worst_sd.max(z_sd.abs());
    }
    eprintln!(
        "largest |NUTS - exact| in Monte Carlo errors: mean {worst_mean:.2}, sd {worst_sd:.2}"
    );
}

/// Sampling recovers the truth (a prior draw): 90% intervals cover at least 85% of the latent elements.
/// The elements are strongly correlated (a range of three columns on an 8 x 8 grid), so the share
/// varies from one truth to the next: over 300 prior draws the exact posterior's share had a 1%
/// quantile of 85.7% and a median of 90.4% (the first, seed 1, sat at the 3rd percentile; the
/// shipped truth is seed 2's, at the 50th).
#[test]
fn sampling_covers_the_truth() {
    let r = reference();
    let (summary, truth, _) = nuts();
    let (mut inside, mut total) = (0, 0);
    for name in ["T", "S", "eta0"] {
        let (i, n) = covered(summary, truth, name);
        inside += i;
        total += n;
    }
    assert_eq!(total, r.dim());
    // The exact posterior's coverage of the same truth, for comparison.
    let (mean, cov) = r.posterior([1.0, 1.0]);
    let mut t = vec![];
    for name in ["T", "S", "eta0"] {
        flat(&truth[name], &mut t);
    }
    let exact = (0..r.dim())
        .filter(|&i| (t[i] - mean[i]).abs() <= 1.6448536 * cov[(i, i)].sqrt())
        .count();
    eprintln!("90% intervals cover {inside} of {total} (NUTS), {exact} (exact)");
    assert!(
        inside as f64 >= 0.85 * total as f64,
        "90% intervals cover {inside} of {total}"
    );
}

/// Variance of a' x and covariance of a' x and b' x under `cov`.
fn cov_of(cov: &DMatrix<f64>, a: &DVector<f64>, b: &DVector<f64>) -> f64 {
    (a.transpose() * cov * b)[(0, 0)]
}

/// Sum over a column's levels of the variances of T (or S).
fn column_var(r: &Reference, cov: &DMatrix<f64>, (ix, iy): (usize, usize), salinity: bool) -> f64 {
    (0..r.nz)
        .map(|iz| {
            let i = if salinity {
                r.s(ix, iy, iz)
            } else {
                r.t(ix, iy, iz)
            };
            cov[(i, i)]
        })
        .sum()
}

/// Altimetry narrows the columns no float visited: on every such column under a ground track, the
/// posterior variances of T, S (summed over the levels) and of the steric height are smaller with
/// altimetry than with Argo alone; the steric height, which altimetry measures, by far the most.
#[test]
fn altimetry_narrows_the_columns_no_float_visited() {
    let r = reference();
    let (_, argo) = r.posterior([1.0, 0.0]);
    let (_, joint) = r.posterior([1.0, 1.0]);
    let unvisited: Vec<(usize, usize)> = r
        .on_track
        .iter()
        .copied()
        .filter(|c| !r.profiled.contains(c))
        .collect();
    let (mut t, mut s, mut st) = ([0.0; 2], [0.0; 2], [0.0; 2]);
    for &c in &unvisited {
        let (th, ha) = r.steric_parts(c.0, c.1);
        let steric = &th + &ha;
        for (k, cov) in [&argo, &joint].into_iter().enumerate() {
            t[k] += column_var(r, cov, c, false);
            s[k] += column_var(r, cov, c, true);
            st[k] += cov_of(cov, &steric, &steric);
        }
        let (vt, vs) = (
            column_var(r, &joint, c, false) / column_var(r, &argo, c, false),
            column_var(r, &joint, c, true) / column_var(r, &argo, c, true),
        );
        let vst = cov_of(&joint, &steric, &steric) / cov_of(&argo, &steric, &steric);
        assert!(
            vt < 1.0 && vs < 1.0 && vst < 1.0,
            "column {c:?}: {vt} {vs} {vst}"
        );
    }
    let reduction = |v: [f64; 2]| 1.0 - v[1] / v[0];
    eprintln!(
        "{} unvisited columns under a track; altimetry on top of Argo removes {:.0}% of the T \
         variance, {:.0}% of the S variance, {:.0}% of the steric height variance",
        unvisited.len(),
        100.0 * reduction(t),
        100.0 * reduction(s),
        100.0 * reduction(st)
    );
    assert!(unvisited.len() >= 40, "{}", unvisited.len());
    assert!(reduction(st) > 0.5, "{st:?}");
    assert!(reduction(t) > 0.05 && reduction(s) > 0.02, "{t:?} {s:?}");
}

/// Argo fixes the split altimetry cannot make. With altimetry alone, wherever the steric height is
/// pinned (its sd below a third of the prior's), its thermal and haline parts stay wide (each keeps
/// more than half its prior sd) and strongly anti-correlated (a warm, salty column and a cold,
/// fresh one stand equally high). Adding Argo, the profiled columns' parts are known separately:
/// their correlation vanishes and their sds fall tenfold.
#[test]
fn argo_fixes_the_split_altimetry_cannot() {
    let r = reference();
    let (_, prior) = r.posterior([0.0, 0.0]);
    let (_, alt) = r.posterior([0.0, 1.0]);
    let (_, joint) = r.posterior([1.0, 1.0]);
    let mut pinned = 0;
    let (mut least_kept, mut weakest_corr) = (f64::INFINITY, -1.0f64);
    for ix in 0..r.nx {
        for iy in 0..r.ny {
            let (th, ha) = r.steric_parts(ix, iy);
            let st = &th + &ha;
            let sd = |cov: &DMatrix<f64>, a: &DVector<f64>| cov_of(cov, a, a).sqrt();
            let corr = |cov: &DMatrix<f64>| cov_of(cov, &th, &ha) / (sd(cov, &th) * sd(cov, &ha));
            if sd(&alt, &st) < sd(&prior, &st) / 3.0 {
                pinned += 1;
                for part in [&th, &ha] {
                    let kept = sd(&alt, part) / sd(&prior, part);
                    least_kept = least_kept.min(kept);
                    assert!(kept > 0.5, "column {ix},{iy}: {kept}");
                }
                weakest_corr = weakest_corr.max(corr(&alt));
                assert!(corr(&alt) < -0.7, "column {ix},{iy}: {}", corr(&alt));
            }
            if r.profiled.contains(&(ix, iy)) {
                assert!(
                    corr(&joint).abs() < 0.1,
                    "column {ix},{iy}: {}",
                    corr(&joint)
                );
                for part in [&th, &ha] {
                    assert!(sd(&joint, part) < sd(&alt, part) / 10.0, "column {ix},{iy}");
                }
            }
        }
    }
    eprintln!(
        "altimetry alone pins the steric height of {pinned} of 64 columns; there its parts keep at \
         least {least_kept:.2} of their prior sd, correlated at most {weakest_corr:.2}"
    );
    assert!(pinned >= 10, "{pinned}");
}

/// `mmi report models/ocean.mmi` is exact here up to Monte Carlo error (Laplace fits of a Gaussian,
/// carried to T, S and the laws by 4000 draws): its sds match the reference for every combination of
/// modalities, and it shows the split: altimetry alone removes far more of the
/// steric height's variance than of its thermal or haline part's.
#[test]
fn the_report_matches_the_exact_posterior_and_shows_the_split() {
    let r = reference();
    let dir = std::env::temp_dir().join(format!("mmi-ocean-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("report.json");
    let (code, stdout, stderr) = common::mmi(&[
        "report",
        "models/ocean.mmi",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("steric (64 cells)"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let laws: Vec<&str> = report["laws"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let (_, prior) = r.posterior([0.0, 0.0]);
    let mut reduction = std::collections::HashMap::new();
    for (name, fit, w) in [
        ("prior", &report["prior"], [0.0, 0.0]),
        ("argo", &report["single"][0], [1.0, 0.0]),
        ("altimetry", &report["single"][1], [0.0, 1.0]),
        ("joint", &report["joint"], [1.0, 1.0]),
    ] {
        let (_, cov) = r.posterior(w);
        let sd = |i: usize| num(&fit["sd"][i]);
        for i in 0..r.dim() {
            let exact = cov[(i, i)].sqrt();
            // The offset is an unconstrained latent: the report gives its Laplace sd itself. The
            // whitened fields' sds come from 4000 Laplace draws mapped to T and S: relative error
            // about 1 / sqrt(8000) ~ 1.1%.
            let tol = if i + 1 == r.dim() { 1e-4 } else { 0.06 };
            assert!(
                (sd(i) / exact - 1.0).abs() < tol,
                "{name} {i}: {} vs {exact}",
                sd(i)
            );
        }
        // Laws: thermosteric, halosteric, steric, 64 columns each, after the latents.
        for (k, law) in ["thermosteric", "halosteric", "steric"].iter().enumerate() {
            let (mut v, mut v0) = (0.0, 0.0);
            for ix in 0..r.nx {
                for iy in 0..r.ny {
                    let at = r.dim() + k * r.nx * r.ny + ix * r.ny + iy;
                    assert_eq!(laws[at - r.dim()], format!("{law}[{},{}]", ix + 1, iy + 1));
                    let (th, ha) = r.steric_parts(ix, iy);
                    let a = match k {
                        0 => th,
                        1 => ha,
                        _ => &th + &ha,
                    };
                    let exact = cov_of(&cov, &a, &a).sqrt();
                    // 4000 draws: the relative error of an sd is about 1 / sqrt(8000) ~ 1.1%.
                    assert!(
                        (sd(at) / exact - 1.0).abs() < 0.06,
                        "{law} {name}: {} vs {exact}",
                        sd(at)
                    );
                    v += sd(at).powi(2);
                    v0 += cov_of(&prior, &a, &a);
                }
            }
            reduction.insert((*law, name), 1.0 - v / v0);
        }
    }
    let alt = |law: &str| reduction[&(law, "altimetry")];
    eprintln!(
        "altimetry alone removes {:.0}% of the steric height variance, {:.0}% thermosteric, {:.0}% halosteric",
        100.0 * alt("steric"),
        100.0 * alt("thermosteric"),
        100.0 * alt("halosteric")
    );
    assert!(alt("steric") > alt("thermosteric") + 0.2 && alt("steric") > alt("halosteric") + 0.2);
}
