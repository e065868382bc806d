//! The data loader: reads a Stan-style JSON data file (the format CmdStan reads) and validates it
//! against a checked model's `data` declarations, giving every declaration a concrete value.
//!
//! The file is one JSON object of variables. A scalar is a number; a `vector`, an `int[...]` or
//! `real[...]` array and a `field` are lists, nested once per axis, row-major (`[[1, 2], [3, 4]]` is a
//! `matrix[2, 2]` whose first row is `1, 2`). A real may also be one of the strings `"NaN"`, `"Inf"`,
//! `"Infinity"`, `"-Inf"`, `"-Infinity"`, but for now every data value must be finite, so these are
//! read and then rejected. An integer may be written `3` or `3.0`. A declaration whose size is zero may
//! be left out. A `sparse_matrix[r, c]` is an object in coordinate form,
//! `{"rows": r, "cols": c, "i": [...], "j": [...], "x": [...]}`, with 1-based row indices `i`, column
//! indices `j` and values `x` of the nonzeros; duplicate entries are summed; it is stored in compressed
//! sparse row form. Keys starting with `_` are ignored (simulated files keep true values there); other
//! keys the model does not declare draw a warning.
//!
//! Loading goes in dependency order: the scalar integers first (they are the sizes), then everything
//! else, with each declared size evaluated from the loaded integers (`eval_dim`). A size that fails to
//! load is reported once, and what depends on it is not checked until it is fixed. Value constraints
//! are checked last (see `bounds`). Every problem is a `Diagnostic` whose primary span is the
//! declaration in the model, and whose message names the variable, the data file and the numbers.

mod bounds;
mod dense;
mod json;
mod sparse;

use crate::check::{CheckedModel, Dim, Form};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::Item;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The values of a model's data, ready for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSet {
    /// One value per data declaration, in `CheckedModel.data` order.
    pub values: Vec<DataValue>,
    /// The value of every scalar int data item, for evaluating sizes.
    pub sizes: HashMap<String, i64>,
}

/// The value of one data declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct DataValue {
    /// Concrete shape (empty for scalars).
    pub shape: Vec<usize>,
    /// All elements row-major as f64 (ints converted); for a sparse matrix, empty.
    pub values: Vec<f64>,
    /// The elements as integers when declared int.
    pub ints: Option<Vec<i64>>,
    /// For `sparse_matrix[r, c]`: the matrix in compressed sparse row form.
    pub sparse: Option<SparseMatrix>,
}

/// A sparse matrix in compressed sparse row form: the nonzeros of row `r` are at positions
/// `row_start[r]..row_start[r + 1]` of `col_index` and `values`, in increasing column order.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseMatrix {
    pub rows: usize,
    pub cols: usize,
    /// `rows + 1` offsets into `col_index` and `values`.
    pub row_start: Vec<usize>,
    /// 0-based column of each stored entry.
    pub col_index: Vec<usize>,
    pub values: Vec<f64>,
}

/// Loads `json` (the text of the file named `file_name`) for `model`. Errors and warnings are
/// Diagnostics whose primary span is the offending declaration in the MODEL source (so they render
/// against the .mmi file), naming the variable, the data file and the numbers. On failure every error
/// is returned, with the warnings.
pub fn load(
    model: &CheckedModel,
    json: &str,
    file_name: &str,
) -> Result<(DataSet, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut lx = Loader::new(model, file_name);
    let parsed = match json::parse(json) {
        Ok(p) => p,
        Err(e) => {
            let d = Diagnostic::error(
                lx.first_decl_span(),
                format!(
                    "`{file_name}` is not valid JSON: {} at line {} column {}",
                    e.message, e.line, e.column
                ),
            )
            .with_label("while reading the data for this model")
            .with_note(format!(
                "line {} column {} is a position in `{file_name}`, not in the model",
                e.line, e.column
            ));
            return Err(vec![d]);
        }
    };
    lx.too_large = parsed.too_large;
    let Value::Object(map) = parsed.value else {
        let d = Diagnostic::error(
            lx.first_decl_span(),
            format!(
                "`{file_name}` must hold one JSON object of named variables, but it holds {}",
                json::describe(&parsed.value)
            ),
        )
        .with_label("while reading the data for this model")
        .with_help("write the data file as `{\"n\": 3, \"y\": [1.5, 2.0, 0.5]}`");
        return Err(vec![d]);
    };
    lx.warn_extra_keys(&map);

    let data = &model.data;
    let (ints, rest): (Vec<usize>, Vec<usize>) =
        (0..data.len()).partition(|&i| data[i].ty.is_int_scalar());
    for &i in &ints {
        lx.load_decl(i, map.get(&data[i].name));
    }
    let mut deferred = vec![];
    for &i in &ints {
        if lx.check_bounds(i, true) == bounds::Outcome::Deferred {
            deferred.push(i);
        }
    }
    lx.check_negative_sizes();
    for &i in &rest {
        lx.load_decl(i, map.get(&data[i].name));
    }
    for i in deferred.into_iter().chain(rest) {
        lx.check_bounds(i, false);
        lx.check_structure(i);
    }
    lx.finish()
}

/// Evaluates a declared size with the loaded int sizes (an error names the size and what was found).
pub fn eval_dim(dim: &Dim, sizes: &HashMap<String, i64>) -> Result<i64, String> {
    eval(dim, sizes).map_err(|e| match e {
        DimError::Opaque => format!("the size `{dim}` is only known at run time"),
        DimError::Missing(n) => format!("the size `{dim}` needs `{n}`, which has no value"),
        DimError::Overflow => format!(
            "the size `{dim}` overflows a 64-bit integer (with {})",
            bindings(std::slice::from_ref(dim), sizes)
        ),
        DimError::Negative(v) => format!(
            "the size `{dim}` is {v} (with {}), but a size cannot be negative",
            bindings(std::slice::from_ref(dim), sizes)
        ),
    })
}

enum DimError {
    Opaque,
    Missing(String),
    Overflow,
    Negative(i64),
}

fn eval(dim: &Dim, sizes: &HashMap<String, i64>) -> Result<i64, DimError> {
    let Dim::Poly(terms) = dim else {
        return Err(DimError::Opaque);
    };
    let mut total: i64 = 0;
    for (vars, coef) in terms {
        let mut term = *coef;
        for v in vars {
            let value = *sizes.get(v).ok_or_else(|| DimError::Missing(v.clone()))?;
            term = term.checked_mul(value).ok_or(DimError::Overflow)?;
        }
        total = total.checked_add(term).ok_or(DimError::Overflow)?;
    }
    if total < 0 {
        return Err(DimError::Negative(total));
    }
    Ok(total)
}

/// The names the sizes use, in order of appearance.
fn size_names(dims: &[Dim]) -> Vec<&str> {
    let mut out: Vec<&str> = vec![];
    for d in dims {
        if let Dim::Poly(terms) = d {
            for v in terms.iter().flat_map(|(vars, _)| vars) {
                if !out.contains(&v.as_str()) {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// "n = 5 and m = 3" for the names the sizes use (those with a value).
fn bindings(dims: &[Dim], sizes: &HashMap<String, i64>) -> String {
    let parts: Vec<String> = size_names(dims)
        .into_iter()
        .filter_map(|n| Some(format!("{n} = {}", sizes.get(n)?)))
        .collect();
    join_and(&parts)
}

/// "a", "a and b", "a, b and c".
fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The loader's state while it reads one file.
struct Loader<'a> {
    model: &'a CheckedModel,
    file: &'a str,
    /// Numbers too large for an f64, by marker index (see `json`).
    too_large: Vec<String>,
    values: Vec<Option<DataValue>>,
    /// Whether each declaration has been read, successfully or not.
    done: Vec<bool>,
    /// Declarations that could not be loaded (or whose value breaks a bound); sizes depending on them
    /// are not evaluated, so one mistake gives one message.
    failed: HashSet<String>,
    /// The usable sizes: int scalars that loaded, keep their bounds and are not negative.
    sizes: HashMap<String, i64>,
    /// For each int data name, the declarations that use it in a size.
    size_users: HashMap<String, Vec<usize>>,
    /// Keys of the file that the model does not declare (for "did you mean").
    extra_keys: Vec<String>,
    diags: Vec<Diagnostic>,
}

impl<'a> Loader<'a> {
    fn new(model: &'a CheckedModel, file: &'a str) -> Loader<'a> {
        let mut size_users: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, d) in model.data.iter().enumerate() {
            for n in size_names(&d.ty.shape) {
                size_users.entry(n.to_string()).or_default().push(i);
            }
        }
        Loader {
            model,
            file,
            too_large: vec![],
            values: vec![None; model.data.len()],
            done: vec![false; model.data.len()],
            failed: HashSet::new(),
            sizes: HashMap::new(),
            size_users,
            extra_keys: vec![],
            diags: vec![],
        }
    }

    fn first_decl_span(&self) -> Span {
        self.model.data.first().map_or(Span::new(0, 0), |d| d.span)
    }

    /// Where a warning about the file as a whole points: the first `data` keyword, else the start.
    fn data_block_span(&self) -> Span {
        self.model
            .program
            .items
            .iter()
            .find_map(|it| match it {
                Item::Data(b) => Some(b.keyword),
                _ => None,
            })
            .unwrap_or_else(|| self.first_decl_span())
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.model.data.iter().position(|d| d.name == name)
    }

    /// An error at declaration `i`. An error about a size says what waits for it.
    fn diag(&self, i: usize, message: String, label: impl Into<String>) -> Diagnostic {
        let decl = &self.model.data[i];
        let mut d = Diagnostic::error(decl.span, message).with_label(label);
        if let Some(users) = self.size_users.get(&decl.name) {
            let names: Vec<String> = users
                .iter()
                .map(|&u| format!("`{}`", self.model.data[u].name))
                .collect();
            let it = if names.len() == 1 {
                "it is"
            } else {
                "they are"
            };
            d = d.with_note(format!(
                "`{}` is a size of {}; {it} checked once `{}` is fixed",
                decl.name,
                join_and(&names),
                decl.name
            ));
        }
        d
    }

    /// Reports an error that leaves declaration `i` without a usable value.
    fn fail(&mut self, i: usize, d: Diagnostic) {
        self.diags.push(d);
        let name = self.model.data[i].name.clone();
        self.sizes.remove(&name);
        self.failed.insert(name);
    }

    fn warn_extra_keys(&mut self, map: &serde_json::Map<String, Value>) {
        let declared: Vec<&str> = self.model.data.iter().map(|d| d.name.as_str()).collect();
        for key in map.keys() {
            if key.starts_with('_') || declared.contains(&key.as_str()) {
                continue;
            }
            self.extra_keys.push(key.clone());
            let mut d = Diagnostic::warning(
                self.data_block_span(),
                format!(
                    "`{}` gives `{key}`, which the model does not declare as data",
                    self.file
                ),
            )
            .with_label(format!("no declaration of `{key}`; its value is ignored"));
            if self.model.latents.iter().any(|l| &l.name == key) {
                d = d.with_note(format!(
                    "`{key}` is a latent: a data file cannot fix it (a true value for checking \
                     may be kept as `_{key}`)"
                ));
            } else if let Some(hint) = did_you_mean(key, declared.iter().copied()) {
                d = d.with_help(hint);
            } else {
                d = d.with_help(format!(
                    "declare it in the `data` block, or rename it `_{key}` to silence this"
                ));
            }
            self.diags.push(d);
        }
    }

    /// Reads declaration `i` from its value in the file (`None` when the file lacks it).
    fn load_decl(&mut self, i: usize, value: Option<&Value>) {
        self.done[i] = true;
        let decl = &self.model.data[i];
        let Some(value) = value else {
            self.missing(i);
            return;
        };
        let Some(dims) = self.dims(i) else {
            self.failed.insert(decl.name.clone());
            return;
        };
        let loaded = if decl.ty.form == Form::Sparse {
            self.sparse(i, value, &dims)
        } else {
            self.dense(i, value, &dims)
        };
        match loaded {
            Some(v) => {
                if let (true, Some(ints)) = (decl.ty.is_int_scalar(), &v.ints) {
                    self.sizes.insert(decl.name.clone(), ints[0]);
                }
                self.values[i] = Some(v);
            }
            None => {
                self.failed.insert(decl.name.clone());
            }
        }
    }

    fn missing(&mut self, i: usize) {
        let decl = &self.model.data[i];
        let quiet: Option<Vec<usize>> = decl
            .ty
            .shape
            .iter()
            .map(|d| eval(d, &self.sizes).ok().map(|v| v as usize))
            .collect();
        // A declaration of size zero may be left out, as CmdStan allows (a sparse matrix may not: its
        // row offsets would be allocated from a size the file never confirmed).
        let dense = decl.ty.form != Form::Sparse;
        if let Some(dims) = quiet.as_ref().filter(|d| dense && d.contains(&0)) {
            self.values[i] = Some(empty_value(decl, dims.clone()));
            return;
        }
        let d = self.diag(
            i,
            format!("`{}` is missing from `{}`", decl.name, self.file),
            "declared here",
        );
        // A near miss among the file's undeclared keys is most likely a typo.
        let help = match did_you_mean(&decl.name, self.extra_keys.iter().map(|k| k.as_str())) {
            Some(hint) => format!("{hint} (a key in `{}`)", self.file),
            None => format!(
                "add `\"{}\": ...` to the data file: {}",
                decl.name,
                dense::expect_text(&decl.ty, quiet.as_deref())
            ),
        };
        self.fail(i, d.with_help(help));
    }

    /// The concrete sizes of declaration `i`, or `None` (reported unless a size it needs failed).
    fn dims(&mut self, i: usize) -> Option<Vec<usize>> {
        let decl = &self.model.data[i];
        let mut out = vec![];
        for dim in &decl.ty.shape {
            let err = match eval(dim, &self.sizes) {
                Ok(v) => {
                    out.push(usize::try_from(v).ok()?);
                    continue;
                }
                Err(e) => e,
            };
            let what = match err {
                DimError::Missing(n) if self.failed.contains(&n) => return None,
                DimError::Missing(n) => format!("needs `{n}`, which has no value"),
                DimError::Opaque => "is known only at run time".to_string(),
                DimError::Overflow => "overflows a 64-bit integer".to_string(),
                DimError::Negative(v) => format!("is {v}"),
            };
            let with = bindings(std::slice::from_ref(dim), &self.sizes);
            let with = if with.is_empty() {
                String::new()
            } else {
                format!(" with {with}")
            };
            let d = self.diag(
                i,
                format!(
                    "`{}` is declared {}, but its size `{dim}` {what}{with}",
                    decl.name, decl.ty
                ),
                "a size must be a nonnegative 64-bit integer",
            );
            self.fail(i, d);
            return None;
        }
        Some(out)
    }

    /// A size given a negative value is reported once, at the size, rather than at every user.
    fn check_negative_sizes(&mut self) {
        for i in 0..self.model.data.len() {
            let decl = &self.model.data[i];
            let (Some(users), Some(&v)) =
                (self.size_users.get(&decl.name), self.sizes.get(&decl.name))
            else {
                continue;
            };
            if v >= 0 {
                continue;
            }
            let mut d = Diagnostic::error(
                decl.span,
                format!(
                    "`{}` is a size, but `{}` gives {} = {v}",
                    decl.name, self.file, decl.name
                ),
            )
            .with_label("a size cannot be negative");
            for &u in users {
                d = d.with_secondary(
                    self.model.data[u].span,
                    format!("uses `{}` as a size", decl.name),
                );
            }
            self.fail(i, d);
        }
    }

    fn finish(self) -> Result<(DataSet, Vec<Diagnostic>), Vec<Diagnostic>> {
        let Loader {
            model,
            values,
            mut diags,
            ..
        } = self;
        if diags.iter().any(|d| d.is_error()) {
            return Err(diags);
        }
        let Some(values) = values.into_iter().collect::<Option<Vec<DataValue>>>() else {
            diags.push(Diagnostic::error(
                model.data.first().map_or(Span::new(0, 0), |d| d.span),
                "internal error: a data declaration was left without a value (this is a bug in mmi)",
            ));
            return Err(diags);
        };
        let sizes = model
            .data
            .iter()
            .zip(&values)
            .filter(|(d, _)| d.ty.is_int_scalar())
            .filter_map(|(d, v)| Some((d.name.clone(), *v.ints.as_ref()?.first()?)))
            .collect();
        Ok((DataSet { values, sizes }, diags))
    }
}

/// The value of a dense declaration of size zero.
fn empty_value(decl: &crate::check::DeclInfo, shape: Vec<usize>) -> DataValue {
    DataValue {
        shape,
        values: vec![],
        ints: (decl.ty.elem == crate::check::Elem::Int).then(Vec::new),
        sparse: None,
    }
}
