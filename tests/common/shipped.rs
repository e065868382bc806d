//! Helpers for the tests of the models shipped in models/: the data regenerate from the truth, sampling
//! with a fixed seed, and the coverage of the truth by 90% intervals.
#![allow(dead_code)]

use super::mmi;
use std::path::PathBuf;

/// Simulates models/NAME.mmi from models/NAME.truth.json with seed 1 (the shipped data file supplies the
/// sizes and other given data), asserts that the result is the shipped data file byte for byte, and
/// returns a scratch directory for the test's further runs.
pub fn regenerates(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mmi-shipped-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{name}.data.json"));
    let model = format!("models/{name}.mmi");
    let data = format!("models/{name}.data.json");
    let truth = format!("models/{name}.truth.json");
    let (code, _, stderr) = mmi(&[
        "simulate",
        &model,
        "--data",
        &data,
        "--params",
        &truth,
        "--seed",
        "1",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let shipped =
        std::fs::read_to_string(format!("{}/{data}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        shipped,
        "regenerated data differ from {data}"
    );
    dir
}

/// Samples models/NAME.mmi with seed 1 into DIR/run; returns its summary.json and the model's truth.
pub fn sample_with_truth(
    name: &str,
    dir: &std::path::Path,
) -> (serde_json::Value, serde_json::Value) {
    let run = dir.join("run");
    let model = format!("models/{name}.mmi");
    let (code, _, stderr) = mmi(&[
        "sample",
        &model,
        "--seed",
        "1",
        "--quiet",
        "--output",
        run.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let read = |p: std::path::PathBuf| {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let truth = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("models/{name}.truth.json"));
    (read(run.join("summary.json")), read(truth))
}

/// How many elements of `latent` in the truth lie inside their 90% posterior intervals, and how many
/// elements there are (scalars, vectors and matrices; element names as in the summary).
pub fn covered(
    summary: &serde_json::Value,
    truth: &serde_json::Value,
    latent: &str,
) -> (usize, usize) {
    fn flatten(v: &serde_json::Value, name: String, out: &mut Vec<(String, f64)>) {
        match v {
            serde_json::Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    let sep = if name.ends_with(']') { "," } else { "[" };
                    let base = name.trim_end_matches(']');
                    flatten(x, format!("{base}{sep}{}]", i + 1), out);
                }
            }
            x => out.push((name, x.as_f64().unwrap())),
        }
    }
    let mut elements = vec![];
    flatten(&truth[latent], latent.to_string(), &mut elements);
    let inside = elements
        .iter()
        .filter(|(name, value)| {
            let q = &summary["quantities"][name];
            q["q5"].as_f64().unwrap() <= *value && *value <= q["q95"].as_f64().unwrap()
        })
        .count();
    (inside, elements.len())
}

/// models/NAME.mmi compiled with its shipped data (default settings), checking that its modalities
/// are `modalities`, in order (the tests that weight modalities by position rely on it).
pub fn compile_shipped(name: &str, modalities: &[&str]) -> mmi::eval::CompiledModel {
    let root = env!("CARGO_MANIFEST_DIR");
    let source = std::fs::read_to_string(format!("{root}/models/{name}.mmi")).unwrap();
    let json = std::fs::read_to_string(format!("{root}/models/{name}.data.json")).unwrap();
    let model = super::compile(&source, &json, &mmi::passes::Settings::default());
    let names: Vec<&str> = model
        .graph
        .modalities
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, modalities, "the modalities of models/{name}.mmi");
    model
}

/// A JSON file of the repository (a path from its root, e.g. `models/NAME.truth.json`).
pub fn read_json(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A JSON array of numbers.
pub fn vector(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
