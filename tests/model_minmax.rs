//! models/minmax.mmi: a sea-level trend from a tide gauge and altimetry whose processing may have put
//! a drift of up to `budget` noise units (L2 over all months) into the series. The plain product moves
//! the trend in proportion to the corruption; `combine minmax` (the worst case over the budget ball)
//! moves it further still, because it fits the guarded source harder; `combine tolerant` (the best case
//! over the same ball, the shipped rule) keeps the damage of any corruption within the budget bounded.

mod common;

use common::shipped::{compile_shipped, regenerates};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The MAP trend (mm/yr) under a combine rule, with the altimetry drifted by `c` noise units along a
/// linear ramp in time (the corruption an orbit or calibration drift makes).
fn map_trend(rule: &str, c: f64) -> f64 {
    let source = std::fs::read_to_string(format!("{ROOT}/models/minmax.mmi")).unwrap();
    let source = mmi::syntax::edit::override_combine(&source, rule);
    let text = std::fs::read_to_string(format!("{ROOT}/models/minmax.data.json")).unwrap();
    let mut data: serde_json::Value = serde_json::from_str(&text).unwrap();
    let t: Vec<f64> = serde_json::from_value(data["t_alt"].clone()).unwrap();
    let sigma = data["sigma_alt"].as_f64().unwrap();
    let mean = t.iter().sum::<f64>() / t.len() as f64;
    let ramp: Vec<f64> = t.iter().map(|t| t - mean).collect();
    let length = ramp.iter().map(|r| r * r).sum::<f64>().sqrt();
    let y: Vec<f64> = serde_json::from_value(data["y_alt"].clone()).unwrap();
    let corrupted: Vec<f64> = y
        .iter()
        .zip(&ramp)
        .map(|(y, r)| y + sigma * c * r / length)
        .collect();
    data["y_alt"] = serde_json::json!(corrupted);
    let model = common::compile(
        &source,
        &data.to_string(),
        &mmi::passes::Settings::default(),
    );
    let mut ev = model.evaluator();
    let x0 = vec![0.0; model.dim()];
    let mode = mmi::infer::lbfgs::maximise(&mut ev, &x0, &Default::default())
        .unwrap_or_else(|e| panic!("{rule}, c = {c}: {e}"));
    // The latents in declaration order: level, trend, amp (all unconstrained).
    mode.x[1]
}

#[test]
fn minmax_data_come_from_its_truth() {
    regenerates("minmax");
}

#[test]
fn a_corrupted_source_moves_the_plain_and_minmax_estimates_and_not_the_tolerant_one() {
    let text = std::fs::read_to_string(format!("{ROOT}/models/minmax.data.json")).unwrap();
    let data: serde_json::Value = serde_json::from_str(&text).unwrap();
    let budget = data["budget"].as_f64().unwrap();
    let truth = 3.3;
    let rules = [
        "product".to_string(),
        format!("minmax {{ altimetry: {budget} }}"),
        format!("tolerant {{ altimetry: {budget} }}"),
    ];
    let sizes: Vec<f64> = (0..=4).map(|k| budget * k as f64 / 4.0).collect();
    let trends: Vec<Vec<f64>> = rules
        .iter()
        .map(|r| sizes.iter().map(|c| map_trend(r, *c)).collect())
        .collect();
    for (rule, row) in rules.iter().zip(&trends) {
        eprintln!(
            "{rule:32} trend error at c = {:?}: {:?}",
            sizes,
            row.iter()
                .map(|t| format!("{:+.3}", t - truth))
                .collect::<Vec<_>>()
        );
    }
    let (plain, minmax, tolerant) = (&trends[0], &trends[1], &trends[2]);
    let shift = |row: &[f64], k: usize| (row[k] - row[0]).abs();
    // The plain product is linear in the data: the damage grows in proportion to the corruption.
    for (k, c) in sizes.iter().enumerate().skip(1) {
        let want = shift(plain, 4) * k as f64 / 4.0;
        assert!(
            (shift(plain, k) - want).abs() < 1e-6 * want.max(1.0),
            "plain shift {} at c = {c}, expected {want}",
            shift(plain, k)
        );
    }
    // The damage is real: a drift within the budget moves the plain trend by more than twice the
    // trend's posterior sd from the gauge alone (15 mm / (sqrt(120) * 2.89 yr) = 0.47 mm/yr for ten
    // years of monthly means).
    assert!(shift(plain, 4) > 1.0, "plain shift {}", shift(plain, 4));
    // Min-max fits the guarded source harder: it follows the corruption further than the product.
    for (k, c) in sizes.iter().enumerate().skip(1) {
        assert!(
            shift(minmax, k) > shift(plain, k),
            "c = {c}: minmax moved {}, plain {}",
            shift(minmax, k),
            shift(plain, k)
        );
    }
    // Tolerant: its stationarity condition is that of a tempered product whose altimetry weight is
    // w = 1 - budget / ||z|| < 1 at the solution. With a budget as large as the noise's own norm
    // (sqrt(120) ~ 11 units) w stays below about 0.3 for every corruption within the budget, so the
    // trend moves by well under half of what the product's does, at every size.
    for (k, c) in sizes.iter().enumerate().skip(1) {
        assert!(
            shift(tolerant, k) < 0.5 * shift(plain, k),
            "c = {c}: tolerant moved {}, plain {}",
            shift(tolerant, k),
            shift(plain, k)
        );
    }
    assert!((tolerant[4] - truth).abs() < (plain[4] - truth).abs());
}

/// The tolerant term's gradient (a square root and a max with 0 in the graph) agrees with finite
/// differences on both sides of its kink: where the misfit exceeds the budget and where it is forgiven.
#[test]
fn the_tolerant_combination_has_exact_gradients() {
    let model = compile_shipped("minmax", &["gauge", "altimetry"]);
    // Near the truth the altimetry's misfit (about 11 noise units) is inside the budget of 12; a trend
    // 2 mm/yr off puts it far outside.
    for x in [[12.0, 3.3, 40.0], [12.0, 5.3, 40.0], [0.0, 1.0, 20.0]] {
        let err = common::gradient_error(&model, &x);
        assert!(err < 1e-6, "at {x:?}: gradient error {err}");
    }
}
