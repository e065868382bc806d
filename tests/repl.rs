//! `mmi repl` driven by scripts: a file of inputs piped to the binary gives a transcript (each input
//! echoed after the prompt, then what the session printed), pinned by snapshots. Between them the
//! scripts use every command, make mistakes the session survives, and build a model line by line
//! before sampling it. The files the sessions write are checked here too.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `mmi repl` from the repository root with `script` on standard input; returns the transcript
/// (standard output, then anything on standard error) and the exit code.
fn session(script: &str) -> (String, i32) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmi"))
        .arg("repl")
        .current_dir(root)
        // No history file is ever written from a piped session; make sure of it anyway.
        .env("MMI_HISTORY", "")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mmi binary runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(script.as_bytes())
        .expect("the script is written");
    let out = child.wait_with_output().expect("mmi finishes");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&err);
    }
    (text, out.status.code().unwrap_or(-1))
}

fn script(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/repl")
        .join(name);
    std::fs::read_to_string(&path).expect("the script exists")
}

#[test]
fn every_command() {
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/repl-tests/commands");
    let _ = std::fs::remove_dir_all(&out_dir);
    let (transcript, code) = session(&script("commands.txt"));
    assert_eq!(code, 0);
    insta::assert_snapshot!("commands", transcript);
    // `:quit` ended the session: the `:show` after it did not run.
    assert!(
        transcript.trim_end().ends_with("mmi> :quit"),
        "{transcript}"
    );
    // The files the session wrote.
    let saved = out_dir.join("saved");
    let model = std::fs::read_to_string(saved.join("two_sensors.mmi")).unwrap();
    assert!(
        mmi::check_source(&model).model.is_some(),
        "the saved model checks"
    );
    for chain in ["chain_1.csv", "chain_2.csv"] {
        let csv = std::fs::read_to_string(saved.join(chain)).unwrap();
        let rows = csv.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(rows, 1 + 300, "header and 300 draws in {chain}");
    }
    assert!(saved.join("summary.json").exists());
    assert!(saved.join("map.csv").exists());
    let simulated = std::fs::read_to_string(out_dir.join("simulated.data.json")).unwrap();
    assert!(simulated.contains("\"y_a\""), "{simulated}");
    for image in ["trace.png", "contributions.png", "field.png"] {
        let bytes = std::fs::read(out_dir.join(image)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{image} is a PNG");
    }
    for image in ["density.svg", "compare.svg"] {
        let text = std::fs::read_to_string(out_dir.join(image)).unwrap();
        assert!(
            text.contains("<svg") && text.trim_end().ends_with("</svg>"),
            "{image}"
        );
    }
}

#[test]
fn mistakes_do_not_end_the_session() {
    let (transcript, code) = session(&script("errors.txt"));
    assert_eq!(code, 0);
    insta::assert_snapshot!("errors", transcript);
    // After every mistake the session still samples and evaluates.
    assert!(
        transcript.contains("over 400 posterior draws"),
        "{transcript}"
    );
    assert!(!transcript.contains("panicked"), "{transcript}");
}

#[test]
fn a_model_built_line_by_line_then_sampled() {
    let (transcript, code) = session(&script("build.txt"));
    assert_eq!(code, 0);
    insta::assert_snapshot!("build", transcript);
    assert!(
        transcript.contains("over 600 posterior draws"),
        "{transcript}"
    );
}

#[test]
fn end_of_input_ends_the_session_and_unfinished_input_is_reported() {
    let (transcript, code) = session("law x = (1 +\n");
    assert_eq!(code, 0);
    assert!(
        transcript.contains("this bracket is never closed"),
        "{transcript}"
    );
}

/// `:evidence` and `:compare` print what `mmi evidence` and `mmi compare` print for the same models
/// and data, and respect the session's `:modality` switches.
#[test]
fn evidence_and_comparison_match_the_command_line() {
    let (transcript, code) = session(&script("compare.txt"));
    assert_eq!(code, 0);
    insta::assert_snapshot!("compare", transcript);
    let (cli_code, cli, stderr) = common::mmi(&[
        "compare",
        "models/absolute_config_R.mmi",
        "models/absolute_config_S.mmi",
        "--method",
        "laplace",
    ]);
    assert_eq!(cli_code, 0, "{stderr}");
    assert!(
        transcript.contains(&cli),
        "the REPL's first comparison differs from `mmi compare`:\n{cli}\n---\n{transcript}"
    );
    let (_, cli_evidence, _) = common::mmi(&[
        "evidence",
        "models/absolute_config_R.mmi",
        "--method",
        "laplace",
    ]);
    let value = cli_evidence.split(": ").nth(1).expect("a value").trim();
    assert!(
        transcript.contains(&format!("log evidence of absolute_config_R: {value}")),
        "{cli_evidence} vs\n{transcript}"
    );
    // With ROA off, the weak VCD spectrum alone leans to S (as `mmi compare` per modality shows).
    let off = transcript
        .split(":modality roa_spectrum off")
        .nth(1)
        .expect("the second half");
    let vcd_alone = cli
        .split("vcd_spectrum alone\n")
        .nth(1)
        .expect("a VCD-alone table")
        .split("\n\n")
        .next()
        .unwrap();
    assert!(off.contains(vcd_alone), "{vcd_alone}\n---\n{off}");
    assert!(!transcript.contains("panicked"), "{transcript}");
}
