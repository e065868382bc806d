//! Helpers shared by the test harnesses.

use std::path::Path;

pub mod chunked;
pub mod shipped;
pub mod simulated;

/// The path relative to the repository root, with forward slashes, for stable snapshot text.
#[allow(dead_code)]
pub fn rel(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Parses and checks a file; returns the rendered diagnostics (no colour) and the dump when it checks.
#[allow(dead_code)]
pub fn check_file(path: &Path) -> (String, Option<String>, usize) {
    let source = std::fs::read_to_string(path).expect("test input is readable");
    let out = mmi::check_source(&source);
    let rendered = mmi::diagnostic::render_all(&out.diagnostics, &rel(path), &source, false);
    let errors = out.diagnostics.iter().filter(|d| d.is_error()).count();
    let dump = out.model.as_ref().map(mmi::check::dump::dump);
    (rendered, dump, errors)
}

/// Checks, loads and compiles a model given as text with its data as JSON text.
#[allow(dead_code)]
pub fn compile(
    source: &str,
    json: &str,
    settings: &mmi::passes::Settings,
) -> mmi::eval::CompiledModel {
    let out = mmi::check_source(source);
    let model = out.model.unwrap_or_else(|| {
        panic!(
            "model does not check:\n{}",
            mmi::diagnostic::render_all(&out.diagnostics, "test.mmi", source, false)
        )
    });
    let (data, _) = mmi::data::load(&model, json, "test.data.json").unwrap_or_else(|d| {
        panic!(
            "data do not load:\n{}",
            mmi::diagnostic::render_all(&d, "test.mmi", source, false)
        )
    });
    mmi::compile(&model, &data, settings).unwrap_or_else(|d| {
        panic!(
            "model does not compile:\n{}",
            mmi::diagnostic::render_all(&d, "test.mmi", source, false)
        )
    })
}

/// The largest (relative, or absolute below 1) difference between the reverse-mode gradient and central finite differences
/// of the log density at `x`.
#[allow(dead_code)]
pub fn gradient_error(model: &mmi::eval::CompiledModel, x: &[f64]) -> f64 {
    let mut ev = model.evaluator();
    let mut grad = vec![0.0; x.len()];
    let f = ev
        .log_density_and_gradient(x, &mut grad)
        .expect("finite at the test point");
    let mut worst: f64 = 0.0;
    for i in 0..x.len() {
        let h = 1e-6 * (1.0 + x[i].abs());
        let mut xp = x.to_vec();
        let mut xm = x.to_vec();
        xp[i] += h;
        xm[i] -= h;
        let fd = (ev.log_density(&xp).unwrap() - ev.log_density(&xm).unwrap()) / (2.0 * h);
        // Relative where the derivative is large, absolute where it is below 1; plus the rounding
        // noise of a difference quotient of a large log density (|f| eps / h, with a wide margin).
        let noise = 1e-10 * f.abs() / h;
        let err = (fd - grad[i]).abs() / (1f64.max(fd.abs()).max(grad[i].abs()) + noise);
        worst = worst.max(err);
    }
    worst
}

/// Stand-in data for a model, so its graph can be built and pinned before it ships real data: every
/// integer size is 3, integer arrays hold 1 (a valid index and count), reals are between 0 and 1,
/// simplexes are uniform, sparse matrices are the identity.
#[allow(dead_code)]
pub fn placeholder_data(model: &mmi::CheckedModel) -> String {
    use mmi::check::{Elem, Form, Structure};
    let mut sizes = std::collections::HashMap::new();
    let mut fields = vec![];
    // A real scalar bounded by another data scalar sits a quarter above (or below) it.
    let mut scalar = std::collections::HashMap::new();
    for _ in 0..model.data.len() {
        for d in &model.data {
            let named = |id: Option<mmi::syntax::ast::ExprId>| match id
                .and_then(|i| model.find_expr(i))
                .map(|e| &e.kind)
            {
                Some(mmi::syntax::ast::ExprKind::Name(n)) => Some(n.clone()),
                _ => None,
            };
            let v = match (named(d.lower), named(d.upper)) {
                (Some(lo), _) => scalar.get(&lo).copied().unwrap_or(0.5) + 0.25,
                (_, Some(hi)) => scalar.get(&hi).copied().unwrap_or(0.5) - 0.25,
                _ => 0.5,
            };
            scalar.insert(d.name.clone(), v);
        }
    }
    for d in &model.data {
        if d.ty.elem == Elem::Int && d.ty.shape.is_empty() {
            sizes.insert(d.name.clone(), 3i64);
        }
    }
    for d in &model.data {
        let shape: Vec<usize> =
            d.ty.shape
                .iter()
                .map(|dim| mmi::data::eval_dim(dim, &sizes).unwrap_or(3).max(0) as usize)
                .collect();
        let n: usize = shape.iter().product();
        let value = |k: usize| -> String {
            match (d.ty.elem, d.structure) {
                (Elem::Int, _) if d.ty.shape.is_empty() => "3".to_string(),
                (Elem::Int, _) => "1".to_string(),
                (_, Structure::Simplex) => format!("{}", 1.0 / n as f64),
                _ => format!("{}", 0.1 + 0.8 * (k as f64 + 1.0) / (n as f64 + 1.0)),
            }
        };
        let json = if d.ty.form == Form::Sparse {
            let k = shape[0].min(shape[1]);
            let idx: Vec<String> = (1..=k).map(|i| i.to_string()).collect();
            format!(
                r#"{{"rows": {}, "cols": {}, "i": [{}], "j": [{}], "x": [{}]}}"#,
                shape[0],
                shape[1],
                idx.join(", "),
                idx.join(", "),
                vec!["1.0"; k].join(", ")
            )
        } else if shape.is_empty() && d.ty.elem == Elem::Real {
            format!("{}", scalar[&d.name])
        } else if shape.is_empty() {
            value(0)
        } else {
            fn nest(shape: &[usize], at: &mut usize, value: &dyn Fn(usize) -> String) -> String {
                if shape.is_empty() {
                    *at += 1;
                    return value(*at - 1);
                }
                let items: Vec<String> = (0..shape[0])
                    .map(|_| nest(&shape[1..], at, value))
                    .collect();
                format!("[{}]", items.join(", "))
            }
            nest(&shape, &mut 0, &value)
        };
        fields.push(format!("\"{}\": {json}", d.name));
    }
    format!("{{{}}}", fields.join(", "))
}

/// Runs the `mmi` binary in the repository root (no colour); returns exit code, stdout, stderr.
#[allow(dead_code)]
pub fn mmi(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmi"))
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
