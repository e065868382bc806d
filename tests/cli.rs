//! The `mmi` binary as a user meets it: exit codes 0 (ok), 1 (model errors), 2 (usage or I/O errors).

use std::process::Command;

fn mmi(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mmi"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the mmi binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_passes_on_the_readme_model() {
    let (code, stdout, stderr) = mmi(&["check", "models/gravity_ert.mmi"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("models/gravity_ert.mmi: ok"), "{stdout}");
}

#[test]
fn check_print_dumps_resolved_shapes() {
    let (code, stdout, _) = mmi(&["check", "--print", "models/gravity_ert.mmi"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("data G: matrix[m, nx*nz]"), "{stdout}");
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
