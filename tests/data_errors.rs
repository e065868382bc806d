//! The data loader against one model (tests/data/bad_data/model.mmi): every bad data file beside it
//! (one mistake each, described by its first line, `"_expect"`) is rejected and its rendered messages
//! are pinned by snapshots; a good file loads to exactly the expected values; undeclared variables
//! draw warnings.

use mmi::data::{self, DataSet, DataValue, SparseMatrix};
use mmi::diagnostic::Diagnostic;
use std::collections::HashMap;
use std::path::Path;

const MODEL: &str = "tests/data/bad_data/model.mmi";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn model() -> (String, mmi::CheckedModel) {
    let source = std::fs::read_to_string(root().join(MODEL)).expect("the model is readable");
    let out = mmi::check_source(&source);
    let model = out.model.expect("the test model checks");
    (source, model)
}

/// What `data::load` returns.
type Loaded = Result<(DataSet, Vec<Diagnostic>), Vec<Diagnostic>>;

/// Loads a data file (path relative to the repository root) for the test model; returns the model's
/// source too, for rendering.
fn load(rel: &str) -> (String, Loaded) {
    let (source, model) = model();
    let json = std::fs::read_to_string(root().join(rel)).expect("the data file is readable");
    (source, data::load(&model, &json, rel))
}

fn render(diags: &[Diagnostic], source: &str) -> String {
    mmi::diagnostic::render_all(diags, MODEL, source, false)
}

#[test]
fn bad_data_files_are_rejected_with_clear_messages() {
    let mut count = 0;
    insta::glob!("..", "tests/data/bad_data/*.json", |path| {
        count += 1;
        let rel = path
            .strip_prefix(root())
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let (source, result) = load(&rel);
        let diags = match result {
            Ok((_, warnings)) => panic!(
                "{rel} should be rejected, but loaded with:\n{}",
                render(&warnings, &source)
            ),
            Err(d) => d,
        };
        assert!(
            diags.iter().any(|d| d.is_error()),
            "{rel}: no error among {diags:?}"
        );
        let text = std::fs::read_to_string(path).unwrap();
        // The text after `_expect`, up to the closing quote (read from the text: not every file parses).
        let expect = text
            .split_once("_expect")
            .map(|(_, rest)| rest.trim_start_matches(['"', ':', ' ']))
            .and_then(|rest| rest.split_once('"'))
            .map(|(e, _)| e)
            .unwrap_or_else(|| panic!("{rel} has no _expect"));
        insta::assert_snapshot!(format!("expect: {expect}\n\n{}", render(&diags, &source)));
    });
    assert!(count >= 15, "at least 15 bad data files, found {count}");
}

fn dense(shape: &[usize], values: &[f64]) -> DataValue {
    DataValue {
        shape: shape.to_vec(),
        values: values.to_vec(),
        ints: None,
        sparse: None,
    }
}

fn int(shape: &[usize], ints: &[i64]) -> DataValue {
    DataValue {
        shape: shape.to_vec(),
        values: ints.iter().map(|&i| i as f64).collect(),
        ints: Some(ints.to_vec()),
        sparse: None,
    }
}

#[test]
fn a_good_file_loads_exactly() {
    let (source, result) = load("tests/data/bad_data/good/data.json");
    let (set, warnings) = match result {
        Ok(r) => r,
        Err(d) => panic!("the good file should load:\n{}", render(&d, &source)),
    };
    assert!(warnings.is_empty(), "{}", render(&warnings, &source));
    let (_, model) = model();
    let by_name: HashMap<&str, &DataValue> = model
        .data
        .iter()
        .map(|d| d.name.as_str())
        .zip(&set.values)
        .collect();
    assert_eq!(set.values.len(), model.data.len());
    for (name, v) in [("n", 3), ("m", 2), ("k", 4), ("a", 2), ("b", 3), ("c", 2)] {
        assert_eq!(*by_name[name], int(&[], &[v]), "{name}");
        assert_eq!(set.sizes[name], v);
    }
    assert_eq!(set.sizes.len(), 6);
    assert_eq!(*by_name["sigma"], dense(&[], &[0.5]));
    assert_eq!(*by_name["lo"], dense(&[], &[-1.0]));
    assert_eq!(*by_name["y"], dense(&[3], &[1.5, -2.0, 0.25]));
    // A matrix is row-major: the first row, then the second.
    assert_eq!(
        *by_name["G"],
        dense(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    assert_eq!(*by_name["idx"], int(&[4], &[1, 2, 2, 1]));
    // A 3-D array is row-major too: the last index varies fastest.
    let t: Vec<f64> = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2].to_vec();
    assert_eq!(*by_name["T"], dense(&[2, 3, 2], &t));
    assert_eq!(
        *by_name["F"],
        dense(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    // (1,3)=1.5, (2,1)=2 and 0.5 summed, (1,1)=-1: rows sorted by column.
    assert_eq!(
        *by_name["A"],
        DataValue {
            shape: vec![2, 3],
            values: vec![],
            ints: None,
            sparse: Some(SparseMatrix {
                rows: 2,
                cols: 3,
                row_start: vec![0, 2, 3],
                col_index: vec![0, 2, 0],
                values: vec![-1.0, 1.5, 2.5],
            }),
        }
    );
    assert_eq!(*by_name["pos"], dense(&[3], &[0.5, 1.0, 2.0]));
    assert_eq!(*by_name["above"], dense(&[3], &[0.0, 3.0, -0.5]));
    assert_eq!(*by_name["gaps"], dense(&[2], &[0.1, 0.2]));
    assert_eq!(*by_name["w"], dense(&[2], &[0.25, 0.75]));
}

#[test]
fn undeclared_variables_draw_one_warning_each() {
    let (source, result) = load("tests/data/bad_data/good/extra.json");
    let (set, warnings) = match result {
        Ok(r) => r,
        Err(d) => panic!("extra variables are not errors:\n{}", render(&d, &source)),
    };
    assert_eq!(set.values.len(), 18);
    assert!(warnings.iter().all(|d| !d.is_error()));
    // `Y`, `mu` (a latent) and `extra_thing`; `_note` is silently ignored.
    assert_eq!(warnings.len(), 3, "{}", render(&warnings, &source));
    insta::assert_snapshot!(render(&warnings, &source));
}

#[test]
fn sizes_evaluate_from_the_loaded_integers() {
    use mmi::check::Dim;
    let sizes: HashMap<String, i64> = [("n".to_string(), 5), ("m".to_string(), 3)].into();
    let (n, m) = (Dim::var("n"), Dim::var("m"));
    let nm1 = n.mul(&m).unwrap().sub(&Dim::constant(1)).unwrap();
    assert_eq!(data::eval_dim(&nm1, &sizes), Ok(14));
    assert_eq!(data::eval_dim(&Dim::constant(7), &sizes), Ok(7));
    let neg = m.sub(&n).unwrap();
    assert_eq!(
        data::eval_dim(&neg, &sizes),
        Err("the size `m - n` is -2 (with m = 3 and n = 5), but a size cannot be negative".into())
    );
    assert_eq!(
        data::eval_dim(&Dim::var("k"), &sizes),
        Err("the size `k` needs `k`, which has no value".into())
    );
    let big: HashMap<String, i64> = [("n".to_string(), i64::MAX)].into();
    assert!(data::eval_dim(&n.mul(&n).unwrap(), &big)
        .unwrap_err()
        .contains("overflows"));
}

#[test]
fn empty_and_odd_files_never_panic() {
    let (_, model) = model();
    for text in [
        "",
        "   ",
        "null",
        "3",
        "\"x\"",
        "{}",
        "{\"n\": {}}",
        "[[[[[[[[[[]]]]]]]]]]",
    ] {
        let r = data::load(&model, text, "odd.json");
        assert!(r.is_err(), "{text:?} should be rejected");
    }
    let deep = format!("{{\"y\": {}{}}}", "[".repeat(5000), "]".repeat(5000));
    assert!(data::load(&model, &deep, "deep.json").is_err());
}

#[test]
fn zero_sizes_compound_sizes_and_integral_reals() {
    let src = "data {\n  n: int\n  k: int\n  z: vector[n]\n  E: matrix[n, k + 2]\n  v: vector[k - 1]\n  c: int[n + 1]\n}\n";
    let model = mmi::check_source(src).model.expect("checks");
    // `z` is empty and may be left out; an empty matrix is `[]`; `3.0` is an integer.
    let json = r#"{"n": 0, "k": 2, "E": [], "v": ["-Inf"], "c": [3.0]}"#;
    let err = data::load(&model, json, "zero.json").unwrap_err();
    let text = mmi::diagnostic::render_all(&err, "zero.mmi", src, false);
    assert_eq!(err.len(), 1, "{text}");
    assert!(text.contains("`v[1]` is -Inf in `zero.json`, but NaN/Inf are not allowed in data"));

    let json = r#"{"n": 0, "k": 2, "E": [], "v": [1.5], "c": [3.0]}"#;
    let (set, warnings) = data::load(&model, json, "zero.json").expect("loads");
    assert!(warnings.is_empty());
    assert_eq!(set.values[2].shape, vec![0]);
    assert_eq!(set.values[3].shape, vec![0, 4]);
    assert_eq!(set.values[5].ints, Some(vec![3]));

    // A compound size that evaluates negative is reported at the declaration that uses it.
    let json = r#"{"n": 0, "k": 0, "E": [], "v": [], "c": [1]}"#;
    let err = data::load(&model, json, "neg.json").unwrap_err();
    let text = mmi::diagnostic::render_all(&err, "zero.mmi", src, false);
    assert_eq!(err.len(), 1, "{text}");
    assert!(
        text.contains("`v` is declared vector[k - 1], but its size `k - 1` is -1 with k = 0"),
        "{text}"
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            (-1e6f64..1e6).prop_map(|f| json!(f)),
            (0i64..6).prop_map(|i| json!(i)),
            prop::sample::select(vec!["NaN", "Inf", "-Infinity", "x", ""]).prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop::sample::select(vec!["rows", "cols", "i", "j", "x", "k"]),
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest! {
        /// Replacing any variable of the good file with any JSON value gives values or diagnostics,
        /// and every diagnostic renders.
        #[test]
        fn any_value_for_any_variable(key in 0usize..18, v in value()) {
            let (source, model) = model();
            let text = std::fs::read_to_string(root().join("tests/data/bad_data/good/data.json")).unwrap();
            let mut good: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
            good.insert(model.data[key].name.clone(), v);
            let json = Value::Object(good).to_string();
            let diags = match data::load(&model, &json, "mutant.json") {
                Ok((set, warnings)) => {
                    prop_assert_eq!(set.values.len(), model.data.len());
                    warnings
                }
                Err(d) => {
                    prop_assert!(d.iter().any(|d| d.is_error()));
                    d
                }
            };
            prop_assert!(diags.is_empty() || !render(&diags, &source).is_empty());
        }
    }
}
