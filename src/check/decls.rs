//! Declarations: type names and their sizes, value constraints, and the rules that differ between data
//! (anything a file can hold) and latents (continuous quantities a sampler can move).

use super::types::show_shape;
use super::{Checker, DeclInfo, Dep, Dim, Elem, Form, Global, Info, Structure, Ty};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::library::distributions::Boundary;
use crate::syntax::ast::*;

const TYPE_NAMES: &[&str] = &[
    "int",
    "real",
    "vector",
    "matrix",
    "field",
    "simplex",
    "ordered",
    "positive_ordered",
    "sparse_matrix",
];

impl<'p> Checker<'p> {
    pub(super) fn check_decls(&mut self) {
        // Types first (their sizes only need the data integers, read from the AST), so that bounds
        // and spacings may refer to any declaration, in any order.
        for i in 0..self.data.len() {
            let info = self.decl_type(self.data[i], false);
            self.data_decls.push(info);
        }
        for i in 0..self.latents.len() {
            let info = self.decl_type(self.latents[i], true);
            self.latent_decls.push(info);
        }
        for latent in [false, true] {
            let n = if latent {
                self.latents.len()
            } else {
                self.data.len()
            };
            for i in 0..n {
                let (d, info) = if latent {
                    (self.latents[i], self.latent_decls[i].clone())
                } else {
                    (self.data[i], self.data_decls[i].clone())
                };
                let Some(mut info) = info else { continue };
                let checked = self.spacing(d, &info).and_then(|spacing| {
                    let (lower, upper) = self.constraints(d, &info.ty, info.structure, latent)?;
                    Some((spacing, lower, upper))
                });
                let slot = if latent {
                    &mut self.latent_decls[i]
                } else {
                    &mut self.data_decls[i]
                };
                *slot = checked.map(|(spacing, lower, upper)| {
                    info.spacing = spacing;
                    info.lower = lower;
                    info.upper = upper;
                    info
                });
            }
        }
        self.bound_cycles();
    }

    /// Rejects latents whose bounds depend on each other (directly or through laws): no order of
    /// transforms could compute them.
    fn bound_cycles(&mut self) {
        let n = self.latents.len();
        let mut deps: Vec<Vec<usize>> = vec![vec![]; n];
        for (i, dep) in deps.iter_mut().enumerate() {
            for c in &self.latents[i].constraints {
                let exprs: Vec<&Expr> = match &c.kind {
                    ConstraintKind::Lower(e) | ConstraintKind::Upper(e) => vec![e],
                    ConstraintKind::Interval(a, b) => vec![a, b],
                };
                for e in exprs {
                    let mut seen_laws = vec![];
                    self.latents_in(e, &mut seen_laws, dep);
                }
            }
        }
        // Depth-first search for a cycle; report it once, at its first latent.
        let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
        let mut stack: Vec<usize> = vec![];
        fn visit(
            i: usize,
            deps: &[Vec<usize>],
            state: &mut [u8],
            stack: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            state[i] = 1;
            stack.push(i);
            for &j in &deps[i] {
                if state[j] == 1 {
                    let start = stack.iter().position(|&k| k == j).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(j);
                    return Some(cycle);
                }
                if state[j] == 0 {
                    if let Some(c) = visit(j, deps, state, stack) {
                        return Some(c);
                    }
                }
            }
            stack.pop();
            state[i] = 2;
            None
        }
        for i in 0..n {
            if state[i] == 0 {
                if let Some(cycle) = visit(i, &deps, &mut state, &mut stack) {
                    let names: Vec<&str> = cycle
                        .iter()
                        .map(|&k| self.latents[k].name.name.as_str())
                        .collect();
                    let first = self.latents[cycle[0]];
                    self.error(
                        Diagnostic::error(first.name.span, format!("the bounds of `{}` depend on `{}` itself", names[0], names[0]))
                            .with_label(format!("a cycle of bounds: {}", names.join(" -> ")))
                            .with_help("a bound may use other latents only if they do not depend back on this one"),
                    );
                    for &k in &cycle {
                        self.latent_decls[k] = None;
                    }
                    return;
                }
            }
        }
    }

    /// The latents an expression mentions, directly or through the laws it uses.
    pub(super) fn latents_in(&self, e: &Expr, seen_laws: &mut Vec<usize>, out: &mut Vec<usize>) {
        for (name, _) in e.names() {
            match self.globals.get(name) {
                Some(Global::Latent(i)) => out.push(*i),
                Some(Global::Law(j)) if !seen_laws.contains(j) => {
                    seen_laws.push(*j);
                    self.latents_in(&self.laws[*j].value, seen_laws, out);
                }
                _ => {}
            }
        }
    }

    fn decl_type(&mut self, d: &'p Decl, latent: bool) -> Option<DeclInfo> {
        let (ty, structure, spacing, boundary) = self.resolve_type(&d.ty)?;
        if latent {
            if ty.elem == Elem::Int {
                self.error(
                    Diagnostic::error(d.ty.span, format!("latent `{}` is an integer", d.name.name))
                        .with_label("latents must be continuous")
                        .with_note(
                            "NUTS and L-BFGS move continuously; a discrete unknown has no gradient",
                        )
                        .with_help("marginalise the discrete quantity out, or declare it `real`"),
                );
                return None;
            }
            if ty.form == Form::Sparse {
                self.error(
                    Diagnostic::error(d.ty.span, "a sparse matrix cannot be a latent")
                        .with_label("only data may be sparse")
                        .with_help("declare its nonzero values as a latent vector and assemble the matrix with `sparse(rows, cols, values, r, c)`"),
                );
                return None;
            }
        } else if let Some(prior) = &d.prior {
            self.error(
                Diagnostic::error(
                    prior.span,
                    format!("data `{}` cannot have a prior", d.name.name),
                )
                .with_label("a prior on data")
                .with_help(format!(
                    "to infer `{}`, declare it in the `latent` block",
                    d.name.name
                )),
            );
        }
        Some(DeclInfo {
            name: d.name.name.clone(),
            ty,
            structure,
            spacing,
            boundary,
            lower: None,
            upper: None,
            span: d.span,
        })
    }

    /// Checks a field's `spacing = ...` (data: one number, or one per axis).
    fn spacing(&mut self, d: &'p Decl, info: &DeclInfo) -> Option<Option<ExprId>> {
        let Some(id) = info.spacing else {
            return Some(None);
        };
        let s =
            d.ty.args
                .iter()
                .find(|a| a.value.id == id)
                .map(|a| &a.value)?;
        let rank = info.ty.rank();
        let si = self.expr(s)?;
        let per_axis = si.ty.rank() == 1 && si.ty.shape[0].as_constant() == Some(rank as i64);
        if !(si.ty.is_scalar() || per_axis) || si.dep != Dep::Data {
            let list = if rank == 1 {
                "a list of 1 number".to_string()
            } else {
                format!("a list of {rank} numbers")
            };
            self.error(
                Diagnostic::error(
                    s.span,
                    "a field's spacing must be data: one number, or one per axis",
                )
                .with_label(format!("this is {} ({})", si.ty, dep_word(si.dep)))
                .with_help(format!("write `spacing = 2.5` or {list}")),
            );
            return None;
        }
        Some(Some(id))
    }

    /// A field's `boundary = neumann | periodic`, or one of them per axis: `[periodic, neumann]`.
    fn boundary(&mut self, e: &Expr, rank: usize) -> Option<Vec<Boundary>> {
        let one = |cx: &mut Self, e: &Expr| -> Option<Boundary> {
            let found = match &e.kind {
                ExprKind::Name(n) => Boundary::from_name(n).ok_or(Some(n.as_str())),
                _ => Err(None),
            };
            match found {
                Ok(b) => Some(b),
                Err(name) => {
                    let mut d = Diagnostic::error(e.span, "unknown boundary")
                        .with_label("a boundary is `neumann` or `periodic`")
                        .with_note("`neumann` reflects at the grid's ends (the default); `periodic` wraps the axis around");
                    if let Some(h) =
                        name.and_then(|n| did_you_mean(n, Boundary::NAMES.iter().copied()))
                    {
                        d = d.with_help(h);
                    }
                    cx.error(d);
                    None
                }
            }
        };
        match &e.kind {
            ExprKind::Array(items) => {
                if items.len() != rank {
                    self.error(
                        Diagnostic::error(
                            e.span,
                            format!(
                                "this field has {rank} ax{}, but {} boundar{} given",
                                if rank == 1 { "is" } else { "es" },
                                items.len(),
                                if items.len() == 1 { "y is" } else { "ies are" }
                            ),
                        )
                        .with_label("one boundary per axis")
                        .with_help("write one name for every axis, e.g. `boundary = periodic`"),
                    );
                    return None;
                }
                let mut out = vec![];
                for it in items {
                    out.push(one(self, it)?);
                }
                Some(out)
            }
            _ => Some(vec![one(self, e)?; rank]),
        }
    }

    /// A type expression → type, structural constraint and (for fields) the spacing expression and
    /// the boundary per axis.
    #[allow(clippy::type_complexity)]
    fn resolve_type(
        &mut self,
        t: &'p TypeExpr,
    ) -> Option<(Ty, Structure, Option<ExprId>, Vec<Boundary>)> {
        let name = t.name.name.as_str();
        if !TYPE_NAMES.contains(&name) {
            let mut d = Diagnostic::error(t.name.span, format!("unknown type `{name}`"))
                .with_label("not a type")
                .with_note(format!("the types are: {}", TYPE_NAMES.join(", ")));
            if let Some(hint) = did_you_mean(name, TYPE_NAMES.iter().copied()) {
                d = d.with_help(hint);
            }
            self.error(d);
            return None;
        }
        let mut dims = vec![];
        let mut spacing = None;
        let mut boundary = None;
        let mut ok = true;
        for a in &t.args {
            match &a.name {
                None => match self.dim_of(&a.value) {
                    Some(d) => dims.push(d),
                    None => ok = false,
                },
                Some(n) if n.name == "spacing" && name == "field" => spacing = Some(&a.value),
                Some(n) if n.name == "boundary" && name == "field" => boundary = Some(&a.value),
                Some(n) => {
                    let hint = if name == "field" {
                        "a field accepts `spacing = ...` and `boundary = ...`"
                    } else {
                        "sizes are written without names, e.g. `matrix[r, c]`"
                    };
                    self.error(
                        Diagnostic::error(n.span, format!("`{name}` has no option `{}`", n.name))
                            .with_label("unknown option")
                            .with_help(hint),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let rank = dims.len();
        let (want, example): (std::ops::RangeInclusive<usize>, &str) = match name {
            "int" | "real" => (0..=8, "`real`, or an array `real[n, m]`"),
            "vector" | "simplex" | "ordered" | "positive_ordered" => (1..=1, "`vector[n]`"),
            "matrix" | "sparse_matrix" => (2..=2, "`matrix[r, c]`"),
            _ => (1..=3, "`field[n1]`, `field[n1, n2]` or `field[n1, n2, n3]`"),
        };
        if !want.contains(&rank) {
            let msg = format!(
                "`{name}` takes {} size{}, but {rank} {} given",
                if want.start() == want.end() {
                    want.start().to_string()
                } else {
                    format!("{} to {}", want.start(), want.end())
                },
                if *want.end() == 1 { "" } else { "s" },
                if rank == 1 { "was" } else { "were" }
            );
            self.error(
                Diagnostic::error(t.span, msg)
                    .with_label("wrong number of sizes")
                    .with_help(format!("write {example}")),
            );
            return None;
        }
        let elem = if name == "int" { Elem::Int } else { Elem::Real };
        let form = match name {
            "int" | "real" if rank == 0 => Form::Scalar,
            "int" | "real" => Form::Array,
            "matrix" => Form::Matrix,
            "sparse_matrix" => Form::Sparse,
            "field" => Form::Field,
            _ => Form::Vector,
        };
        let structure = match name {
            "simplex" => Structure::Simplex,
            "ordered" => Structure::Ordered,
            "positive_ordered" => Structure::PositiveOrdered,
            _ => Structure::None,
        };
        let ty = Ty {
            elem,
            form,
            shape: dims,
        };
        let spacing_id = spacing.map(|s| s.id);
        let boundary = match (boundary, name) {
            (Some(e), _) => self.boundary(e, rank)?,
            (None, "field") => vec![Boundary::Neumann; rank],
            _ => vec![],
        };
        Some((ty, structure, spacing_id, boundary))
    }

    /// A size expression: integer literals and data integers combined with `+`, `-` and `*`.
    pub(super) fn dim_of(&mut self, e: &Expr) -> Option<Dim> {
        match &e.kind {
            ExprKind::Int(v) if *v >= 0 => Some(Dim::constant(*v)),
            ExprKind::Int(_) => {
                self.error(
                    Diagnostic::error(e.span, "a size cannot be negative")
                        .with_label("negative size"),
                );
                None
            }
            ExprKind::Name(n) => match self.globals.get(n).copied() {
                Some(Global::Data(i)) => {
                    let decl = self.data[i];
                    let is_int = decl.ty.name.name == "int" && decl.ty.args.is_empty();
                    if is_int {
                        self.record(
                            e,
                            Info {
                                ty: Ty::int(),
                                dep: Dep::Data,
                            },
                        );
                        Some(Dim::var(n))
                    } else {
                        self.error(
                            Diagnostic::error(e.span, format!("`{n}` cannot be a size"))
                                .with_label(format!("`{n}` is declared `{}`", type_text(&decl.ty)))
                                .with_help("sizes are data declared `int`"),
                        );
                        None
                    }
                }
                Some(g) => {
                    self.error(
                        Diagnostic::error(e.span, format!("`{n}` cannot be a size"))
                            .with_label(format!("`{n}` is {}", g.describe()))
                            .with_help(
                                "sizes must be known before sampling: use data declared `int`",
                            ),
                    );
                    None
                }
                None => {
                    self.unknown_name(n, e.span, "size");
                    None
                }
            },
            ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul), a, b) => {
                let (a, b) = (self.dim_of(a)?, self.dim_of(b)?);
                let r = match op {
                    BinOp::Add => a.add(&b),
                    BinOp::Sub => a.sub(&b),
                    _ => a.mul(&b),
                }?;
                self.record(
                    e,
                    Info {
                        ty: Ty::int(),
                        dep: Dep::Data,
                    },
                );
                Some(r)
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        e.span,
                        "a size must be an integer built from literals and data integers",
                    )
                    .with_label("not a size")
                    .with_help("write sizes such as `n`, `n + 1` or `nx * ny`"),
                );
                None
            }
        }
    }

    /// The size an integer expression denotes, if it can be written symbolically; reports nothing.
    pub(super) fn try_dim(&self, e: &Expr) -> Option<Dim> {
        match &e.kind {
            ExprKind::Int(v) => Some(Dim::constant(*v)),
            ExprKind::Name(n) if self.lookup_local(n).is_none() => match self.globals.get(n) {
                Some(Global::Data(i)) => {
                    let decl = self.data[*i];
                    (decl.ty.name.name == "int" && decl.ty.args.is_empty()).then(|| Dim::var(n))
                }
                _ => None,
            },
            ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul), a, b) => {
                let (a, b) = (self.try_dim(a)?, self.try_dim(b)?);
                match op {
                    BinOp::Add => a.add(&b),
                    BinOp::Sub => a.sub(&b),
                    _ => a.mul(&b),
                }
            }
            _ => None,
        }
    }

    fn constraints(
        &mut self,
        d: &'p Decl,
        ty: &Ty,
        structure: Structure,
        latent: bool,
    ) -> Option<(Option<ExprId>, Option<ExprId>)> {
        let mut lower: Option<&Expr> = None;
        let mut upper: Option<&Expr> = None;
        for c in &d.constraints {
            if structure != Structure::None {
                self.error(
                    Diagnostic::error(
                        c.span,
                        format!("`{}` already constrains `{}`", d.ty.name.name, d.name.name),
                    )
                    .with_label("a bound cannot be added to this type")
                    .with_help("drop the bound, or declare a plain `vector` with bounds"),
                );
                return None;
            }
            let (lo, hi) = match &c.kind {
                ConstraintKind::Lower(e) => (Some(e), None),
                ConstraintKind::Upper(e) => (None, Some(e)),
                ConstraintKind::Interval(a, b) => (Some(a), Some(b)),
            };
            for (new, slot, what) in [(lo, &mut lower, "lower"), (hi, &mut upper, "upper")] {
                if let Some(e) = new {
                    if let Some(prev) = slot {
                        let d2 = Diagnostic::error(
                            e.span,
                            format!("`{}` has two {what} bounds", d.name.name),
                        )
                        .with_label(format!("second {what} bound"))
                        .with_secondary(prev.span, format!("first {what} bound"));
                        self.error(d2);
                        return None;
                    }
                    *slot = Some(e);
                }
            }
        }
        let mut ok = true;
        for b in [lower, upper].into_iter().flatten() {
            if b.names().iter().any(|(n, _)| *n == d.name.name) {
                self.error(
                    Diagnostic::error(
                        b.span,
                        format!(
                            "a bound of `{}` cannot depend on `{}` itself",
                            d.name.name, d.name.name
                        ),
                    )
                    .with_label("circular bound"),
                );
                ok = false;
                continue;
            }
            let Some(info) = self.expr(b) else {
                ok = false;
                continue;
            };
            let fits = info.ty.is_scalar()
                || super::types::broadcast(&info.ty.shape, &ty.shape).as_deref()
                    == Some(&ty.shape[..]);
            if !fits {
                self.error(
                    Diagnostic::error(
                        b.span,
                        format!("this bound does not fit the shape of `{}`", d.name.name),
                    )
                    .with_label(format!("bound has shape {}", show_shape(&info.ty.shape)))
                    .with_secondary(
                        d.ty.span,
                        format!("`{}` has shape {}", d.name.name, show_shape(&ty.shape)),
                    )
                    .with_help("a bound is one number, or one per element"),
                );
                ok = false;
            }
            if !latent && info.dep == Dep::Latent {
                self.error(
                    Diagnostic::error(b.span, "a bound on data cannot depend on latents")
                        .with_label("depends on a latent"),
                );
                ok = false;
            }
        }
        if let (Some(lo), Some(hi)) = (lower, upper) {
            if let (Some(a), Some(b)) = (const_real(lo), const_real(hi)) {
                if a >= b {
                    self.error(
                        Diagnostic::error(
                            lo.span.to(hi.span),
                            format!("empty interval for `{}`", d.name.name),
                        )
                        .with_label(format!(
                            "the lower bound {a} is not below the upper bound {b}"
                        ))
                        .with_help("swap the bounds, or fix the typo"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some((lower.map(|e| e.id), upper.map(|e| e.id)))
    }
}

/// The value of an expression made only of literals, for checks that need numbers (empty intervals,
/// negative weights, prior supports).
pub fn const_real(e: &Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Int(v) => Some(*v as f64),
        ExprKind::Real(v) => Some(*v),
        ExprKind::Neg(a) => Some(-const_real(a)?),
        ExprKind::Binary(op, a, b) => {
            let (a, b) = (const_real(a)?, const_real(b)?);
            let v = match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul | BinOp::ElemMul => a * b,
                BinOp::Div | BinOp::ElemDiv => a / b,
                BinOp::Pow => a.powf(b),
                _ => return None,
            };
            v.is_finite().then_some(v)
        }
        _ => None,
    }
}

pub(super) fn dep_word(dep: Dep) -> &'static str {
    match dep {
        Dep::Data => "known from data",
        Dep::Latent => "depends on latents",
    }
}

/// The type as written, for messages.
fn type_text(t: &TypeExpr) -> String {
    if t.args.is_empty() {
        t.name.name.clone()
    } else {
        format!("{}[...]", t.name.name)
    }
}
