//! The README's example model is real: it must check without errors.

#[test]
fn readme_example_checks() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```mmi\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert!(!blocks.is_empty(), "the README has an mmi example");
    for block in blocks {
        let out = mmi::check_source(block);
        let text = mmi::diagnostic::render_all(&out.diagnostics, "README.md", block, false);
        assert!(
            out.model.is_some(),
            "README example fails to check:\n{text}"
        );
        assert!(
            out.diagnostics.is_empty(),
            "README example has warnings:\n{text}"
        );
    }
}

#[test]
fn readme_commands_are_the_ci_commands() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    assert!(readme.contains("cargo test --release"));
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test --release"),
        "CI runs the README's test command"
    );
    assert!(readme.contains("cargo run --release -- sample --report models/experts.mmi"));
}

/// The README's main command: sampling the shipped experts model with its shipped data, then the
/// per-modality report from the draws.
#[test]
fn readme_main_command_samples_a_shipped_model_and_reports() {
    let dir = std::env::temp_dir().join(format!("mmi-readme-main-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmi"))
        .args([
            "sample",
            "--report",
            "models/experts.mmi",
            "--seed",
            "1",
            "--quiet",
        ])
        .arg("--output")
        .arg(&dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4000 draws"), "{stdout}");
    for part in [
        "per-modality report",
        "prt only",
        "tc only",
        "pyro only",
        "posterior predictive checks",
    ] {
        assert!(stdout.contains(part), "no `{part}` in:\n{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
