//! Lowering of sparse matrices and solves: data matrices, matrices assembled with `sparse(...)`,
//! transposes, products with a dense right side, `solve(A, b)`, and the dense copy of a sparse matrix
//! for every other use.
//!
//! A sparse value is a node holding the nonzero values in the pattern's order; `Lowerer::sparse_of`
//! records its pattern. Only the sites that know sparse matrices (`*` with a sparse left side, `'`,
//! `solve`, `size`, `let`, laws and `fn` arguments) see it as such: `Lowerer::expr` hands every other
//! site a dense matrix.

use super::graph::*;
use super::lower::{Lowerer, Val, R};
use crate::check::Form;
use crate::diagnostic::Diagnostic;
use crate::eval::sparse::Pattern;
use crate::span::Span;
use crate::syntax::ast::*;
use crate::syntax::print::show;

/// The most elements a sparse matrix may have when a use needs it dense (128 MB of values).
const MAX_DENSE: usize = 1 << 24;

/// The most rows or columns an assembled sparse matrix may have (as for sparse data rows).
const MAX_ROWS: usize = 1 << 28;

impl<'m> Lowerer<'m> {
    /// The pattern of a sparse value, or `None` for a dense one.
    pub(super) fn pattern_of(&self, v: &Val) -> Option<PatternId> {
        self.sparse_of.get(&v.node).copied()
    }

    /// A sparse value from its values node and pattern.
    pub(super) fn sparse_val(&mut self, values: NodeId, p: PatternId) -> Val {
        self.sparse_of.insert(values, p);
        Val {
            node: values,
            form: Form::Sparse,
            int: false,
            per_element: false,
        }
    }

    /// A sparse value as a dense row-major matrix; a dense value as it is.
    pub(super) fn densify(&mut self, v: Val, span: Span) -> R<Val> {
        let Some(pid) = self.pattern_of(&v) else {
            return Ok(v);
        };
        let p = self.g.pattern(pid).clone();
        if p.rows.saturating_mul(p.cols) > MAX_DENSE {
            return Err(Diagnostic::error(
                span,
                format!(
                    "this use needs the {} x {} sparse matrix as a dense one, which is too large",
                    p.rows, p.cols
                ),
            )
            .with_label("used as a dense matrix here")
            .with_note(
                "sparse matrices stay sparse in products `A * x`, transposes `A'` and `solve(A, b)`",
            ));
        }
        // The values with one zero appended, gathered into every position of the dense matrix.
        let zero = self.g.add_const(vec![0.0], vec![1], span);
        let padded = self
            .g
            .push(Op::Concat(vec![v.node, zero]), vec![p.nnz() + 1], span);
        let map = self.g.add_map(p.dense_map());
        let node = self
            .g
            .push(Op::Gather(padded, map), vec![p.rows, p.cols], span);
        Ok(Val {
            node,
            form: Form::Matrix,
            int: false,
            per_element: false,
        })
    }

    /// `A'` of a sparse A: the transposed pattern, its values gathered from A's.
    pub(super) fn sparse_transpose(&mut self, a: Val, pid: PatternId, span: Span) -> R<Val> {
        let cols = self.g.pattern(pid).cols;
        if cols > MAX_ROWS {
            return Err(Diagnostic::error(
                span,
                format!("the transpose of a sparse matrix with {cols} columns: more rows than mmi supports ({MAX_ROWS})"),
            )
            .with_label("too large to transpose"));
        }
        let (t, from) = self.g.pattern(pid).transpose();
        let nnz = t.nnz();
        let map = self.g.add_map(from);
        let values = self.g.push(Op::Gather(a.node, map), vec![nnz], span);
        let tid = self.g.add_pattern(t);
        Ok(self.sparse_val(values, tid))
    }

    /// `A + B` or `A - B` of two sparse matrices of one size: the union of their patterns, each value
    /// added into its slot.
    pub(super) fn sparse_add(
        &mut self,
        a: Val,
        pa: PatternId,
        b: Val,
        pb: PatternId,
        subtract: bool,
        span: Span,
    ) -> Val {
        let (p, q) = (self.g.pattern(pa), self.g.pattern(pb));
        let (rows, cols) = (p.rows, p.cols);
        let mut i = p.row_of_entries();
        i.extend(q.row_of_entries());
        let mut j = p.col_index.clone();
        j.extend(q.col_index.iter().copied());
        let (np, nq) = (p.nnz(), q.nnz());
        let (u, slot) = Pattern::from_coordinates(rows, cols, &i, &j);
        let bn = if subtract {
            self.g.push(
                Op::Unary(crate::eval::ops::Unary::Neg, b.node),
                vec![nq],
                span,
            )
        } else {
            b.node
        };
        let both = self
            .g
            .push(Op::Concat(vec![a.node, bn]), vec![np + nq], span);
        let nnz = u.nnz();
        let map = self.g.add_map(slot);
        let node = self.g.push(Op::ScatterAdd(both, map), vec![nnz], span);
        let pid = self.g.add_pattern(u);
        self.sparse_val(node, pid)
    }

    /// `A * b` for a sparse A and a dense vector, field (flattened) or matrix b.
    pub(super) fn sparse_product(&mut self, a: Val, pid: PatternId, b: Val, span: Span) -> R<Val> {
        if b.per_element {
            return Err(Diagnostic::error(
                span,
                "a matrix product of values that vary along a comprehension cannot be compiled",
            )
            .with_label("compute this outside the comprehension, with a `law` or `let`"));
        }
        let rows = self.g.pattern(pid).rows;
        let sb = self.g.node(b.node).shape.clone();
        let shape = if sb.len() == 2 && b.form != Form::Field {
            vec![rows, sb[1]]
        } else {
            vec![rows]
        };
        let n = self.g.push(Op::SpMul(pid, a.node, b.node), shape, span);
        Ok(Val {
            node: n,
            form: if self.g.node(n).shape.len() == 2 {
                Form::Matrix
            } else {
                Form::Vector
            },
            int: false,
            per_element: false,
        })
    }

    /// `sparse(rows, cols, values, r, c)`: the pattern from the data indices, the values scattered
    /// into it (entries given twice are summed).
    pub(super) fn sparse_call(&mut self, pos: &[&Expr], span: Span) -> R<Val> {
        let r = self.expr(pos[3])?;
        let r = self.ints_of(r.node, pos[3].span)?[0].max(0) as usize;
        let c = self.expr(pos[4])?;
        let c = self.ints_of(c.node, pos[4].span)?[0].max(0) as usize;
        // Row offsets are allocated up front: a size typed with extra digits must not exhaust memory.
        for (k, n, what) in [(3, r, "rows"), (4, c, "columns")] {
            if n > MAX_ROWS {
                return Err(Diagnostic::error(
                    pos[k].span,
                    format!("`sparse` with {n} {what}: more than mmi supports ({MAX_ROWS})"),
                )
                .with_label(format!("too many {what}")));
            }
        }
        let mut coords = vec![];
        for (k, what, n) in [(0, "row", r), (1, "column", c)] {
            let v = self.expr(pos[k])?;
            let ints = self.ints_of(v.node, pos[k].span)?;
            if let Some(at) = ints.iter().position(|&i| i < 1 || i as usize > n) {
                let bad = ints.iter().filter(|&&i| i < 1 || i as usize > n).count();
                let mut d = Diagnostic::error(
                    pos[k].span,
                    format!("{what} index {} of `sparse` is out of range", ints[at]),
                )
                .with_label(format!("{what} indices run from 1 to {n}"))
                .with_note(format!(
                    "element {} of `{}` is {}",
                    at + 1,
                    show(pos[k]),
                    ints[at]
                ));
                match bad {
                    1 => {}
                    2 => d = d.with_note("1 more index is out of range"),
                    _ => d = d.with_note(format!("{} more indices are out of range", bad - 1)),
                }
                if ints[at] == 0 {
                    d = d.with_help("indices are 1-based");
                }
                return Err(d);
            }
            coords.push(ints.iter().map(|&i| i as usize - 1).collect::<Vec<_>>());
        }
        let values = self.expr(pos[2])?;
        if values.per_element {
            return Err(Diagnostic::error(
                pos[2].span,
                "the values of `sparse` vary along a comprehension",
            )
            .with_label("compute them outside the comprehension, with a `law` or `let`"));
        }
        let (p, slot) = Pattern::from_coordinates(r, c, &coords[0], &coords[1]);
        let nnz = p.nnz();
        let map = self.g.add_map(slot);
        let node = self
            .g
            .push(Op::ScatterAdd(values.node, map), vec![nnz], span);
        let pid = self.g.add_pattern(p);
        Ok(self.sparse_val(node, pid))
    }

    /// `solve(A, b)`: sparse LU for a sparse A, dense LU otherwise. A solve of data alone is done now,
    /// so a singular data matrix is reported against the source.
    pub(super) fn solve_call(&mut self, pos: &[&Expr], span: Span) -> R<Val> {
        let a = self.expr_any(pos[0])?;
        let b = self.expr(pos[1])?;
        for v in [&a, &b] {
            if v.per_element {
                return Err(Diagnostic::error(
                    span,
                    "`solve` of values that vary along a comprehension cannot be compiled",
                )
                .with_label("compute this outside the comprehension, with a `law` or `let`"));
            }
        }
        let shape = self.g.node(b.node).shape.clone();
        let op = match self.pattern_of(&a) {
            Some(pid) => Op::SparseSolve(pid, a.node, b.node),
            None => Op::Solve(a.node, b.node),
        };
        let node = self.g.push(op, shape.clone(), span);
        if !self.g.node(node).param {
            self.value_of(node, span).map_err(|d| {
                Diagnostic::error(span, d.message.clone())
                    .with_label("with the values in the data file")
            })?;
        }
        Ok(self.plain_val(node))
    }

    /// A dense real value in the plainest form for its rank.
    pub(super) fn plain_val(&self, node: NodeId) -> Val {
        let form = match self.g.node(node).shape.len() {
            0 => Form::Scalar,
            1 => Form::Vector,
            2 => Form::Matrix,
            _ => Form::Array,
        };
        Val {
            node,
            form,
            int: false,
            per_element: false,
        }
    }
}
