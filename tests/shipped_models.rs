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
