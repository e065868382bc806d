//! Lowering of the field operators `interp`, `grad`, `laplacian` and `convolve`. Each is linear in the
//! field with coefficients known from data, so each becomes one fixed sparse operator built here,
//! once, and applied by the sparse product node (`Op::SpMul`): the reverse sweep is its transpose
//! product, and evaluation allocates nothing. A sparse product costs about what a dedicated stencil
//! loop does (a multiply-add per stored coefficient) and shares one tested kernel.
//!
//! Conventions (documented in docs/language.md): interpolation coordinates are in grid units, 1-based
//! (1 is the first grid point, n the last; 2.5 lies halfway between the second and third);
//! `grad` uses central differences inside and one-sided ones at the two ends; `laplacian` sums the
//! second differences of every axis with zero-flux (Neumann) boundaries; `convolve` is a true
//! convolution (the kernel flipped) centred on the kernel's middle element, with zero padding.

use super::graph::*;
use super::lower::{Lowerer, Val, R};
use crate::check::Form;
use crate::diagnostic::Diagnostic;
use crate::eval::sparse::Pattern;
use crate::span::Span;
use crate::syntax::ast::*;
use crate::syntax::print::show;

/// The most coefficients a fixed operator may have (400 MB of values and indices).
const MAX_ENTRIES: usize = 1 << 25;

/// Row-major strides of a shape.
fn strides(shape: &[usize]) -> Vec<usize> {
    (0..shape.len())
        .map(|k| shape[k + 1..].iter().product())
        .collect()
}

/// The (row, column, value) entries of a linear operator, gathered before its pattern is built.
#[derive(Default)]
struct Entries {
    rows: Vec<usize>,
    cols: Vec<usize>,
    values: Vec<f64>,
}

impl Entries {
    fn push(&mut self, r: usize, c: usize, v: f64) {
        self.rows.push(r);
        self.cols.push(c);
        self.values.push(v);
    }
}

impl<'m> Lowerer<'m> {
    /// `out = M x` for the fixed operator `M` (`rows x cols`, from `entries`, duplicates summed) and a
    /// field `x` of `cols` elements, with the result in `shape`.
    fn fixed_operator(
        &mut self,
        x: &Val,
        rows: usize,
        cols: usize,
        e: Entries,
        shape: Vec<usize>,
        span: Span,
    ) -> R<Val> {
        if e.values.len() > MAX_ENTRIES {
            return Err(Diagnostic::error(
                span,
                format!(
                    "this operator would have {} coefficients, more than mmi supports ({MAX_ENTRIES})",
                    e.values.len()
                ),
            )
            .with_label("too large"));
        }
        let (p, slot) = Pattern::from_coordinates(rows, cols, &e.rows, &e.cols);
        let mut values = vec![0.0; p.nnz()];
        for (v, s) in e.values.iter().zip(&slot) {
            values[*s as usize] += v;
        }
        let nnz = p.nnz();
        let pid = self.g.add_pattern(p);
        let a = self.g.add_const(values, vec![nnz], span);
        let node = self.g.push(Op::SpMul(pid, a, x.node), shape, span);
        let mut v = self.plain_val(node);
        if x.form == Form::Field && self.g.node(node).shape == self.g.node(x.node).shape {
            v.form = Form::Field;
        }
        Ok(v)
    }

    /// The grid steps of `spacing = ...` (default 1), one per axis, each positive.
    fn spacing(&mut self, e: Option<&Expr>, rank: usize, name: &str) -> R<Vec<f64>> {
        let Some(e) = e else {
            return Ok(vec![1.0; rank]);
        };
        let v = self.expr(e)?;
        let values = self.value_of(v.node, e.span)?;
        let steps = match values.len() {
            1 => vec![values[0]; rank],
            n if n == rank => values,
            n => {
                return Err(Diagnostic::error(
                    e.span,
                    format!(
                    "`{name}` of a {rank}-dimensional grid needs {rank} steps, but {n} are given"
                ),
                )
                .with_label("one step per axis, or one for all"))
            }
        };
        if let Some(h) = steps.iter().find(|h| h.is_nan() || **h <= 0.0) {
            return Err(
                Diagnostic::error(e.span, format!("the grid spacing of `{name}` is {h}"))
                    .with_label("a grid step must be positive"),
            );
        }
        Ok(steps)
    }

    fn operand(&mut self, e: &Expr, name: &str) -> R<Val> {
        let x = self.expr(e)?;
        if x.per_element {
            return Err(Diagnostic::error(
                e.span,
                format!("`{name}` of values that vary along a comprehension cannot be compiled"),
            )
            .with_label("compute this outside the comprehension, with a `law` or `let`"));
        }
        Ok(x)
    }

    /// `interp(T, x1, ...)`: multilinear interpolation of T at data points, one coordinate array per
    /// axis (grid units, 1-based).
    pub(super) fn interp_call(&mut self, pos: &[&Expr], span: Span) -> R<Val> {
        let t = self.operand(pos[0], "interp")?;
        let shape = self.g.node(t.node).shape.clone();
        let rank = shape.len();
        let mut coords = vec![];
        for c in &pos[1..] {
            let v = self.expr(c)?;
            coords.push(v.node);
        }
        let out_shape = coords
            .iter()
            .map(|c| self.g.node(*c).shape.clone())
            .max_by_key(|s| s.len())
            .unwrap_or_default();
        let points: usize = out_shape.iter().product();
        // Per axis: the lower grid index and the weight of the upper one, for every point.
        let mut base = vec![vec![0usize; points]; rank];
        let mut frac = vec![vec![0.0f64; points]; rank];
        for a in 0..rank {
            let node = self.broadcast_to(coords[a], &out_shape, pos[a + 1].span)?;
            let values = self.value_of(node, pos[a + 1].span)?;
            let n = shape[a];
            for (m, &u) in values.iter().enumerate() {
                // 1e-9 grid units of slack absorb rounding in coordinates computed from positions.
                let inside = n > 0 && u >= 1.0 - 1e-9 && u <= n as f64 + 1e-9;
                if !inside {
                    return Err(Diagnostic::error(
                        pos[a + 1].span,
                        format!(
                            "point {} of `interp` lies outside the grid along axis {}",
                            m + 1,
                            a + 1
                        ),
                    )
                    .with_label(format!(
                        "its coordinate is {u}, but axis {} runs from 1 to {n}",
                        a + 1
                    ))
                    .with_note(format!(
                        "`{}` is {}",
                        show(pos[0]),
                        self.describe_shape(&shape)
                    ))
                    .with_help(
                        "coordinates are in grid units: 1 is the first grid point, n the last",
                    ));
                }
                let u = (u - 1.0).clamp(0.0, (n - 1) as f64);
                let i = (u.floor() as usize).min(n.saturating_sub(2));
                base[a][m] = i;
                frac[a][m] = u - i as f64;
            }
        }
        let st = strides(&shape);
        let len: usize = shape.iter().product();
        let mut e = Entries::default();
        for m in 0..points {
            for corner in 0..(1usize << rank) {
                let mut w = 1.0;
                let mut col = 0;
                for a in 0..rank {
                    let upper = corner >> a & 1 == 1;
                    w *= if upper { frac[a][m] } else { 1.0 - frac[a][m] };
                    col += (base[a][m] + upper as usize) * st[a];
                }
                // A zero weight may sit on a point past the end of a one-point axis: skip it.
                if w != 0.0 {
                    e.push(m, col, w);
                }
            }
        }
        self.fixed_operator(&t, points, len, e, out_shape, span)
    }

    fn describe_shape(&self, shape: &[usize]) -> String {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        format!("a grid of {}", dims.join(" x "))
    }

    /// `grad(x, axis = k, spacing = h)`: the derivative along axis k by finite differences, central
    /// inside and one-sided at the ends; the same shape as x.
    pub(super) fn grad_call(
        &mut self,
        pos: &[&Expr],
        axis: Option<usize>,
        spacing: Option<&Expr>,
        span: Span,
    ) -> R<Val> {
        let x = self.operand(pos[0], "grad")?;
        let shape = self.g.node(x.node).shape.clone();
        let a = axis.unwrap_or(shape.len() - 1);
        let n = shape[a];
        let h = self.spacing(spacing, shape.len(), "grad")?[a];
        if n < 2 {
            return Err(Diagnostic::error(
                pos[0].span,
                format!("`grad` along axis {} needs at least 2 grid points", a + 1),
            )
            .with_label(format!("axis {} has {n}", a + 1)));
        }
        let outer: usize = shape[..a].iter().product();
        let inner: usize = shape[a + 1..].iter().product();
        let len = outer * n * inner;
        let mut e = Entries::default();
        for o in 0..outer {
            for i in 0..n {
                for q in 0..inner {
                    let at = |k: usize| (o * n + k) * inner + q;
                    let row = at(i);
                    let (lo, hi, d) = if i == 0 {
                        (0, 1, h)
                    } else if i == n - 1 {
                        (n - 2, n - 1, h)
                    } else {
                        (i - 1, i + 1, 2.0 * h)
                    };
                    e.push(row, at(hi), 1.0 / d);
                    e.push(row, at(lo), -1.0 / d);
                }
            }
        }
        self.fixed_operator(&x, len, len, e, shape, span)
    }

    /// `laplacian(x, spacing = h)`: the sum over axes of second differences, with zero flux through
    /// the boundary (a missing neighbour contributes nothing); the same shape as x.
    pub(super) fn laplacian_call(
        &mut self,
        pos: &[&Expr],
        spacing: Option<&Expr>,
        span: Span,
    ) -> R<Val> {
        let x = self.operand(pos[0], "laplacian")?;
        let shape = self.g.node(x.node).shape.clone();
        let h = self.spacing(spacing, shape.len(), "laplacian")?;
        let st = strides(&shape);
        let len: usize = shape.iter().product();
        let mut e = Entries::default();
        for row in 0..len {
            for a in 0..shape.len() {
                let i = row / st[a] % shape[a];
                let w = 1.0 / (h[a] * h[a]);
                if i > 0 {
                    e.push(row, row - st[a], w);
                    e.push(row, row, -w);
                }
                if i + 1 < shape[a] {
                    e.push(row, row + st[a], w);
                    e.push(row, row, -w);
                }
            }
        }
        self.fixed_operator(&x, len, len, e, shape, span)
    }

    /// `convolve(x, kernel)`: out[i] = sum_k kernel[k] x[i - k + c] (c the kernel's centre), zero
    /// outside the grid; the same shape as x.
    pub(super) fn convolve_call(&mut self, pos: &[&Expr], span: Span) -> R<Val> {
        let x = self.operand(pos[0], "convolve")?;
        let shape = self.g.node(x.node).shape.clone();
        let k = self.expr(pos[1])?;
        let kshape = self.g.node(k.node).shape.clone();
        let kernel = self.value_of(k.node, pos[1].span)?;
        if let Some(a) = kshape.iter().position(|s| s % 2 == 0) {
            return Err(Diagnostic::error(
                pos[1].span,
                format!(
                    "the kernel of `convolve` has {} elements along axis {}",
                    kshape[a],
                    a + 1
                ),
            )
            .with_label("kernel sizes must be odd, so that the kernel has a centre")
            .with_help("pad the kernel with a row or column of zeros"));
        }
        let st = strides(&shape);
        let kst = strides(&kshape);
        let len: usize = shape.iter().product();
        let rank = shape.len();
        if len.saturating_mul(kernel.len()) > MAX_ENTRIES {
            return Err(Diagnostic::error(
                pos[1].span,
                format!(
                    "a {}-element kernel on a {len}-point grid needs more coefficients than mmi supports ({MAX_ENTRIES})",
                    kernel.len()
                ),
            )
            .with_label("too large a kernel for this grid"));
        }
        let mut e = Entries::default();
        for row in 0..len {
            'kernel: for (kk, &w) in kernel.iter().enumerate() {
                if w == 0.0 {
                    continue;
                }
                let mut col = 0;
                for a in 0..rank {
                    let i = (row / st[a] % shape[a]) as i64;
                    let ka = (kk / kst[a] % kshape[a]) as i64;
                    let j = i - ka + (kshape[a] / 2) as i64;
                    if j < 0 || j >= shape[a] as i64 {
                        continue 'kernel;
                    }
                    col += j as usize * st[a];
                }
                e.push(row, col, w);
            }
        }
        self.fixed_operator(&x, len, len, e, shape, span)
    }
}
