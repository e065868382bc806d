//! `~` statements: the distribution's name, arguments and shapes against the registry, and the rules
//! that make a statement a prior (left side involves latents) or a likelihood (left side is data).

use super::decls::const_real;
use super::types::{broadcast, show_shape};
use super::{Checker, Dep, Elem, Form, Global, Info, Structure};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::library::distributions::{self, Class, DistSpec, ParamKind, Support};
use crate::span::Span;
use crate::syntax::ast::*;

/// What a `~` statement is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Prior,
    /// Inside the modality with this name's index.
    Likelihood,
}

/// The left side of a `~`: an expression, or the latent being declared (`x: real ~ normal(0, 1)`).
pub(super) enum Lhs<'a> {
    Expr(&'a Expr),
    Decl(&'a Decl, usize),
}

impl<'p> Checker<'p> {
    /// Checks one `~` statement; returns the dependence of its arguments (whether it reaches a latent).
    pub(super) fn tilde(&mut self, lhs: Lhs, dist: &DistCall, role: Role) -> Option<Dep> {
        let (lhs_info, lhs_span, latent) = match lhs {
            Lhs::Expr(e) => {
                let info = self.expr(e);
                let latent = match &e.kind {
                    ExprKind::Name(n) if self.lookup_local(n).is_none() => {
                        match self.globals.get(n) {
                            Some(Global::Latent(i)) => Some(*i),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                (info, e.span, latent)
            }
            Lhs::Decl(d, i) => {
                let info = self.latent_decls[i].as_ref().map(|di| Info {
                    ty: di.ty.clone(),
                    dep: Dep::Latent,
                });
                (info, d.name.span, Some(i))
            }
        };
        let spec = self.dist_spec(dist)?;
        let bound = self.bind_dist_args(spec, dist)?;
        let lhs_info = lhs_info?;
        let mut ok = true;
        match role {
            Role::Likelihood if lhs_info.dep == Dep::Latent => {
                self.error(
                    Diagnostic::error(lhs_span, "the left side of a likelihood must be data")
                        .with_label("this depends on latents")
                        .with_help("priors on latents go outside `modality` blocks; a modality states how data arise"),
                );
                ok = false;
            }
            Role::Prior if lhs_info.dep == Dep::Data => {
                self.error(
                    Diagnostic::error(
                        lhs_span,
                        "a `~` statement on data is a likelihood and belongs in a `modality` block",
                    )
                    .with_label("this is data")
                    .with_help("wrap it: `modality name { ... }`"),
                );
                ok = false;
            }
            _ => {}
        }
        if spec.class == Class::FieldPrior {
            if role == Role::Likelihood {
                self.error(
                    Diagnostic::error(
                        dist.name.span,
                        format!(
                            "`{}` is a prior for latent fields, not a likelihood",
                            spec.name
                        ),
                    )
                    .with_label("used on data"),
                );
                return None;
            }
            let is_field = lhs_info.ty.form == Form::Field;
            let rw = spec.name.starts_with("rw");
            if latent.is_none() || !(is_field || (rw && lhs_info.ty.rank() == 1)) {
                self.error(
                    Diagnostic::error(
                        lhs_span,
                        format!("`{}` is a prior for a latent `field`", spec.name),
                    )
                    .with_label(format!("this is {}", lhs_info.ty))
                    .with_help(
                        "declare the latent as `field[...]` and put the prior on it directly",
                    ),
                );
                return None;
            }
        }
        if spec.discrete && lhs_info.ty.elem != Elem::Int {
            self.error(
                Diagnostic::error(
                    lhs_span,
                    format!("`{}` is a distribution of integers", spec.name),
                )
                .with_label(format!("this is {}", lhs_info.ty))
                .with_help("declare counts and 0/1 outcomes as `int` data"),
            );
            ok = false;
        }
        if spec.class == Class::Multivariate && lhs_info.ty.rank() == 0 {
            self.error(
                Diagnostic::error(
                    lhs_span,
                    format!("`{}` is a distribution of vectors", spec.name),
                )
                .with_label("this is a single number"),
            );
            ok = false;
        }
        if let (Role::Prior, Some(i)) = (role, latent) {
            ok &= self.support_fits(spec, dist, i, lhs_span);
        }
        let mut dep = Dep::Data;
        for (param, arg) in spec.params.iter().zip(&bound) {
            let Some(arg) = arg else { continue };
            if let ParamKind::Choice(choices) = param.kind {
                match self.choice(spec, param.name, arg, choices) {
                    Some("whitened") => ok &= self.whitened(spec, latent, lhs_span, arg.span),
                    Some(_) => {}
                    None => ok = false,
                }
                continue;
            }
            let Some(info) = self.expr(arg) else {
                ok = false;
                continue;
            };
            dep = dep.max(info.dep);
            let lhs_shape = &lhs_info.ty.shape;
            let fits = match param.kind {
                ParamKind::Elementwise => {
                    broadcast(&info.ty.shape, lhs_shape).as_deref() == Some(&lhs_shape[..])
                }
                ParamKind::Scalar => info.ty.is_scalar(),
                ParamKind::PerAxis => {
                    info.ty.is_scalar()
                        || (info.ty.rank() == 1
                            && info.ty.shape[0].as_constant() == Some(lhs_shape.len() as i64))
                }
                ParamKind::Vector => {
                    info.ty.rank() == 1 && lhs_shape.last() == Some(&info.ty.shape[0])
                }
                ParamKind::Choice(_) => true,
                ParamKind::SquareMatrix => {
                    info.ty.rank() == 2
                        && info.ty.shape[0] == info.ty.shape[1]
                        && lhs_shape.last() == Some(&info.ty.shape[0])
                }
            };
            if !fits {
                let want = match param.kind {
                    ParamKind::Elementwise => {
                        format!("one number or shape {}", show_shape(lhs_shape))
                    }
                    ParamKind::Scalar => "one number".to_string(),
                    ParamKind::PerAxis => {
                        format!("one number, or {} (one per axis)", lhs_shape.len())
                    }
                    ParamKind::Vector => format!(
                        "a vector of length {}",
                        lhs_shape.last().map(|d| d.to_string()).unwrap_or_default()
                    ),
                    ParamKind::SquareMatrix => {
                        let k = lhs_shape.last().map(|d| d.to_string()).unwrap_or_default();
                        format!("a {k} x {k} matrix")
                    }
                    ParamKind::Choice(_) => unreachable!("options are checked above"),
                };
                self.error(
                    Diagnostic::error(
                        arg.span,
                        format!("`{}` of `{}` has the wrong shape", param.name, spec.name),
                    )
                    .with_label(format!("this is {}, but it must be {want}", info.ty))
                    .with_secondary(lhs_span, format!("the left side is {}", lhs_info.ty)),
                );
                ok = false;
            }
            if param.int && info.ty.elem != Elem::Int {
                self.error(
                    Diagnostic::error(
                        arg.span,
                        format!("`{}` of `{}` must be an integer", param.name, spec.name),
                    )
                    .with_label(format!("this is {}", info.ty)),
                );
                ok = false;
            }
        }
        ok.then_some(dep)
    }

    /// An option whose value is one of a few names (`param = whitened`); returns the name.
    fn choice(
        &mut self,
        spec: &DistSpec,
        param: &str,
        arg: &Expr,
        choices: &'static [&'static str],
    ) -> Option<&'static str> {
        let given = match &arg.kind {
            ExprKind::Name(n) => Some(n.as_str()),
            _ => None,
        };
        if let Some(c) = given.and_then(|g| choices.iter().find(|c| **c == g)) {
            return Some(c);
        }
        let list = choices
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut d = Diagnostic::error(
            arg.span,
            format!("`{param}` of `{}` must be {list}", spec.name),
        )
        .with_label("not one of the choices");
        if spec.class == Class::FieldPrior && param == "param" {
            d = d.with_note(
                "`centred` (the default) samples the field's values; `whitened` samples white noise \
                 that the prior's square root turns into the field, which suits fields the data \
                 inform weakly or whose range and sd are latents",
            );
        }
        if let Some(h) = given.and_then(|g| did_you_mean(g, choices.iter().copied())) {
            d = d.with_help(h);
        }
        self.error(d);
        None
    }

    /// A whitened field prior replaces the field's own coordinates, so it must be the only thing
    /// deciding them: no bounds, and no second whitened prior.
    fn whitened(
        &mut self,
        spec: &DistSpec,
        latent: Option<usize>,
        lhs_span: Span,
        span: Span,
    ) -> bool {
        let Some(i) = latent else { return true };
        let name = self.latents[i].name.name.clone();
        let bounded = self.latent_decls[i]
            .as_ref()
            .is_some_and(|d| d.lower.is_some() || d.upper.is_some());
        if bounded {
            self.error(
                Diagnostic::error(span, format!("the bounded field `{name}` cannot be whitened"))
                    .with_label("`param = whitened` here")
                    .with_secondary(lhs_span, format!("`{name}` is declared with bounds"))
                    .with_help(format!(
                        "whiten an unbounded field and bound it in a law, e.g. `law {name}_pos = exp({name})`"
                    )),
            );
            return false;
        }
        if let Some(prev) = self
            .whitened_fields
            .iter()
            .find(|(j, s)| *j == i && *s != span)
            .map(|p| p.1)
        {
            self.error(
                Diagnostic::error(span, format!("`{name}` is whitened twice"))
                    .with_label(format!("a second whitened `{}` prior", spec.name))
                    .with_secondary(prev, "first whitened here")
                    .with_help("a field has one set of coordinates: whiten it by one prior"),
            );
            return false;
        }
        if !self.whitened_fields.contains(&(i, span)) {
            self.whitened_fields.push((i, span));
        }
        true
    }

    fn dist_spec(&mut self, dist: &DistCall) -> Option<&'static DistSpec> {
        let name = dist.name.name.as_str();
        if let Some(spec) = distributions::lookup(name) {
            return Some(spec);
        }
        let mut d = Diagnostic::error(dist.name.span, format!("unknown distribution `{name}`"))
            .with_label("not a distribution");
        if crate::library::functions::lookup(name).is_some() || self.globals.contains_key(name) {
            d = d.with_note(format!(
                "`{name}` is a function or a value; the right of `~` must be a distribution"
            ));
        }
        if let Some(h) = did_you_mean(name, distributions::names()) {
            d = d.with_help(h);
        }
        self.error(d);
        None
    }

    /// Matches arguments to the distribution's parameters; `None` entries are omitted optional ones.
    fn bind_dist_args<'a>(
        &mut self,
        spec: &DistSpec,
        dist: &'a DistCall,
    ) -> Option<Vec<Option<&'a Expr>>> {
        let mut bound: Vec<Option<&Expr>> = vec![None; spec.params.len()];
        let mut given: Vec<Option<Span>> = vec![None; spec.params.len()];
        let mut next = 0;
        let mut named: Option<Span> = None;
        for a in &dist.args {
            let slot = match &a.name {
                None if named.is_some() => {
                    let d =
                        Diagnostic::error(a.value.span, "a positional argument after a named one")
                            .with_label("positional")
                            .with_secondary(named.unwrap_or_default(), "named argument before it")
                            .with_help("put positional arguments first, or name this one too");
                    self.error(d);
                    return None;
                }
                None => {
                    if next >= spec.params.len() {
                        self.error(
                            Diagnostic::error(
                                a.value.span,
                                format!(
                                    "`{}` takes {} argument{}, but {} were given",
                                    spec.name,
                                    spec.params.len(),
                                    if spec.params.len() == 1 { "" } else { "s" },
                                    dist.args.len()
                                ),
                            )
                            .with_label("extra argument")
                            .with_note(format!("its parameters are {}", spec.signature())),
                        );
                        return None;
                    }
                    next += 1;
                    next - 1
                }
                Some(n) => match spec.params.iter().position(|p| p.name == n.name) {
                    Some(k) => {
                        named = named.or(Some(n.span));
                        k
                    }
                    None => {
                        let mut d = Diagnostic::error(
                            n.span,
                            format!("`{}` has no parameter `{}`", spec.name, n.name),
                        )
                        .with_label("unknown parameter")
                        .with_note(format!("its parameters are {}", spec.signature()));
                        if let Some(h) = did_you_mean(&n.name, spec.params.iter().map(|p| p.name)) {
                            d = d.with_help(h);
                        }
                        self.error(d);
                        return None;
                    }
                },
            };
            if let Some(prev) = given[slot] {
                let d = Diagnostic::error(
                    a.value.span,
                    format!(
                        "parameter `{}` of `{}` is given twice",
                        spec.params[slot].name, spec.name
                    ),
                )
                .with_label("again here")
                .with_secondary(prev, "first here");
                self.error(d);
                return None;
            }
            given[slot] = Some(a.name.as_ref().map(|n| n.span).unwrap_or(a.value.span));
            bound[slot] = Some(&a.value);
        }
        let missing: Vec<&str> = spec
            .params
            .iter()
            .zip(&bound)
            .filter(|(p, b)| b.is_none() && p.default.is_none())
            .map(|(p, _)| p.name)
            .collect();
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.error(
                Diagnostic::error(dist.span, format!("`{}` is missing {list}", spec.name))
                    .with_label(format!(
                        "{} argument{} given",
                        dist.args.len(),
                        if dist.args.len() == 1 { "" } else { "s" }
                    ))
                    .with_note(format!("its parameters are {}", spec.signature())),
            );
            return None;
        }
        Some(bound)
    }

    /// Whether a prior's support suits the latent's declared constraints.
    fn support_fits(&mut self, spec: &DistSpec, dist: &DistCall, i: usize, lhs_span: Span) -> bool {
        let decl = self.latents[i];
        let Some(info) = self.latent_decls[i].clone() else {
            return true;
        };
        let bound_value = |id: Option<ExprId>| -> Option<Option<f64>> {
            let id = id?;
            let mut found = None;
            for c in &decl.constraints {
                let exprs: Vec<&Expr> = match &c.kind {
                    ConstraintKind::Lower(e) | ConstraintKind::Upper(e) => vec![e],
                    ConstraintKind::Interval(a, b) => vec![a, b],
                };
                for e in exprs {
                    if e.id == id {
                        found = Some(const_real(e));
                    }
                }
            }
            found
        };
        let lower = bound_value(info.lower);
        let upper = bound_value(info.upper);
        let name = &decl.name.name;
        let (fits, need, fix) = match spec.support {
            Support::Positive => (
                info.structure == Structure::PositiveOrdered
                    || matches!(lower, Some(None)) // a bound computed from data: trust it
                    || matches!(lower, Some(Some(v)) if v >= 0.0),
                "positive numbers",
                format!("declare `{name}: {} > 0`", decl.ty.name.name),
            ),
            Support::Unit => (
                matches!((lower, upper), (Some(None), _) | (_, Some(None)))
                    || matches!((lower, upper), (Some(Some(a)), Some(Some(b))) if a >= 0.0 && b <= 1.0),
                "the interval (0, 1)",
                format!("declare `{name}: {} in (0, 1)`", decl.ty.name.name),
            ),
            Support::Simplex => (
                info.structure == Structure::Simplex,
                "the simplex",
                format!("declare `{name}: simplex[k]`"),
            ),
            _ => (true, "", String::new()),
        };
        if !fits {
            let constraint =
                if lower.is_none() && upper.is_none() && info.structure == Structure::None {
                    "unconstrained".to_string()
                } else {
                    "constrained differently".to_string()
                };
            self.error(
                Diagnostic::error(
                    dist.name.span,
                    format!(
                        "`{}` is a distribution on {need}, but `{name}` is {constraint}",
                        spec.name
                    ),
                )
                .with_label("prior support does not match")
                .with_secondary(lhs_span, format!("`{name}` is declared here"))
                .with_help(fix),
            );
        }
        fits
    }
}
