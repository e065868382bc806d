//! Expressions: name resolution, operators with broadcasting and matrix products, indexing and slicing,
//! array literals and comprehensions. Calls are in `calls.rs`.

use super::decls::dep_word;
use super::types::{broadcast, show_shape};
use super::{Checker, Context, Dep, Dim, Elem, Form, Global, Info, Ty};
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::*;
use crate::syntax::print::show;

impl<'p> Checker<'p> {
    /// Stores what is known about an expression of the main program (not of `fn`/`ode` bodies, whose
    /// types differ per call).
    pub(super) fn record(&mut self, e: &Expr, info: Info) {
        if self.in_main() && self.call_sites.is_empty() {
            self.infos[e.id.0 as usize] = Some(info);
        }
    }

    /// Infers an expression's type, shape and dependence; `None` after reporting an error.
    pub(super) fn expr(&mut self, e: &Expr) -> Option<Info> {
        let info = self.expr_inner(e)?;
        self.record(e, info.clone());
        Some(info)
    }

    fn expr_inner(&mut self, e: &Expr) -> Option<Info> {
        match &e.kind {
            ExprKind::Int(_) => Some(Info {
                ty: Ty::int(),
                dep: Dep::Data,
            }),
            ExprKind::Real(_) => Some(Info {
                ty: Ty::real(),
                dep: Dep::Data,
            }),
            ExprKind::Name(n) => self.name(n, e),
            ExprKind::Neg(a) => self.expr(a),
            ExprKind::Binary(op, a, b) => {
                let (ia, ib) = (self.expr(a), self.expr(b));
                self.binary(*op, a, &ia?, b, &ib?, e)
            }
            ExprKind::Transpose(a) => {
                let ia = self.expr(a)?;
                if ia.ty.rank() != 2 {
                    self.error(
                        Diagnostic::error(e.span, "only a matrix can be transposed")
                            .with_label(format!("this is {}", ia.ty))
                            .with_note("vectors have no orientation in mmi: `A' * v` and `A * v` are the products"),
                    );
                    return None;
                }
                let mut ty = ia.ty.clone();
                ty.shape.swap(0, 1);
                Some(Info { ty, dep: ia.dep })
            }
            ExprKind::Index { base, indices } => self.index(e, base, indices),
            ExprKind::Array(items) => self.array(e, items),
            ExprKind::Comprehension { body, generators } => self.comprehension(e, body, generators),
            ExprKind::Call { func, args } => self.call(e, func, args),
        }
    }

    fn name(&mut self, n: &str, e: &Expr) -> Option<Info> {
        if let Some(info) = self.lookup_local(n) {
            return Some(info.clone());
        }
        let context = *self.context.last().expect("a context is open");
        match self.globals.get(n).copied() {
            Some(Global::Data(i)) => self.data_decls.get(i).cloned().flatten().map(|d| Info {
                ty: d.ty,
                dep: Dep::Data,
            }),
            Some(g @ (Global::Latent(_) | Global::Law(_))) if context != Context::Main => {
                let (what, fix) = match context {
                    Context::FnBody(_) => ("a `fn` body", "pass it to the function as an argument"),
                    _ => (
                        "an `ode` right-hand side",
                        "add it to the system's parameters",
                    ),
                };
                self.error(
                    Diagnostic::error(
                        e.span,
                        format!("{what} cannot use `{n}`, which is {}", g.describe()),
                    )
                    .with_label("not visible here")
                    .with_help(fix),
                );
                None
            }
            Some(Global::Latent(i)) => self.latent_decls.get(i).cloned().flatten().map(|d| Info {
                ty: d.ty,
                dep: Dep::Latent,
            }),
            Some(Global::Law(i)) => self.law_info(i),
            Some(g @ (Global::Fn(_) | Global::Ode(_))) => {
                let help = match g {
                    Global::Fn(_) => format!("call it: `{n}(...)`"),
                    _ => format!("solve it: `solve_ode({n}, init, t0, times, ...)`"),
                };
                self.error(
                    Diagnostic::error(e.span, format!("`{n}` is {}, not a value", g.describe()))
                        .with_label("used as a value")
                        .with_help(help),
                );
                None
            }
            None => {
                if crate::library::functions::lookup(n).is_some() {
                    self.error(
                        Diagnostic::error(
                            e.span,
                            format!("`{n}` is a built-in function, not a value"),
                        )
                        .with_label("used as a value")
                        .with_help(format!("call it: `{n}(...)`")),
                    );
                } else {
                    self.unknown_name(n, e.span, "name");
                }
                None
            }
        }
    }

    fn binary(
        &mut self,
        op: BinOp,
        a: &Expr,
        ia: &Info,
        b: &Expr,
        ib: &Info,
        e: &Expr,
    ) -> Option<Info> {
        let dep = ia.dep.max(ib.dep);
        if op == BinOp::Mul && ia.ty.is_matrix_like() && ib.ty.rank() >= 1 {
            return self.matmul(a, ia, b, ib, dep);
        }
        if op == BinOp::Mul && ia.ty.rank() == 1 && ib.ty.is_matrix_like() {
            self.error(
                Diagnostic::error(e.span, "a vector times a matrix is ambiguous")
                    .with_label(format!("{} * {}", ia.ty, ib.ty))
                    .with_help("write `A' * v` for the product with the transpose, or `.*` to scale elementwise"),
            );
            return None;
        }
        let Some(shape) = broadcast(&ia.ty.shape, &ib.ty.shape) else {
            let verb = match op {
                BinOp::Add => "add",
                BinOp::Sub => "subtract",
                BinOp::Mul | BinOp::ElemMul => "multiply",
                BinOp::Div | BinOp::ElemDiv => "divide",
                BinOp::Pow => "raise",
                _ => "compare",
            };
            let d = Diagnostic::error(e.span, format!("cannot {verb} {} and {} elementwise", ia.ty, ib.ty))
                .with_label(format!("shapes {} and {} do not match", show_shape(&ia.ty.shape), show_shape(&ib.ty.shape)))
                .with_secondary(a.span, format!("{}", ia.ty))
                .with_secondary(b.span, format!("{}", ib.ty))
                .with_note("elementwise operations need equal sizes, aligned on the last axes; a scalar goes with anything");
            self.error(d);
            return None;
        };
        let int_arith = ia.ty.elem == Elem::Int
            && ib.ty.elem == Elem::Int
            && matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::ElemMul);
        // Comparisons give 0/1 integers; integer arithmetic stays integral except `/` and `^`.
        let elem = if op.is_comparison() || int_arith {
            Elem::Int
        } else {
            Elem::Real
        };
        let mut ty = elementwise_ty(elem, shape, &[&ia.ty, &ib.ty]);
        // The sum or difference of two sparse matrices stays sparse (on the union of the patterns).
        if matches!(op, BinOp::Add | BinOp::Sub)
            && ia.ty.form == Form::Sparse
            && ib.ty.form == Form::Sparse
        {
            ty.form = Form::Sparse;
        }
        Some(Info { ty, dep })
    }

    fn matmul(&mut self, a: &Expr, ia: &Info, b: &Expr, ib: &Info, dep: Dep) -> Option<Info> {
        let (rows, cols) = (&ia.ty.shape[0], &ia.ty.shape[1]);
        let right_matrix = ib.ty.rank() == 2 && ib.ty.form != Form::Field;
        let (inner, result) = if right_matrix {
            (
                ib.ty.shape[0].clone(),
                Ty::matrix(rows.clone(), ib.ty.shape[1].clone()),
            )
        } else if ib.ty.rank() == 1 || ib.ty.form == Form::Field {
            // A field is multiplied flattened, row-major.
            (Dim::product(&ib.ty.shape)?, Ty::vector(rows.clone()))
        } else {
            self.error(
                Diagnostic::error(b.span, format!("cannot multiply a matrix by {}", ib.ty))
                    .with_label("a matrix multiplies a vector, a field or a matrix"),
            );
            return None;
        };
        if &inner != cols {
            let what = if right_matrix { "rows" } else { "elements" };
            self.error(
                Diagnostic::error(
                    a.span.to(b.span),
                    format!(
                        "matrix product of {} and {}: sizes do not match",
                        ia.ty, ib.ty
                    ),
                )
                .with_label(format!("`{cols}` columns against `{inner}` {what}"))
                .with_secondary(a.span, format!("{}", ia.ty))
                .with_secondary(b.span, format!("{}", ib.ty))
                .with_help("use `.*` for an elementwise product"),
            );
            return None;
        }
        Some(Info { ty: result, dep })
    }

    fn index(&mut self, e: &Expr, base: &Expr, indices: &[IndexItem]) -> Option<Info> {
        let ib = self.expr(base)?;
        let rank = ib.ty.rank();
        if rank == 0 {
            self.error(
                Diagnostic::error(
                    base.span,
                    format!(
                        "`{}` is a single number and cannot be indexed",
                        crate::syntax::print::show(base)
                    ),
                )
                .with_label(format!("this is {}", ib.ty)),
            );
            return None;
        }
        if indices.len() > rank {
            let what = if rank == 0 {
                "a scalar cannot be indexed".to_string()
            } else {
                format!(
                    "{} has {rank} ax{}",
                    ib.ty,
                    if rank == 1 { "is" } else { "es" }
                )
            };
            self.error(
                Diagnostic::error(e.span, format!("too many indices: {} given", indices.len()))
                    .with_label(what)
                    .with_secondary(base.span, format!("{}", ib.ty)),
            );
            return None;
        }
        let mut dep = ib.dep;
        let mut shape = vec![];
        let mut gathered: Option<(Vec<Dim>, &Expr)> = None;
        let mut ok = true;
        for (axis, item) in indices.iter().enumerate() {
            let axis_len = ib.ty.shape[axis].clone();
            match item {
                IndexItem::Single(ix) => {
                    let Some(ii) = self.expr(ix) else {
                        ok = false;
                        continue;
                    };
                    dep = dep.max(ii.dep);
                    if ii.ty.elem != Elem::Int {
                        self.error(
                            Diagnostic::error(ix.span, "an index must be an integer")
                                .with_label(format!("this is {}", ii.ty))
                                .with_help("indices are 1-based integers or integer arrays; slices are written `a:b`"),
                        );
                        ok = false;
                        continue;
                    }
                    if ii.ty.is_scalar() {
                        if let ExprKind::Int(k) = ix.kind {
                            let len = axis_len.as_constant();
                            if k < 1 || len.is_some_and(|n| k > n) {
                                self.error(
                                    Diagnostic::error(
                                        ix.span,
                                        format!("index {k} is out of range"),
                                    )
                                    .with_label(format!("indices run from 1 to {axis_len}"))
                                    .with_secondary(base.span, format!("{}", ib.ty)),
                                );
                                ok = false;
                            }
                        }
                        continue;
                    }
                    match &gathered {
                        None => {
                            shape.extend(ii.ty.shape.iter().cloned());
                            gathered = Some((ii.ty.shape.clone(), ix));
                        }
                        Some((first, first_ix)) if *first != ii.ty.shape => {
                            let d = Diagnostic::error(ix.span, "integer-array indices must have the same shape")
                                .with_label(format!("this index has shape {}", show_shape(&ii.ty.shape)))
                                .with_secondary(first_ix.span, format!("this one has shape {}", show_shape(first)))
                                .with_note("several integer-array indices are zipped: `T[px, py, :]` takes element k of each");
                            self.error(d);
                            ok = false;
                        }
                        Some(_) => {}
                    }
                }
                IndexItem::Slice { lo, hi, .. } => {
                    for b in [lo, hi].into_iter().flatten() {
                        match self.expr(b) {
                            Some(i) if i.ty.is_int_scalar() => dep = dep.max(i.dep),
                            Some(i) => {
                                self.error(
                                    Diagnostic::error(b.span, "a slice bound must be an integer")
                                        .with_label(format!("this is {}", i.ty)),
                                );
                                ok = false;
                            }
                            None => ok = false,
                        }
                    }
                    let lo_d = match lo {
                        None => Some(Dim::constant(1)),
                        Some(l) => self.try_dim(l),
                    };
                    let hi_d = match hi {
                        None => Some(axis_len.clone()),
                        Some(h) => self.try_dim(h),
                    };
                    // Bounds provably outside 1..=len are mistakes whatever the data.
                    let below = lo_d
                        .as_ref()
                        .and_then(|l| l.as_constant())
                        .is_some_and(|l| l < 1);
                    let past = hi_d
                        .as_ref()
                        .and_then(|h| h.sub(&axis_len))
                        .and_then(|d| d.as_constant())
                        .is_some_and(|d| d > 0);
                    if below || past {
                        let span = if below {
                            lo.as_ref().map_or(e.span, |l| l.span)
                        } else {
                            hi.as_ref().map_or(e.span, |h| h.span)
                        };
                        self.error(
                            Diagnostic::error(span, "slice bound out of range")
                                .with_label(format!("indices run from 1 to {axis_len}"))
                                .with_secondary(base.span, format!("{}", ib.ty)),
                        );
                        ok = false;
                        continue;
                    }
                    let len = match (lo_d, hi_d) {
                        (Some(l), Some(h)) => h.sub(&l).and_then(|d| d.add(&Dim::constant(1))),
                        _ => None,
                    };
                    let len = match len {
                        Some(d) => d,
                        None => {
                            let lo_text = lo.as_ref().map(show).unwrap_or_else(|| "1".into());
                            let hi_text = hi
                                .as_ref()
                                .map(show)
                                .unwrap_or_else(|| axis_len.to_string());
                            self.fresh_opaque(format!("len({lo_text}:{hi_text})"))
                        }
                    };
                    shape.push(len);
                }
            }
        }
        if !ok {
            return None;
        }
        shape.extend(ib.ty.shape[indices.len()..].iter().cloned());
        let mut ty = Ty::of_shape(ib.ty.elem, shape);
        if ib.ty.form == Form::Field && ty.rank() == rank {
            ty.form = Form::Field;
        }
        Some(Info { ty, dep })
    }

    fn array(&mut self, e: &Expr, items: &[Expr]) -> Option<Info> {
        if items.is_empty() {
            self.error(
                Diagnostic::error(e.span, "an empty list has no size")
                    .with_label("empty")
                    .with_help("use `rep(0, n)` for a vector of zeros"),
            );
            return None;
        }
        let infos: Vec<Option<Info>> = items.iter().map(|i| self.expr(i)).collect();
        let infos: Vec<Info> = infos.into_iter().collect::<Option<_>>()?;
        let first = &infos[0];
        let mut dep = Dep::Data;
        let mut elem = Elem::Int;
        for (i, info) in infos.iter().enumerate() {
            if info.ty.shape != first.ty.shape || info.ty.rank() > 1 {
                let what = if info.ty.rank() > 1 {
                    "list elements must be numbers or vectors"
                } else {
                    "list elements must all have the same shape"
                };
                self.error(
                    Diagnostic::error(items[i].span, what)
                        .with_label(format!("this is {}", info.ty))
                        .with_secondary(items[0].span, format!("the first is {}", first.ty)),
                );
                return None;
            }
            dep = dep.max(info.dep);
            if info.ty.elem == Elem::Real {
                elem = Elem::Real;
            }
        }
        let mut shape = vec![Dim::constant(items.len() as i64)];
        shape.extend(first.ty.shape.iter().cloned());
        Some(Info {
            ty: Ty::of_shape(elem, shape),
            dep,
        })
    }

    fn comprehension(&mut self, e: &Expr, body: &Expr, generators: &[Generator]) -> Option<Info> {
        let mut shape = vec![];
        let mut ok = true;
        for g in generators {
            for b in [&g.lo, &g.hi] {
                match self.expr(b) {
                    Some(i) if i.ty.is_int_scalar() && i.dep == Dep::Data => {}
                    Some(i) => {
                        self.error(
                            Diagnostic::error(
                                b.span,
                                "a range bound must be an integer known from data",
                            )
                            .with_label(format!(
                                "this is {} ({})",
                                i.ty,
                                dep_word(i.dep)
                            )),
                        );
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            let len = match (self.try_dim(&g.lo), self.try_dim(&g.hi)) {
                (Some(l), Some(h)) => h.sub(&l).and_then(|d| d.add(&Dim::constant(1))),
                _ => None,
            };
            let len = match len {
                Some(d) => d,
                None => {
                    let text = format!("len({}:{})", show(&g.lo), show(&g.hi));
                    self.fresh_opaque(text)
                }
            };
            shape.push(len);
        }
        if !ok {
            return None;
        }
        self.push_frame(false);
        for g in generators {
            self.bind_local(
                &g.var,
                Info {
                    ty: Ty::int(),
                    dep: Dep::Data,
                },
            );
        }
        let ib = self.expr(body);
        self.pop_frame();
        let ib = ib?;
        if !ib.ty.is_scalar() {
            self.error(
                Diagnostic::error(
                    body.span,
                    "each element of a comprehension must be a single number",
                )
                .with_label(format!("this is {}", ib.ty))
                .with_secondary(
                    e.span,
                    format!("builds an array of shape {}", show_shape(&shape)),
                ),
            );
            return None;
        }
        Some(Info {
            ty: Ty::of_shape(ib.ty.elem, shape),
            dep: ib.dep,
        })
    }
}

/// The type of an elementwise result: the plain form for its rank, or a field when a field of that
/// rank went in, or the sole non-scalar operand's form.
pub(super) fn elementwise_ty(elem: Elem, shape: Vec<Dim>, inputs: &[&Ty]) -> Ty {
    let rank = shape.len();
    let mut ty = Ty::of_shape(elem, shape);
    if inputs
        .iter()
        .any(|t| t.form == Form::Field && t.rank() == rank)
        && rank > 0
    {
        ty.form = Form::Field;
    }
    ty
}
