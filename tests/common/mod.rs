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
