//! Reference posteriors from posteriordb (stan-dev/posteriordb): each model in `tests/posteriordb/` is a
//! translation of a posteriordb model, sampled with the default settings (4 chains, 1000 warm-up, 1000
//! draws) and a fixed seed. Every reference quantity's mean must lie within 4 combined Monte Carlo
//! standard errors of the reference mean, `|m - m_ref| <= 4 * sqrt(mcse^2 + mcse_ref^2)`, and its sd
//! within 10% of the reference sd. The centred eight schools (a funnel) must instead report divergences.
//!
//! The references (`reference.json`, and `data_derived.json` for the predictors the original models
//! compute) live in `../shared/posteriordb` beside the repository; without that folder the tests say so
//! and pass. Run them with `cargo test --release --test posteriordb -- --nocapture` to see one line
//! per model (time, worst mean error in combined MCSEs, worst sd ratio, divergences, R-hat, ESS).
//!
//! Every model currently samples in under ~20 s in release mode (nes1972 is the slowest, ~12 s on two
//! cores), so none is ignored. A model slower than that gets `#[ignore]` and a comment; run those with
//! `cargo test --release --test posteriordb -- --ignored`.

use mmi::eval::CompiledModel;
use mmi::infer::diagnostics::summarize;
use mmi::infer::sample::{column_names, sample, SampleSettings};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The seed of every run (fixed once, not tuned per model).
const SEED: u64 = 1;

/// The folder of reference posteriors, or `None` (after saying so) when it is missing.
fn reference_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/posteriordb");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: ../shared/posteriordb not found");
        None
    }
}

/// Checks, loads (without warnings) and compiles a model with its data file.
fn compile_source(source: &str, json: &str, name: &str) -> CompiledModel {
    let out = mmi::check_source(source);
    let render = |d: &[mmi::Diagnostic]| mmi::diagnostic::render_all(d, name, source, false);
    let model = out
        .model
        .unwrap_or_else(|| panic!("{name} does not check:\n{}", render(&out.diagnostics)));
    let (data, warnings) = mmi::data::load(&model, json, name)
        .unwrap_or_else(|d| panic!("{name}: data do not load:\n{}", render(&d)));
    assert!(
        warnings.is_empty(),
        "{name}: data warnings:\n{}",
        render(&warnings)
    );
    mmi::compile(&model, &data, &mmi::passes::Settings::default())
        .unwrap_or_else(|d| panic!("{name} does not compile:\n{}", render(&d)))
}

/// `tests/posteriordb/NAME.mmi` with `tests/posteriordb/NAME.data.json`, compiled.
fn compile_model(name: &str) -> CompiledModel {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/posteriordb");
    let source = std::fs::read_to_string(base.join(format!("{name}.mmi"))).unwrap();
    let json = std::fs::read_to_string(base.join(format!("{name}.data.json"))).unwrap();
    compile_source(&source, &json, &format!("{name}.mmi"))
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The draws of a model: one `Vec` per chain for each column.
struct Run {
    columns: Vec<String>,
    chains: Vec<mmi::infer::sample::Chain>,
}

impl Run {
    fn new(model: &CompiledModel) -> Run {
        let settings = SampleSettings {
            seed: SEED,
            ..SampleSettings::default()
        };
        let chains =
            sample(model, &settings, &AtomicBool::new(false), &|_, _| {}).expect("the chains run");
        Run {
            columns: column_names(model),
            chains,
        }
    }

    fn column(&self, name: &str) -> Vec<Vec<f64>> {
        let k = self
            .columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column `{name}` in {:?}", self.columns));
        self.chains
            .iter()
            .map(|c| c.rows.iter().map(|r| r[k]).collect())
            .collect()
    }

    /// Mean leapfrog steps per kept draw.
    fn mean_leapfrog(&self) -> f64 {
        let steps: Vec<f64> = self.column("n_leapfrog__").concat();
        steps.iter().sum::<f64>() / steps.len() as f64
    }

    fn divergences(&self) -> usize {
        self.column("divergent__")
            .iter()
            .flatten()
            .filter(|&&d| d != 0.0)
            .count()
    }
}

/// Samples `name` and compares every reference quantity (`parameters` and `derived_parameters`).
fn check_against_reference(name: &str) {
    let Some(dir) = reference_dir() else { return };
    let reference = read_json(&dir.join(name).join("reference.json"));
    let model = compile_model(name);
    let start = Instant::now();
    let run = Run::new(&model);
    let seconds = start.elapsed().as_secs_f64();

    let mut failures = vec![];
    let (mut worst_z, mut worst_z_name) = (0.0f64, String::new());
    let (mut worst_ratio, mut worst_ratio_name) = (1.0f64, String::new());
    let (mut max_rhat, mut min_ess) = (0.0f64, f64::INFINITY);
    let mut count = 0;
    for section in ["parameters", "derived_parameters"] {
        let Some(quantities) = reference[section].as_object() else {
            continue;
        };
        for (q, r) in quantities {
            let (ref_mean, ref_sd) = (r["mean"].as_f64().unwrap(), r["sd"].as_f64().unwrap());
            // Quantities derived from the stored draws (theta_trans of the non-centred eight schools)
            // have no MCSE: posteriordb's reference draws are thinned to be nearly independent, so
            // sd / sqrt(draws) stands in for it.
            let ref_mcse = r["mcse_mean"]
                .as_f64()
                .unwrap_or_else(|| ref_sd / reference["n_draws"].as_f64().unwrap().sqrt());
            let s = summarize(&run.column(q));
            let z = (s.mean - ref_mean).abs() / (s.mcse_mean.powi(2) + ref_mcse.powi(2)).sqrt();
            let ratio = s.sd / ref_sd;
            count += 1;
            max_rhat = max_rhat.max(s.rhat);
            min_ess = min_ess.min(s.ess_bulk);
            // Written so that a NaN fails.
            let mean_ok = z <= 4.0;
            let sd_ok = (ratio - 1.0).abs() <= 0.1;
            if !mean_ok {
                failures.push(format!(
                    "{q}: mean {:.6} vs reference {ref_mean:.6}: {z:.2} combined MCSEs \
                     (mcse {:.3e}, reference {ref_mcse:.3e})",
                    s.mean, s.mcse_mean
                ));
            }
            if !sd_ok {
                failures.push(format!(
                    "{q}: sd {:.6} vs reference {ref_sd:.6} (ratio {ratio:.3})",
                    s.sd
                ));
            }
            if z.is_nan() || z > worst_z {
                (worst_z, worst_z_name) = (z, q.clone());
            }
            let off = (ratio - 1.0).abs();
            if off.is_nan() || off > (worst_ratio - 1.0).abs() {
                (worst_ratio, worst_ratio_name) = (ratio, q.clone());
            }
        }
    }
    println!(
        "{name}: {seconds:.1} s, {count} quantities, worst mean {worst_z:.2} MCSE ({worst_z_name}), \
         worst sd ratio {worst_ratio:.3} ({worst_ratio_name}), {} divergent, max R-hat {max_rhat:.3}, \
         min bulk ESS {min_ess:.0}, {:.1} leapfrog steps per draw",
        run.divergences(),
        run.mean_leapfrog()
    );
    assert!(count > 0, "{name}: the reference lists no quantities");
    assert!(
        failures.is_empty(),
        "{name} (seed {SEED}) disagrees with the reference:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn eight_schools_noncentered() {
    check_against_reference("eight_schools-eight_schools_noncentered");
}

/// The centred eight schools is a funnel that NUTS cannot explore fully: the sampler must say so with
/// divergences rather than silently return a biased answer.
#[test]
fn eight_schools_centered_reports_divergences() {
    let name = "eight_schools-eight_schools_centered";
    let model = compile_model(name);
    let start = Instant::now();
    let run = Run::new(&model);
    let divergent = run.divergences();
    println!(
        "{name}: {:.1} s, {divergent} divergent of {}",
        start.elapsed().as_secs_f64(),
        run.chains.iter().map(|c| c.rows.len()).sum::<usize>()
    );
    assert!(divergent > 0, "{name}: no divergences reported in a funnel");
}

#[test]
fn kidiq_kidscore_interaction() {
    check_against_reference("kidiq-kidscore_interaction");
}

#[test]
fn earnings_logearn_interaction_z() {
    check_against_reference("earnings-logearn_interaction_z");
}

#[test]
fn mesquite_logmesquite_logvash() {
    check_against_reference("mesquite-logmesquite_logvash");
}

#[test]
fn nes1972_nes() {
    check_against_reference("nes1972-nes");
}

#[test]
fn sblri_blr() {
    check_against_reference("sblri-blr");
}

#[test]
fn sblrc_blr() {
    check_against_reference("sblrc-blr");
}

#[test]
fn ark_ark() {
    check_against_reference("arK-arK");
}

/// The models compute their predictors in the language (`log(earn)`, standardised height, the lag
/// matrix, ...); their log densities must equal those of the same models fed posteriordb's precomputed
/// `data_derived.json` at random points.
#[test]
fn predictors_computed_in_the_models_match_posteriordb() {
    let Some(dir) = reference_dir() else { return };
    // (model, the same likelihood on the derived data, the derived variables it reads)
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "kidiq-kidscore_interaction",
            "data { N: int > 0, kid_score: vector[N], mom_iq: vector[N], mom_hs: vector[N], inter: vector[N] }
             latent { beta: vector[4], sigma: real > 0 ~ cauchy(0, 2.5) }
             modality m { kid_score ~ normal(beta[1] + beta[2] * mom_hs + beta[3] * mom_iq + beta[4] * inter, sigma) }",
            &["N", "kid_score", "mom_iq", "mom_hs", "inter"],
        ),
        (
            "earnings-logearn_interaction_z",
            "data { N: int > 0, log_earn: vector[N], z_height: vector[N], male: vector[N], inter: vector[N] }
             latent { beta: vector[4], sigma: real > 0 }
             modality m { log_earn ~ normal(beta[1] + beta[2] * z_height + beta[3] * male + beta[4] * inter, sigma) }",
            &["N", "log_earn", "z_height", "male", "inter"],
        ),
        (
            "mesquite-logmesquite_logvash",
            "data { N: int > 0, log_weight: vector[N], log_canopy_volume: vector[N], log_canopy_area: vector[N],
                    log_canopy_shape: vector[N], log_total_height: vector[N], group: vector[N] }
             latent { beta: vector[6], sigma: real > 0 }
             modality m { log_weight ~ normal(beta[1] + beta[2] * log_canopy_volume + beta[3] * log_canopy_area
                 + beta[4] * log_canopy_shape + beta[5] * log_total_height + beta[6] * group, sigma) }",
            &["N", "log_weight", "log_canopy_volume", "log_canopy_area", "log_canopy_shape",
              "log_total_height", "group"],
        ),
        (
            "nes1972-nes",
            "data { N: int > 0, partyid7: vector[N], real_ideo: vector[N], race_adj: vector[N], age30_44: vector[N],
                    age45_64: vector[N], age65up: vector[N], educ1: vector[N], gender: vector[N], income: vector[N] }
             latent { beta: vector[9], sigma: real > 0 }
             modality m { partyid7 ~ normal(beta[1] + beta[2] * real_ideo + beta[3] * race_adj + beta[4] * age30_44
                 + beta[5] * age45_64 + beta[6] * age65up + beta[7] * educ1 + beta[8] * gender
                 + beta[9] * income, sigma) }",
            &["N", "partyid7", "real_ideo", "race_adj", "age30_44", "age45_64", "age65up", "educ1",
              "gender", "income"],
        ),
        (
            "arK-arK",
            "data { K: int > 0, n_obs: int > 0, y_obs: vector[n_obs], Ylag: matrix[n_obs, K] }
             latent { alpha: real ~ normal(0, 10), beta: vector[K] ~ normal(0, 10), sigma: real > 0 ~ cauchy(0, 2.5) }
             modality m { y_obs ~ normal(alpha + Ylag * beta, sigma) }",
            &["K", "n_obs", "y_obs", "Ylag"],
        ),
    ];
    for (name, derived_source, keys) in cases {
        let ours = compile_model(name);
        let mut all = read_json(&dir.join(name).join("data.json"));
        let derived = read_json(&dir.join(name).join("data_derived.json"));
        for (k, v) in derived.as_object().unwrap() {
            all[k] = v.clone();
        }
        let json: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .map(|k| (k.to_string(), all[*k].clone()))
            .collect();
        let theirs = compile_source(
            derived_source,
            &serde_json::Value::Object(json).to_string(),
            name,
        );
        assert_eq!(ours.dim(), theirs.dim(), "{name}");
        let (mut a, mut b) = (ours.evaluator(), theirs.evaluator());
        for i in 0..5 {
            let x: Vec<f64> = (0..ours.dim())
                .map(|j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.5)
                .collect();
            let (la, lb) = (a.log_density(&x).unwrap(), b.log_density(&x).unwrap());
            assert!(
                (la - lb).abs() <= 1e-9 * la.abs().max(1.0),
                "{name}: log density {la} with predictors computed in the model, {lb} with \
                 posteriordb's data_derived.json, at {x:?}"
            );
        }
    }
}
