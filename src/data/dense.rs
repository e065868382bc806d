//! Dense values (scalars, vectors, matrices, arrays, fields): the nested lists are checked for
//! raggedness, then rank, then lengths against the declared shape, and only then are their leaves read
//! as integers or reals, so each variable gets the one message that explains it.

use super::json::{describe, Leaf, OtherKind};
use super::{bindings, join_and, DataValue, Loader};
use crate::check::{Elem, Form, Ty};
use serde_json::Value;

/// The nesting of a rectangular JSON value: one length per level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Nesting {
    pub dims: Vec<usize>,
    /// An empty list ended the nesting early, so the deeper levels are unknown (`[]` is a valid
    /// `matrix[0, 4]`).
    pub open: bool,
}

/// Two elements of one list that are nested differently.
pub(super) struct Ragged {
    /// 1-based indices of the list within the value (empty for the value itself).
    pub path: Vec<usize>,
    pub first: Nesting,
    /// 1-based index of the first element unlike the first one.
    pub at: usize,
    pub other: Nesting,
}

/// The nesting of `v`, or where it is ragged. serde_json bounds the depth of what it parses (128), so
/// the recursion is bounded too.
pub(super) fn nesting(v: &Value) -> Result<Nesting, Ragged> {
    let Value::Array(items) = v else {
        return Ok(Nesting {
            dims: vec![],
            open: false,
        });
    };
    let Some(first) = items.first() else {
        return Ok(Nesting {
            dims: vec![0],
            open: true,
        });
    };
    let inside = |k: usize| {
        move |mut r: Ragged| {
            r.path.insert(0, k);
            r
        }
    };
    let inner = nesting(first).map_err(inside(1))?;
    for (k, item) in items.iter().enumerate().skip(1) {
        let n = nesting(item).map_err(inside(k + 1))?;
        if n != inner {
            return Err(Ragged {
                path: vec![],
                first: inner,
                at: k + 1,
                other: n,
            });
        }
    }
    let mut dims = vec![items.len()];
    dims.extend(inner.dims);
    Ok(Nesting {
        dims,
        open: inner.open,
    })
}

/// The leaves of a nested list in row-major order.
fn leaves<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| leaves(x, out)),
        _ => out.push(v),
    }
}

/// `y[3]` or `G[2, 4]`: the 1-based name of the element at a row-major position.
pub(super) fn index_name(name: &str, flat: usize, shape: &[usize]) -> String {
    let mut idx = vec![0; shape.len()];
    let mut rest = flat;
    for k in (0..shape.len()).rev() {
        let n = shape[k].max(1);
        idx[k] = rest % n + 1;
        rest /= n;
    }
    let parts: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
    format!("{name}[{}]", parts.join(", "))
}

pub(super) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else if let Some(stem) = word.strip_suffix("index") {
        format!("{n} {stem}indices")
    } else if let Some(stem) = word.strip_suffix('y') {
        format!("{n} {stem}ies")
    } else {
        format!("{n} {word}s")
    }
}

/// What the file should hold for a declaration: "a list of 5 numbers" (concrete sizes when known).
pub(super) fn expect_text(ty: &Ty, dims: Option<&[usize]>) -> String {
    let noun = if ty.elem == Elem::Int {
        "integers"
    } else {
        "numbers"
    };
    let sizes: Vec<String> = match dims {
        Some(d) => d.iter().map(|n| n.to_string()).collect(),
        None => ty.shape.iter().map(|d| d.to_string()).collect(),
    };
    match (ty.form, sizes.as_slice()) {
        (Form::Sparse, [r, c]) => format!(
            "an object {{\"rows\": {r}, \"cols\": {c}, \"i\": [...], \"j\": [...], \"x\": [...]}}"
        ),
        (_, []) if ty.elem == Elem::Int => "an integer".into(),
        (_, []) => "a number".into(),
        (_, [n]) => format!("a list of {n} {noun}"),
        (Form::Matrix, [r, c]) => format!("a list of {r} rows of {c} {noun} each"),
        _ => format!("a {} nested list of {noun}", sizes.join(" x ")),
    }
}

/// What the file gives, for a message: "a list of 4 values", "a 3 x 5 nested list", "true".
fn given_text(n: &Nesting, v: &Value) -> String {
    match n.dims.as_slice() {
        [] if v.is_number() => format!("the single number {}", describe(v)),
        [] => describe(v),
        [0] => "an empty list".into(),
        [k] => format!("a list of {}", plural(*k, "value")),
        dims => {
            let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            format!("a {} nested list", parts.join(" x "))
        }
    }
}

/// How an element of a ragged list is nested: "has 3 entries", "is a single value".
fn has_text(n: &Nesting) -> String {
    match n.dims.as_slice() {
        [] => "is a single value".into(),
        [0] => "is empty".into(),
        [k] => format!("has {}", plural(*k, "entry")),
        dims => {
            let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            format!("is a {} nested list", parts.join(" x "))
        }
    }
}

/// One kind of bad leaf, with its first occurrence and how many there are.
struct Problem {
    first: usize,
    bad: Bad,
    count: usize,
}

enum Bad {
    NotInt(String),
    Other(String, OtherKind),
    NonFinite(String),
    TooLarge(String),
    IntRange(String),
}

impl Loader<'_> {
    /// Reads a dense value for declaration `i`, whose sizes evaluate to `dims`.
    pub(super) fn dense(&mut self, i: usize, v: &Value, dims: &[usize]) -> Option<DataValue> {
        let decl = &self.model.data[i];
        let (name, ty, file) = (&decl.name, &decl.ty, self.file);
        let expect = format!("expects {}", expect_text(ty, Some(dims)));
        let got = match nesting(v) {
            Ok(n) => n,
            Err(r) => {
                let at = |k: usize| {
                    let mut p: Vec<String> = r.path.iter().map(|i| i.to_string()).collect();
                    p.push(k.to_string());
                    format!("{name}[{}]", p.join(", "))
                };
                let d = self
                    .diag(
                        i,
                        format!(
                            "`{name}` in `{file}` is a ragged nested list: `{}` {}, but `{}` {}",
                            at(r.at),
                            has_text(&r.other),
                            at(1),
                            has_text(&r.first)
                        ),
                        expect,
                    )
                    .with_help("the lists at one level of nesting must all have the same length");
                self.fail(i, d);
                return None;
            }
        };
        let rank_ok = if got.open {
            got.dims.len() <= dims.len()
        } else {
            got.dims.len() == dims.len()
        };
        if !rank_ok {
            let mut d = self.diag(
                i,
                format!(
                    "`{name}` is declared {ty}, but `{file}` gives {}",
                    given_text(&got, v)
                ),
                expect,
            );
            if dims.is_empty() && got.dims == [1] {
                d = d.with_help("write the number without brackets");
            } else if got.dims.is_empty() && v.is_number() {
                d = d.with_help(format!(
                    "write a list, even of one value: `[{}]`",
                    describe(v)
                ));
            }
            self.fail(i, d);
            return None;
        }
        if got.dims.iter().zip(dims).any(|(a, b)| a != b) {
            let with = bindings(&ty.shape, &self.sizes);
            let with = if with.is_empty() {
                String::new()
            } else {
                format!(" with {with}")
            };
            let gives = match got.dims.as_slice() {
                [k] if dims.len() == 1 => plural(*k, "value"),
                _ => given_text(&got, v),
            };
            let d = self.diag(
                i,
                format!("`{name}` is declared {ty}{with}, but `{file}` gives {gives}"),
                expect,
            );
            self.fail(i, d);
            return None;
        }
        let mut flat = vec![];
        leaves(v, &mut flat);
        let int = ty.elem == Elem::Int;
        let (values, ints) = self.read_leaves(i, &flat, int, &|k| {
            (!dims.is_empty()).then(|| index_name(name, k, dims))
        })?;
        Some(DataValue {
            shape: dims.to_vec(),
            values,
            ints,
            sparse: None,
        })
    }

    /// Reads leaves as integers (`int`) or finite reals for declaration `i`; `elem(k)` names the
    /// `k`-th (`None`: the declaration itself is the one leaf). Reports the first leaf of each kind
    /// of problem, with how many share it.
    pub(super) fn read_leaves(
        &mut self,
        i: usize,
        leaves: &[&Value],
        int: bool,
        elem: &dyn Fn(usize) -> Option<String>,
    ) -> Option<(Vec<f64>, Option<Vec<i64>>)> {
        let mut values = Vec::with_capacity(leaves.len());
        let mut ints = Vec::with_capacity(if int { leaves.len() } else { 0 });
        let mut problems: Vec<Problem> = vec![];
        for (k, v) in leaves.iter().enumerate() {
            let bad = match (Leaf::of(v, &self.too_large), int) {
                (Leaf::Int(n), _) => {
                    values.push(n as f64);
                    if int {
                        ints.push(n);
                    }
                    continue;
                }
                (Leaf::Real(f, _), false) => {
                    values.push(f);
                    continue;
                }
                // An integral real that is not an `Int` lies outside the i64 range.
                (Leaf::Real(f, text), true) if f.fract() == 0.0 => Bad::IntRange(text),
                (Leaf::Real(_, text), true) => Bad::NotInt(text),
                (Leaf::NonFinite(_, s), _) => Bad::NonFinite(s),
                (Leaf::TooLarge(t), true) => Bad::IntRange(t),
                (Leaf::TooLarge(t), false) => Bad::TooLarge(t),
                (Leaf::Other(desc, kind), _) => Bad::Other(desc, kind),
            };
            let same =
                |p: &&mut Problem| std::mem::discriminant(&p.bad) == std::mem::discriminant(&bad);
            match problems.iter_mut().find(|p| same(p)) {
                Some(p) => p.count += 1,
                None => problems.push(Problem {
                    first: k,
                    bad,
                    count: 1,
                }),
            }
        }
        if problems.is_empty() {
            return Some((values, int.then_some(ints)));
        }
        for p in problems {
            let d = self.leaf_problem(i, p, int, elem);
            self.fail(i, d);
        }
        None
    }

    fn leaf_problem(
        &self,
        i: usize,
        p: Problem,
        int: bool,
        elem: &dyn Fn(usize) -> Option<String>,
    ) -> crate::diagnostic::Diagnostic {
        let decl = &self.model.data[i];
        let (name, ty, file) = (&decl.name, &decl.ty, self.file);
        let at = elem(p.first);
        let what = at.clone().unwrap_or_else(|| name.clone());
        let scalar = at.is_none();
        let gives = |text: &str| match &at {
            None => format!("`{name}` is declared {ty}, but `{file}` gives {text}"),
            Some(e) => format!("`{name}` is declared {ty}, but `{file}` gives {text} at `{e}`"),
        };
        let expects = match (int, scalar) {
            (true, true) => "expects an integer",
            (true, false) => "expects integers",
            (false, true) => "expects a number",
            (false, false) => "expects numbers",
        };
        let finite = if scalar {
            "expects a finite number"
        } else {
            "expects finite numbers"
        };
        let mut d = match &p.bad {
            Bad::NotInt(text) => self.diag(i, gives(text), expects).with_help(format!(
                "declare `{name}` with `real` if it is not a count or an index"
            )),
            Bad::Other(desc, kind) => {
                let help = match kind {
                    OtherKind::String => {
                        "write numbers without quotes (the only strings read are \"NaN\" and \
                         \"Inf\", and data must be finite)"
                    }
                    OtherKind::Bool => "write 1 and 0 for true and false",
                    OtherKind::Null => "missing values are not supported: drop or impute them",
                    OtherKind::Object => "only a `sparse_matrix` is written as an object",
                    OtherKind::Array => "write a single number here",
                };
                self.diag(i, gives(desc), expects).with_help(help)
            }
            Bad::NonFinite(s) => self
                .diag(
                    i,
                    format!("`{what}` is {s} in `{file}`, but NaN/Inf are not allowed in data"),
                    finite,
                )
                .with_help("drop or impute missing values before loading"),
            Bad::TooLarge(t) => self
                .diag(
                    i,
                    format!("`{what}` is {t} in `{file}`, too large for a 64-bit real"),
                    finite,
                )
                .with_note("the largest 64-bit real is about 1.8e308"),
            Bad::IntRange(t) => self.diag(
                i,
                format!("`{what}` is {t} in `{file}`, outside the range of a 64-bit integer"),
                format!("expects integers from {} to {}", i64::MIN, i64::MAX),
            ),
        };
        if p.count > 1 {
            let more = p.count - 1;
            d = d.with_note(format!(
                "{} of `{name}` {} the same problem",
                plural(more, "more element"),
                if more == 1 { "has" } else { "have" }
            ));
        }
        d
    }
}

/// "`a`, `b` and `c`".
pub(super) fn quoted_list(items: &[&str]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    join_and(&q)
}
