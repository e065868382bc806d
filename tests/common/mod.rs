//! Helpers shared by the test harnesses.

use std::path::Path;

/// The path relative to the repository root, with forward slashes, for stable snapshot text.
pub fn rel(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Parses and checks a file; returns the rendered diagnostics (no colour) and the dump when it checks.
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
    ev.log_density_and_gradient(x, &mut grad)
        .expect("finite at the test point");
    let mut worst: f64 = 0.0;
    for i in 0..x.len() {
        let h = 1e-6 * (1.0 + x[i].abs());
        let mut xp = x.to_vec();
        let mut xm = x.to_vec();
        xp[i] += h;
        xm[i] -= h;
        let fd = (ev.log_density(&xp).unwrap() - ev.log_density(&xm).unwrap()) / (2.0 * h);
        // Relative where the derivative is large, absolute where it is below 1.
        let err = (fd - grad[i]).abs() / 1f64.max(fd.abs()).max(grad[i].abs());
        worst = worst.max(err);
    }
    worst
}
