//! The line editor's helper: tab completion of commands, plot kinds, `:set` names, the model's names
//! (latents, laws, modalities, data, functions) and file paths; and multi-line input, which goes on
//! while brackets are open.

use super::commands::COMMANDS;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::Context;
use std::sync::{Arc, Mutex};

/// Commands whose arguments are file paths.
const PATH_COMMANDS: [&str; 4] = [":load", ":data", ":save", ":simulate"];

pub struct Helper {
    /// The current model's names, updated by the loop after every input.
    pub names: Arc<Mutex<Vec<String>>>,
    files: FilenameCompleter,
}

impl Helper {
    pub fn new(names: Arc<Mutex<Vec<String>>>) -> Helper {
        Helper {
            names,
            files: FilenameCompleter::new(),
        }
    }
}

/// Candidates among `words` that start with `prefix`.
pub fn matching(prefix: &str, words: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = words
        .into_iter()
        .filter(|w| w.starts_with(prefix))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What completes the word before `pos` in `line`: (start of the word, candidates), or `None` for a
/// file path.
pub fn candidates(line: &str, pos: usize, names: &[String]) -> Option<(usize, Vec<String>)> {
    let before = &line[..pos];
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '-'))
        .map_or(0, |i| i + 1);
    let word = &before[start..];
    let words: Vec<&str> = before.split_whitespace().collect();
    let first = words.first().copied().unwrap_or("");
    // The command itself.
    if start == 0 && word.starts_with(':') {
        return Some((
            0,
            matching(word, COMMANDS.iter().map(|(n, _, _)| n.to_string())),
        ));
    }
    let arg_index = words.len() - usize::from(!before.ends_with(char::is_whitespace));
    let previous = words.get(arg_index.wrapping_sub(1)).copied().unwrap_or("");
    let path = (PATH_COMMANDS[..3].contains(&first) && arg_index >= 1)
        || (first == ":simulate" && (previous == "--params" || previous == "--output"))
        || (first == ":plot" && (word.contains('.') || word.contains('/')));
    if path {
        return None;
    }
    let fixed: Option<Vec<&str>> = match (first, arg_index) {
        (":plot", 1) => Some(
            crate::plot::inputs::Kind::ALL
                .iter()
                .map(|(n, _, _)| *n)
                .collect(),
        ),
        (":set", 1) => Some(vec!["seed", "chains", "warmup", "draws", "adapt_delta"]),
        (":graph", 1) => Some(vec!["--stage"]),
        (":graph", 2) => Some(vec!["lowered", "optimised"]),
        (":modality", 2) => Some(vec!["off", "on", "weight"]),
        (":combine", 1) => Some(vec!["product", "tempered", "minmax", "tolerant"]),
        (":help", 1) => Some(COMMANDS.iter().map(|(n, _, _)| &n[1..]).collect()),
        (":simulate", _) => Some(vec!["--params", "--output", "--use"]),
        _ => None,
    };
    let pool: Vec<String> = match fixed {
        Some(f) => f.into_iter().map(str::to_string).collect(),
        None => names.to_vec(),
    };
    Some((start, matching(word, pool)))
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        match candidates(line, pos, &names) {
            Some((start, words)) => Ok((
                start,
                words
                    .into_iter()
                    .map(|w| Pair {
                        display: w.clone(),
                        replacement: w,
                    })
                    .collect(),
            )),
            None => self.files.complete(line, pos, ctx),
        }
    }
}

impl Hinter for Helper {
    type Hint = String;
}

impl Highlighter for Helper {}

impl Validator for Helper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        // A blank line ends an unfinished input (its error is then shown), as in other REPLs.
        let input = ctx.input();
        Ok(if open_brackets(input) > 0 && !input.ends_with('\n') {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl rustyline::Helper for Helper {}

/// How many brackets are open at the end of `text` (comments skipped): input goes on to the next line
/// while some are.
pub fn open_brackets(text: &str) -> i64 {
    let mut depth = 0i64;
    let mut in_comment = false;
    for c in text.chars() {
        match c {
            '#' => in_comment = true,
            '\n' => in_comment = false,
            '(' | '[' | '{' if !in_comment => depth += 1,
            ')' | ']' | '}' if !in_comment => depth -= 1,
            _ => {}
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_kinds_and_names_complete() {
        let names = vec!["mu".to_string(), "sigma".to_string(), "sensor".to_string()];
        assert_eq!(
            candidates(":sa", 3, &names),
            Some((0, vec![":sample".into(), ":save".into()]))
        );
        assert_eq!(
            candidates(":plot tr", 8, &names),
            Some((6, vec!["trace".into()]))
        );
        assert_eq!(
            candidates(":summary s", 10, &names),
            Some((9, vec!["sensor".into(), "sigma".into()]))
        );
        assert_eq!(
            candidates("law x = m", 9, &names),
            Some((8, vec!["mu".into()]))
        );
        assert_eq!(
            candidates(":modality sensor o", 18, &names),
            Some((17, vec!["off".into(), "on".into()]))
        );
        // Paths are the file completer's.
        assert_eq!(candidates(":load mod", 9, &names), None);
    }

    #[test]
    fn brackets_keep_the_input_open() {
        assert_eq!(open_brackets("modality a {\n  y ~ normal(mu, 1)"), 1);
        assert_eq!(open_brackets("modality a { # {{\n}"), 0);
    }
}
