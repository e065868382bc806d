//! The parser and checker never panic: mutated versions of the shipped models (byte flips, truncations,
//! spliced lines, deep nesting) give either a checked model or errors, and every error renders.

use proptest::prelude::*;
use std::path::Path;

fn corpus() -> Vec<String> {
    let mut out = vec![];
    for dir in ["models", "tests/data/good"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "mmi") {
                out.push(std::fs::read_to_string(p).unwrap());
            }
        }
    }
    assert!(!out.is_empty());
    out
}

/// Checks the text and renders every diagnostic; returns whether it checked.
fn survive(source: &str) -> bool {
    let out = mmi::check_source(source);
    for d in &out.diagnostics {
        let text = d.render("mutant.mmi", source, false);
        assert!(!text.is_empty());
    }
    assert_eq!(
        out.model.is_some(),
        !out.diagnostics.iter().any(|d| d.is_error())
    );
    out.model.is_some()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
    Splice { from: usize, to: usize },
    Delete { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to the grammar, plus arbitrary ones.
    let interesting = prop::sample::select(b"{}[]()=~:;,.+-*/^'<>#\n 0123456789eE_abcxyz".to_vec());
    prop_oneof![
        (any::<usize>(), prop_oneof![interesting, any::<u8>()])
            .prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<usize>()).prop_map(|(from, to)| Mutation::Splice { from, to }),
        (any::<usize>(), 1usize..20).prop_map(|(at, len)| Mutation::Delete { at, len }),
    ]
}

fn apply(source: &str, muts: &[Mutation]) -> String {
    let mut bytes = source.as_bytes().to_vec();
    for m in muts {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match *m {
            Mutation::Flip { at, byte } => bytes[at % n] = byte,
            Mutation::Truncate { at } => bytes.truncate(at % n),
            Mutation::Delete { at, len } => {
                let at = at % n;
                bytes.drain(at..(at + len).min(n));
            }
            Mutation::Splice { from, to } => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let lines: Vec<&str> = text.lines().collect();
                let mut out: Vec<&str> = lines.clone();
                out.insert(to % (lines.len() + 1), lines[from % lines.len()]);
                bytes = out.join("\n").into_bytes();
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_models_never_panic(which in any::<usize>(), muts in prop::collection::vec(mutation(), 1..6)) {
        let corpus = corpus();
        let source = apply(&corpus[which % corpus.len()], &muts);
        survive(&source);
    }
}

#[test]
fn shipped_models_survive_unmutated() {
    for source in corpus() {
        assert!(survive(&source));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep_parens = format!("law a = {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(!survive(&deep_parens));
    let long_chain = format!("data {{ x: real }} law a = x{}", " + x".repeat(100_000));
    assert!(!survive(&long_chain));
    let powers = format!("data {{ x: real }} law a = x{}", "^x".repeat(100_000));
    assert!(!survive(&powers));
    let negs = format!("data {{ x: real }} law a = {}x", "-".repeat(100_000));
    assert!(!survive(&negs));
}

#[test]
fn odd_text_is_an_error_not_a_crash() {
    for text in [
        "",
        "\u{feff}",
        "é",
        "data {",
        "}",
        "law",
        "latent { x: real ~",
        "\0\0",
        "law a = 99999999999999999999999",
        "law a = 1e999",
        "modality m weight { }",
        "combine",
        "ode f(t;;) {}",
        "x ~ normal(",
        "[",
        "data { n: int } latent { v: vector[n - n - 5] }",
    ] {
        survive(text);
    }
}
