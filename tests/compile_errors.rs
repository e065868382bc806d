//! Mistakes only the data reveal, found when a model is compiled with its data: every model under
//! tests/data/bad_compile/ (first line `# expect: ...`) checks, its data file beside it
//! (`NAME.data.json`) loads, and compiling fails; the rendered messages are pinned by snapshots.

mod common;

#[test]
fn data_dependent_mistakes_are_reported_at_their_source() {
    let mut count = 0;
    insta::glob!("..", "tests/data/bad_compile/*.mmi", |path| {
        count += 1;
        let rel = common::rel(path);
        let source = std::fs::read_to_string(path).unwrap();
        let out = mmi::check_source(&source);
        let model = out.model.unwrap_or_else(|| panic!("{rel} should check"));
        let json = std::fs::read_to_string(path.with_extension("data.json")).unwrap();
        let render = |d: &[mmi::Diagnostic]| mmi::diagnostic::render_all(d, &rel, &source, false);
        let (data, _) = mmi::data::load(&model, &json, "data.json")
            .unwrap_or_else(|d| panic!("{rel}: the data should load:\n{}", render(&d)));
        let diags = match mmi::compile(&model, &data, &mmi::passes::Settings::default()) {
            Ok(_) => panic!("{rel} should not compile"),
            Err(d) => d,
        };
        assert!(diags.iter().any(|d| d.is_error()));
        let expect = source.lines().next().unwrap_or_default().to_string();
        insta::assert_snapshot!(format!("{expect}\n\n{}", render(&diags)));
    });
    assert!(count >= 8, "at least 8 inputs, found {count}");
}
