//! Sparse matrices: the coordinate form of the data file,
//! `{"rows": r, "cols": c, "i": [...], "j": [...], "x": [...]}` with 1-based row indices `i`, column
//! indices `j` and values `x` of the nonzeros, is checked against the declared size and converted to
//! compressed sparse rows, with duplicate entries summed (in file order).

use super::dense::{plural, quoted_list};
use super::json::describe;
use super::{bindings, DataValue, Loader, SparseMatrix};
use serde_json::Value;

const FIELDS: [&str; 5] = ["rows", "cols", "i", "j", "x"];

/// The most rows a sparse matrix may have: its row offsets are allocated up front, so a size typed
/// with a few extra digits must not exhaust memory.
const MAX_ROWS: usize = 1 << 28;

const FORM_HELP: &str = "write a sparse matrix as {\"rows\": r, \"cols\": c, \"i\": [...], \"j\": \
                         [...], \"x\": [...]}, with the 1-based row index, column index and value \
                         of each nonzero";

impl Loader<'_> {
    /// Reads a sparse matrix for declaration `i`, declared with `dims` = `[rows, cols]`.
    pub(super) fn sparse(&mut self, i: usize, v: &Value, dims: &[usize]) -> Option<DataValue> {
        let decl = &self.model.data[i];
        let (name, ty, file) = (&decl.name, &decl.ty, self.file);
        let Value::Object(map) = v else {
            let d = self
                .diag(
                    i,
                    format!(
                        "`{name}` is declared {ty}, but `{file}` gives {}",
                        describe(v)
                    ),
                    "expects a sparse matrix in coordinate form",
                )
                .with_help(FORM_HELP);
            self.fail(i, d);
            return None;
        };
        let missing: Vec<&str> = FIELDS
            .iter()
            .copied()
            .filter(|f| !map.contains_key(*f))
            .collect();
        let unknown: Vec<&str> = map
            .keys()
            .map(|k| k.as_str())
            .filter(|k| !k.starts_with('_') && !FIELDS.contains(k))
            .collect();
        if !missing.is_empty() || !unknown.is_empty() {
            let mut parts = vec![];
            if !missing.is_empty() {
                let the = if missing.len() == 1 {
                    "field"
                } else {
                    "fields"
                };
                parts.push(format!("lacks the {the} {}", quoted_list(&missing)));
            }
            if !unknown.is_empty() {
                let the = if unknown.len() == 1 {
                    "field"
                } else {
                    "fields"
                };
                parts.push(format!("has the unknown {the} {}", quoted_list(&unknown)));
            }
            let d = self
                .diag(
                    i,
                    format!("sparse matrix `{name}` in `{file}` {}", parts.join(" and ")),
                    "declared here",
                )
                .with_help(FORM_HELP);
            self.fail(i, d);
            return None;
        }

        let field_name = |k: usize| Some(format!("{name}.{}", ["rows", "cols"][k]));
        let (_, size) = self.read_leaves(i, &[&map["rows"], &map["cols"]], true, &field_name)?;
        let size = size.unwrap_or_default();
        let (rows, cols) = (size[0], size[1]);
        if rows != dims[0] as i64 || cols != dims[1] as i64 {
            let with = bindings(&ty.shape, &self.sizes);
            let with = if with.is_empty() {
                String::new()
            } else {
                format!(" with {with}")
            };
            let d = self.diag(
                i,
                format!(
                    "`{name}` is declared {ty}{with}, but `{file}` gives rows = {rows}, cols = {cols}"
                ),
                format!("expects rows = {}, cols = {}", dims[0], dims[1]),
            );
            self.fail(i, d);
            return None;
        }
        let (rows, cols) = (dims[0], dims[1]);
        if rows > MAX_ROWS {
            let d = self.diag(
                i,
                format!("sparse matrix `{name}` in `{file}` has {rows} rows, more than mmi supports ({MAX_ROWS})"),
                "too many rows",
            );
            self.fail(i, d);
            return None;
        }

        let mut lists: Vec<&Vec<Value>> = vec![];
        for (f, what) in [
            ("i", "row indices"),
            ("j", "column indices"),
            ("x", "values"),
        ] {
            match &map[f] {
                Value::Array(a) => lists.push(a),
                other => {
                    let d = self
                        .diag(
                            i,
                            format!(
                                "`{name}.{f}` in `{file}` must be a list of {what}, but it is {}",
                                describe(other)
                            ),
                            "declared here",
                        )
                        .with_help(FORM_HELP);
                    self.fail(i, d);
                }
            }
        }
        let [li, lj, lx] = lists.as_slice() else {
            return None;
        };
        if li.len() != lj.len() || li.len() != lx.len() {
            let d = self.diag(
                i,
                format!(
                    "sparse matrix `{name}` in `{file}` has {} (`i`), {} (`j`) and {} (`x`)",
                    plural(li.len(), "row index"),
                    plural(lj.len(), "column index"),
                    plural(lx.len(), "value")
                ),
                "expects one row index, column index and value per nonzero",
            );
            self.fail(i, d.with_help(FORM_HELP));
            return None;
        }
        let at = |f: &'static str| move |k: usize| Some(format!("{name}.{f}[{}]", k + 1));
        let ri = self.read_leaves(i, &refs(li), true, &at("i"));
        let rj = self.read_leaves(i, &refs(lj), true, &at("j"));
        let rx = self.read_leaves(i, &refs(lx), false, &at("x"));
        let (Some((_, Some(ri))), Some((_, Some(rj))), Some((x, _))) = (ri, rj, rx) else {
            return None;
        };
        let ok_i = self.check_indices(i, &ri, "i", "row", rows);
        let ok_j = self.check_indices(i, &rj, "j", "column", cols);
        if !(ok_i && ok_j) {
            return None;
        }
        let zero_based = |v: Vec<i64>| v.into_iter().map(|k| k as usize - 1).collect::<Vec<_>>();
        let m = to_csr(rows, cols, &zero_based(ri), &zero_based(rj), &x);
        Some(DataValue {
            shape: vec![rows, cols],
            values: vec![],
            ints: None,
            sparse: Some(m),
        })
    }

    /// Checks that every index lies in `1..=n`; reports the first that does not.
    fn check_indices(&mut self, i: usize, idx: &[i64], f: &str, what: &str, n: usize) -> bool {
        let bad: Vec<usize> = (0..idx.len())
            .filter(|&k| idx[k] < 1 || idx[k] > n as i64)
            .collect();
        let Some(&first) = bad.first() else {
            return true;
        };
        let decl = &self.model.data[i];
        let (name, ty, file) = (&decl.name, &decl.ty, self.file);
        let with = bindings(&ty.shape, &self.sizes);
        let with = if with.is_empty() {
            String::new()
        } else {
            format!(" with {with}")
        };
        let mut d = self.diag(
            i,
            format!(
                "`{name}` is declared {ty}{with}, but `{file}` gives {what} index {} at `{name}.{f}[{}]`",
                idx[first],
                first + 1
            ),
            format!("{what} indices run from 1 to {n}"),
        );
        if bad.len() > 1 {
            d = d.with_note(format!(
                "{} of `{name}.{f}` {} out of range",
                plural(bad.len() - 1, "more index"),
                if bad.len() == 2 { "is" } else { "are" }
            ));
        }
        if idx[first] == 0 {
            d = d.with_help("indices are 1-based");
        }
        self.fail(i, d);
        false
    }
}

fn refs(a: &[Value]) -> Vec<&Value> {
    a.iter().collect()
}

/// Converts 0-based coordinates (already in range) to compressed sparse rows, summing duplicates.
pub(super) fn to_csr(
    rows: usize,
    cols: usize,
    i: &[usize],
    j: &[usize],
    x: &[f64],
) -> SparseMatrix {
    let mut order: Vec<usize> = (0..x.len()).collect();
    // A stable sort keeps duplicates in file order, so their sum is reproducible.
    order.sort_by_key(|&k| (i[k], j[k]));
    let mut row_start = vec![0; rows + 1];
    let mut col_index = vec![];
    let mut values: Vec<f64> = vec![];
    let mut last = None;
    for k in order {
        if last == Some((i[k], j[k])) {
            if let Some(v) = values.last_mut() {
                *v += x[k];
            }
            continue;
        }
        last = Some((i[k], j[k]));
        col_index.push(j[k]);
        values.push(x[k]);
        row_start[i[k] + 1] += 1;
    }
    for r in 0..rows {
        row_start[r + 1] += row_start[r];
    }
    SparseMatrix {
        rows,
        cols,
        row_start,
        col_index,
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_become_sorted_rows_with_duplicates_summed() {
        // (1,2)=1, (0,1)=2, (1,0)=3, (1,2)=4, row 2 empty
        let m = to_csr(3, 3, &[1, 0, 1, 1], &[2, 1, 0, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.row_start, vec![0, 1, 3, 3]);
        assert_eq!(m.col_index, vec![1, 0, 2]);
        assert_eq!(m.values, vec![2.0, 3.0, 5.0]);
    }
}
