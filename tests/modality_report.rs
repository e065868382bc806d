//! The per-modality report against closed forms: in a linear-Gaussian model with two modalities the
//! prior, single-modality, joint and leave-one-out posteriors are exact Gaussians, and the report's
//! Laplace fits must match them; a biased, over-confident expert is flagged, and a modality that alone
//! informs a latent is not.

mod common;

use mmi::report::modalities::{modality_report, FitResult};
use nalgebra::{DMatrix, DVector};

/// x (4 cells) with a normal(0, 2) prior; `points` sees cells 1 and 3 with noise 0.5; `sums` sees two
/// weighted sums of all cells with noise 0.3.
const MODEL: &str = r#"
data { n: int > 0, k: int > 0, idx: int[k], y_p: vector[k], A: matrix[2, n], y_s: vector[2] }
latent { x: vector[n] ~ normal(0, 2) }
modality points { y_p ~ normal(x[idx], 0.5) }
modality sums { y_s ~ normal(A * x, 0.3) }
"#;
const DATA: &str = r#"{"n": 4, "k": 2, "idx": [1, 3], "y_p": [1.0, -0.5],
  "A": [[1, 1, 1, 1], [1, -1, 0.5, 0]], "y_s": [2.0, 0.7]}"#;

/// The exact posterior covariance and mean of the four cells with the given modalities switched on.
fn exact_posterior(points: bool, sums: bool) -> (DMatrix<f64>, DVector<f64>) {
    let mut prec = DMatrix::<f64>::identity(4, 4) / 4.0;
    let mut b = DVector::<f64>::zeros(4);
    if points {
        for (cell, y) in [(0, 1.0), (2, -0.5)] {
            prec[(cell, cell)] += 1.0 / 0.25;
            b[cell] += y / 0.25;
        }
    }
    if sums {
        let a = DMatrix::from_row_slice(2, 4, &[1.0, 1.0, 1.0, 1.0, 1.0, -1.0, 0.5, 0.0]);
        let y = DVector::from_vec(vec![2.0, 0.7]);
        prec += a.transpose() * &a / 0.09;
        b += a.transpose() * y / 0.09;
    }
    let cov = prec.try_inverse().unwrap();
    let mean = &cov * b;
    (cov, mean)
}

/// The exact posterior sds and means with the given modalities switched on.
fn exact(points: bool, sums: bool) -> (Vec<f64>, Vec<f64>) {
    let (cov, mean) = exact_posterior(points, sums);
    (
        (0..4).map(|i| cov[(i, i)].sqrt()).collect(),
        mean.iter().copied().collect(),
    )
}

fn assert_fit(f: &FitResult, (sd, mean): (Vec<f64>, Vec<f64>), what: &str) {
    let FitResult::Fit(f) = f else {
        panic!("{what}: no fit: {f:?}")
    };
    for i in 0..4 {
        assert!(
            (f.sd[i] / sd[i] - 1.0).abs() < 0.01,
            "{what} sd[{i}]: {} vs {}",
            f.sd[i],
            sd[i]
        );
        assert!(
            (f.mean[i] - mean[i]).abs() < 0.01 * sd[i],
            "{what} mean[{i}]: {} vs {}",
            f.mean[i],
            mean[i]
        );
    }
}

#[test]
fn linear_gaussian_contributions_match_closed_forms() {
    let model = common::compile(MODEL, DATA, &mmi::passes::Settings::default());
    let r = modality_report(&model, 1);
    assert_eq!(r.modalities, vec!["points", "sums"]);
    assert_fit(&r.prior, exact(false, false), "prior");
    assert_fit(&r.single[0], exact(true, false), "points alone");
    assert_fit(&r.single[1], exact(false, true), "sums alone");
    assert_fit(&r.joint, exact(true, true), "joint");
    assert_fit(&r.leave_out[0], exact(false, true), "without points");
    assert_fit(&r.leave_out[1], exact(true, false), "without sums");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // Residual checks at the joint mode: the closed-form sums of squared standardised residuals.
    let (_, mean) = exact(true, true);
    let points = (1.0 - mean[0]).powi(2) / 0.25 + (-0.5 - mean[2]).powi(2) / 0.25;
    let a = [[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 0.5, 0.0]];
    let sums: f64 = [2.0, 0.7]
        .iter()
        .zip(a)
        .map(|(y, row)| (y - row.iter().zip(&mean).map(|(p, q)| p * q).sum::<f64>()).powi(2) / 0.09)
        .sum();
    assert_eq!(r.residuals.len(), 2);
    let close = |got: f64, want: f64| (got - want).abs() < 1e-6 * want.max(1.0);
    assert!(
        close(r.residuals[0].chi2, points),
        "{:?} vs {points}",
        r.residuals[0]
    );
    assert!(
        close(r.residuals[1].chi2, sums),
        "{:?} vs {sums}",
        r.residuals[1]
    );
    assert_eq!((r.residuals[0].n, r.residuals[1].n), (2, 2));
    let table = r.table();
    assert!(
        table.contains("points only") && table.contains("variance reduction"),
        "{table}"
    );
    // Cell 2 is seen only through the sums: `points` alone leaves its prior sd of 2.
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("x[2]") && l.contains("2.0000")),
        "{table}"
    );
}

/// Three instruments measure one temperature; one reads 3 degrees high and claims a noise 10x too small.
const EXPERTS: &str = r#"
data { n: int > 0, a: vector[n], b: vector[n], c: vector[n] }
latent { t: real ~ normal(20, 10) }
modality thermo_a { a ~ normal(t, 0.5) }
modality thermo_b { b ~ normal(t, 0.5) }
modality biased { c ~ normal(t, 0.05) }
"#;

#[test]
fn a_biased_overconfident_expert_is_flagged() {
    let data = r#"{"n": 5, "a": [20.1, 19.6, 20.4, 19.9, 20.2], "b": [19.8, 20.3, 20.0, 20.5, 19.7],
      "c": [23.02, 22.98, 23.01, 22.99, 23.0]}"#;
    let model = common::compile(EXPERTS, data, &mmi::passes::Settings::default());
    let r = modality_report(&model, 1);
    // The conflict is pinned on the biased expert; the honest ones show residuals far beyond their
    // stated noise at the joint mode, which the biased one has dragged away from them.
    let conflicts: Vec<&String> = r
        .warnings
        .iter()
        .filter(|w| w.contains(" pulls "))
        .collect();
    assert_eq!(conflicts.len(), 1, "{:?}", r.warnings);
    assert!(
        conflicts[0].starts_with("`biased` pulls t"),
        "{}",
        conflicts[0]
    );
    for honest in ["thermo_a", "thermo_b"] {
        let prefix = format!("`{honest}`'s residuals");
        assert!(
            r.warnings.iter().any(|w| w.starts_with(&prefix)),
            "{:?}",
            r.warnings
        );
    }
    assert!(
        !r.warnings
            .iter()
            .any(|w| w.starts_with("`biased`'s residuals")),
        "{:?}",
        r.warnings
    );
}

/// The plain product follows the over-confident expert; tempering it, or giving it a robust
/// likelihood, brings the estimate back to what the honest instruments say (about 20).
#[test]
fn tempering_or_a_robust_likelihood_recovers_from_the_biased_expert() {
    let data = r#"{"n": 5, "a": [20.1, 19.6, 20.4, 19.9, 20.2], "b": [19.8, 20.3, 20.0, 20.5, 19.7],
      "c": [23.02, 22.98, 23.01, 22.99, 23.0]}"#;
    let estimate = |src: &str| -> f64 {
        let model = common::compile(src, data, &mmi::passes::Settings::default());
        let weights: Vec<f64> = model.graph.modalities.iter().map(|m| m.weight).collect();
        match mmi::report::modalities::fit(&model, &weights, 1) {
            FitResult::Fit(f) => f.mean[0],
            other => panic!("{other:?}"),
        }
    };
    let truth = 20.0;
    let plain = estimate(EXPERTS);
    assert!(
        (plain - truth).abs() > 2.5,
        "the plain product is dragged to the bias: {plain}"
    );
    let tempered = estimate(&format!(
        "{EXPERTS}\ncombine tempered {{ biased: 0.001 }}\n"
    ));
    let robust = estimate(&EXPERTS.replace("c ~ normal(t, 0.05)", "c ~ student_t(3, t, 0.05)"));
    for (what, t) in [("tempered", tempered), ("student_t", robust)] {
        assert!(
            (t - truth).abs() < (plain - truth).abs() / 3.0,
            "{what}: {t} (plain {plain})"
        );
    }
}

/// NUTS on the same linear-Gaussian model agrees with the exact joint posterior: means within 4 MCSE,
/// sds within 10%.
#[test]
fn nuts_matches_the_exact_joint_posterior() {
    use mmi::infer::sample::{column_names, sample, SampleSettings};
    let model = common::compile(MODEL, DATA, &mmi::passes::Settings::default());
    let settings = SampleSettings {
        seed: 11,
        ..Default::default()
    };
    let chains = sample(
        &model,
        &settings,
        &std::sync::atomic::AtomicBool::new(false),
        &|_, _| {},
    )
    .unwrap();
    let columns = column_names(&model);
    let (sd, mean) = exact(true, true);
    for i in 0..4 {
        let j = columns
            .iter()
            .position(|c| *c == format!("x[{}]", i + 1))
            .unwrap();
        let draws: Vec<Vec<f64>> = chains
            .iter()
            .map(|c| c.rows.iter().map(|r| r[j]).collect())
            .collect();
        let s = mmi::infer::diagnostics::summarize(&draws);
        assert!(
            (s.mean - mean[i]).abs() < 4.0 * s.mcse_mean,
            "x[{}] mean {} vs {} (mcse {})",
            i + 1,
            s.mean,
            mean[i],
            s.mcse_mean
        );
        assert!(
            (s.sd / sd[i] - 1.0).abs() < 0.1,
            "x[{}] sd {} vs {}",
            i + 1,
            s.sd,
            sd[i]
        );
    }
}

/// Latent draws (constrained, in latent order) of a NUTS run with the default settings.
fn joint_draws(model: &mmi::eval::CompiledModel, seed: u64) -> Vec<Vec<f64>> {
    use mmi::infer::sample::{sample, SampleSettings, SAMPLER_COLUMNS};
    let settings = SampleSettings {
        seed,
        ..Default::default()
    };
    let chains = sample(
        model,
        &settings,
        &std::sync::atomic::AtomicBool::new(false),
        &|_, _| {},
    )
    .unwrap();
    let (first, count) = (SAMPLER_COLUMNS.len(), model.latent_names().len());
    chains
        .iter()
        .flat_map(|c| c.rows.iter().map(|r| r[first..first + count].to_vec()))
        .collect()
}

/// The draws-based report on the linear-Gaussian model: joint, single-modality and leave-one-out
/// moments match the exact posteriors, whether they came from reweighting (k-hat <= 0.7) or from a
/// refit. Bounds: sds within 10%; means within 0.15 exact sds (about 4 Monte Carlo standard errors at
/// the ~1000 effective draws a reweighted or refitted estimate has).
#[test]
fn draws_report_matches_closed_forms() {
    use mmi::report::draws::draws_report;
    let model = common::compile(MODEL, DATA, &mmi::passes::Settings::default());
    let draws = joint_draws(&model, 21);
    let refit = mmi::infer::sample::SampleSettings {
        seed: 22,
        ..Default::default()
    };
    let r = draws_report(&model, &draws, 3, Some(&refit)).unwrap();
    let check = |mean: &[f64], sd: &[f64], (esd, emean): (Vec<f64>, Vec<f64>), what: &str| {
        for i in 0..4 {
            assert!(
                (sd[i] / esd[i] - 1.0).abs() < 0.1,
                "{what} sd[{i}]: {} vs {}",
                sd[i],
                esd[i]
            );
            assert!(
                (mean[i] - emean[i]).abs() < 0.15 * esd[i],
                "{what} mean[{i}]: {} vs {}",
                mean[i],
                emean[i]
            );
        }
    };
    check(&r.joint_mean, &r.joint_sd, exact(true, true), "joint");
    check(
        &r.single[0].mean,
        &r.single[0].sd,
        exact(true, false),
        "points only",
    );
    check(
        &r.single[1].mean,
        &r.single[1].sd,
        exact(false, true),
        "sums only",
    );
    check(
        &r.leave_out[0].mean,
        &r.leave_out[0].sd,
        exact(false, true),
        "without points",
    );
    check(
        &r.leave_out[1].mean,
        &r.leave_out[1].sd,
        exact(true, false),
        "without sums",
    );
    // `points` alone leaves cells 2 and 4 at their prior (sd 2, joint sd ~0.3): the joint draws cannot
    // be reweighted that far, so that column was sampled afresh.
    assert!(
        r.single[0].khat > 0.7 && r.single[0].refit,
        "{:?}",
        r.single[0]
    );
    // No conflict here, and the predictive checks are unremarkable.
    assert!(
        r.warnings.iter().all(|w| !w.contains(" pulls ")),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.checks.len(), 2);
    for c in &r.checks {
        assert!(c.p_value > 0.01, "{c:?}");
    }
}

/// The exact posterior sd and mean of x1 + x2 + x3 + x4 with the given modalities switched on.
fn exact_total(points: bool, sums: bool) -> (f64, f64) {
    let (cov, mean) = exact_posterior(points, sums);
    let ones = DVector::<f64>::from_element(4, 1.0);
    (
        (ones.transpose() * &cov * &ones)[(0, 0)].sqrt(),
        ones.dot(&mean),
    )
}

/// The draws-based report also shows scalar laws (after the latents, one row each; a vector law is
/// left out): the sum of the cells, whose exact posterior under every combination is known, within
/// the Monte Carlo bounds of `draws_report_matches_closed_forms`.
#[test]
fn draws_report_shows_scalar_laws() {
    use mmi::report::draws::draws_report;
    let source = format!("{MODEL}\nlaw total = sum(x)\nlaw twice = 2 * x\n");
    let model = common::compile(&source, DATA, &mmi::passes::Settings::default());
    let draws = joint_draws(&model, 21);
    let refit = mmi::infer::sample::SampleSettings {
        seed: 22,
        ..Default::default()
    };
    let r = draws_report(&model, &draws, 3, Some(&refit)).unwrap();
    assert_eq!(r.laws, ["total"]);
    let labels: Vec<&str> = r.rows.iter().map(|row| row.label.as_str()).collect();
    assert_eq!(labels, ["x[1]", "x[2]", "x[3]", "x[4]", "total"]);
    let at = 4;
    for (mean, sd, (esd, emean), what) in [
        (&r.joint_mean, &r.joint_sd, exact_total(true, true), "joint"),
        (
            &r.single[0].mean,
            &r.single[0].sd,
            exact_total(true, false),
            "points only",
        ),
        (
            &r.single[1].mean,
            &r.single[1].sd,
            exact_total(false, true),
            "sums only",
        ),
        (
            &r.leave_out[0].mean,
            &r.leave_out[0].sd,
            exact_total(false, true),
            "without points",
        ),
        (
            &r.leave_out[1].mean,
            &r.leave_out[1].sd,
            exact_total(true, false),
            "without sums",
        ),
    ] {
        assert_eq!(mean.len(), 5, "{what}");
        assert!(
            (sd[at] / esd - 1.0).abs() < 0.1,
            "{what} sd: {} vs {esd}",
            sd[at]
        );
        assert!(
            (mean[at] - emean).abs() < 0.15 * esd,
            "{what} mean: {} vs {emean}",
            mean[at]
        );
    }
    assert!(r.table().contains("\ntotal "), "{}", r.table());
}

/// Posterior predictive checks flag the honest instruments that the over-confident biased one has
/// dragged the estimate away from (their residuals are ~6 noise sds), and nothing when the data agree.
#[test]
fn predictive_checks_flag_data_the_model_cannot_produce() {
    use mmi::report::draws::draws_report;
    let biased = r#"{"n": 5, "a": [20.1, 19.6, 20.4, 19.9, 20.2], "b": [19.8, 20.3, 20.0, 20.5, 19.7],
      "c": [23.02, 22.98, 23.01, 22.99, 23.0]}"#;
    let model = common::compile(EXPERTS, biased, &mmi::passes::Settings::default());
    let r = draws_report(&model, &joint_draws(&model, 4), 5, None).unwrap();
    let p = |name: &str| {
        r.checks
            .iter()
            .find(|c| c.modality == name)
            .unwrap()
            .p_value
    };
    assert!(
        p("thermo_a") < 0.001 && p("thermo_b") < 0.001,
        "{:?}",
        r.checks
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.starts_with("`thermo_a`'s data are further")),
        "{:?}",
        r.warnings
    );
    let agree = biased.replace(
        "[23.02, 22.98, 23.01, 22.99, 23.0]",
        "[20.02, 19.98, 20.01, 19.99, 20.0]",
    );
    let model = common::compile(EXPERTS, &agree, &mmi::passes::Settings::default());
    let r = draws_report(&model, &joint_draws(&model, 4), 5, None).unwrap();
    for c in &r.checks {
        assert!(c.p_value > 0.01, "{c:?}");
    }
}

/// Two instruments that see different latents: leaving one out sends its latent back to the prior,
/// many joint sds away, which is what agreement predicts (all of that latent's information goes), not
/// a conflict.
#[test]
fn a_modality_that_alone_informs_a_latent_is_not_a_conflict() {
    let source = r#"
data { n: int > 0, a: vector[n], b: vector[n] }
latent { x: real ~ normal(0, 10), z: real ~ normal(0, 10) }
modality first { a ~ normal(x, 0.1) }
modality second { b ~ normal(z + 0.01 * x, 0.1) }
"#;
    let data = r#"{"n": 4, "a": [5.1, 4.9, 5.0, 5.05], "b": [-2, -2.1, -1.9, -2.05]}"#;
    let model = common::compile(source, data, &mmi::passes::Settings::default());
    let r = modality_report(&model, 1);
    assert!(
        !r.warnings.iter().any(|w| w.contains(" pulls ")),
        "{:?}",
        r.warnings
    );
}
