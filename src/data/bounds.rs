//! Value constraints on data. Every element must lie strictly inside the declared bounds (`> a`,
//! `< b`, `in (a, b)`: the same open intervals the latents live in), and data declared `simplex`,
//! `ordered` or `positive_ordered` must have that structure.
//!
//! A bound is checked when it is an expression of literals (`> 0`, `< 2 * 3.5`), or the plain name of
//! a data item that is a scalar or has the declaration's shape (`> lo`). Any other bound (`> n - 1`,
//! `< max(x)`) is not checked here: evaluating arbitrary expressions is the evaluator's job. The bounds
//! of a sparse matrix apply to its stored entries.

use super::dense::index_name;
use super::json::show_num;
use super::{DataValue, Loader};
use crate::check::{const_real, Structure};
use crate::syntax::ast::{Expr, ExprKind};
use crate::syntax::print::show;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Done,
    /// A bound names data not read yet; check again once everything is loaded.
    Deferred,
}

enum Resolved {
    Scalar(f64),
    Each(Vec<f64>),
    /// Not a bound this loader evaluates, or its data failed to load.
    Skip,
    NotYet,
}

/// The name of the `k`-th stored element of a value: `y[3]`, `G[2, 4]`, or a sparse `A[2, 7]`.
fn element_name(name: &str, v: &DataValue, k: usize) -> String {
    match &v.sparse {
        Some(m) => {
            let row = m.row_start.partition_point(|&s| s <= k).saturating_sub(1);
            format!("{name}[{}, {}]", row + 1, m.col_index[k] + 1)
        }
        None => index_name(name, k, &v.shape),
    }
}

fn stored(v: &DataValue) -> &[f64] {
    match &v.sparse {
        Some(m) => &m.values,
        None => &v.values,
    }
}

impl Loader<'_> {
    fn resolve(&self, e: &Expr, this: &DataValue) -> Resolved {
        if let Some(v) = const_real(e) {
            return Resolved::Scalar(v);
        }
        let ExprKind::Name(n) = &e.kind else {
            return Resolved::Skip;
        };
        let Some(j) = self.index_of(n) else {
            return Resolved::Skip;
        };
        if !self.done[j] {
            return Resolved::NotYet;
        }
        match &self.values[j] {
            Some(b) if b.shape.is_empty() => Resolved::Scalar(b.values[0]),
            Some(b) if b.sparse.is_none() && this.sparse.is_none() && b.shape == this.shape => {
                Resolved::Each(b.values.clone())
            }
            _ => Resolved::Skip,
        }
    }

    /// Checks the bounds of declaration `i` if it loaded. With `can_defer`, a bound naming data not
    /// yet read postpones the whole check.
    pub(super) fn check_bounds(&mut self, i: usize, can_defer: bool) -> Outcome {
        let model = self.model;
        let decl = &model.data[i];
        let Some(value) = self.values[i].as_ref() else {
            return Outcome::Done;
        };
        let mut checks = vec![];
        for (id, lower) in [(decl.lower, true), (decl.upper, false)] {
            let Some(e) = id.and_then(|id| model.find_expr(id)) else {
                continue;
            };
            match self.resolve(e, value) {
                Resolved::NotYet if can_defer => return Outcome::Deferred,
                Resolved::NotYet | Resolved::Skip => {}
                r => checks.push((e, lower, r)),
            }
        }
        let mut found = vec![];
        for (e, lower, r) in checks {
            let vals = stored(value);
            let bound_at = |k: usize| match &r {
                Resolved::Scalar(b) => *b,
                Resolved::Each(b) => b[k],
                _ => unreachable!("only evaluated bounds are checked"),
            };
            let bad: Vec<usize> = (0..vals.len())
                .filter(|&k| {
                    let (x, b) = (vals[k], bound_at(k));
                    let inside = if lower { x > b } else { x < b };
                    !inside
                })
                .collect();
            let Some(&k) = bad.first() else {
                continue;
            };
            let op = if lower { ">" } else { "<" };
            let text = show(e);
            let name = &decl.name;
            let shown = match value.ints.as_ref() {
                Some(ints) => ints[k].to_string(),
                None => show_num(vals[k]),
            };
            let elem = if value.shape.is_empty() {
                name.clone()
            } else {
                element_name(name, value, k)
            };
            let with = match (&r, &e.kind) {
                (Resolved::Scalar(b), ExprKind::Name(n)) => format!(" and {n} = {}", show_num(*b)),
                (Resolved::Each(b), ExprKind::Name(n)) => {
                    format!(
                        " and {} = {}",
                        index_name(n, k, &value.shape),
                        show_num(b[k])
                    )
                }
                _ => String::new(),
            };
            let mut d = self
                .diag(
                    i,
                    format!(
                        "`{name}` must be {op} {text}, but `{}` gives {elem} = {shown}{with}",
                        self.file
                    ),
                    "declared here",
                )
                .with_secondary(e.span, "this bound");
            if bad.len() > 1 {
                d = d.with_note(format!(
                    "{} of the {} elements of `{name}` are not {op} {text}",
                    bad.len(),
                    vals.len()
                ));
            }
            found.push(d);
        }
        for d in found {
            self.fail(i, d);
        }
        Outcome::Done
    }

    /// Checks that data declared `simplex`, `ordered` or `positive_ordered` has that structure.
    pub(super) fn check_structure(&mut self, i: usize) {
        let decl = &self.model.data[i];
        let Some(value) = self.values[i].as_ref() else {
            return;
        };
        let kind = match decl.structure {
            Structure::None => return,
            Structure::Simplex => "simplex",
            Structure::Ordered => "ordered",
            Structure::PositiveOrdered => "positive_ordered",
        };
        let v = &value.values;
        if v.is_empty() {
            return;
        }
        let name = &decl.name;
        let declared = match decl.ty.shape.first() {
            Some(d) => format!("{kind}[{d}]"),
            None => kind.to_string(),
        };
        let file = self.file;
        let at = |k: usize| index_name(name, k, &value.shape);
        let problem = match decl.structure {
            Structure::Simplex => {
                let sum: f64 = v.iter().sum();
                if let Some(k) = v.iter().position(|&x| x < 0.0) {
                    Some(format!("gives {} = {}", at(k), show_num(v[k])))
                } else if (sum - 1.0).abs() > 1e-8 {
                    Some(format!("gives entries that sum to {}", show_num(sum)))
                } else {
                    None
                }
            }
            _ => {
                let positive = decl.structure == Structure::PositiveOrdered;
                if positive && v[0] <= 0.0 {
                    Some(format!("gives {} = {}", at(0), show_num(v[0])))
                } else {
                    (1..v.len()).find(|&k| v[k] <= v[k - 1]).map(|k| {
                        format!(
                            "gives {} = {} after {} = {}",
                            at(k),
                            show_num(v[k]),
                            at(k - 1),
                            show_num(v[k - 1])
                        )
                    })
                }
            }
        };
        let Some(problem) = problem else {
            return;
        };
        let label = match decl.structure {
            Structure::Simplex => "expects nonnegative entries that sum to 1",
            Structure::PositiveOrdered => "expects positive, strictly increasing entries",
            _ => "expects strictly increasing entries",
        };
        let d = self.diag(
            i,
            format!("`{name}` is declared {declared}, but `{file}` {problem}"),
            label,
        );
        self.fail(i, d);
    }
}
