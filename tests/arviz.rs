//! The CSV files load in ArviZ (`from_cmdstan`) with the right shapes, and ArviZ's bulk ESS agrees with
//! ours. Needs a Python with ArviZ: set MMI_PYTHON to it (the anchors' virtual environment has one),
//! or have `import arviz` work in `python3`; otherwise the test says it was skipped.

use std::process::Command;

fn python_with_arviz() -> Option<String> {
    let candidates = [
        std::env::var("MMI_PYTHON").ok(),
        std::env::var("HOME")
            .ok()
            .map(|h| format!("{h}/.cache/mmi-anchors/bin/python")),
        Some("python3".to_string()),
    ];
    candidates.into_iter().flatten().find(|py| {
        Command::new(py)
            .args(["-c", "import arviz"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn cmdstan_csv_loads_in_arviz() {
    let Some(py) = python_with_arviz() else {
        eprintln!("skipped: no Python with ArviZ (set MMI_PYTHON to one)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("mmi-arviz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("schools.mmi");
    std::fs::write(
        &model,
        "data { J: int > 0, y: vector[J], sigma: vector[J] > 0 }\n\
         latent { mu: real ~ normal(0, 5)\n tau: real > 0 ~ cauchy(0, 5)\n theta_trans: vector[J] ~ normal(0, 1) }\n\
         law theta = mu + tau * theta_trans\n\
         modality schools { y ~ normal(theta, sigma) }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("schools.data.json"),
        r#"{"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}"#,
    )
    .unwrap();
    let out = dir.join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_mmi"))
        .args([
            "sample",
            model.to_str().unwrap(),
            "--seed",
            "3",
            "--quiet",
            "--output",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let script = format!(
        r#"
import arviz as az, glob, json
files = sorted(glob.glob("{out}/chain_*.csv"))
d = az.from_cmdstan(files)
assert d.posterior.theta.shape == (4, 1000, 8), d.posterior.theta.shape
assert d.posterior.theta_trans.shape == (4, 1000, 8)
assert "diverging" in d.sample_stats and "lp" in d.sample_stats
ours = json.load(open("{out}/summary.json"))["quantities"]
ess = az.ess(d, var_names=["mu", "tau"], method="bulk")
for name in ["mu", "tau"]:
    a, b = float(ess[name]), ours[name]["ess_bulk"]
    assert abs(a - b) < 1e-6 * b, (name, a, b)
print("ok", az.__version__)
"#,
        out = out.display()
    );
    let res = Command::new(&py).args(["-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success() && stdout.starts_with("ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    eprintln!("ArviZ {}", stdout.trim());
}
