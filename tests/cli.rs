//! The `mmi` binary as a user meets it: exit codes 0 (ok), 1 (model errors), 2 (usage or I/O errors).

mod common;

use common::mmi;

#[test]
fn check_passes_on_the_readme_model() {
    let (code, stdout, stderr) = mmi(&["check", "models/gravity_ert.mmi"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("models/gravity_ert.mmi: ok"), "{stdout}");
    // Its reported-only mean porosity is a derived quantity: counted apart, and no warning.
    assert!(
        stdout.contains("6 laws, 1 derived, 2 modalities)\n"),
        "{stdout}"
    );
}

#[test]
fn check_print_dumps_resolved_shapes() {
    let (code, stdout, _) = mmi(&["check", "--print", "models/gravity_ert.mmi"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("let K: real[m, nx, nz] (data)"), "{stdout}");
    assert!(stdout.contains("modality gravity {"), "{stdout}");
}

#[test]
fn model_errors_exit_1_with_a_located_message() {
    let dir = std::env::temp_dir().join(format!("mmi-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("typo.mmi");
    std::fs::write(&path, "data { y: vector[3] }\nlatent { mu: real ~ normal(0, 1) }\nmodality m { y ~ normal(muu, 1) }\n").unwrap();
    let (code, _, stderr) = mmi(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown name `muu`"), "{stderr}");
    assert!(
        stderr.contains("typo.mmi:3:25"),
        "line and column: {stderr}"
    );
    assert!(stderr.contains("did you mean `mu`?"), "{stderr}");
}

#[test]
fn deny_warnings_turns_warnings_into_failure() {
    let dir = std::env::temp_dir().join(format!("mmi-cli-w-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flat.mmi");
    std::fs::write(
        &path,
        "data { y: vector[3] }\nlatent { mu: real }\nmodality m { y ~ normal(mu, 1) }\n",
    )
    .unwrap();
    let (code, _, stderr) = mmi(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("latent `mu` has no prior"), "{stderr}");
    let (code, _, _) = mmi(&["check", "--deny-warnings", path.to_str().unwrap()]);
    assert_eq!(code, 1);
}

#[test]
fn io_and_usage_errors_exit_2() {
    let (code, _, stderr) = mmi(&["check", "no/such/model.mmi"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read no/such/model.mmi"), "{stderr}");
    let (code, _, _) = mmi(&["check"]);
    assert_eq!(code, 2);
    let (code, _, _) = mmi(&["frobnicate"]);
    assert_eq!(code, 2);
    let (code, _, stderr) = mmi(&["check", "Cargo.lock"]);
    assert_eq!(code, 1, "a non-model text file is a model error: {stderr}");
}

#[test]
fn binary_input_exits_2() {
    let dir = std::env::temp_dir().join(format!("mmi-cli-b-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("binary.mmi");
    std::fs::write(&path, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let (code, _, stderr) = mmi(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not UTF-8"), "{stderr}");
}

fn temp_model(name: &str, source: &str, data: Option<&str>) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mmi-cli-g-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.mmi"));
    std::fs::write(&path, source).unwrap();
    if let Some(d) = data {
        std::fs::write(dir.join(format!("{name}.data.json")), d).unwrap();
    }
    path
}

const SMALL: &str = "data { n: int > 0, y: vector[n] }\nlatent { mu: real ~ normal(0, 10) }\nlaw twice = 2 * mu\nmodality m { y ~ normal(mu, 1) }\n";

#[test]
fn graph_prints_the_optimised_graph_with_default_data() {
    let path = temp_model("small", SMALL, Some(r#"{"n": 2, "y": [1.0, 2.0]}"#));
    let (code, stdout, stderr) = mmi(&["graph", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("= data y : [2] data"), "{stdout}");
    assert!(
        stdout.contains("lpdf.normal(") && stdout.contains("unnormalised"),
        "{stdout}"
    );
    assert!(stdout.contains("likelihood m (weight 1.0)"), "{stdout}");
    assert!(stdout.contains("law twice = %"), "{stdout}");
    assert!(
        !stdout.contains("1.0, 2.0"),
        "data values are not printed: {stdout}"
    );
    let (code, lowered, _) = mmi(&["graph", "--stage", "lowered", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        lowered.contains("data n : [] data") && !stdout.contains("data n :"),
        "the size is dead after optimising"
    );
    assert!(!lowered.contains("unnormalised"));
}

#[test]
fn graph_reports_missing_and_bad_data() {
    let path = temp_model("nodata", SMALL, None);
    let (code, _, stderr) = mmi(&["graph", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--data"), "{stderr}");
    let path = temp_model("baddata", SMALL, Some(r#"{"n": 3, "y": [1.0, 2.0]}"#));
    let (code, _, stderr) = mmi(&["graph", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("`y`"), "{stderr}");
    let (code, _, _) = mmi(&["graph", "--stage", "sideways", path.to_str().unwrap()]);
    assert_eq!(code, 2);
}

#[test]
fn graph_reports_an_index_out_of_range_at_its_source() {
    let src = "data { n: int > 0, y: vector[n], idx: int[2] }\nlatent { mu: vector[n] ~ normal(0, 1) }\nmodality m { y[idx] ~ normal(mu[idx], 1) }\n";
    let path = temp_model(
        "index",
        src,
        Some(r#"{"n": 2, "y": [1.0, 2.0], "idx": [1, 5]}"#),
    );
    let (code, _, stderr) = mmi(&["graph", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("index 5 is out of range for `y`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("element 2 of the index array `idx` is 5"),
        "{stderr}"
    );
}

const SCHOOLS: &str = "data { J: int > 0, y: vector[J], sigma: vector[J] > 0 }\n\
    latent { mu: real ~ normal(0, 5)\n tau: real > 0 ~ cauchy(0, 5)\n theta_trans: vector[J] ~ normal(0, 1) }\n\
    law theta = mu + tau * theta_trans\n\
    modality schools { y ~ normal(theta, sigma) }\n";
const SCHOOLS_DATA: &str =
    r#"{"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}"#;

#[test]
fn sample_prints_a_summary_and_writes_files() {
    let path = temp_model("schools", SCHOOLS, Some(SCHOOLS_DATA));
    let out = path.parent().unwrap().join("run");
    let (code, stdout, stderr) = mmi(&[
        "sample",
        path.to_str().unwrap(),
        "--seed",
        "7",
        "--warmup",
        "300",
        "--draws",
        "300",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    for col in [
        "mean", "sd", "mcse", "5%", "50%", "95%", "ess_bulk", "ess_tail", "r_hat",
    ] {
        assert!(stdout.contains(col), "{stdout}");
    }
    assert!(
        stdout.contains("theta[8]") && stdout.contains("lp__"),
        "{stdout}"
    );
    assert!(stderr.contains("seed 7"), "{stderr}");
    for k in 1..=4 {
        let csv = std::fs::read_to_string(out.join(format!("chain_{k}.csv"))).unwrap();
        assert!(csv.contains("lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,mu,tau,theta_trans.1"));
        assert_eq!(
            csv.lines().filter(|l| !l.starts_with('#')).count(),
            301,
            "header and 300 draws"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["draws"], 1200);
    assert!(summary["quantities"]["tau"]["mean"].as_f64().unwrap() > 0.0);
    assert!(
        !out.join("chain_1.csv.tmp").exists(),
        "temporary files are renamed away"
    );
}

#[test]
fn sample_rejects_bad_settings() {
    let path = temp_model("schools2", SCHOOLS, Some(SCHOOLS_DATA));
    for args in [
        ["--adapt-delta", "1.5"],
        ["--chains", "0"],
        ["--max-depth", "0"],
        ["--draws", "-3"],
    ] {
        let (code, _, stderr) = mmi(&["sample", path.to_str().unwrap(), args[0], args[1]]);
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
}

#[test]
fn map_prints_the_mode() {
    let src = "data { n: int > 0, y: vector[n] }\nlatent { mu: real ~ normal(0, 10) }\nmodality m { y ~ normal(mu, 1) }\n";
    let path = temp_model("mapmodel", src, Some(r#"{"n": 3, "y": [1.0, 2.0, 4.5]}"#));
    let (code, stdout, stderr) = mmi(&["map", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    // Posterior mode of a normal mean: sum(y) / (n + 1/100).
    let want = 7.5 / 3.01;
    let line = stdout.lines().find(|l| l.starts_with("mu ")).unwrap();
    let got: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    // The optimiser's settings: a loose objective tolerance stops sooner, a history of 0 is steepest
    // descent (which still finds this one-dimensional mode); a bad tolerance is a usage error.
    let iterations = |args: &[&str]| -> usize {
        let mut all = vec!["map", path.to_str().unwrap()];
        all.extend(args);
        let (code, stdout, stderr) = mmi(&all);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        let head = stdout.lines().next().unwrap();
        let n = head.split('(').nth(1).unwrap().split_whitespace().next();
        n.unwrap().parse().unwrap()
    };
    let strict = iterations(&["--tol-param", "0", "--tol-grad", "0"]);
    assert!(iterations(&["--tol-rel-obj", "1e-2"]) <= strict);
    iterations(&["--history", "0"]);
    for bad in [
        ["--tol-rel-obj", "-1"],
        ["--tol-grad", "nan"],
        ["--history", "x"],
    ] {
        let (code, _, stderr) = mmi(&["map", path.to_str().unwrap(), bad[0], bad[1]]);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(stderr.contains(bad[1]), "{stderr}");
    }
    let (code, stdout, _) = mmi(&["map", path.to_str().unwrap(), "--laplace", "500"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("Laplace approximation (500 draws)"),
        "{stdout}"
    );
}

#[test]
fn report_shows_what_each_modality_contributes() {
    let src =
        "data { n: int > 0, a: vector[n], b: vector[n] }\nlatent { t: real ~ normal(0, 10) }\n\
               modality first { a ~ normal(t, 1) }\nmodality second { b ~ normal(t, 2) }\n";
    let path = temp_model(
        "report",
        src,
        Some(r#"{"n": 3, "a": [1.0, 1.5, 0.5], "b": [2.0, 0.0, 1.0]}"#),
    );
    let json = path.parent().unwrap().join("report.json");
    let (code, stdout, stderr) = mmi(&[
        "report",
        path.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("first only") && stdout.contains("second only") && stdout.contains("joint"),
        "{stdout}"
    );
    // Exact: prior sd 10; first alone 1/sqrt(3 + 0.01); joint 1/sqrt(3 + 3/4 + 0.01).
    let joint = 1.0 / (3.0f64 + 0.75 + 0.01).sqrt();
    assert!(stdout.contains(&format!("{joint:.4}")), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(v["modalities"][1], "second");
    // The model is Gaussian: the Laplace self-check passes, on one line, and its k-hat is in the JSON.
    assert!(
        stdout.contains("Laplace self-check: k-hat")
            && stdout.contains("the Gaussian describes it"),
        "{stdout}"
    );
    assert!(v["laplace_khat"].as_f64().unwrap() < 0.5, "{v}");
    assert_eq!(v["withheld_warnings"], serde_json::json!([]));
}

#[test]
fn combine_can_be_overridden_on_the_command_line() {
    let src = "data { n: int > 0, a: vector[n], c: vector[n] }\nlatent { t: real ~ normal(20, 10) }\n\
               modality honest { a ~ normal(t, 0.5) }\nmodality biased { c ~ normal(t, 0.05) }\ncombine product\n";
    let path = temp_model(
        "override",
        src,
        Some(r#"{"n": 3, "a": [20.1, 19.8, 20.2], "c": [23.0, 23.01, 22.99]}"#),
    );
    let mode = |extra: &[&str]| -> f64 {
        let mut args = vec!["map", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = mmi(&args);
        assert_eq!(code, 0, "{stderr}");
        stdout
            .lines()
            .find(|l| l.starts_with("t "))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let plain = mode(&[]);
    let tempered = mode(&["--combine", "tempered { biased: 0.001 }"]);
    assert!(
        plain > 22.5 && tempered < 20.5,
        "plain {plain}, tempered {tempered}"
    );
    let (code, _, stderr) = mmi(&[
        "map",
        path.to_str().unwrap(),
        "--combine",
        "tempred { biased: 1 }",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("did you mean `tempered`?"), "{stderr}");
}

#[test]
fn sample_can_print_the_modality_report() {
    let path = temp_model("schools3", SCHOOLS, Some(SCHOOLS_DATA));
    let (code, stdout, stderr) = mmi(&[
        "sample",
        path.to_str().unwrap(),
        "--seed",
        "2",
        "--warmup",
        "200",
        "--draws",
        "200",
        "--report",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("per-modality report") && stdout.contains("schools only"),
        "{stdout}"
    );
}

#[test]
fn report_reads_draws_written_by_sample() {
    let src =
        "data { n: int > 0, a: vector[n], b: vector[n] }\nlatent { t: real ~ normal(0, 10) }\n\
               modality first { a ~ normal(t, 1) }\nmodality second { b ~ normal(t, 2) }\n";
    let path = temp_model(
        "report_draws",
        src,
        Some(r#"{"n": 3, "a": [1.0, 1.5, 0.5], "b": [2.0, 0.0, 1.0]}"#),
    );
    let out = path.parent().unwrap().join("draws");
    let (code, _, stderr) = mmi(&[
        "sample",
        path.to_str().unwrap(),
        "--seed",
        "4",
        "--quiet",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let json = path.parent().unwrap().join("draws_report.json");
    let (code, stdout, stderr) = mmi(&[
        "report",
        path.to_str().unwrap(),
        "--draws",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("from 4000 posterior draws") && stdout.contains("posterior predictive"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(v["source"], "draws");
    // Exact joint sd 1/sqrt(3 + 3/4 + 0.01) = 0.516; 4000 draws estimate it to about 2%.
    let sd = v["joint"]["sd"][0].as_f64().unwrap();
    assert!((sd / 0.5157 - 1.0).abs() < 0.06, "{sd}");
    // A directory without chains, and --refit without --draws, are clear errors.
    let empty = path.parent().unwrap().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, stderr) = mmi(&[
        "report",
        path.to_str().unwrap(),
        "--draws",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("holds no chain_*.csv files"), "{stderr}");
    let (code, _, _) = mmi(&["report", path.to_str().unwrap(), "--refit"]);
    assert_eq!(code, 2);
}

/// `mmi compare` on two normal-normal models that differ in their prior mean: the Laplace evidences
/// are exact here, so the model probabilities must equal the closed form, jointly and per modality.
#[test]
fn compare_gives_the_exact_model_probabilities_of_conjugate_models() {
    use nalgebra::{DMatrix, DVector};
    let a = "data { n: int > 0, y: vector[n], z: vector[n] }\nlatent { mu: real ~ normal(0, 1) }\n\
             modality first { y ~ normal(mu, 1) }\nmodality second { z ~ normal(mu, 2) }\n";
    let b = a.replace("normal(0, 1)", "normal(3, 1)");
    let data = r#"{"n": 4, "y": [0.5, 1.2, 0.1, 0.9], "z": [2.0, 3.5, 1.0, 2.5]}"#;
    let pa = temp_model("cmp_a", a, None);
    let pb = temp_model("cmp_b", &b, None);
    let dir = pa.parent().unwrap();
    std::fs::write(dir.join("cmp.json"), data).unwrap();
    let out = dir.join("compare.json");
    let (code, stdout, stderr) = mmi(&[
        "compare",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--data",
        dir.join("cmp.json").to_str().unwrap(),
        "--method",
        "laplace",
        "--json",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("first alone") && stdout.contains("second alone"),
        "{stdout}"
    );
    // log N(obs; m0, diag(noise^2) + 1 1').
    let log_z = |obs: &[f64], noise: &[f64], m0: f64| {
        let k = obs.len();
        let cov = DMatrix::from_fn(k, k, |i, j| if i == j { noise[i] * noise[i] } else { 0.0 })
            + DMatrix::from_element(k, k, 1.0);
        let r = DVector::from_iterator(k, obs.iter().map(|v| v - m0));
        let chol = cov.cholesky().unwrap();
        let log_det: f64 = 2.0 * chol.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
        -0.5 * (k as f64 * (2.0 * std::f64::consts::PI).ln() + log_det + r.dot(&chol.solve(&r)))
    };
    let (y, z) = ([0.5, 1.2, 0.1, 0.9], [2.0, 3.5, 1.0, 2.5]);
    let both: Vec<f64> = y.iter().chain(z.iter()).copied().collect();
    let p_a = |obs: &[f64], noise: &[f64]| {
        1.0 / (1.0 + (log_z(obs, noise, 3.0) - log_z(obs, noise, 0.0)).exp())
    };
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    let got = v["models"][0]["probability"].as_f64().unwrap();
    let want = p_a(&both, &[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]);
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    let lz = v["models"][0]["evidence"]["log_evidence"].as_f64().unwrap();
    assert!((lz - log_z(&both, &[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0], 0.0)).abs() < 1e-6);
    let per = &v["per_modality_probabilities"];
    let first = per[0]["probabilities"][0].as_f64().unwrap();
    let second = per[1]["probabilities"][0].as_f64().unwrap();
    assert!((first - p_a(&y, &[1.0; 4])).abs() < 1e-6, "{first}");
    assert!((second - p_a(&z, &[2.0; 4])).abs() < 1e-6, "{second}");
    // The first modality favours a, the second b: the per-modality view shows the disagreement.
    assert!(first > 0.5 && second < 0.5);
    // Models with flat priors have no evidence.
    let flat = temp_model("cmp_flat", &a.replace(" ~ normal(0, 1)", ""), None);
    let (code, _, stderr) = mmi(&[
        "compare",
        flat.to_str().unwrap(),
        pa.to_str().unwrap(),
        "--data",
        dir.join("cmp.json").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the prior of `mu` is improper"), "{stderr}");
    // Different default data files are refused.
    std::fs::write(pa.with_extension("data.json"), data).unwrap();
    std::fs::write(pb.with_extension("data.json"), data.replace("0.5", "0.6")).unwrap();
    let (code, _, stderr) = mmi(&["compare", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("comparable only on the same data"),
        "{stderr}"
    );
}
