//! Editing the model by typing: a declaration, `law`, `fn`, `ode`, `modality`, `combine` or prior
//! statement typed at the prompt adds itself to the model's source, or replaces what defined the same
//! name before. The model stays source text (so `:show` prints the user's own formatting and comments,
//! and a saved model reads like a written one); each edit splices text at spans of a fresh parse.
//!
//! Rules, one per kind of input:
//! - a definition (`law`, `fn`, `ode`, `modality`, a declaration) replaces whatever defined its name
//!   (names are global), in place when it is of the same kind, else at the end of the model;
//! - a declaration goes into its block: `data { ... }` / `latent { ... }` name the block, `data NAME:
//!   ...` and `latent NAME: ...` are shorthands for one declaration, and a bare `NAME: type` goes
//!   where NAME was declared before, or into `latent`;
//! - a prior statement `lhs ~ dist(...)` replaces every prior on the same left side (statements at
//!   the top level and in the latent block, and the prior on the declaration line of a bare name);
//! - `combine ...` replaces the model's combine declaration.
//!
//! Input that is not an item but parses as an expression is evaluated (`:eval`).

use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::syntax::ast::{Block, Expr, ExprKind, Item, ModalityStmt, Program};
use crate::syntax::print::show;
use std::ops::Range;

/// What typed input means.
#[derive(Debug)]
pub enum Typed {
    /// The new source, and what changed, one line per item.
    Edit(String, Vec<String>),
    /// An expression to evaluate.
    Expression(String),
    /// Input that is neither: its syntax error, to be rendered against `text`.
    Error {
        diagnostic: Diagnostic,
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Data,
    Latent,
}

impl BlockKind {
    fn word(self) -> &'static str {
        match self {
            BlockKind::Data => "data",
            BlockKind::Latent => "latent",
        }
    }
}

/// Interprets `input` typed at the prompt against the model's `source`.
pub fn apply(source: &str, input: &str) -> Typed {
    let first_error = match crate::syntax::parse(input) {
        Ok(p) if !p.items.is_empty() => return edit_all(source, input, &p, false),
        Ok(_) => return Typed::Edit(source.to_string(), vec![]),
        Err(e) => e,
    };
    let trimmed = input.trim_start();
    // `data NAME: ...` / `latent NAME: ...`: one declaration for that block.
    for kw in ["data", "latent"] {
        if let Some(rest) = trimmed.strip_prefix(kw) {
            if rest.starts_with(char::is_whitespace) && looks_like_decl(rest) {
                let wrapped = format!("{kw} {{\n{rest}\n}}");
                if let Ok(p) = crate::syntax::parse(&wrapped) {
                    return edit_all(source, &wrapped, &p, false);
                }
            }
        }
    }
    // `NAME: type ...`: a declaration for the block that holds NAME, or `latent`.
    if looks_like_decl(trimmed) {
        let wrapped = format!("latent {{\n{trimmed}\n}}");
        match crate::syntax::parse(&wrapped) {
            Ok(p) => return edit_all(source, &wrapped, &p, true),
            Err(mut d) => {
                // Report against what was typed: shift the spans back over the wrapper.
                let shift = "latent {\n".len() as u32 + (input.len() - trimmed.len()) as u32;
                let shift_back = |s: Span| {
                    let start = s.start.saturating_sub(shift).min(input.len() as u32);
                    let end = s.end.saturating_sub(shift).clamp(start, input.len() as u32);
                    Span { start, end }
                };
                for l in &mut d.labels {
                    l.span = shift_back(l.span);
                }
                return Typed::Error {
                    diagnostic: d,
                    text: input.to_string(),
                };
            }
        }
    }
    if crate::syntax::parse(&format!("law __eval = {input}")).is_ok() {
        return Typed::Expression(input.trim().to_string());
    }
    Typed::Error {
        diagnostic: first_error,
        text: input.to_string(),
    }
}

/// `name :` at the start (and not `name ~`, `name =`).
fn looks_like_decl(text: &str) -> bool {
    let t = text.trim_start();
    let name_len = t
        .char_indices()
        .take_while(|(i, c)| {
            c.is_ascii_alphabetic() || *c == '_' || (*i > 0 && c.is_ascii_alphanumeric())
        })
        .count();
    name_len > 0 && t[name_len..].trim_start().starts_with(':')
}

fn edit_all(source: &str, text: &str, typed: &Program, bare: bool) -> Typed {
    let mut src = source.to_string();
    let mut changes = vec![];
    let slice = |s: Span| with_comment(text, s);
    for item in &typed.items {
        match item {
            Item::Data(b) | Item::Latent(b) => {
                let kind = if matches!(item, Item::Data(_)) {
                    BlockKind::Data
                } else {
                    BlockKind::Latent
                };
                for d in &b.decls {
                    let (s, what) = put_decl(&src, kind, bare, &d.name.name, &slice(d.span));
                    src = s;
                    changes.push(what);
                }
                for t in &b.priors {
                    let (s, what) = put_prior(&src, &t.lhs, &slice(t.span));
                    src = s;
                    changes.push(what);
                }
            }
            Item::Law(l) => {
                let r = put_named(&src, l.keyword(), &l.name.name, &slice(l.span));
                push(&mut src, &mut changes, r)
            }
            Item::Fn(f) => {
                let r = put_named(&src, "fn", &f.name.name, &slice(f.span));
                push(&mut src, &mut changes, r)
            }
            Item::Ode(o) => {
                let r = put_named(&src, "ode", &o.name.name, &slice(o.span));
                push(&mut src, &mut changes, r)
            }
            Item::Modality(m) => {
                let r = put_named(&src, "modality", &m.name.name, &slice(m.span));
                push(&mut src, &mut changes, r)
            }
            Item::Combine(c) => {
                let r = put_combine(&src, &slice(c.span));
                push(&mut src, &mut changes, r)
            }
            Item::Tilde(t) => {
                let r = put_prior(&src, &t.lhs, &slice(t.span));
                push(&mut src, &mut changes, r)
            }
        }
    }
    Typed::Edit(src, changes)
}

/// The text of `span`, with the comment that ends its line (`law p = v^2 / 50  # power (W)`), which
/// documents it and gives plots their units.
fn with_comment(text: &str, span: Span) -> String {
    let r = span.range();
    let line_end = text[r.end..].find('\n').map_or(text.len(), |i| r.end + i);
    let rest = &text[r.end..line_end];
    if rest.trim_start().starts_with('#') {
        format!("{}{}", &text[r.clone()], rest.trim_end())
    } else {
        text[r].to_string()
    }
}

/// Replaces `range` of `src` by `text`; when `text` brings its own comment, the comment that ended
/// the replaced line goes.
fn replace(src: &str, range: Range<usize>, text: &str) -> String {
    let mut end = range.end;
    if text.lines().last().is_some_and(|l| l.contains('#')) {
        let line_end = src[end..].find('\n').map_or(src.len(), |i| end + i);
        if src[end..line_end].trim_start().starts_with('#') {
            end = line_end;
        }
    }
    let mut out = src.to_string();
    out.replace_range(range.start..end, text);
    out
}

fn push(src: &mut String, changes: &mut Vec<String>, (s, what): (String, String)) {
    *src = s;
    changes.push(what);
}

fn parse_or_empty(src: &str) -> Program {
    crate::syntax::parse(src).unwrap_or(Program {
        items: vec![],
        expr_count: 0,
    })
}

/// The name an item defines, with its kind word.
fn defined(item: &Item) -> Option<(&'static str, &str, Span)> {
    match item {
        Item::Law(l) => Some((l.keyword(), &l.name.name, l.span)),
        Item::Fn(f) => Some(("fn", &f.name.name, f.span)),
        Item::Ode(o) => Some(("ode", &o.name.name, o.span)),
        Item::Modality(m) => Some(("modality", &m.name.name, m.span)),
        _ => None,
    }
}

/// Declarations named `name`: (block kind, span).
fn decls_named(p: &Program, name: &str) -> Vec<(BlockKind, Span)> {
    let mut out = vec![];
    for item in &p.items {
        let (kind, b) = match item {
            Item::Data(b) => (BlockKind::Data, b),
            Item::Latent(b) => (BlockKind::Latent, b),
            _ => continue,
        };
        out.extend(
            b.decls
                .iter()
                .filter(|d| d.name.name == name)
                .map(|d| (kind, d.span)),
        );
    }
    out
}

/// Replaces the item defining `name` (of any kind) by `text`: in place if it is of the same kind,
/// else removed and `text` appended.
fn put_named(src: &str, kind: &str, name: &str, text: &str) -> (String, String) {
    let p = parse_or_empty(src);
    let same = p
        .items
        .iter()
        .filter_map(defined)
        .find(|(k, n, _)| *k == kind && *n == name);
    if let Some((_, _, span)) = same {
        return (
            replace(src, span.range(), text),
            format!("replaced {kind} `{name}`"),
        );
    }
    let (mut out, was) = remove_definitions(src, name);
    append(&mut out, text);
    let what = match was {
        Some(old) => format!("replaced {old} `{name}` by a {kind}"),
        None => format!("added {kind} `{name}`"),
    };
    (out, what)
}

/// Removes every definition of `name` (item or declaration); says what kind the first one was.
fn remove_definitions(src: &str, name: &str) -> (String, Option<String>) {
    let p = parse_or_empty(src);
    let mut spans: Vec<(Span, String)> = p
        .items
        .iter()
        .filter_map(defined)
        .filter(|(_, n, _)| *n == name)
        .map(|(k, _, s)| (s, k.to_string()))
        .collect();
    spans.extend(
        decls_named(&p, name)
            .into_iter()
            .map(|(k, s)| (s, k.word().to_string())),
    );
    let was = spans.first().map(|(_, k)| k.clone());
    spans.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
    let mut out = src.to_string();
    for (s, _) in spans {
        out = remove_range(&out, s.range());
    }
    (out, was)
}

fn put_decl(src: &str, kind: BlockKind, bare: bool, name: &str, text: &str) -> (String, String) {
    let p = parse_or_empty(src);
    let existing = decls_named(&p, name);
    let target = match (bare, existing.first()) {
        (true, Some((k, _))) => *k,
        _ => kind,
    };
    if let Some((_, span)) = existing.iter().find(|(k, _)| *k == target) {
        return (
            replace(src, span.range(), text),
            format!("replaced {} `{name}`", target.word()),
        );
    }
    let (out, was) = remove_definitions(src, name);
    let out = insert_into_block(&out, target, text);
    let what = match was {
        Some(old) => format!("replaced {old} `{name}` by a {} declaration", target.word()),
        None => format!("added {} `{name}`", target.word()),
    };
    (out, what)
}

/// Inserts a declaration at the end of the first block of `kind`, or in a new block at the end.
fn insert_into_block(src: &str, kind: BlockKind, text: &str) -> String {
    let p = parse_or_empty(src);
    let block: Option<&Block> = p.items.iter().find_map(|i| match (i, kind) {
        (Item::Data(b), BlockKind::Data) | (Item::Latent(b), BlockKind::Latent) => Some(b),
        _ => None,
    });
    let close = block.and_then(|b| closing_brace(src, b.keyword.end as usize));
    let mut out = src.to_string();
    match close {
        Some(at) => {
            let line_start = src[..at].rfind('\n').map_or(0, |i| i + 1);
            if src[line_start..at].trim().is_empty() && line_start > 0 {
                out.insert_str(line_start, &format!("  {text}\n"));
            } else {
                out.insert_str(at, &format!("\n  {text}\n"));
            }
        }
        None => append(&mut out, &format!("{} {{\n  {text}\n}}", kind.word())),
    }
    out
}

/// The position of the `}` closing the block whose `{` follows `from` (comments skipped).
fn closing_brace(src: &str, from: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut in_comment = false;
    for (i, c) in src[from..].char_indices() {
        match c {
            '#' => in_comment = true,
            '\n' => in_comment = false,
            '{' | '(' | '[' if !in_comment => depth += 1,
            '}' | ')' | ']' if !in_comment => {
                depth -= 1;
                if depth == 0 && c == '}' {
                    return Some(from + i);
                }
            }
            _ => {}
        }
    }
    None
}

fn put_combine(src: &str, text: &str) -> (String, String) {
    let p = parse_or_empty(src);
    let spans: Vec<Span> = p
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Combine(c) => Some(c.span),
            _ => None,
        })
        .collect();
    let mut out = src.to_string();
    match spans.split_first() {
        Some((first, rest)) => {
            for s in rest.iter().rev() {
                out = remove_range(&out, s.range());
            }
            out.replace_range(first.range(), text);
            (out, "replaced the combine declaration".into())
        }
        None => {
            append(&mut out, text);
            (out, "added a combine declaration".into())
        }
    }
}

/// `mu` for the prior statement `mu ~ ...`, `sig[1]` for `sig[1] ~ ...`: priors are matched by the
/// printed left side.
fn prior_key(lhs: &Expr) -> String {
    show(lhs)
}

/// The latent a bare-name left side names.
fn bare_name(lhs: &Expr) -> Option<&str> {
    match &lhs.kind {
        ExprKind::Name(n) => Some(n),
        _ => None,
    }
}

fn put_prior(src: &str, lhs: &Expr, text: &str) -> (String, String) {
    let key = prior_key(lhs);
    let p = parse_or_empty(src);
    let mut spans: Vec<Range<usize>> = vec![];
    for item in &p.items {
        match item {
            Item::Tilde(t) if prior_key(&t.lhs) == key => spans.push(t.span.range()),
            Item::Latent(b) => {
                spans.extend(
                    b.priors
                        .iter()
                        .filter(|t| prior_key(&t.lhs) == key)
                        .map(|t| t.span.range()),
                );
                if let Some(name) = bare_name(lhs) {
                    for d in b.decls.iter().filter(|d| d.name.name == name) {
                        if let Some(prior) = &d.prior {
                            // From the `~` (and the blanks before it) to the end of the distribution.
                            let start = src[d.span.start as usize..prior.span.start as usize]
                                .rfind('~')
                                .map(|i| d.span.start as usize + i);
                            if let Some(start) = start {
                                let start = src[..start].trim_end().len();
                                spans.push(start..prior.span.end as usize);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let replaced = !spans.is_empty();
    spans.sort_by_key(|r| std::cmp::Reverse(r.start));
    let mut out = src.to_string();
    for r in spans {
        out = remove_range(&out, r);
    }
    append(&mut out, text);
    let what = if replaced {
        format!("replaced the prior of `{key}`")
    } else {
        format!("added a prior on `{key}`")
    };
    (out, what)
}

/// Appends an item on its own line.
fn append(src: &mut String, text: &str) {
    if !src.is_empty() && !src.ends_with('\n') {
        src.push('\n');
    }
    src.push_str(text);
    src.push('\n');
}

/// Removes `range`, and the whole line when nothing but blanks or a comment is left on it.
fn remove_range(src: &str, range: Range<usize>) -> String {
    let mut out = String::with_capacity(src.len());
    out.push_str(&src[..range.start]);
    out.push_str(&src[range.end..]);
    let line_start = out[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = out[range.start..]
        .find('\n')
        .map_or(out.len(), |i| range.start + i);
    let line = &out[line_start..line_end];
    let code = line.split('#').next().unwrap_or("");
    if code.trim().is_empty() {
        let end = (line_end + 1).min(out.len());
        out.replace_range(line_start..end, "");
    }
    out
}

/// Removes the definition of `name` (declaration, law, fn, ode, modality) and the priors on it, or
/// the combine declaration (`name` = `combine`).
pub fn remove(src: &str, name: &str) -> Result<(String, String), String> {
    let p = parse_or_empty(src);
    if name == "combine" {
        let spans: Vec<Span> = p
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Combine(c) => Some(c.span),
                _ => None,
            })
            .collect();
        if spans.is_empty() {
            return Err(
                "the model has no combine declaration (it combines by the plain product)".into(),
            );
        }
        let mut out = src.to_string();
        for s in spans.iter().rev() {
            out = remove_range(&out, s.range());
        }
        return Ok((
            out,
            "removed the combine declaration (back to the plain product)".into(),
        ));
    }
    let (mut out, was) = remove_definitions(src, name);
    let Some(was) = was else {
        let mut names: Vec<&str> = p
            .items
            .iter()
            .filter_map(defined)
            .map(|(_, n, _)| n)
            .collect();
        for item in &p.items {
            if let Item::Data(b) | Item::Latent(b) = item {
                names.extend(b.decls.iter().map(|d| d.name.name.as_str()));
            }
        }
        let hint = crate::diagnostic::did_you_mean(name, names)
            .map(|h| format!(": {h}"))
            .unwrap_or_default();
        return Err(format!("nothing in the model is named `{name}`{hint}"));
    };
    // Priors whose left side is this name, or an element of it.
    let on_name = |lhs: &Expr| match &lhs.kind {
        ExprKind::Name(n) => n == name,
        ExprKind::Index { base, .. } => matches!(&base.kind, ExprKind::Name(n) if n == name),
        _ => false,
    };
    let q = parse_or_empty(&out);
    let mut spans: Vec<Span> = vec![];
    for item in &q.items {
        match item {
            Item::Tilde(t) if on_name(&t.lhs) => spans.push(t.span),
            Item::Latent(b) => {
                spans.extend(b.priors.iter().filter(|t| on_name(&t.lhs)).map(|t| t.span))
            }
            _ => {}
        }
    }
    spans.sort_by_key(|s| std::cmp::Reverse(s.start));
    for s in spans {
        out = remove_range(&out, s.range());
    }
    Ok((out, format!("removed {was} `{name}`")))
}

/// Names the model defines, by kind, for completion: (latents, laws, modalities, data, functions).
pub fn names(src: &str) -> Vec<String> {
    let p = parse_or_empty(src);
    let mut out = vec![];
    for item in &p.items {
        match item {
            Item::Data(b) | Item::Latent(b) => {
                out.extend(b.decls.iter().map(|d| d.name.name.clone()))
            }
            Item::Modality(m) => {
                out.push(m.name.name.clone());
                for s in &m.stmts {
                    if let ModalityStmt::Let(l) = s {
                        out.push(l.name.name.clone());
                    }
                }
            }
            other => {
                if let Some((_, n, _)) = defined(other) {
                    out.push(n.to_string());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(src: &str, input: &str) -> (String, Vec<String>) {
        match apply(src, input) {
            Typed::Edit(s, w) => (s, w),
            other => panic!("not an edit: {other:?}"),
        }
    }

    #[test]
    fn a_law_replaces_the_law_of_that_name_in_place() {
        let src = "latent { a: real }\nlaw b = a + 1   # note\nlaw c = b\n";
        let (s, w) = edit(src, "law b = 2 * a");
        assert_eq!(s, "latent { a: real }\nlaw b = 2 * a   # note\nlaw c = b\n");
        assert_eq!(w, vec!["replaced law `b`"]);
        // A typed comment comes along and replaces the old one.
        let (s, _) = edit(src, "law b = 3 * a  # new note");
        assert_eq!(
            s,
            "latent { a: real }\nlaw b = 3 * a  # new note\nlaw c = b\n"
        );
    }

    #[test]
    fn a_derived_quantity_replaces_a_law_of_that_name_and_back() {
        let src = "latent { a: real }\nlaw b = a + 1\n";
        let (s, w) = edit(src, "derived b = 2 * a");
        assert_eq!(s, "latent { a: real }\nderived b = 2 * a\n");
        assert_eq!(w, vec!["replaced law `b` by a derived"]);
        let (s, w) = edit(&s, "derived b = 3 * a");
        assert_eq!(s, "latent { a: real }\nderived b = 3 * a\n");
        assert_eq!(w, vec!["replaced derived `b`"]);
    }

    #[test]
    fn a_bare_declaration_goes_where_its_name_was_or_into_latent() {
        let src = "data {\n  n: int\n}\nlatent {\n  mu: real\n}\n";
        let (s, _) = edit(src, "n: int > 0");
        assert!(s.contains("data {\n  n: int > 0\n}"), "{s}");
        let (s, w) = edit(src, "sigma: real > 0 ~ half_normal(1)");
        assert!(
            s.contains("latent {\n  mu: real\n  sigma: real > 0 ~ half_normal(1)\n}"),
            "{s}"
        );
        assert_eq!(w, vec!["added latent `sigma`"]);
        let (s, _) = edit("", "data y: vector[3]");
        assert_eq!(s, "data {\n  y: vector[3]\n}\n");
    }

    #[test]
    fn a_prior_statement_replaces_the_inline_prior() {
        let src = "latent {\n  mu: real ~ normal(0, 10)   # the mean\n}\n";
        let (s, w) = edit(src, "mu ~ student_t(3, 0, 1)");
        assert_eq!(
            s,
            "latent {\n  mu: real   # the mean\n}\nmu ~ student_t(3, 0, 1)\n"
        );
        assert_eq!(w, vec!["replaced the prior of `mu`"]);
        // And again: the top-level statement is replaced this time.
        let (s2, _) = edit(&s, "mu ~ normal(1, 2)");
        assert_eq!(
            s2,
            "latent {\n  mu: real   # the mean\n}\nmu ~ normal(1, 2)\n"
        );
    }

    #[test]
    fn expressions_are_evaluated_not_added() {
        assert!(matches!(apply("", "mu + 1"), Typed::Expression(e) if e == "mu + 1"));
        assert!(matches!(apply("", "law = ="), Typed::Error { .. }));
    }

    #[test]
    fn remove_takes_the_priors_along() {
        let src = "latent {\n  mu: real\n  s: real > 0\n}\nmu ~ normal(0, 1)\n";
        let (s, w) = remove(src, "mu").unwrap();
        assert_eq!(s, "latent {\n  s: real > 0\n}\n");
        assert_eq!(w, "removed latent `mu`");
        assert!(remove(src, "muu")
            .unwrap_err()
            .contains("did you mean `mu`?"));
    }
}
