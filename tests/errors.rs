//! Every bad input under tests/data/bad/<topic>/ is rejected with at least one error, and the rendered
//! messages (file, line, column, the source line, an underline, a hint) are pinned by snapshots.

mod common;

#[test]
fn bad_inputs_are_rejected_with_clear_messages() {
    let mut count = 0;
    insta::glob!("..", "tests/data/bad/**/*.mmi", |path| {
        count += 1;
        let (rendered, dump, errors) = common::check_file(path);
        assert!(
            errors > 0,
            "{} should be rejected, but checked:\n{}",
            common::rel(path),
            dump.unwrap_or_default()
        );
        assert!(
            dump.is_none(),
            "a model with errors yields no checked model"
        );
        let source = std::fs::read_to_string(path).unwrap();
        let expect = source.lines().next().unwrap_or_default().to_string();
        insta::assert_snapshot!(format!("{expect}\n\n{rendered}"));
    });
    assert!(count >= 40, "at least 40 bad inputs, found {count}");
}
