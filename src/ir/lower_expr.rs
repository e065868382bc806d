//! Lowering of expressions: names, operators with broadcasting, matrix products, indexing (one gather
//! node with an index map computed from the data), calls, `fn` inlining, lists and comprehensions.

use super::graph::*;
use super::lower::{Lowerer, Val, R};
use crate::check::Form;
use crate::diagnostic::Diagnostic;
use crate::eval::ops::{Binary, Reduce, Unary};
use crate::library::functions::{self, Rule};
use crate::span::Span;
use crate::syntax::ast::*;

/// What one axis of an indexing expression selects.
enum Pick {
    One(usize),
    Range(usize, usize),
    /// Zipped integer-array positions (0-based); only the first array axis adds a result axis.
    Array(Vec<usize>, Vec<usize>, bool),
}

impl<'m> Lowerer<'m> {
    fn val(&self, node: NodeId, form: Form, int: bool, per_element: bool) -> Val {
        Val {
            node,
            form,
            int,
            per_element,
        }
    }

    fn shape(&self, n: NodeId) -> Vec<usize> {
        self.g.node(n).shape.clone()
    }

    pub(super) fn plain(&self, node: NodeId, int: bool, per_element: bool) -> Val {
        let rank = self.g.node(node).shape.len();
        let form = match rank {
            0 => Form::Scalar,
            1 => Form::Vector,
            2 => Form::Matrix,
            _ => Form::Array,
        };
        self.val(node, form, int, per_element)
    }

    /// An expression's value, as a dense array: a sparse matrix is expanded (`lower_sparse`).
    pub(super) fn expr(&mut self, e: &Expr) -> R<Val> {
        let v = self.expr_any(e)?;
        self.densify(v, e.span)
    }

    /// An expression's value, sparse matrices kept sparse: for the sites that know them.
    pub(super) fn expr_any(&mut self, e: &Expr) -> R<Val> {
        match &e.kind {
            ExprKind::Int(v) => {
                let n = self.g.add_const(vec![*v as f64], vec![], e.span);
                Ok(self.val(n, Form::Scalar, true, false))
            }
            ExprKind::Real(v) => {
                let n = self.g.add_const(vec![*v], vec![], e.span);
                Ok(self.val(n, Form::Scalar, false, false))
            }
            ExprKind::Name(n) => self.name(n, e.span),
            ExprKind::Neg(a) => {
                let a = self.expr(a)?;
                let shape = self.shape(a.node);
                let n = self.g.push(Op::Unary(Unary::Neg, a.node), shape, e.span);
                Ok(Val { node: n, ..a })
            }
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.expr_any(a)?, self.expr_any(b)?);
                match (self.pattern_of(&a), self.pattern_of(&b)) {
                    (Some(pa), Some(pb)) if matches!(op, BinOp::Add | BinOp::Sub) => {
                        return Ok(self.sparse_add(a, pa, b, pb, *op == BinOp::Sub, e.span));
                    }
                    (Some(pa), _) if *op == BinOp::Mul && !self.shape(b.node).is_empty() => {
                        let b = self.densify(b, e.span)?;
                        return self.sparse_product(a, pa, b, e.span);
                    }
                    _ => {}
                }
                let a = self.densify(a, e.span)?;
                let b = self.densify(b, e.span)?;
                self.binary(*op, a, b, e.span)
            }
            ExprKind::Transpose(a) => {
                let a = self.expr_any(a)?;
                if let Some(pid) = self.pattern_of(&a) {
                    return self.sparse_transpose(a, pid, e.span);
                }
                self.no_per_element(&a, "a transpose", e.span)?;
                let s = self.shape(a.node);
                let (r, c) = (s[0], s[1]);
                let map = (0..c)
                    .flat_map(|j| (0..r).map(move |i| (i * c + j) as u32))
                    .collect();
                let m = self.g.add_map(map);
                let n = self.g.push(Op::Gather(a.node, m), vec![c, r], e.span);
                Ok(Val { node: n, ..a })
            }
            ExprKind::Index { base, indices } => self.index(e, base, indices),
            ExprKind::Array(items) => {
                let vals: Vec<Val> = items.iter().map(|i| self.expr(i)).collect::<R<_>>()?;
                let mut shape = vec![vals.len()];
                shape.extend(self.shape(vals[0].node));
                let int = vals.iter().all(|v| v.int);
                let per = vals.iter().any(|v| v.per_element);
                if per {
                    return Err(self.unsupported("a list", e.span));
                }
                let n = self.g.push(
                    Op::Concat(vals.iter().map(|v| v.node).collect()),
                    shape,
                    e.span,
                );
                Ok(self.plain(n, int, false))
            }
            ExprKind::Comprehension { body, generators } => self.comprehension(e, body, generators),
            ExprKind::Call { func, args } => self.call(e, func, args),
        }
    }

    fn unsupported(&self, what: &str, span: Span) -> Diagnostic {
        Diagnostic::error(
            span,
            format!("{what} of values that vary along a comprehension cannot be compiled"),
        )
        .with_label("inside a comprehension, each element must be computed from its own indices")
        .with_help("compute this outside the comprehension, with a `law` or `let`")
    }

    pub(super) fn no_per_element(&self, v: &Val, what: &str, span: Span) -> R<()> {
        if v.per_element {
            Err(self.unsupported(what, span))
        } else {
            Ok(())
        }
    }

    fn name(&mut self, n: &str, span: Span) -> R<Val> {
        for scope in self.scopes.iter().rev() {
            if let Some((_, v)) = scope.iter().rev().find(|(k, _)| k == n) {
                return Ok(*v);
            }
        }
        if let Some(v) = self.globals.get(n) {
            return Ok(*v);
        }
        if self.latent_decls.contains_key(n) {
            return self.latent(n);
        }
        if self.laws.contains_key(n) {
            return self.law(n);
        }
        Err(Diagnostic::error(
            span,
            format!("internal error: `{n}` has no value in the graph"),
        ))
    }

    /// Makes `node` have `shape`: as is, a scalar, or repeated along leading axes (trailing alignment).
    pub(super) fn broadcast_to(&mut self, node: NodeId, shape: &[usize], span: Span) -> R<NodeId> {
        let have = self.shape(node);
        let len: usize = have.iter().product();
        let want: usize = shape.iter().product();
        if have == shape || len == 1 {
            return Ok(node);
        }
        if len == 0 || !want.is_multiple_of(len) || !shape.ends_with(&have) {
            return Err(Diagnostic::error(
                span,
                format!("internal error: cannot broadcast {have:?} to {shape:?}"),
            ));
        }
        let m = self
            .g
            .add_map((0..want).map(|i| (i % len) as u32).collect());
        Ok(self.g.push(Op::Gather(node, m), shape.to_vec(), span))
    }

    fn binary(&mut self, op: BinOp, a: Val, b: Val, span: Span) -> R<Val> {
        let (sa, sb) = (self.shape(a.node), self.shape(b.node));
        let per = a.per_element || b.per_element;
        if op == BinOp::Mul && matches!(a.form, Form::Matrix | Form::Sparse) && !sb.is_empty() {
            self.no_per_element(&a, "a matrix product", span)?;
            self.no_per_element(&b, "a matrix product", span)?;
            let rows = sa[0];
            let right_matrix = sb.len() == 2 && b.form != Form::Field;
            let n = if right_matrix {
                self.g
                    .push(Op::MatMul(a.node, b.node), vec![rows, sb[1]], span)
            } else {
                let flat = sb.iter().product();
                let x = if sb.len() == 1 {
                    b.node
                } else {
                    self.reshape(b.node, vec![flat], span)
                };
                self.g.push(Op::MatVec(a.node, x), vec![rows], span)
            };
            return Ok(self.plain(n, false, false));
        }
        // x^2 is a square: one multiplication instead of a power and its logarithmic derivative.
        if matches!(op, BinOp::Pow) && sb.is_empty() && self.is_constant(b.node, 2.0) {
            let n = self
                .g
                .push(Op::Unary(crate::eval::ops::Unary::Square, a.node), sa, span);
            return Ok(self.val(n, a.form, a.int, a.per_element));
        }
        let shape = if sa.len() >= sb.len() {
            sa.clone()
        } else {
            sb.clone()
        };
        let (an, bn) = (
            self.broadcast_to(a.node, &shape, span)?,
            self.broadcast_to(b.node, &shape, span)?,
        );
        let bop = match op {
            BinOp::Add => Binary::Add,
            BinOp::Sub => Binary::Sub,
            BinOp::Mul | BinOp::ElemMul => Binary::Mul,
            BinOp::Div | BinOp::ElemDiv => Binary::Div,
            BinOp::Pow => Binary::Pow,
            BinOp::Eq => Binary::Eq,
            BinOp::Ne => Binary::Ne,
            BinOp::Lt => Binary::Lt,
            BinOp::Le => Binary::Le,
            BinOp::Gt => Binary::Gt,
            BinOp::Ge => Binary::Ge,
        };
        let int = op.is_comparison()
            || (a.int
                && b.int
                && matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::ElemMul));
        let n = self.g.push(Op::Binary(bop, an, bn), shape.clone(), span);
        let field = [a, b]
            .iter()
            .any(|v| v.form == Form::Field && self.shape(v.node).len() == shape.len());
        let mut v = self.plain(n, int, per);
        if field && !shape.is_empty() {
            v.form = Form::Field;
        }
        Ok(v)
    }

    /// Whether a node is a literal constant with this value.
    fn is_constant(&self, node: NodeId, value: f64) -> bool {
        match self.g.node(node).op {
            Op::Const(c) => self.g.consts[c.0 as usize] == [value],
            _ => false,
        }
    }

    fn reshape(&mut self, node: NodeId, shape: Vec<usize>, span: Span) -> NodeId {
        let n: usize = shape.iter().product();
        let m = self.g.add_map((0..n as u32).collect());
        self.g.push(Op::Gather(node, m), shape, span)
    }

    /// The values of a data-only node, computed now (for indices, slice bounds and weights).
    pub(super) fn value_of(&mut self, node: NodeId, span: Span) -> R<Vec<f64>> {
        if let Some(v) = self.known.get(&node) {
            return Ok(v.clone());
        }
        if self.g.node(node).param {
            return Err(Diagnostic::error(
                span,
                "this must be known from data, but it depends on latents",
            )
            .with_label("depends on latents"));
        }
        let inputs = self.g.node(node).op.inputs();
        let mut values = vec![];
        for i in &inputs {
            values.push(self.value_of(*i, span)?);
        }
        let refs: Vec<&[f64]> = values.iter().map(|v| v.as_slice()).collect();
        let out = crate::eval::forward::eval_data_node(&self.g, node, &refs)
            .map_err(|m| Diagnostic::error(span, m))?;
        self.known.insert(node, out.clone());
        Ok(out)
    }

    /// Integer values (indices, bounds) of a data-only node.
    pub(super) fn ints_of(&mut self, node: NodeId, span: Span) -> R<Vec<i64>> {
        Ok(self
            .value_of(node, span)?
            .iter()
            .map(|v| *v as i64)
            .collect())
    }

    fn index(&mut self, e: &Expr, base: &Expr, indices: &[IndexItem]) -> R<Val> {
        let b = self.expr(base)?;
        self.no_per_element(&b, "indexing", e.span)?;
        let shape = self.shape(b.node);
        let name = crate::syntax::print::show(base);
        let mut picks = vec![];
        let mut per_element_index: Option<Val> = None;
        let mut first_array = true;
        for (axis, item) in indices.iter().enumerate() {
            let len = shape[axis];
            let out_of_range = |k: i64, span: Span| {
                Diagnostic::error(span, format!("index {k} is out of range for `{name}`"))
                    .with_label(format!(
                        "axis {} of `{name}` runs from 1 to {len}",
                        axis + 1
                    ))
            };
            match item {
                IndexItem::Single(ix) => {
                    let v = self.expr(ix)?;
                    if v.per_element {
                        // Inside a comprehension: a gather by the comprehension's index values.
                        per_element_index = Some(v);
                    }
                    let ints = self.ints_of(v.node, ix.span)?;
                    if let Some(pos) = ints.iter().position(|&k| k < 1 || k as usize > len) {
                        let mut d = out_of_range(ints[pos], ix.span);
                        if !self.g.node(v.node).shape.is_empty() {
                            d = d.with_note(format!(
                                "element {} of the index array `{}` is {}",
                                pos + 1,
                                crate::syntax::print::show(ix),
                                ints[pos]
                            ));
                        }
                        return Err(d);
                    }
                    let zero: Vec<usize> = ints.iter().map(|&k| k as usize - 1).collect();
                    if self.g.node(v.node).shape.is_empty() && !v.per_element {
                        picks.push(Pick::One(zero[0]));
                    } else {
                        let s = self.shape(v.node);
                        picks.push(Pick::Array(zero, s, first_array));
                        first_array = false;
                    }
                }
                IndexItem::Slice { lo, hi, span } => {
                    let lo_v = match lo {
                        Some(l) => {
                            let v = self.expr(l)?;
                            self.ints_of(v.node, l.span)?[0]
                        }
                        None => 1,
                    };
                    let hi_v = match hi {
                        Some(h) => {
                            let v = self.expr(h)?;
                            self.ints_of(v.node, h.span)?[0]
                        }
                        None => len as i64,
                    };
                    if lo_v < 1 || hi_v > len as i64 || hi_v < lo_v - 1 {
                        return Err(Diagnostic::error(
                            *span,
                            format!("slice {lo_v}:{hi_v} is out of range for `{name}`"),
                        )
                        .with_label(format!(
                            "axis {} of `{name}` runs from 1 to {len}",
                            axis + 1
                        )));
                    }
                    picks.push(Pick::Range(lo_v as usize - 1, hi_v as usize));
                }
            }
        }
        for &len in &shape[indices.len()..] {
            picks.push(Pick::Range(0, len));
        }
        // Result axes and the source offset of every result element.
        let strides: Vec<usize> = (0..shape.len())
            .map(|k| shape[k + 1..].iter().product())
            .collect();
        let mut out_shape = vec![];
        let mut array_len = None;
        for p in &picks {
            match p {
                Pick::One(_) => {}
                Pick::Range(a, b) => out_shape.push(b - a),
                Pick::Array(v, s, first) => {
                    if *first {
                        out_shape.extend(s.iter().copied());
                    }
                    array_len = Some(v.len());
                }
            }
        }
        let total: usize = out_shape.iter().product();
        let mut map = Vec::with_capacity(total);
        // Enumerate result positions: axes from ranges vary with their own counters, all array axes
        // share one counter.
        let dims: Vec<usize> = picks
            .iter()
            .filter_map(|p| match p {
                Pick::One(_) => None,
                Pick::Range(a, b) => Some(b - a),
                Pick::Array(_, _, first) => first.then(|| array_len.unwrap_or(0)),
            })
            .collect();
        let count: usize = dims.iter().product();
        let mut counter = vec![0usize; dims.len()];
        for _ in 0..count {
            let mut src = 0;
            let mut c = 0;
            let mut array_pos = 0;
            for (axis, p) in picks.iter().enumerate() {
                let coord = match p {
                    Pick::One(k) => *k,
                    Pick::Range(a, _) => {
                        let v = a + counter[c];
                        c += 1;
                        v
                    }
                    Pick::Array(v, _, first) => {
                        if *first {
                            array_pos = counter[c];
                            c += 1;
                        }
                        v[array_pos]
                    }
                };
                src += coord * strides[axis];
            }
            map.push(src as u32);
            for k in (0..counter.len()).rev() {
                counter[k] += 1;
                if counter[k] < dims[k] {
                    break;
                }
                counter[k] = 0;
            }
        }
        let m = self.g.add_map(map);
        let node = self
            .g
            .push(Op::Gather(b.node, m), out_shape.clone(), e.span);
        let mut v = self.plain(node, b.int, per_element_index.is_some());
        if b.form == Form::Field && out_shape.len() == shape.len() {
            v.form = Form::Field;
        }
        Ok(v)
    }

    /// A comprehension is lowered vectorised when its body is elementwise in the generator variables
    /// (each variable becomes the vector of its values at every position): one node per operation,
    /// whatever the size. A body that mixes them with whole arrays (a reduction over a matrix at each
    /// index, say) cannot be vectorised that way and is unrolled instead: the body once per position,
    /// with the variables as scalars, then concatenated; that costs nodes, so it is limited in size.
    fn comprehension(&mut self, e: &Expr, body: &Expr, generators: &[Generator]) -> R<Val> {
        match self.vectorised_comprehension(e, body, generators) {
            Ok(v) => Ok(v),
            Err(err) => self.unrolled_comprehension(e, body, generators, err),
        }
    }

    /// The most positions an unrolled comprehension may have.
    const MAX_UNROLLED: usize = 20_000;

    fn unrolled_comprehension(
        &mut self,
        e: &Expr,
        body: &Expr,
        generators: &[Generator],
        vectorised_error: Diagnostic,
    ) -> R<Val> {
        let mut ranges = vec![];
        for g in generators {
            let lo = self.expr(&g.lo)?;
            let hi = self.expr(&g.hi)?;
            let lo = self.ints_of(lo.node, g.lo.span)?[0];
            let hi = self.ints_of(hi.node, g.hi.span)?[0];
            ranges.push((lo, (hi - lo + 1).max(0) as usize));
        }
        let shape: Vec<usize> = ranges.iter().map(|r| r.1).collect();
        let total: usize = shape.iter().product();
        if total > Self::MAX_UNROLLED {
            return Err(vectorised_error);
        }
        let mut items = Vec::with_capacity(total);
        let mut int = true;
        for p in 0..total {
            let mut scope = vec![];
            for (k, g) in generators.iter().enumerate() {
                let inner: usize = shape[k + 1..].iter().product();
                let value = (ranges[k].0 + ((p / inner.max(1)) % shape[k].max(1)) as i64) as f64;
                let n = self.g.add_const(vec![value], vec![], g.var.span);
                self.known.insert(n, vec![value]);
                scope.push((g.var.name.clone(), self.val(n, Form::Scalar, true, false)));
            }
            self.scopes.push(scope);
            let v = self.expr(body);
            self.scopes.pop();
            let v = v?;
            if !self.g.node(v.node).shape.is_empty() {
                return Err(vectorised_error);
            }
            int &= v.int;
            items.push(v.node);
        }
        let node = self.g.push(Op::Concat(items), vec![total], e.span);
        let node = self.reshape(node, shape, e.span);
        Ok(self.plain(node, int, false))
    }

    fn vectorised_comprehension(
        &mut self,
        e: &Expr,
        body: &Expr,
        generators: &[Generator],
    ) -> R<Val> {
        let mut ranges = vec![];
        for g in generators {
            let lo = self.expr(&g.lo)?;
            let hi = self.expr(&g.hi)?;
            let lo = self.ints_of(lo.node, g.lo.span)?[0];
            let hi = self.ints_of(hi.node, g.hi.span)?[0];
            ranges.push((lo, (hi - lo + 1).max(0) as usize));
        }
        let shape: Vec<usize> = ranges.iter().map(|r| r.1).collect();
        let total: usize = shape.iter().product();
        // Each generator variable becomes the vector of its value at every position (row-major).
        let mut scope = vec![];
        for (k, g) in generators.iter().enumerate() {
            let inner: usize = shape[k + 1..].iter().product();
            let values: Vec<f64> = (0..total)
                .map(|p| (ranges[k].0 + ((p / inner.max(1)) % shape[k].max(1)) as i64) as f64)
                .collect();
            let n = self.g.add_const(values.clone(), vec![total], g.var.span);
            self.known.insert(n, values);
            scope.push((g.var.name.clone(), self.val(n, Form::Vector, true, true)));
        }
        self.scopes.push(scope);
        let v = self.expr(body);
        self.scopes.pop();
        let v = v?;
        let len: usize = self.g.node(v.node).shape.iter().product();
        let node = if len == total && v.per_element {
            self.reshape(v.node, shape.clone(), e.span)
        } else {
            let m = self.g.add_map(vec![0; total]);
            self.g.push(Op::Gather(v.node, m), shape.clone(), e.span)
        };
        Ok(self.plain(node, v.int, false))
    }

    fn call(&mut self, e: &Expr, func: &Ident, args: &[Arg]) -> R<Val> {
        if let Some(def) = self.fns.get(func.name.as_str()).copied() {
            let mut bound: Vec<Option<Val>> = vec![None; def.params.len()];
            let mut next = 0;
            for a in args {
                let slot = match &a.name {
                    Some(n) => def
                        .params
                        .iter()
                        .position(|p| p.name == n.name)
                        .unwrap_or(0),
                    None => {
                        next += 1;
                        next - 1
                    }
                };
                bound[slot] = Some(self.expr_any(&a.value)?);
            }
            let frame: Vec<(String, Val)> = def
                .params
                .iter()
                .zip(bound)
                .map(|(p, v)| {
                    (
                        p.name.clone(),
                        v.expect("the checker binds every parameter"),
                    )
                })
                .collect();
            // A fn body sees only its parameters and global data: a fresh scope stack.
            let saved = std::mem::replace(&mut self.scopes, vec![frame]);
            let r = self.expr(&def.body);
            self.scopes = saved;
            return r;
        }
        let spec = functions::lookup(&func.name).expect("the checker resolved every call");
        let mut pos: Vec<&Expr> = vec![];
        let mut axis = None;
        let mut spacing = None;
        for a in args {
            match &a.name {
                None => pos.push(&a.value),
                Some(n) if n.name == "axis" => {
                    if let ExprKind::Int(k) = a.value.kind {
                        axis = Some(k as usize - 1);
                    }
                }
                Some(n) if n.name == "spacing" => spacing = Some(&a.value),
                Some(_) => {}
            }
        }
        let span = e.span;
        match spec.rule {
            Rule::Solve => self.solve_call(&pos, span),
            Rule::Sparse => self.sparse_call(&pos, span),
            Rule::Interp => self.interp_call(&pos, span),
            Rule::Grad => self.grad_call(&pos, axis, spacing, span),
            Rule::Laplacian => self.laplacian_call(&pos, spacing, span),
            Rule::Convolve => self.convolve_call(&pos, span),
            Rule::SolveOde => self.solve_ode(e, func, args),
            Rule::Map1 { keeps_int } => {
                let a = self.expr(pos[0])?;
                let op = Unary::from_name(spec.name).expect("every Map1 built-in has a kernel");
                let n = self.g.push(Op::Unary(op, a.node), self.shape(a.node), span);
                let int = keeps_int && a.int;
                Ok(Val { node: n, int, ..a })
            }
            Rule::MapN => {
                let a = self.expr(pos[0])?;
                let b = self.expr(pos[1])?;
                self.map2(
                    Binary::from_name(spec.name).expect("every MapN built-in has a kernel"),
                    a,
                    b,
                    span,
                )
            }
            Rule::ReduceOrMap if pos.len() == 2 => {
                let a = self.expr(pos[0])?;
                let b = self.expr(pos[1])?;
                match spec.name {
                    "min" => self.map2(Binary::Fmin, a, b, span),
                    "max" => self.map2(Binary::Fmax, a, b, span),
                    _ => {
                        // log(exp(a) + exp(b)) = max(a, b) + log1p_exp(-|a - b|), stable for any values.
                        let m = self.map2(Binary::Fmax, a, b, span)?;
                        let d = self.map2(Binary::Sub, a, b, span)?;
                        let s = self.shape(d.node);
                        let abs = self.g.push(Op::Unary(Unary::Abs, d.node), s.clone(), span);
                        let neg = self.g.push(Op::Unary(Unary::Neg, abs), s.clone(), span);
                        let l = self
                            .g
                            .push(Op::Unary(Unary::Log1pExp, neg), s.clone(), span);
                        let l = self.plain(l, false, d.per_element);
                        self.map2(Binary::Add, m, l, span)
                    }
                }
            }
            Rule::Reduce | Rule::ReduceOrMap => {
                let a = self.expr(pos[0])?;
                self.no_per_element(&a, &format!("`{}`", spec.name), span)?;
                let op = Reduce::from_name(spec.name).expect("every reduction has a kernel");
                let s = self.shape(a.node);
                let (view, out) = axis_view(&s, axis);
                let n = self.g.push(Op::Reduce(op, a.node, view), out, span);
                Ok(self.plain(n, false, false))
            }
            Rule::Dot => {
                let a = self.expr(pos[0])?;
                let b = self.expr(pos[1])?;
                self.no_per_element(&a, "`dot`", span)?;
                self.no_per_element(&b, "`dot`", span)?;
                let n = self.g.push(Op::Dot(a.node, b.node), vec![], span);
                Ok(self.plain(n, false, false))
            }
            Rule::Scan => {
                let a = self.expr(pos[0])?;
                self.no_per_element(&a, "`cumulative_sum`", span)?;
                let s = self.shape(a.node);
                let (view, _) = axis_view(&s, Some(axis.unwrap_or(s.len() - 1)));
                let n = self.g.push(Op::CumSum(a.node, view), s, span);
                Ok(Val { node: n, ..a })
            }
            Rule::Diff => {
                let a = self.expr(pos[0])?;
                self.no_per_element(&a, "`diff`", span)?;
                let rank = self.shape(a.node).len();
                let n = self.diff(a.node, axis.unwrap_or(rank - 1), span)?;
                Ok(Val {
                    node: n,
                    int: a.int,
                    ..a
                })
            }
            Rule::VectorMap => {
                let a = self.expr(pos[0])?;
                self.no_per_element(&a, &format!("`{}`", spec.name), span)?;
                let op = if spec.name == "softmax" {
                    Op::Softmax(a.node)
                } else {
                    Op::LogSoftmax(a.node)
                };
                let n = self.g.push(op, self.shape(a.node), span);
                Ok(self.plain(n, false, false))
            }
            Rule::Flatten => {
                let a = self.expr(pos[0])?;
                self.no_per_element(&a, "`to_vector`", span)?;
                let len = self.shape(a.node).iter().product();
                let n = self.reshape(a.node, vec![len], span);
                Ok(self.plain(n, a.int, false))
            }
            Rule::ToMatrix => {
                let a = self.expr(pos[0])?;
                self.no_per_element(&a, "`to_matrix`", span)?;
                let r = self.expr(pos[1])?;
                let c = self.expr(pos[2])?;
                let (r, c) = (
                    self.ints_of(r.node, span)?[0] as usize,
                    self.ints_of(c.node, span)?[0] as usize,
                );
                let n = self.reshape(a.node, vec![r, c], span);
                Ok(self.plain(n, false, false))
            }
            Rule::Rep => {
                let a = self.expr(pos[0])?;
                let mut dims = vec![];
                for d in &pos[1..] {
                    let v = self.expr(d)?;
                    let k = self.ints_of(v.node, d.span)?[0];
                    if k < 0 {
                        return Err(Diagnostic::error(d.span, format!("`rep` size is {k}"))
                            .with_label("sizes cannot be negative"));
                    }
                    dims.push(k as usize);
                }
                let total = dims.iter().product();
                let m = self.g.add_map(vec![0; total]);
                let n = self.g.push(Op::Gather(a.node, m), dims, span);
                Ok(self.plain(n, a.int, false))
            }
            Rule::Linspace => {
                let a = self.expr(pos[0])?;
                let b = self.expr(pos[1])?;
                let nv = self.expr(pos[2])?;
                let k = self.ints_of(nv.node, span)?[0].max(0) as usize;
                let t: Vec<f64> = (0..k)
                    .map(|i| {
                        if k > 1 {
                            i as f64 / (k - 1) as f64
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let t = self.g.add_const(t, vec![k], span);
                let t = self.plain(t, false, false);
                let width = self.map2(Binary::Sub, b, a, span)?;
                let scaled = self.map2(Binary::Mul, width, t, span)?;
                self.map2(Binary::Add, a, scaled, span)
            }
            Rule::Size => {
                let a = self.expr_any(pos[0])?;
                let len: usize = match self.pattern_of(&a) {
                    Some(p) => self.g.pattern(p).rows * self.g.pattern(p).cols,
                    None => self.shape(a.node).iter().product(),
                };
                let n = self.g.add_const(vec![len as f64], vec![], span);
                Ok(self.plain(n, true, false))
            }
            Rule::DiagMatrix => {
                let a = self.expr(pos[0])?;
                self.no_per_element(&a, "`diag_matrix`", span)?;
                let k = self.shape(a.node)[0];
                let n = self.g.push(Op::DiagMatrix(a.node), vec![k, k], span);
                Ok(self.plain(n, false, false))
            }
            Rule::Diagonal => {
                let a = self.expr(pos[0])?;
                self.no_per_element(&a, "`diagonal`", span)?;
                let k = self.shape(a.node)[0];
                let m = self.g.add_map((0..k).map(|i| (i * k + i) as u32).collect());
                let n = self.g.push(Op::Gather(a.node, m), vec![k], span);
                Ok(self.plain(n, false, false))
            }
            Rule::Select => {
                let c = self.expr(pos[0])?;
                let a = self.expr(pos[1])?;
                let b = self.expr(pos[2])?;
                let shapes = [self.shape(c.node), self.shape(a.node), self.shape(b.node)];
                let shape = shapes
                    .iter()
                    .max_by_key(|s| s.len())
                    .cloned()
                    .unwrap_or_default();
                let cn = self.broadcast_to(c.node, &shape, span)?;
                let an = self.broadcast_to(a.node, &shape, span)?;
                let bn = self.broadcast_to(b.node, &shape, span)?;
                let n = self.g.push(Op::Select(cn, an, bn), shape, span);
                Ok(self.plain(
                    n,
                    a.int && b.int,
                    c.per_element || a.per_element || b.per_element,
                ))
            }
        }
    }

    /// An elementwise binary built-in with broadcasting.
    fn map2(&mut self, op: Binary, a: Val, b: Val, span: Span) -> R<Val> {
        let (sa, sb) = (self.shape(a.node), self.shape(b.node));
        let shape = if sa.len() >= sb.len() { sa } else { sb };
        let an = self.broadcast_to(a.node, &shape, span)?;
        let bn = self.broadcast_to(b.node, &shape, span)?;
        let n = self.g.push(Op::Binary(op, an, bn), shape, span);
        Ok(self.plain(n, false, a.per_element || b.per_element))
    }

    /// Differences of consecutive elements along `axis`: two gathers and a subtraction.
    pub(super) fn diff(&mut self, node: NodeId, axis: usize, span: Span) -> R<NodeId> {
        let shape = self.shape(node);
        let len = shape[axis];
        if len == 0 {
            return Err(Diagnostic::error(span, "`diff` of an empty axis")
                .with_label("nothing to difference"));
        }
        let mut out = shape.clone();
        out[axis] = len - 1;
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let mut lo = vec![];
        let mut hi = vec![];
        for o in 0..outer {
            for k in 0..len - 1 {
                for i in 0..inner {
                    lo.push(((o * len + k) * inner + i) as u32);
                    hi.push(((o * len + k + 1) * inner + i) as u32);
                }
            }
        }
        let (ml, mh) = (self.g.add_map(lo), self.g.add_map(hi));
        let a = self.g.push(Op::Gather(node, mh), out.clone(), span);
        let b = self.g.push(Op::Gather(node, ml), out.clone(), span);
        Ok(self.g.push(Op::Binary(Binary::Sub, a, b), out, span))
    }
}

/// The [outer, len, inner] view of `shape` for an operation along `axis` (all elements when `None`),
/// and the shape that remains after reducing that axis.
fn axis_view(shape: &[usize], axis: Option<usize>) -> ([usize; 3], Vec<usize>) {
    match axis {
        None => ([1, shape.iter().product(), 1], vec![]),
        Some(k) => {
            let outer = shape[..k].iter().product();
            let inner = shape[k + 1..].iter().product();
            let mut rest = shape.to_vec();
            rest.remove(k);
            ([outer, shape[k], inner], rest)
        }
    }
}
