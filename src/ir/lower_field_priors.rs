//! Lowering of field priors (`gmrf`, `matern`, `rw1`, `rw2`): the grid's spacing and boundaries, the
//! hyperparameters checked where the data fix them, one `FieldPrior` log-density node, or for
//! `param = whitened` a `FieldWhiten` node as the latent's value with a standard normal prior on its
//! white coordinates.

use super::graph::*;
use super::lower::{Lowerer, R};
use crate::diagnostic::Diagnostic;
use crate::eval::dists::Family;
use crate::eval::fields::{FieldKind, FieldSpec};
use crate::library::distributions::{self, Boundary};
use crate::span::Span;
use crate::syntax::ast::*;

/// A field prior's arguments, lowered.
pub(super) struct FieldArgs {
    pub field: FieldId,
    /// Mean, range, sd (Matérn) or sd (random walks).
    pub hypers: Vec<NodeId>,
}

impl<'m> Lowerer<'m> {
    /// The arguments of a distribution call in registry order (`None` for omitted optional ones).
    pub(super) fn dist_args<'d>(&self, dist: &'d DistCall) -> Vec<Option<&'d Expr>> {
        let spec = distributions::lookup(&dist.name.name).expect("checked");
        let mut args: Vec<Option<&Expr>> = vec![None; spec.params.len()];
        let mut next = 0;
        for a in &dist.args {
            let slot = match &a.name {
                Some(n) => spec
                    .params
                    .iter()
                    .position(|p| p.name == n.name)
                    .expect("checked"),
                None => {
                    next += 1;
                    next - 1
                }
            };
            args[slot] = Some(&a.value);
        }
        args
    }

    /// The whitened field prior of latent `name`, if it has one (on its declaration line or as a
    /// statement; the checker allows at most one).
    pub(super) fn whitened_prior(&self, name: &str) -> Option<&'m DistCall> {
        let whitened = is_whitened;
        let (_, decl) = self.latent_decls[name];
        if let Some(p) = decl.prior.as_ref().filter(|p| whitened(p)) {
            return Some(p);
        }
        for item in &self.model.program.items {
            let tildes: Vec<&Tilde> = match item {
                Item::Latent(b) => b.priors.iter().collect(),
                Item::Tilde(t) => vec![t],
                _ => continue,
            };
            for t in tildes {
                if matches!(&t.lhs.kind, ExprKind::Name(n) if n == name) && whitened(&t.dist) {
                    return Some(&t.dist);
                }
            }
        }
        None
    }

    /// Data values of a field prior's argument that must be positive (spacing, nu, data ranges and sds).
    fn positive_data(&mut self, node: NodeId, what: &str, span: Span) -> R<Vec<f64>> {
        let v = self.value_of(node, span)?;
        if let Some(bad) = v.iter().find(|x| !(**x > 0.0 && x.is_finite())) {
            return Err(Diagnostic::error(span, format!("{what} must be positive"))
                .with_label(format!("this is {bad} with these data")));
        }
        Ok(v)
    }

    /// Builds the grid and hyperparameter nodes of latent `k`'s field prior `dist`.
    pub(super) fn field_args(
        &mut self,
        k: usize,
        shape: &[usize],
        dist: &DistCall,
    ) -> R<FieldArgs> {
        let name = dist.name.name.as_str();
        let args = self.dist_args(dist);
        let info = &self.model.latents[k];
        let rank = shape.len();
        if shape.contains(&0) {
            return Err(Diagnostic::error(
                info.span,
                format!("the field `{}` has no cells with these data", info.name),
            )
            .with_label(format!("its shape is {shape:?}"))
            .with_help("a field prior needs at least one cell along every axis"));
        }
        // The grid: spacing (data, one number or one per axis) and boundaries.
        let mut spacing = vec![1.0; rank];
        if let Some(id) = info.spacing {
            let e = self.model.find_expr(id).expect("spacing is in the program");
            let v = self.expr(e)?;
            let h = self.positive_data(v.node, "a field's spacing", e.span)?;
            for (a, s) in spacing.iter_mut().enumerate() {
                *s = if h.len() == 1 { h[0] } else { h[a] };
            }
        }
        let boundary = if info.boundary.len() == rank {
            info.boundary.clone()
        } else {
            vec![Boundary::Neumann; rank]
        };
        let lower = |cx: &mut Self, e: &Expr| -> R<NodeId> { Ok(cx.expr(e)?.node) };
        let (kind, hypers) = match name {
            "rw1" | "rw2" => {
                let e = args[0].expect("checked");
                let sd = lower(self, e)?;
                if !self.g.node(sd).param {
                    self.positive_data(sd, "the sd of a random walk", e.span)?;
                }
                let order = if name == "rw1" { 1 } else { 2 };
                (FieldKind::RandomWalk { order }, vec![sd])
            }
            _ => {
                // gmrf(range, sd, mean, param); matern(nu, range, sd, mean, param).
                let at = if name == "matern" { 1 } else { 0 };
                let nu = if name == "matern" {
                    let e = args[0].expect("checked");
                    let node = lower(self, e)?;
                    if self.g.node(node).param {
                        return Err(Diagnostic::error(e.span, "the smoothness `nu` must be data")
                            .with_label("this depends on latents")
                            .with_help("fix nu (0.5, 1.5 and 2.5 are common), or compare models with different values"));
                    }
                    self.positive_data(node, "the smoothness `nu`", e.span)?[0]
                } else {
                    // alpha = 2 (INLA's default): nu = 2 - d/2.
                    2.0 - rank as f64 / 2.0
                };
                let range_e = args[at].expect("checked");
                let range = lower(self, range_e)?;
                if !self.g.node(range).param {
                    self.positive_data(range, "a field's range", range_e.span)?;
                }
                let sd_e = args[at + 1].expect("checked");
                let sd = lower(self, sd_e)?;
                if !self.g.node(sd).param {
                    self.positive_data(sd, "a field's sd", sd_e.span)?;
                }
                let mean = match args[at + 2] {
                    // A mean along the trailing axes stays as it is: the kernels repeat it.
                    Some(e) => {
                        let m = lower(self, e)?;
                        let have = self.g.node(m).shape.clone();
                        if have.iter().product::<usize>() == 1 || shape.ends_with(&have) {
                            m
                        } else {
                            self.broadcast_to(m, shape, e.span)?
                        }
                    }
                    None => self.g.add_const(vec![0.0], vec![], dist.span),
                };
                (FieldKind::Matern { nu }, vec![mean, range, sd])
            }
        };
        let field = self
            .g
            .add_field(FieldSpec::new(kind, shape, &spacing, &boundary));
        Ok(FieldArgs { field, hypers })
    }

    /// `x ~ gmrf(...)`, `matern(...)`, `rw1(...)`, `rw2(...)`: one log-density term. A whitened
    /// field's value is already `mean + Q^(-1/2) z` (see `whitened_latent`); its prior is a standard
    /// normal on z.
    pub(super) fn field_prior(&mut self, lhs: NodeId, dist: &DistCall, kind: TermKind) -> R<()> {
        let span = dist.span;
        if let (true, Op::FieldWhiten { args, .. }) = (is_whitened(dist), &self.g.node(lhs).op) {
            let z = args[0];
            let zero = self.g.add_const(vec![0.0], vec![], span);
            let one = self.g.add_const(vec![1.0], vec![], span);
            let node = self.g.push(
                Op::Lpdf {
                    family: Family::Normal,
                    args: vec![z, zero, one],
                    dims: 1,
                    normalised: true,
                },
                vec![],
                span,
            );
            self.g.terms.push(Term { node, kind });
            return Ok(());
        }
        let k = self
            .g
            .latents
            .iter()
            .position(|l| l.value == lhs)
            .ok_or_else(|| {
                Diagnostic::error(
                    span,
                    "internal error: a field prior's left side is not a latent",
                )
            })?;
        let shape = self.g.node(lhs).shape.clone();
        let f = self.field_args(k, &shape, dist)?;
        let mut args = vec![lhs];
        args.extend(f.hypers);
        let node = self.g.push(
            Op::FieldPrior {
                field: f.field,
                args,
                normalised: true,
            },
            vec![],
            span,
        );
        self.g.terms.push(Term { node, kind });
        Ok(())
    }

    /// The value of latent `k` with a whitened prior: its coordinates z are white noise, and the
    /// field is mean + Q^(-1/2) z.
    pub(super) fn whitened_latent(
        &mut self,
        k: usize,
        raw: NodeId,
        dist: &DistCall,
        span: Span,
    ) -> R<NodeId> {
        let l = self.g.latents[k].clone();
        if self.in_progress.contains(&l.name) {
            return Err(Diagnostic::error(
                dist.span,
                format!(
                    "the whitened prior of `{}` depends on `{}` itself",
                    l.name, l.name
                ),
            )
            .with_label("its mean, range or sd uses the field")
            .with_help("a whitened field's hyperparameters must not depend on the field"));
        }
        self.in_progress.push(l.name.clone());
        let f = self.field_args(k, &l.shape, dist);
        self.in_progress.pop();
        let f = f?;
        let mut args = vec![raw];
        args.extend(f.hypers);
        Ok(self.g.push(
            Op::FieldWhiten {
                field: f.field,
                args,
            },
            l.shape.clone(),
            span,
        ))
    }
}

/// Whether a prior call asks for the whitened form (`param = whitened`, named or in its position).
fn is_whitened(d: &DistCall) -> bool {
    let spec = distributions::lookup(&d.name.name);
    d.args.iter().enumerate().any(|(i, a)| {
        let named = match &a.name {
            Some(n) => n.name == "param",
            None => spec.is_some_and(|s| s.params.get(i).is_some_and(|p| p.name == "param")),
        };
        named && matches!(&a.value.kind, ExprKind::Name(v) if v == "whitened")
    })
}
