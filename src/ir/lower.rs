//! Lowering: a checked model and its loaded data → the graph IR.
//!
//! Latents get their place in the unconstrained vector (in declaration order) and a transform node;
//! priors, Jacobians and every modality's likelihood statements become log-density terms. Expressions
//! are lowered in `lower_expr.rs`. Everything the checker proved is assumed; what only the data can
//! reveal (an index out of range, a slice past the end) is reported here with its source span.

use super::graph::*;
use crate::check::{CheckedModel, CombineRule, Form, Structure};
use crate::data::DataSet;
use crate::diagnostic::Diagnostic;
use crate::eval::dists::Family;
use crate::span::Span;
use crate::syntax::ast::*;
use std::collections::HashMap;

/// A lowered value: its node and what the language needs to know beyond the shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Val {
    pub node: NodeId,
    pub form: Form,
    pub int: bool,
    /// Inside a comprehension: the value holds one element per position of the comprehension.
    pub per_element: bool,
}

pub(super) type R<T> = Result<T, Diagnostic>;

/// Compiles a checked model with its data into a graph.
pub fn lower(model: &CheckedModel, data: &DataSet) -> Result<Graph, Vec<Diagnostic>> {
    let mut cx = Lowerer::new(model, data);
    match cx.run() {
        Ok(()) => Ok(cx.g),
        Err(d) => Err(vec![d]),
    }
}

pub(super) struct Lowerer<'m> {
    pub model: &'m CheckedModel,
    pub data: &'m DataSet,
    pub g: Graph,
    pub globals: HashMap<String, Val>,
    pub laws: HashMap<&'m str, &'m Law>,
    pub latent_decls: HashMap<&'m str, (usize, &'m Decl)>,
    pub fns: HashMap<&'m str, &'m FnDef>,
    pub scopes: Vec<Vec<(String, Val)>>,
    /// Values of data-only nodes computed during lowering (for indices and slice bounds).
    pub known: HashMap<NodeId, Vec<f64>>,
    /// Laws being lowered (a guard; the checker has already rejected cycles).
    pub in_progress: Vec<String>,
    /// The pattern of every node that holds a sparse matrix's values.
    pub sparse_of: HashMap<NodeId, PatternId>,
    /// `ode` items by name, and the index of each one lowered so far in `Graph::odes`.
    pub odes: HashMap<&'m str, &'m OdeDef>,
    pub ode_index: HashMap<&'m str, usize>,
    /// Lowering an ODE's right-hand side (into its own graph).
    pub in_ode: bool,
}

impl<'m> Lowerer<'m> {
    fn new(model: &'m CheckedModel, data: &'m DataSet) -> Lowerer<'m> {
        let mut laws = HashMap::new();
        let mut latent_decls = HashMap::new();
        let mut fns = HashMap::new();
        let mut odes = HashMap::new();
        let mut k = 0;
        for item in &model.program.items {
            match item {
                Item::Law(l) => {
                    laws.insert(l.name.name.as_str(), l);
                }
                Item::Fn(f) => {
                    fns.insert(f.name.name.as_str(), f);
                }
                Item::Ode(o) => {
                    odes.insert(o.name.name.as_str(), o);
                }
                Item::Latent(b) => {
                    for d in &b.decls {
                        latent_decls.insert(d.name.name.as_str(), (k, d));
                        k += 1;
                    }
                }
                _ => {}
            }
        }
        Lowerer {
            model,
            data,
            g: Graph::default(),
            globals: HashMap::new(),
            laws,
            latent_decls,
            fns,
            scopes: vec![],
            known: HashMap::new(),
            in_progress: vec![],
            sparse_of: HashMap::new(),
            odes,
            ode_index: HashMap::new(),
            in_ode: false,
        }
    }

    fn run(&mut self) -> R<()> {
        self.lower_data();
        self.place_latents()?;
        let names: Vec<String> = self.model.latents.iter().map(|l| l.name.clone()).collect();
        for name in &names {
            self.latent(name)?;
        }
        for i in 0..self.model.latents.len() {
            let l = self.g.latents[i].clone();
            let (_, decl) = self.latent_decls[l.name.as_str()];
            if let Some(prior) = &decl.prior {
                let lhs = self.globals[&l.name];
                self.tilde(lhs, prior, TermKind::Prior)?;
            }
        }
        let items = &self.model.program.items;
        for item in items {
            let priors: Vec<&Tilde> = match item {
                Item::Latent(b) => b.priors.iter().collect(),
                Item::Tilde(t) => vec![t],
                _ => continue,
            };
            for t in priors {
                let lhs = self.expr(&t.lhs)?;
                self.tilde(lhs, &t.dist, TermKind::Prior)?;
            }
        }
        for law in self.model.laws.iter() {
            let v = self.law(&law.name)?;
            // A sparse operator is an intermediate of the model, not a quantity to report.
            if self.pattern_of(&v).is_none() {
                self.g.laws.push((law.name.clone(), v.node));
            }
        }
        self.modalities()?;
        self.g.dim = self.g.latents.iter().map(|l| l.free).sum();
        Ok(())
    }

    pub(super) fn lower_data(&mut self) {
        for (i, d) in self.model.data.iter().enumerate() {
            let value = &self.data.values[i];
            if let Some(m) = &value.sparse {
                // A sparse matrix: its values in row order, beside its pattern.
                self.g.consts.push(m.values.clone());
                let id = ConstId(self.g.consts.len() as u32 - 1);
                let node = self
                    .g
                    .push(Op::Data(d.name.clone(), id), vec![m.values.len()], d.span);
                self.known.insert(node, m.values.clone());
                let pid = self.g.add_pattern(crate::eval::sparse::Pattern {
                    rows: m.rows,
                    cols: m.cols,
                    row_start: m.row_start.clone(),
                    col_index: m.col_index.clone(),
                });
                let v = self.sparse_val(node, pid);
                self.globals.insert(d.name.clone(), v);
                continue;
            }
            self.g.consts.push(value.values.clone());
            let id = ConstId(self.g.consts.len() as u32 - 1);
            let node = self
                .g
                .push(Op::Data(d.name.clone(), id), value.shape.clone(), d.span);
            self.known.insert(node, value.values.clone());
            let form = d.ty.form;
            let int = d.ty.elem == crate::check::Elem::Int;
            self.globals.insert(
                d.name.clone(),
                Val {
                    node,
                    form,
                    int,
                    per_element: false,
                },
            );
        }
    }

    /// Assigns every latent its coordinates in the unconstrained vector, in declaration order.
    fn place_latents(&mut self) -> R<()> {
        let mut offset = 0;
        for l in &self.model.latents {
            let shape: Vec<usize> =
                l.ty.shape
                    .iter()
                    .map(|d| self.size(d, l.span))
                    .collect::<R<_>>()?;
            let n: usize = shape.iter().product();
            let free = if l.structure == Structure::Simplex {
                n.saturating_sub(1)
            } else {
                n
            };
            if l.structure == Structure::Simplex && n == 0 {
                return Err(Diagnostic::error(
                    l.span,
                    format!("simplex `{}` has no elements", l.name),
                )
                .with_label("a simplex needs at least one element"));
            }
            self.g.latents.push(Latent {
                name: l.name.clone(),
                shape,
                offset,
                free,
                value: NodeId(u32::MAX),
            });
            offset += free;
        }
        Ok(())
    }

    /// A declared size, evaluated with the data.
    pub(super) fn size(&self, d: &crate::check::Dim, span: Span) -> R<usize> {
        let v =
            crate::data::eval_dim(d, &self.data.sizes).map_err(|m| Diagnostic::error(span, m))?;
        usize::try_from(v).map_err(|_| {
            Diagnostic::error(span, format!("the size `{d}` is {v} with these data"))
                .with_label("sizes cannot be negative")
        })
    }

    /// The constrained value of a latent, lowering it (and its bounds) on first use.
    pub(super) fn latent(&mut self, name: &str) -> R<Val> {
        if let Some(v) = self.globals.get(name) {
            return Ok(*v);
        }
        let (k, decl) = self.latent_decls[name];
        let info = &self.model.latents[k];
        let l = self.g.latents[k].clone();
        let span = decl.name.span;
        let raw_shape = if info.structure == Structure::Simplex {
            vec![l.free]
        } else {
            l.shape.clone()
        };
        let raw = self.g.push(Op::Param { offset: l.offset }, raw_shape, span);
        let bound = |cx: &mut Self, id: Option<ExprId>| -> R<Option<NodeId>> {
            match id {
                None => Ok(None),
                Some(id) => {
                    let e = cx.model.find_expr(id).expect("bounds are in the program");
                    let v = cx.expr(e)?;
                    Ok(Some(cx.broadcast_to(v.node, &l.shape, e.span)?))
                }
            }
        };
        let lo = bound(self, info.lower)?;
        let hi = bound(self, info.upper)?;
        let transform = match (info.structure, lo, hi) {
            (Structure::Simplex, ..) => Some((Transform::Simplex, vec![raw])),
            (Structure::Ordered, ..) => Some((Transform::Ordered, vec![raw])),
            (Structure::PositiveOrdered, ..) => Some((Transform::PositiveOrdered, vec![raw])),
            (_, Some(a), Some(b)) => Some((Transform::Interval, vec![raw, a, b])),
            (_, Some(a), None) => Some((Transform::Lower, vec![raw, a])),
            (_, None, Some(b)) => Some((Transform::Upper, vec![raw, b])),
            (_, None, None) => None,
        };
        let whitened = self.whitened_prior(name);
        let value = match (transform, whitened) {
            (_, Some(dist)) => self.whitened_latent(k, raw, dist, span)?,
            (None, None) => raw,
            (Some((t, inputs)), None) => {
                let value = self
                    .g
                    .push(Op::Constrain(t, inputs.clone()), l.shape.clone(), span);
                let jac = self.g.push(Op::LogJacobian(t, inputs), vec![], span);
                self.g.terms.push(Term {
                    node: jac,
                    kind: TermKind::Jacobian,
                });
                value
            }
        };
        self.g.latents[k].value = value;
        let v = Val {
            node: value,
            form: info.ty.form,
            int: false,
            per_element: false,
        };
        self.globals.insert(name.to_string(), v);
        Ok(v)
    }

    /// A law's value, lowered once.
    pub(super) fn law(&mut self, name: &str) -> R<Val> {
        if let Some(v) = self.globals.get(name) {
            return Ok(*v);
        }
        let law = self.laws[name];
        if self.in_progress.iter().any(|n| n == name) {
            return Err(Diagnostic::error(
                law.name.span,
                format!("law `{name}` depends on itself"),
            ));
        }
        self.in_progress.push(name.to_string());
        let saved = std::mem::take(&mut self.scopes);
        let v = self.expr_any(&law.value);
        self.scopes = saved;
        self.in_progress.pop();
        let v = v?;
        self.globals.insert(name.to_string(), v);
        Ok(v)
    }

    fn modalities(&mut self) -> R<()> {
        let combine = &self.model.combine;
        let items = &self.model.program.items;
        for item in items {
            let Item::Modality(m) = item else { continue };
            let k = self.g.modalities.len();
            let mut weight = 1.0;
            if let Some(w) = &m.weight {
                weight = self.scalar_data(w)?;
            }
            let mut budget = 0.0;
            let tolerant = combine.rule == CombineRule::Tolerant;
            if let Some((_, id)) = combine.entries.iter().find(|(n, _)| *n == m.name.name) {
                let e = self
                    .model
                    .find_expr(*id)
                    .expect("combine values are in the program");
                match combine.rule {
                    CombineRule::Minmax | CombineRule::Tolerant => budget = self.scalar_data(e)?,
                    _ => weight = self.scalar_data(e)?,
                }
            }
            // Every statement's family and arguments, for the min-max worst case.
            let mut statements: Vec<(Family, Vec<NodeId>, Span)> = vec![];
            self.g.modalities.push(super::graph::Modality {
                name: m.name.name.clone(),
                weight,
            });
            self.scopes.push(vec![]);
            for s in &m.stmts {
                match s {
                    ModalityStmt::Let(l) => {
                        let v = self.expr_any(&l.value)?;
                        self.scopes
                            .last_mut()
                            .expect("scope")
                            .push((l.name.name.clone(), v));
                    }
                    ModalityStmt::Tilde(t) => {
                        let lhs = self.expr(&t.lhs)?;
                        let (family, args) = self.tilde(lhs, &t.dist, TermKind::Likelihood(k))?;
                        if budget > 0.0 && tolerant && family != Family::Normal {
                            return Err(Diagnostic::error(t.dist.name.span, format!(
                                "`combine tolerant` needs normal likelihoods; this is `{}`",
                                family.name()
                            ))
                            .with_label("the forgiven residual norm is measured in the noise units of a normal likelihood")
                            .with_help("use `combine minmax` or `combine tempered` for this modality, or a normal likelihood"));
                        }
                        if budget > 0.0 {
                            if crate::eval::worst_case::noise_scale_arg(family).is_none() {
                                return Err(Diagnostic::error(t.dist.name.span, format!(
                                    "`combine minmax` cannot perturb the data of a `{}` likelihood",
                                    family.name()
                                ))
                                .with_label("the budget is measured in noise units, and this family has no noise scale")
                                .with_help("min-max works with normal, student_t, cauchy, laplace and huber likelihoods; use `combine tempered` here"));
                            }
                            statements.push((family, args, t.dist.span));
                        }
                    }
                }
            }
            self.scopes.pop();
            if budget > 0.0 && !statements.is_empty() {
                if statements.iter().all(|(f, ..)| *f == Family::Normal) {
                    let squares = statements
                        .iter()
                        .map(|(_, args, span)| self.squared_residuals(args, *span))
                        .collect();
                    self.worst_case_term(squares, budget, tolerant, k, m.name.span);
                } else {
                    self.numerical_worst_case(statements, budget, k, m.name.span)?;
                }
            }
        }
        Ok(())
    }

    /// The value of a scalar data-only expression (weights, budgets).
    pub(super) fn scalar_data(&mut self, e: &Expr) -> R<f64> {
        let v = self.expr(e)?;
        let values = self.value_of(v.node, e.span)?;
        Ok(values[0])
    }

    /// The sum of squared standardised residuals ((y - mu) / sigma)^2 of a normal statement's arguments.
    fn squared_residuals(&mut self, args: &[NodeId], span: Span) -> NodeId {
        use crate::eval::ops::{Binary, Reduce};
        let shape = self.g.node(args[0]).shape.clone();
        let n: usize = shape.iter().product();
        let r = self.g.push(
            Op::Binary(Binary::Sub, args[0], args[1]),
            shape.clone(),
            span,
        );
        let z = self
            .g
            .push(Op::Binary(Binary::Div, r, args[2]), shape.clone(), span);
        let sq = self.g.push(Op::Binary(Binary::Mul, z, z), shape, span);
        self.g
            .push(Op::Reduce(Reduce::Sum, sq, [1, n, 1]), vec![], span)
    }

    /// The min-max correction of a Gaussian modality: the worst perturbation of its data inside an L2
    /// ball of radius `eps` (in noise units) lowers its log likelihood from -||z||^2/2 to
    /// -(||z|| + eps)^2/2, i.e. by eps ||z|| + eps^2/2, where z are all its standardised residuals.
    /// With `tolerant` the best perturbation instead: -max(||z|| - eps, 0)^2/2, which forgives the
    /// modality any misfit the budget could explain.
    fn worst_case_term(
        &mut self,
        squares: Vec<NodeId>,
        eps: f64,
        tolerant: bool,
        k: usize,
        span: Span,
    ) {
        use crate::eval::ops::{Binary, Unary};
        let total = self.g.push(Op::AddScalars(squares), vec![], span);
        let norm = self.g.push(Op::Unary(Unary::Sqrt, total), vec![], span);
        let shift = self
            .g
            .add_const(vec![if tolerant { -eps } else { eps }], vec![], span);
        let mut shifted = self
            .g
            .push(Op::Binary(Binary::Add, norm, shift), vec![], span);
        if tolerant {
            let zero = self.g.add_const(vec![0.0], vec![], span);
            shifted = self
                .g
                .push(Op::Binary(Binary::Fmax, shifted, zero), vec![], span);
        }
        let sq = self
            .g
            .push(Op::Binary(Binary::Mul, shifted, shifted), vec![], span);
        let half = self.g.add_const(vec![-0.5], vec![], span);
        let worst = self.g.push(Op::Binary(Binary::Mul, half, sq), vec![], span);
        let half_norm = self
            .g
            .push(Op::Binary(Binary::Mul, half, total), vec![], span);
        // The normal terms already hold -||z||^2/2; add the difference to the worst case.
        let node = self
            .g
            .push(Op::Binary(Binary::Sub, worst, half_norm), vec![], span);
        self.g.terms.push(Term {
            node,
            kind: TermKind::Likelihood(k),
        });
    }

    /// The min-max correction of a modality with non-normal likelihoods, found numerically at every
    /// evaluation (`eval::worst_case`).
    fn numerical_worst_case(
        &mut self,
        statements: Vec<(Family, Vec<NodeId>, Span)>,
        eps: f64,
        k: usize,
        span: Span,
    ) -> R<()> {
        let eps = self.g.add_const(vec![eps], vec![], span);
        let mut args = vec![eps];
        let mut families = vec![];
        for (family, a, _) in statements {
            families.push(family);
            args.extend(a);
        }
        if args.len() > crate::eval::worst_case::MAX_ARGS {
            return Err(Diagnostic::error(
                span,
                "this min-max modality has too many likelihood statements",
            )
            .with_label(format!(
                "{} arguments; at most {} fit one worst-case node",
                args.len(),
                crate::eval::worst_case::MAX_ARGS
            ))
            .with_help("vectorise the statements (one `~` over a vector) or split the modality"));
        }
        let node = self.g.push(Op::WorstCase { families, args }, vec![], span);
        self.g.terms.push(Term {
            node,
            kind: TermKind::Likelihood(k),
        });
        Ok(())
    }

    /// A `~` statement → a log-density term; returns the family and argument nodes.
    fn tilde(&mut self, lhs: Val, dist: &DistCall, kind: TermKind) -> R<(Family, Vec<NodeId>)> {
        let spec = crate::library::distributions::lookup(&dist.name.name).expect("checked");
        let lhs_shape = self.g.node(lhs.node).shape.clone();
        // Arguments in registry order; the checker guarantees every required one is present.
        let args = self.dist_args(dist);
        let family = match spec.name {
            "rw1" | "rw2" | "gmrf" | "matern" => {
                self.field_prior(lhs.node, dist, kind)?;
                return Ok((Family::Normal, vec![]));
            }
            name => Family::from_name(name).ok_or_else(|| {
                Diagnostic::error(
                    dist.name.span,
                    format!("the `{name}` prior cannot be compiled yet"),
                )
                .with_label("not yet available in this version of mmi")
            })?,
        };
        let multivariate = spec.class == crate::library::distributions::Class::Multivariate;
        let dims = if multivariate {
            *lhs_shape.last().unwrap_or(&1)
        } else {
            1
        };
        let mut nodes = vec![lhs.node];
        for a in &args {
            let e = a.expect("field priors with optional parameters are handled above");
            let v = self.expr(e)?;
            let node = if multivariate {
                v.node
            } else {
                self.broadcast_to(v.node, &lhs_shape, e.span)?
            };
            nodes.push(node);
        }
        let node = self.g.push(
            Op::Lpdf {
                family,
                args: nodes.clone(),
                dims,
                normalised: true,
            },
            vec![],
            dist.span,
        );
        self.g.terms.push(Term { node, kind });
        Ok((family, nodes))
    }
}
