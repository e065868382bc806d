//! The models that ship data: the data are what `mmi simulate` makes from the shipped truth, and
//! sampling recovers that truth.

mod common;

use common::mmi;

#[test]
fn experts_data_come_from_its_truth_and_sampling_recovers_it() {
    let dir = std::env::temp_dir().join(format!("mmi-shipped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("experts.data.json");
    let (code, _, stderr) = mmi(&[
        "simulate",
        "models/experts.mmi",
        "--data",
        "models/experts.data.json",
        "--params",
        "models/experts.truth.json",
        "--seed",
        "1",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/experts.data.json"
    ))
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        shipped,
        "regenerated data differ from the shipped file"
    );

    let run = dir.join("run");
    let (code, _, stderr) = mmi(&[
        "sample",
        "models/experts.mmi",
        "--seed",
        "1",
        "--quiet",
        "--output",
        run.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
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
    let dir = std::env::temp_dir().join(format!("mmi-shipped-ac-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("ac.data.json");
    let (code, _, stderr) = mmi(&[
        "simulate",
        "models/absolute_config_R.mmi",
        "--params",
        "models/absolute_config_R.truth.json",
        "--seed",
        "1",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let read =
        |p: &str| std::fs::read_to_string(format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let shipped = read("models/absolute_config_R.data.json");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), shipped);
    assert_eq!(read("models/absolute_config_S.data.json"), shipped);

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
    let dir = std::env::temp_dir().join(format!("mmi-denoise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("denoise.data.json");
    let (code, _, stderr) = mmi(&[
        "simulate",
        "models/denoise.mmi",
        "--data",
        "models/denoise.data.json",
        "--params",
        "models/denoise.truth.json",
        "--seed",
        "1",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let root = env!("CARGO_MANIFEST_DIR");
    let shipped = std::fs::read_to_string(format!("{root}/models/denoise.data.json")).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        shipped,
        "regenerated data differ from the shipped file"
    );

    let run = dir.join("run");
    let (code, _, stderr) = mmi(&[
        "sample",
        "models/denoise.mmi",
        "--seed",
        "1",
        "--quiet",
        "--output",
        run.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/models/denoise.truth.json")).unwrap(),
    )
    .unwrap();
    // The 90% intervals of the 256 pixels cover the true field at (about) their nominal rate; the
    // pixels are correlated, so the rate varies between data sets: at least 85% is asked.
    let rows = truth["f"].as_array().unwrap();
    let (mut covered, mut cells) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        for (j, v) in row.as_array().unwrap().iter().enumerate() {
            let q = &summary["quantities"][format!("f[{},{}]", i + 1, j + 1)];
            let (lo, hi) = (q["q5"].as_f64().unwrap(), q["q95"].as_f64().unwrap());
            let v = v.as_f64().unwrap();
            cells += 1;
            if lo <= v && v <= hi {
                covered += 1;
            }
        }
    }
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
