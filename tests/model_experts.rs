//! The product-of-experts warning on models/experts.mmi. The shipped model knows the pyrometer may read
//! low (its bias `delta` is a latent; tests/shipped_models.rs checks it recovers the truth). An analyst
//! who trusts the pyrometer's spec sheet instead writes `reading = x`: then the plain product follows
//! the biased, over-confident pyrometer away from the truth with false confidence; the per-modality
//! report names the pyrometer as the culprit; and `combine tolerant`, with a budget from the
//! emissivity-setting error the pyrometer's manual allows, recovers the truth.

mod common;

use mmi::report::modalities::{fit, modality_report, FitResult};

const TRUTH_X: f64 = 803.2;

/// models/experts.mmi without the pyrometer's bias term, under `rule`.
fn naive_model(rule: &str) -> mmi::eval::CompiledModel {
    let root = env!("CARGO_MANIFEST_DIR");
    let source = std::fs::read_to_string(format!("{root}/models/experts.mmi")).unwrap();
    let mut naive = String::new();
    for line in source.lines() {
        let t = line.trim_start();
        if t.starts_with("delta:") || t.starts_with("delta ~") {
            continue;
        }
        naive.push_str(&line.replace("let reading = x + delta", "let reading = x"));
        naive.push('\n');
    }
    let code = |l: &str| l.split('#').next().unwrap_or("").to_string();
    assert!(
        naive.contains("let reading = x\n") && !naive.lines().any(|l| code(l).contains("delta"))
    );
    let naive = mmi::syntax::edit::override_combine(&naive, rule);
    let json = std::fs::read_to_string(format!("{root}/models/experts.data.json")).unwrap();
    common::compile(&naive, &json, &mmi::passes::Settings::default())
}

fn x_mean_sd(result: &FitResult) -> (f64, f64) {
    match result {
        FitResult::Fit(f) => (f.mean[0], f.sd[0]),
        FitResult::Undetermined(why) => panic!("no fit: {why}"),
    }
}

#[test]
fn the_plain_product_follows_the_biased_pyrometer_and_the_report_names_it() {
    let model = naive_model("product");
    let report = modality_report(&model, 1);
    assert_eq!(report.names[0], "x");
    let (mean, sd) = x_mean_sd(&report.joint);
    eprintln!("plain product: x = {mean:.3} +- {sd:.3} (truth {TRUTH_X})");
    // Confidently wrong: the truth is many posterior sds away.
    assert!((mean - TRUTH_X).abs() > 10.0 * sd, "x = {mean} +- {sd}");
    // The report's warning names the pyrometer, and only the pyrometer, as pulling x.
    eprintln!("{:#?}", report.warnings);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("`pyro` pulls x")),
        "{:?}",
        report.warnings
    );
    assert!(
        !report
            .warnings
            .iter()
            .any(|w| w.starts_with("`prt` pulls") || w.starts_with("`tc` pulls")),
        "{:?}",
        report.warnings
    );
    // Without the pyrometer the other two agree with the truth.
    let pyro = report.modalities.iter().position(|m| m == "pyro").unwrap();
    let (without, sd_without) = x_mean_sd(&report.leave_out[pyro]);
    assert!(
        (without - TRUTH_X).abs() < 4.0 * sd_without,
        "without pyro: {without} +- {sd_without}"
    );
}

#[test]
fn a_tolerant_combination_with_the_manuals_budget_recovers_the_truth() {
    // The manual allows an emissivity-setting error of up to 3 deg C: over the 6 readings at the
    // claimed 0.05 deg C noise that is a budget of 3 / 0.05 * sqrt(6) ~ 147 noise units (L2).
    let budget = 3.0 / 0.05 * 6f64.sqrt();
    let model = naive_model(&format!("tolerant {{ pyro: {budget} }}"));
    let weights: Vec<f64> = model.graph.modalities.iter().map(|m| m.weight).collect();
    let (mean, sd) = x_mean_sd(&fit(&model, &weights, 1));
    eprintln!("tolerant: x = {mean:.3} +- {sd:.3} (truth {TRUTH_X})");
    assert!((mean - TRUTH_X).abs() < 4.0 * sd, "x = {mean} +- {sd}");
    // And the pyrometer's forgiven misfit does not buy false confidence: the sd is the honest
    // instruments' (within 10% of the fit without the pyrometer).
    let plain = naive_model("product");
    let mut off = weights.clone();
    let pyro = plain
        .graph
        .modalities
        .iter()
        .position(|m| m.name == "pyro")
        .unwrap();
    off[pyro] = 0.0;
    let (_, sd_without) = x_mean_sd(&fit(&plain, &off, 1));
    assert!(
        (sd / sd_without - 1.0).abs() < 0.1,
        "sd {sd} vs {sd_without} without the pyrometer"
    );
}
