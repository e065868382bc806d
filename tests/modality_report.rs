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

/// Standard normal draws from a fixed ChaCha8 stream.
fn normals(rng: &mut rand::rngs::ChaCha8Rng, n: usize) -> Vec<f64> {
    use rand::RngExt;
    (0..n)
        .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
        .collect()
}

/// The inputs of `worst_conflict` for standardised shifts `z` that are not held back by the
/// "material" rule: joint sd 0.1 and sd without sqrt(1.01), so var(without) - var(with) = 1 and the
/// standardised shift is z itself, while the shift in joint sds is 10 z.
fn shifts(z: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = z.len();
    (
        z.to_vec(),
        vec![0.1; n],
        vec![0.0; n],
        vec![(1.0f64 + 0.01).sqrt(); n],
    )
}

/// The threshold's tail is the one-element 3-sd tail shared out over the elements: n P(|Z| > z_thr(n))
/// = P(|Z| > 3), checked with statrs's erfc (the code inverts it with erfc_inv); 3 exactly for n = 1.
#[test]
fn the_conflict_threshold_shares_the_three_sd_tail_among_the_elements() {
    use mmi::report::modalities::conflict_threshold;
    use statrs::function::erf::erfc;
    let tail = |z: f64| erfc(z / std::f64::consts::SQRT_2);
    assert_eq!(conflict_threshold(1), 3.0);
    for n in [2usize, 5, 20, 240, 10_000, 1_000_000] {
        let z = conflict_threshold(n);
        let ratio = n as f64 * tail(z) / tail(3.0);
        assert!((ratio - 1.0).abs() < 1e-9, "n = {n}: z {z}, ratio {ratio}");
    }
    // The values the doc comment quotes.
    for (n, z) in [(20, 3.8), (240, 4.4), (10_000, 5.1)] {
        assert!((conflict_threshold(n) - z).abs() < 0.05, "n = {n}");
    }
}

/// One element: the rule is |z| > 3 and material (shift > 3 joint sds), as before.
#[test]
fn one_element_keeps_the_three_sd_rule() {
    use mmi::report::modalities::worst_conflict;
    let one = |z: f64| {
        let (m, s, mw, sw) = shifts(&[z]);
        worst_conflict(&m, &s, &mw, &sw)
    };
    assert_eq!(one(3.01).map(|c| c.0), Some(0));
    assert_eq!(one(-3.01).map(|c| c.0), Some(0));
    assert_eq!(one(2.99), None);
    assert_eq!(one(-2.99), None);
    // Surprising (z = 10) but not material: a shift of 2.5 joint sds is not a conflict.
    let (sd, var) = (0.4, 0.01);
    let with = [1.0];
    let without = [1.0 - 2.5 * sd];
    let z = (with[0] - without[0]) / f64::sqrt(var);
    assert!(z > 10.0 - 1e-9);
    let sd_without = [(sd * sd + var).sqrt()];
    assert_eq!(worst_conflict(&with, &[sd], &without, &sd_without), None);
}

/// Under agreement the z of 240 elements are independent standard normals. The old rule (any |z| > 3)
/// flags 1 - (1 - 0.0027)^240 = 48% of such searches; the Bonferroni threshold keeps the rate at
/// 1 - (1 - 0.0027/240)^240 = 0.2696%. Over 20000 searches that is 53.9 alarms with a binomial sd of
/// 7.3: the count must lie within 4 sds (25 to 83). A genuine 6-sd shift of one element among the 240
/// is still found, and at that element, every time (another element reaches |z| = 6 with
/// probability 239 * 2e-9); one of 6 + N(0, 1) sd (a shift that is itself measured with noise) is
/// found with probability Phi(6 - z_thr(240)) = 0.946, within 4 binomial sds over 4000 searches.
#[test]
fn bonferroni_keeps_false_alarms_rare_over_a_240_cell_field() {
    use mmi::report::modalities::{conflict_threshold, worst_conflict};
    use rand::SeedableRng;
    let n = 240;
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(240);
    let reps = 20_000;
    let (mut alarms, mut old_rule) = (0usize, 0usize);
    for _ in 0..reps {
        let z = normals(&mut rng, n);
        let (m, s, mw, sw) = shifts(&z);
        alarms += worst_conflict(&m, &s, &mw, &sw).is_some() as usize;
        old_rule += z.iter().any(|z| z.abs() > 3.0) as usize;
    }
    let alpha = statrs::function::erf::erfc(3.0 / std::f64::consts::SQRT_2);
    let p = 1.0 - (1.0 - alpha / n as f64).powi(n as i32);
    let (expected, sd) = (reps as f64 * p, (reps as f64 * p * (1.0 - p)).sqrt());
    eprintln!("{alarms} alarms in {reps} searches (expected {expected:.1}); old rule {old_rule}");
    assert!(
        (alarms as f64 - expected).abs() < 4.0 * sd,
        "{alarms} false alarms in {reps} searches, expected {expected:.1} +- {sd:.1}"
    );
    // The same draws under the old rule: about half the searches raise an alarm.
    let old = 1.0 - (1.0 - alpha).powi(n as i32);
    let old_sd = (reps as f64 * old * (1.0 - old)).sqrt();
    assert!(
        (old_rule as f64 - reps as f64 * old).abs() < 4.0 * old_sd,
        "old rule: {old_rule} of {reps}"
    );
    // A genuine shift is still caught.
    for rep in 0..2000 {
        let mut z = normals(&mut rng, n);
        let at = rep % n;
        z[at] = if rep % 2 == 0 { 6.0 } else { -6.0 };
        let (m, s, mw, sw) = shifts(&z);
        assert_eq!(
            worst_conflict(&m, &s, &mw, &sw).map(|c| c.0),
            Some(at),
            "rep {rep}"
        );
    }
    let searches = 4000;
    let mut caught = 0;
    for rep in 0..searches {
        let mut z = normals(&mut rng, n);
        let at = rep % n;
        z[at] += 6.0;
        let (m, s, mw, sw) = shifts(&z);
        caught += (worst_conflict(&m, &s, &mw, &sw).map(|c| c.0) == Some(at)) as usize;
    }
    use statrs::distribution::{ContinuousCDF, Normal};
    let power = Normal::standard().cdf(6.0 - conflict_threshold(n));
    let sd = (searches as f64 * power * (1.0 - power)).sqrt();
    eprintln!("caught {caught} of {searches} (power {power:.3})");
    assert!(
        (caught as f64 - searches as f64 * power).abs() < 4.0 * sd,
        "caught {caught} of {searches}, expected {:.0} +- {sd:.1}",
        searches as f64 * power
    );
}

/// A linear-Gaussian field of 240 cells seen by two instruments, data simulated from the model itself
/// (the sources agree by construction): `coarse` (noise 2) and `fine` (noise 0.5). Leaving `fine` out
/// moves each cell's mean by a standard normal z (times sqrt(var without - var with), 1.8 joint sds,
/// so the "material" rule does not hold the search back); leaving `coarse` out moves them by less
/// than the material 3 joint sds.
const FIELD: &str = r#"
data { n: int > 0, y_coarse: vector[n], y_fine: vector[n] }
latent { x: vector[n] ~ normal(0, 1) }
modality coarse { y_coarse ~ normal(x, 2) }
modality fine { y_fine ~ normal(x, 0.5) }
"#;

fn field_data(rng: &mut rand::rngs::ChaCha8Rng, n: usize) -> String {
    let x = normals(rng, n);
    let e1 = normals(rng, n);
    let e2 = normals(rng, n);
    let coarse: Vec<f64> = x.iter().zip(&e1).map(|(x, e)| x + 2.0 * e).collect();
    let fine: Vec<f64> = x.iter().zip(&e2).map(|(x, e)| x + 0.5 * e).collect();
    serde_json::json!({"n": n, "y_coarse": coarse, "y_fine": fine}).to_string()
}

/// The Laplace report on 20 simulated data sets of the 240-cell field: the old 3-sd rule would have
/// cried wolf on about half of them (the largest |z| of 240 standard normals exceeds 3 with probability
/// 0.48; at least 4 of 20 is asserted, which fails with probability 0.001); the report's own rule
/// raises no more than one alarm (two or more has probability 0.0014). The model is Gaussian, so the
/// Laplace self-check passes on every data set (k-hat < 0.5, no warning).
#[test]
fn a_field_whose_sources_agree_raises_no_false_alarm() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(17);
    let (mut alarms, mut old_rule) = (0, 0);
    for _ in 0..20 {
        let data = field_data(&mut rng, 240);
        let model = common::compile(FIELD, &data, &mmi::passes::Settings::default());
        let r = modality_report(&model, 1);
        let khat = r.laplace_khat.expect("a joint fit");
        eprintln!("k-hat {khat:.3}");
        assert!(khat < 0.5, "k-hat {khat}");
        assert!(
            !r.warnings
                .iter()
                .any(|w| w.contains("Laplace approximation")),
            "{:?}",
            r.warnings
        );
        alarms += r.warnings.iter().filter(|w| w.contains(" pulls ")).count();
        // What the one-element rule would have said, leaving `fine` out.
        let (FitResult::Fit(j), FitResult::Fit(lo)) = (&r.joint, &r.leave_out[1]) else {
            panic!("no fit")
        };
        old_rule += (0..240).any(|i| {
            let z = (j.mean[i] - lo.mean[i]) / (lo.sd[i].powi(2) - j.sd[i].powi(2)).sqrt();
            z.abs() > 3.0 && ((j.mean[i] - lo.mean[i]) / j.sd[i]).abs() > 3.0
        }) as usize;
    }
    eprintln!("{alarms} alarms; the old rule: {old_rule} of 20");
    assert!(alarms <= 1, "{alarms} false alarms");
    assert!(old_rule >= 4, "the old rule flagged only {old_rule} of 20");
}

/// The Laplace approximation's log density is the normalised Gaussian with the exact posterior's mean
/// and covariance (the model is linear-Gaussian), checked against a dense nalgebra computation.
#[test]
fn the_laplace_log_density_is_the_gaussian_one() {
    use mmi::infer::laplace::laplace;
    use mmi::infer::lbfgs::{maximise, LbfgsSettings};
    let model = common::compile(MODEL, DATA, &mmi::passes::Settings::default());
    let mut ev = model.evaluator();
    let mode = maximise(&mut ev, &[0.0; 4], &LbfgsSettings::default())
        .unwrap()
        .x;
    let lap = laplace(&mut ev, &mode).unwrap();
    let (cov, mean) = exact_posterior(true, true);
    let prec = cov.clone().try_inverse().unwrap();
    for x in lap.draws(20, 3) {
        let d = DVector::from_vec(x.clone()) - &mean;
        let want = -0.5
            * (4.0 * (2.0 * std::f64::consts::PI).ln()
                + cov.determinant().ln()
                + (d.transpose() * &prec * &d)[(0, 0)]);
        let got = lap.log_density(&x);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}

/// The four-cell linear-Gaussian model passes the Laplace self-check and says so in one line.
#[test]
fn the_laplace_self_check_passes_on_a_linear_gaussian_model() {
    let model = common::compile(MODEL, DATA, &mmi::passes::Settings::default());
    let r = modality_report(&model, 1);
    let khat = r.laplace_khat.expect("a joint fit");
    eprintln!("k-hat {khat:.3}");
    assert!(khat < 0.5, "k-hat {khat}");
    let table = r.table();
    let lines: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("Laplace self-check: k-hat"))
        .collect();
    assert_eq!(lines.len(), 1, "{table}");
    assert!(lines[0].contains("the Gaussian describes it"), "{table}");
    assert!(!table.contains("Warning"), "{table}");
    assert_eq!(r.json()["laplace_khat"].as_f64(), Some(khat));
}

/// A scale multiplying a 240-cell field (the porosity field and Archie exponent of a field model in
/// miniature): y_i ~ normal(s f_i + b, 0.2), f ~ normal(0, 1), and a gauge reading s itself. The
/// field's prior fixes s only through the spread of all 240 cells together, so the joint mode in
/// (log s, f) misses the s^-240 volume factor of the marginal of s (the Laplace mean of s is 2.15
/// where the truth is 1.5, and the field's residuals at the mode are 0.06 of their noise), and the
/// Laplace Gaussian sits away from the posterior mass. The data are simulated from the model, so the two modalities
/// agree by construction.
const SCALED_FIELD: &str = r#"
data { n: int > 0, y: vector[n], g: real }
latent { s: real > 0 ~ lognormal(0, 1), b: real ~ normal(0, 5), f: vector[n] ~ normal(0, 1) }
modality field { y ~ normal(s * f + b, 0.2) }
modality gauge { g ~ normal(s, 0.1) }
"#;

fn scaled_field_data() -> String {
    use rand::SeedableRng;
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(5);
    let (n, s, b) = (240, 1.5, 0.3);
    let f = normals(&mut rng, n);
    let e = normals(&mut rng, n + 1);
    let y: Vec<f64> = f.iter().zip(&e).map(|(f, e)| s * f + b + 0.2 * e).collect();
    let g = s + 0.1 * e[n];
    serde_json::json!({"n": n, "y": y, "g": g}).to_string()
}

/// On the scale times a field the self-check fails (k-hat > 0.7) and says so, in the table line and
/// as the first warning. The Laplace fits would have named conflicts and residuals far beyond the
/// noise where the sources agree by construction: those are withheld (kept in the JSON only).
#[test]
fn the_laplace_self_check_fails_on_a_scale_times_a_field() {
    let model = common::compile(
        SCALED_FIELD,
        &scaled_field_data(),
        &mmi::passes::Settings::default(),
    );
    let r = modality_report(&model, 1);
    let table = r.table();
    eprintln!("{table}\nwithheld: {:#?}", r.withheld);
    let khat = r.laplace_khat.expect("a joint fit");
    assert!(khat > 0.7, "k-hat {khat}");
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    let w = &r.warnings[0];
    assert!(
        w.starts_with("the Laplace approximation does not describe this posterior (k-hat")
            && w.contains("may be far off")
            && w.contains("mmi sample --report")
            && w.contains("mmi report --draws DIR"),
        "{w}"
    );
    assert!(
        table.contains("the Gaussian does not describe it"),
        "{table}"
    );
    // What the fits would have said about sources that agree: false alarms, not shown.
    assert!(
        r.withheld.iter().any(|w| w.contains(" pulls ")),
        "{:?}",
        r.withheld
    );
    assert!(
        w.contains(&format!(
            "the {} conflict and residual warnings",
            r.withheld.len()
        )),
        "{w}"
    );
    assert!(!table.contains(" pulls "), "{table}");
    assert_eq!(
        r.json()["withheld_warnings"].as_array().map(|a| a.len()),
        Some(r.withheld.len())
    );
}
