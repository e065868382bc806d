//! Edits of a model's source text that keep every other span where it was: shared by the command
//! line (`--combine`) and the REPL (`:combine`).

use super::ast::Item;

/// The model's source with its `combine` declaration replaced by `combine RULE` (blanked in place, so
/// every other span stays where it was; the new declaration is appended, and errors in it are shown
/// there).
pub fn override_combine(source: &str, rule: &str) -> String {
    let mut text = source.to_string();
    if let Ok(program) = super::parse(source) {
        for item in &program.items {
            if let Item::Combine(c) = item {
                let r = c.span.range();
                let blank: String = source[r.clone()]
                    .chars()
                    .map(|ch| if ch == '\n' { '\n' } else { ' ' })
                    .collect();
                text.replace_range(r, &blank);
            }
        }
    }
    format!("{text}\n# from the command line:\ncombine {rule}\n")
}
