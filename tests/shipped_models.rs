//! The models that ship data: the data are what `mmi simulate` makes from the shipped truth, and
//! sampling recovers that truth.

mod common;

use common::mmi;
use common::shipped::{compile_shipped, covered, regenerates, sample_with_truth};

#[test]
fn experts_data_come_from_its_truth_and_sampling_recovers_it() {
    let dir = regenerates("experts");

    let (summary, _) = sample_with_truth("experts", &dir);
    // One data set: each truth should lie within a few posterior sds of the posterior mean (a 90%
    // interval misses one of four latents a third of the time; 4 sds almost never).
    for (name, truth) in [
        ("x", 803.2),
        ("delta", -2.5),
        ("sig[1]", 0.1),
        ("sig[2]", 1.0),
    ] {
        let q = &summary["quantities"][name];
        let (mean, sd) = (q["mean"].as_f64().unwrap(), q["sd"].as_f64().unwrap());
        assert!(
            (mean - truth).abs() < 4.0 * sd,
            "{name}: truth {truth}, posterior {mean} +- {sd}"
        );
    }
}

/// The absolute-configuration pair: the shipped spectra are what `mmi simulate` makes from the R truth
/// (and the S model ships the same file); `mmi compare` picks R with both techniques, while the weak VCD
/// spectrum alone is far less decisive.
#[test]
fn absolute_configuration_is_decided_by_both_techniques_together() {
    let dir = regenerates("absolute_config_R");
    let read =
        |p: &str| std::fs::read_to_string(format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert_eq!(
        read("models/absolute_config_S.data.json"),
        read("models/absolute_config_R.data.json")
    );

    let json = dir.join("compare.json");
    let (code, stdout, stderr) = mmi(&[
        "compare",
        "models/absolute_config_R.mmi",
        "models/absolute_config_S.mmi",
        "--seed",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let p_r = v["models"][0]["probability"].as_f64().unwrap();
    assert!(p_r > 0.99, "P(R) = {p_r}\n{stdout}");
    // Bridge-sampling errors are small enough for the comparison to mean something.
    for m in 0..2 {
        let e = v["models"][m]["evidence"]["error"].as_f64().unwrap();
        assert!(e < 0.1, "error {e}");
    }
    let per = v["per_modality_probabilities"].as_array().unwrap();
    let vcd = per
        .iter()
        .find(|p| p["modality"] == "vcd_spectrum")
        .unwrap();
    let p_vcd = vcd["probabilities"][0].as_f64().unwrap();
    // Decisiveness as |log odds|: VCD alone is far from the joint verdict.
    let log_odds = |p: f64| (p / (1.0 - p)).ln().abs();
    assert!(
        log_odds(p_vcd) < log_odds(p_r) - 3.0,
        "VCD alone P(R) = {p_vcd}, both P(R) = {p_r}\n{stdout}"
    );
}

#[test]
fn denoise_data_come_from_its_truth_and_sampling_recovers_the_field() {
    let dir = regenerates("denoise");

    let (summary, truth) = sample_with_truth("denoise", &dir);
    // The 90% intervals of the 256 pixels cover the true field at (about) their nominal rate; the
    // pixels are correlated, so the rate varies between data sets: at least 85% is asked.
    let (covered, cells) = covered(&summary, &truth, "f");
    assert_eq!(cells, 256);
    assert!(
        covered as f64 >= 0.85 * cells as f64,
        "90% intervals cover {covered} of {cells} pixels"
    );
    // The hyperparameters: the truth within a few posterior sds.
    for name in ["rho", "s"] {
        let q = &summary["quantities"][name];
        let (mean, sd) = (q["mean"].as_f64().unwrap(), q["sd"].as_f64().unwrap());
        let t = truth[name].as_f64().unwrap();
        assert!(
            (mean - t).abs() < 4.0 * sd,
            "{name}: truth {t}, posterior {mean} +- {sd}"
        );
    }
}

#[test]
fn cure_data_come_from_its_truth_and_the_rate_constants_are_recovered() {
    let dir = regenerates("cure");

    let (summary, _) = sample_with_truth("cure", &dir);
    // The truth (models/cure.truth.json in the physical units): k_p = 1200, k_t = 1e7 L/(mol s).
    for (name, truth) in [("kp", 1200.0), ("kt", 1.0e7)] {
        let q = &summary["quantities"][name];
        let (q5, q95) = (q["q5"].as_f64().unwrap(), q["q95"].as_f64().unwrap());
        assert!(
            q5 < truth && truth < q95,
            "{name}: truth {truth}, 90% interval {q5} .. {q95}"
        );
    }
    assert_eq!(
        summary["divergences"].as_u64(),
        Some(0),
        "{}",
        summary["warnings"]
    );
}

/// The posterior variances of log k_p and log k_t (linear in the latents, so exact under the Laplace
/// approximation) with the given modality weights.
fn cure_log_rate_variances(model: &mmi::eval::CompiledModel, weights: [f64; 2]) -> (f64, f64) {
    let mut ev = model.evaluator();
    for (k, w) in weights.iter().enumerate() {
        ev.set_modality_weight(k, *w);
    }
    let truth = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/cure.truth.json"
    ))
    .unwrap();
    let truth: serde_json::Value = serde_json::from_str(&truth).unwrap();
    let latents: Vec<(String, Vec<f64>)> = ["rate", "lifetime", "level", "scale", "sigma_epr0"]
        .iter()
        .map(|n| (n.to_string(), vec![truth[n].as_f64().unwrap()]))
        .collect();
    let x0 = ev.unconstrain(&latents).unwrap();
    let mode = mmi::infer::lbfgs::maximise(&mut ev, &x0, &Default::default())
        .unwrap_or_else(|e| panic!("weights {weights:?}: {e}"))
        .x;
    let lap = mmi::infer::laplace::laplace(&mut ev, &mode).unwrap();
    let d = mode.len();
    let var = |v: [f64; 5]| -> f64 {
        (0..d)
            .flat_map(|i| (0..d).map(move |j| (i, j)))
            .map(|(i, j)| v[i] * lap.covariance[i * d + j] * v[j])
            .sum()
    };
    // log k_p = rate + lifetime + scale + const, log k_t = scale + 16 (see models/cure.mmi).
    (
        var([1.0, 1.0, 0.0, 1.0, 0.0]),
        var([0.0, 0.0, 0.0, 1.0, 0.0]),
    )
}

#[test]
fn each_cure_modality_alone_leaves_the_rate_constants_wider() {
    let model = compile_shipped("cure", &["ftir", "epr"]);
    // The model's own weights: FTIR 1, EPR tempered to 0.5; each alone keeps its weight.
    let (kp_joint, kt_joint) = cure_log_rate_variances(&model, [1.0, 0.5]);
    let (kp_ftir, kt_ftir) = cure_log_rate_variances(&model, [1.0, 0.0]);
    let (kp_epr, kt_epr) = cure_log_rate_variances(&model, [0.0, 0.5]);
    eprintln!(
        "sd of log k_p: joint {:.3}, FTIR alone {:.3}, EPR alone {:.3}; of log k_t: {:.3}, {:.3}, {:.3}",
        kp_joint.sqrt(),
        kp_ftir.sqrt(),
        kp_epr.sqrt(),
        kt_joint.sqrt(),
        kt_ftir.sqrt(),
        kt_epr.sqrt()
    );
    for (what, joint, alone) in [
        ("k_p, FTIR alone", kp_joint, kp_ftir),
        ("k_p, EPR alone", kp_joint, kp_epr),
        ("k_t, FTIR alone", kt_joint, kt_ftir),
        ("k_t, EPR alone", kt_joint, kt_epr),
    ] {
        assert!(
            alone > joint,
            "{what}: variance {alone} is not above the joint {joint}"
        );
    }
}

/// gravity_ert: the shipped data regenerate from the truth (a prior draw), and sampling recovers the
/// porosity field, the salinity and the rock and survey parameters (90% intervals cover at least 85% of the latent
/// elements).
#[test]
fn gravity_ert_data_come_from_its_truth_and_sampling_recovers_it() {
    let dir = regenerates("gravity_ert");

    let (summary, truth) = sample_with_truth("gravity_ert", &dir);
    let (mut inside, mut total) = (0, 0);
    for name in [
        "phi_mu",
        "phi_logit",
        "w_min",
        "salinity",
        "m_cem",
        "g_base",
    ] {
        let (i, n) = covered(&summary, &truth, name);
        inside += i;
        total += n;
    }
    assert_eq!(total, 247);
    assert!(
        inside as f64 >= 0.85 * total as f64,
        "90% intervals cover {inside} of {total}"
    );
}

/// Every model in models/ ships its data as MODEL.data.json and compiles with it, so `mmi sample
/// models/X.mmi` needs no flags.
#[test]
fn every_shipped_model_has_data_and_compiles_with_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut count = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "mmi") {
            continue;
        }
        count += 1;
        assert!(
            path.with_extension("data.json").exists(),
            "{} ships no data",
            path.display()
        );
        let (code, _, stderr) = mmi(&["graph", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {stderr}", path.display());
    }
    assert!(count >= 8, "{count} models");
}
