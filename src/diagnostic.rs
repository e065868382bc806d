//! User-facing messages: one `Diagnostic` type for every phase, rendered in one place (with ariadne) with
//! the file name, line, column, the offending source line and an underline.

use crate::span::Span;
use ariadne::{Config, IndexType, Label as ALabel, Report, ReportKind, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One message about the user's model: what is wrong, where, and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// The first label is the primary location.
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label {
                span,
                message: String::new(),
            }],
            notes: vec![],
            help: None,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    /// Sets the text under the primary underline.
    pub fn with_label(mut self, message: impl Into<String>) -> Diagnostic {
        self.labels[0].message = message.into();
        self
    }

    /// Adds a secondary location, e.g. "first declared here".
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn primary_span(&self) -> Span {
        self.labels[0].span
    }

    /// Renders the message as text, with colour only when asked (snapshots and pipes want none).
    pub fn render(&self, file_name: &str, source: &str, color: bool) -> String {
        let kind = match self.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
        };
        let clamp = |s: Span| {
            let len = source.len();
            let start = (s.start as usize).min(len);
            let end = (s.end as usize).clamp(start, len);
            start..end
        };
        let primary = clamp(self.primary_span());
        let mut report = Report::build(kind, (file_name, primary))
            .with_config(
                Config::default()
                    .with_color(color)
                    .with_index_type(IndexType::Byte),
            )
            .with_message(&self.message);
        for label in &self.labels {
            let mut l = ALabel::new((file_name, clamp(label.span)));
            if !label.message.is_empty() {
                l = l.with_message(&label.message);
            }
            report = report.with_label(l);
        }
        for note in &self.notes {
            report = report.with_note(note);
        }
        if let Some(help) = &self.help {
            report = report.with_help(help);
        }
        let mut out = Vec::new();
        report
            .finish()
            .write((file_name, Source::from(source)), &mut out)
            .expect("writing to a Vec cannot fail");
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Renders many diagnostics, errors and warnings in source order.
pub fn render_all(
    diagnostics: &[Diagnostic],
    file_name: &str,
    source: &str,
    color: bool,
) -> String {
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by_key(|d| (d.primary_span().start, std::cmp::Reverse(d.severity)));
    sorted
        .iter()
        .map(|d| d.render(file_name, source, color))
        .collect::<Vec<_>>()
        .join("")
}

/// "did you mean `x`?" for the closest of `candidates` to `name`, when one is close enough.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    // Short names allow fewer edits, so `n` does not suggest `m`.
    let allowed = match name.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        6..=9 => 2,
        _ => 3,
    };
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let edits = strsim::damerau_levenshtein(name, c);
        let case_only = name.eq_ignore_ascii_case(c);
        if c == name || !(edits <= allowed || case_only) {
            continue;
        }
        let score = strsim::jaro_winkler(name, c);
        // Ties go to the alphabetically first name, so the suggestion does not depend on the order
        // the candidates come in (some come from hash maps).
        if best.is_none_or(|(s, b)| score > s || (score == s && c < b)) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}
