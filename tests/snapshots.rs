//! Every shipped model and every good test input checks without errors; the checked model's dump
//! (declarations with resolved shapes, laws, `~` statements with their shapes) and any warnings are
//! pinned by snapshots.

mod common;

/// The dump and warnings of a model that must check cleanly.
fn checked_text(path: &std::path::Path) -> String {
    let (rendered, dump, errors) = common::check_file(path);
    assert_eq!(
        errors,
        0,
        "{} should check cleanly:\n{rendered}",
        common::rel(path)
    );
    let dump = dump.expect("no errors means a model");
    format!("{dump}\n--- warnings ---\n{rendered}")
}

#[test]
fn models_check() {
    insta::glob!("..", "models/*.mmi", |path| {
        insta::assert_snapshot!(checked_text(path));
    });
}

#[test]
fn good_inputs_check() {
    insta::glob!("..", "tests/data/good/*.mmi", |path| {
        insta::assert_snapshot!(checked_text(path));
    });
}
