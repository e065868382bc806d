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

/// The log density and gradient of `path` at the fixed point under `settings`, if it compiles and
/// the density is finite there.
fn density_and_gradient(path: &std::path::Path, settings: &Settings) -> Option<(f64, Vec<f64>)> {
    let source = std::fs::read_to_string(path).unwrap();
    let model = mmi::check_source(&source).model?;
    let json = common::placeholder_data(&model);
    let (data, _) = mmi::data::load(&model, &json, "placeholder.json").ok()?;
    let compiled = mmi::compile(&model, &data, settings).ok()?;
    let mut ev = compiled.evaluator();
    let x: Vec<f64> = (0..compiled.dim())
        .map(|i| 0.3 * ((i as f64) * 0.7).sin())
        .collect();
    let mut grad = vec![0.0; compiled.dim()];
    let lp = ev.log_density_and_gradient(&x, &mut grad).ok()?;
    Some((lp, grad))
}

/// Whether every model and good input has the same log density and gradient with and without the
/// pass `off` switches off.
fn pass_keeps_densities_and_gradients(off: &Settings) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-11 * (1.0 + a.abs().max(b.abs()));
    let mut compared = 0;
    for dir in ["models", "tests/data/good"] {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut paths: Vec<_> = std::fs::read_dir(format!("{root}/{dir}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "mmi"))
            .collect();
        paths.sort();
        for path in paths {
            let (Some(on), Some(off)) = (
                density_and_gradient(&path, &Settings::default()),
                density_and_gradient(&path, off),
            ) else {
                continue;
            };
            let name = common::rel(&path);
            assert!(close(on.0, off.0), "{name}: {} vs {}", on.0, off.0);
            for (i, (a, b)) in on.1.iter().zip(&off.1).enumerate() {
                assert!(close(*a, *b), "{name}: gradient {i}: {a} vs {b}");
            }
            compared += 1;
        }
    }
    assert!(compared > 15, "only {compared} models compared");
}

/// Gather simplification (composing gathers, dropping identities, moving gathers through
/// elementwise nodes) changes no log density and no gradient, on every model and good input.
#[test]
fn gather_simplification_keeps_densities_and_gradients() {
    pass_keeps_densities_and_gradients(&Settings {
        simplify_gathers: false,
        ..Settings::default()
    });
}

/// Nor does affine fusion (sums of a product and broadcast vectors as one node).
#[test]
fn affine_fusion_keeps_densities_and_gradients() {
    pass_keeps_densities_and_gradients(&Settings {
        fuse_affine: false,
        ..Settings::default()
    });
}

/// The multiome model adds the per-cell log library size by transposing twice; after gather
/// simplification and affine fusion no gather is left, and the only matrices of cells by features are
/// the counts, the accessibilities and the two linear predictors, each one affine node: the product
/// with the offsets read where they are (no broadcast copy, no partial sum).
#[test]
fn multiome_graph_has_no_transposes_or_broadcast_copies() {
    let root = env!("CARGO_MANIFEST_DIR");
    let source = std::fs::read_to_string(format!("{root}/models/multiome.mmi")).unwrap();
    let model = mmi::check_source(&source).model.unwrap();
    let json = std::fs::read_to_string(format!("{root}/models/multiome.data.json")).unwrap();
    let (data, _) = mmi::data::load(&model, &json, "multiome.data.json").unwrap();
    let compiled = mmi::compile(&model, &data, &Settings::default()).unwrap();
    let g = &compiled.graph;
    use mmi::ir::graph::{Op, Spread};
    assert!(!g.nodes.iter().any(|n| matches!(n.op, Op::Gather(..))));
    let large: Vec<String> = g
        .nodes
        .iter()
        .filter(|n| n.shape.len() == 2 && n.shape[0] == 60 && n.shape[1] >= 40)
        .map(|n| match &n.op {
            Op::Data(name, _) => name.clone(),
            Op::Affine {
                product: Some(_),
                terms,
            } => {
                let spreads: Vec<Spread> = terms.iter().map(|t| t.0).collect();
                format!("affine {spreads:?}")
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        large,
        [
            "y_rna",
            "a_atac",
            "affine [PerRow, PerColumn]",
            "affine [PerColumn]"
        ]
    );
}
