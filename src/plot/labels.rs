//! Axis labels with units where the model states them. The language has no unit syntax, but models
//! document their declarations with a comment on the same line, and by convention put the unit in
//! parentheses: `x: real > 0  # furnace temperature (deg C)`. That comment gives the plot's
//! description (`furnace temperature`) and unit (`deg C`).

use crate::span::Span;
use crate::syntax::ast::{Item, Program};
use std::collections::HashMap;

/// What the model's comments say about one name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Label {
    pub description: Option<String>,
    pub unit: Option<String>,
}

/// Labels of every declaration and law of `program` whose line carries a comment.
#[derive(Debug, Clone, Default)]
pub struct Labels(HashMap<String, Label>);

impl Labels {
    pub fn new(source: &str, program: &Program) -> Labels {
        let mut map = HashMap::new();
        let mut add = |name: &str, span: Span| {
            if let Some(label) = comment_label(source, span) {
                map.insert(name.to_string(), label);
            }
        };
        for item in &program.items {
            match item {
                Item::Data(b) | Item::Latent(b) => {
                    for d in &b.decls {
                        add(&d.name.name, d.span);
                    }
                }
                Item::Law(l) => add(&l.name.name, l.span),
                _ => {}
            }
        }
        Labels(map)
    }

    /// The label of an element name (`T[2,3]` is labelled as `T`).
    pub fn get(&self, name: &str) -> Option<&Label> {
        self.0.get(base_name(name))
    }

    /// `name (unit)`, or `name` when the model gives no unit.
    pub fn axis(&self, name: &str) -> String {
        match self.get(name).and_then(|l| l.unit.as_deref()) {
            Some(u) => format!("{name} ({u})"),
            None => name.to_string(),
        }
    }

    /// `name: description`, or `name`.
    pub fn title(&self, name: &str) -> String {
        match self.get(name).and_then(|l| l.description.as_deref()) {
            Some(d) => format!("{name}: {d}"),
            None => name.to_string(),
        }
    }
}

/// `T` of `T[2,3]`.
pub fn base_name(name: &str) -> &str {
    name.split('[').next().unwrap_or(name)
}

/// The comment on the line where `span` starts, split into a description and a parenthesised unit.
fn comment_label(source: &str, span: Span) -> Option<Label> {
    let start = (span.start as usize).min(source.len());
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line = &source[line_start..line_end];
    let comment = line[line.find('#')? + 1..].trim();
    if comment.is_empty() {
        return None;
    }
    Some(split_unit(comment))
}

/// The first short parenthesised group holding a letter is the unit; the rest is the description.
pub fn split_unit(comment: &str) -> Label {
    let mut unit = None;
    let mut description = comment.to_string();
    let mut from = 0;
    while let Some(open) = comment[from..].find('(').map(|i| from + i) {
        let Some(close) = comment[open..].find(')').map(|i| open + i) else {
            break;
        };
        let inner = comment[open + 1..close].trim();
        if !inner.is_empty() && inner.len() <= 16 && inner.chars().any(|c| c.is_alphabetic()) {
            unit = Some(inner.to_string());
            description = format!("{}{}", &comment[..open], &comment[close + 1..]);
            break;
        }
        from = close + 1;
    }
    let description = description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ,", ",")
        .replace(" ;", ";")
        .trim_matches(|c: char| c == ',' || c == ';' || c == ':' || c.is_whitespace())
        .to_string();
    let description = if description.chars().count() > 60 {
        let cut: String = description.chars().take(57).collect();
        format!("{}...", cut.trim_end())
    } else {
        description
    };
    Label {
        description: (!description.is_empty()).then_some(description),
        unit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_is_the_parenthesised_group() {
        let l = split_unit("furnace temperature (deg C), below the element's rating");
        assert_eq!(l.unit.as_deref(), Some("deg C"));
        assert_eq!(
            l.description.as_deref(),
            Some("furnace temperature, below the element's rating")
        );
        let l = split_unit("[sigma_prt, sigma_tc] (deg C)");
        assert_eq!(l.unit.as_deref(), Some("deg C"));
        assert_eq!(l.description.as_deref(), Some("[sigma_prt, sigma_tc]"));
        // A group of numbers is not a unit.
        let l = split_unit("weights (1, 2) of the sources");
        assert_eq!(l.unit, None);
    }

    #[test]
    fn labels_come_from_declaration_lines() {
        let src = "data {\n  y: vector[3]   # readings (V)\n}\nlatent { mu: real }\nlaw e = mu * 2  # energy (J)\n";
        let p = crate::syntax::parse(src).unwrap();
        let l = Labels::new(src, &p);
        assert_eq!(l.axis("y[2]"), "y[2] (V)");
        assert_eq!(l.axis("e"), "e (J)");
        assert_eq!(l.axis("mu"), "mu");
        assert_eq!(l.title("y"), "y: readings");
    }
}
