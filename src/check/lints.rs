//! Warnings: things that are legal but probably not what the user meant.

use super::{Checker, Structure};
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::*;
use std::collections::HashSet;

impl<'p> Checker<'p> {
    pub(super) fn lint(&mut self) {
        if self.diags.iter().any(|d| d.is_error()) {
            return; // warnings after errors are noise
        }
        let used = self.referenced_names(true);
        self.check_derived_unused();
        let mut with_prior: HashSet<&str> = HashSet::new();
        // Latents a prior statement's left side reaches through laws: a prior on a law of latents
        // (`log_kp ~ normal(7, 1)` with `law log_kp = a + b`) is theirs too.
        let mut through_laws: Vec<usize> = vec![];
        for t in &self.priors {
            for (n, _) in t.lhs.names() {
                with_prior.insert(n);
            }
            self.latents_in(&t.lhs, &mut vec![], &mut through_laws);
        }
        // Latents some modality sees, directly or through laws.
        let mut informed: Vec<usize> = vec![];
        for m in &self.modalities {
            for s in &m.stmts {
                let exprs: Vec<&Expr> = match s {
                    ModalityStmt::Let(l) => vec![&l.value],
                    ModalityStmt::Tilde(t) => t.dist.args.iter().map(|a| &a.value).collect(),
                };
                for e in exprs {
                    self.latents_in(e, &mut vec![], &mut informed);
                }
            }
        }
        let mut warnings = vec![];
        for (i, d) in self.latents.iter().enumerate() {
            let Some(info) = &self.latent_decls[i] else {
                continue;
            };
            let name = d.name.name.as_str();
            let proper_flat = info.structure == Structure::Simplex
                || (info.lower.is_some() && info.upper.is_some());
            let flat = d.prior.is_none()
                && !with_prior.contains(name)
                && !through_laws.contains(&i)
                && !proper_flat;
            if flat && !informed.contains(&i) && !self.modalities.is_empty() {
                warnings.push(
                    Diagnostic::warning(
                        d.name.span,
                        format!("no modality informs latent `{name}`, and its prior is flat"),
                    )
                    .with_label("its posterior is improper")
                    .with_help(format!(
                        "give `{name}` a proper prior, or connect it to a modality"
                    )),
                );
            } else if flat {
                warnings.push(
                    Diagnostic::warning(d.name.span, format!("latent `{name}` has no prior"))
                        .with_label("a flat, improper prior is used")
                        .with_help(format!(
                            "add a prior, e.g. `{name} ~ normal(0, 10)`, or bound it on both sides"
                        )),
                );
            }
            let field_prior = d
                .prior
                .as_ref()
                .is_some_and(|p| matches!(p.name.name.as_str(), "gmrf" | "matern"));
            if field_prior && (info.lower.is_some() || info.upper.is_some()) {
                warnings.push(
                    Diagnostic::warning(d.name.span, format!("a Gaussian field prior on the bounded latent `{name}`"))
                        .with_label("the prior is truncated to the bounds")
                        .with_help(format!("put the prior on an unbounded field and transform it in a law, e.g. `law {name}_pos = exp({name}_log)`")),
                );
            }
            if !used.contains(name) {
                warnings.push(
                    Diagnostic::warning(d.name.span, format!("latent `{name}` is never used"))
                        .with_label("no law, modality or other prior refers to it")
                        .with_help("the data say nothing about it: its posterior is its prior"),
                );
            }
        }
        for d in &self.data {
            if !used.contains(d.name.name.as_str()) {
                warnings.push(
                    Diagnostic::warning(
                        d.name.span,
                        format!("data `{}` is never used", d.name.name),
                    )
                    .with_label("declared but not referred to"),
                );
            }
        }
        for l in self.laws.iter().filter(|l| !l.derived) {
            if !used.contains(l.name.name.as_str()) {
                warnings.push(
                    Diagnostic::warning(
                        l.name.span,
                        format!("law `{}` is not used by any modality or prior", l.name.name),
                    )
                    .with_label("it will only be reported with the draws")
                    .with_help("if a data source should see it, use it in that modality"),
                );
            }
        }
        for (i, f) in self.fns.iter().enumerate() {
            if !self.fn_cache.keys().any(|(k, _)| *k == i) {
                warnings.push(
                    Diagnostic::warning(
                        f.name.span,
                        format!("function `{}` is never called", f.name.name),
                    )
                    .with_label("unused"),
                );
            }
        }
        for t in &self.priors {
            let plain = match &t.lhs.kind {
                ExprKind::Name(_) => true,
                ExprKind::Index { base, .. } => matches!(base.kind, ExprKind::Name(_)),
                _ => false,
            };
            if !plain {
                warnings.push(
                    Diagnostic::warning(t.lhs.span, "a prior on a transform of latents")
                        .with_label("no Jacobian adjustment is made for this transform")
                        .with_help("this adds a term to the log density; if you meant a prior on the latent itself, the implied prior differs by the Jacobian"),
                );
            }
        }
        for w in warnings {
            self.warn(w);
        }
    }

    /// Every global name referred to, except a latent's mention of itself on the left of its own prior.
    /// A derived quantity is only reported: a law, prior or modality that uses it is an error (it
    /// would make it part of the density, which is what `law` is for).
    fn check_derived_unused(&mut self) {
        let mut in_model = self.referenced_names(false);
        for t in &self.priors {
            in_model.extend(t.lhs.names().into_iter().map(|(n, _)| n));
        }
        let errors: Vec<Diagnostic> = self
            .laws
            .iter()
            .filter(|l| l.derived && in_model.contains(l.name.name.as_str()))
            .map(|l| {
                let name = &l.name.name;
                Diagnostic::error(
                    l.name.span,
                    format!("derived quantity `{name}` is used by the model"),
                )
                .with_label("a law, prior or modality refers to it")
                .with_help(format!(
                    "a derived quantity is only reported with the draws; declare it \
                     `law {name} = ...` to use it in the model"
                ))
            })
            .collect();
        self.diags.extend(errors);
    }

    /// The global names something refers to; the values of derived quantities count only with
    /// `with_derived`.
    fn referenced_names(&self, with_derived: bool) -> HashSet<&'p str> {
        let mut used: HashSet<&'p str> = HashSet::new();
        let mut add = |e: &'p Expr| {
            for (n, _) in e.names() {
                used.insert(n);
            }
        };
        let add_args = |args: &'p [Arg], add: &mut dyn FnMut(&'p Expr)| {
            for a in args {
                add(&a.value);
            }
        };
        for d in self.data.iter().chain(self.latents.iter()) {
            add_args(&d.ty.args, &mut add);
            for c in &d.constraints {
                match &c.kind {
                    ConstraintKind::Lower(e) | ConstraintKind::Upper(e) => add(e),
                    ConstraintKind::Interval(a, b) => {
                        add(a);
                        add(b);
                    }
                }
            }
            if let Some(p) = &d.prior {
                add_args(&p.args, &mut add);
            }
        }
        for l in self.laws.iter().filter(|l| with_derived || !l.derived) {
            add(&l.value);
        }
        for f in &self.fns {
            add(&f.body);
        }
        for o in &self.odes {
            for eq in &o.equations {
                add(&eq.rhs);
            }
        }
        for t in &self.priors {
            add_args(&t.dist.args, &mut add);
            // `x ~ ...` alone does not make `x` used; `x[idx] ~ ...` uses `idx`.
            if !matches!(t.lhs.kind, ExprKind::Name(_)) {
                add(&t.lhs);
            }
        }
        for m in &self.modalities {
            if let Some(w) = &m.weight {
                add(w);
            }
            for s in &m.stmts {
                match s {
                    ModalityStmt::Let(l) => add(&l.value),
                    ModalityStmt::Tilde(t) => {
                        add(&t.lhs);
                        add_args(&t.dist.args, &mut add);
                    }
                }
            }
        }
        for c in &self.combines {
            for e in c.entries.iter().flatten() {
                add(&e.value);
            }
        }
        used.retain(|n| self.globals.contains_key(*n));
        used
    }
}
