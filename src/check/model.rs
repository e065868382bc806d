//! The model's structure: priors, modalities (each an expert with its own likelihood statements and
//! local definitions), and the combine rule that says how the experts are weighed.

use super::decls::{const_real, dep_word};
use super::dists::{Lhs, Role};
use super::{Checker, CombineInfo, CombineRule, Dep, Global};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::syntax::ast::*;

const RULES: &[&str] = &["product", "tempered", "minmax", "tolerant"];

impl<'p> Checker<'p> {
    pub(super) fn check_priors(&mut self) {
        for i in 0..self.latents.len() {
            let d = self.latents[i];
            if let Some(prior) = &d.prior {
                if self.latent_decls[i].is_some() {
                    self.tilde(Lhs::Decl(d, i), prior, Role::Prior);
                }
            }
        }
        for k in 0..self.priors.len() {
            let t = self.priors[k];
            self.tilde(Lhs::Expr(&t.lhs), &t.dist, Role::Prior);
        }
    }

    pub(super) fn check_modalities(&mut self) {
        for k in 0..self.modalities.len() {
            let m = self.modalities[k];
            if let Some(w) = &m.weight {
                self.check_weight(w, "a modality's weight");
            }
            self.push_frame(false);
            let mut likelihoods = 0;
            let mut reaches_latent = false;
            for stmt in &m.stmts {
                match stmt {
                    ModalityStmt::Let(l) => {
                        let clash = self.globals.get(&l.name.name).copied();
                        let local = self.lookup_local(&l.name.name).is_some();
                        if clash.is_some() || local {
                            let what = clash.map(|g| g.describe()).unwrap_or("an earlier `let`");
                            let mut d = Diagnostic::error(
                                l.name.span,
                                format!("`{}` already names {what}", l.name.name),
                            )
                            .with_label("choose another name for this local definition");
                            if let Some(span) = self.global_span(clash) {
                                d = d.with_secondary(span, "declared here");
                            }
                            self.error(d);
                            continue;
                        }
                        if let Some(info) = self.expr(&l.value) {
                            reaches_latent |= info.dep == Dep::Latent;
                            self.bind_local(&l.name, info);
                        }
                    }
                    ModalityStmt::Tilde(t) => {
                        likelihoods += 1;
                        if let Some(dep) = self.tilde(Lhs::Expr(&t.lhs), &t.dist, Role::Likelihood)
                        {
                            reaches_latent |= dep == Dep::Latent;
                        }
                    }
                }
            }
            self.pop_frame();
            if likelihoods == 0 {
                self.error(
                    Diagnostic::error(m.name.span, format!("modality `{}` has no likelihood statement", m.name.name))
                        .with_label("no `data ~ distribution(...)` inside")
                        .with_help("a modality says how one data source arises: add e.g. `y ~ normal(mu, sigma)`"),
                );
            } else if !reaches_latent && !self.diags.iter().any(|d| d.is_error()) {
                self.warn(
                    Diagnostic::warning(m.name.span, format!("modality `{}` does not depend on any latent", m.name.name))
                        .with_label("its likelihood is a constant")
                        .with_help("it informs nothing; connect it to the latents through a law or an expression"),
                );
            }
        }
    }

    fn global_span(&self, g: Option<Global>) -> Option<crate::span::Span> {
        Some(match g? {
            Global::Data(i) => self.data[i].name.span,
            Global::Latent(i) => self.latents[i].name.span,
            Global::Law(i) => self.laws[i].name.span,
            Global::Fn(i) => self.fns[i].name.span,
            Global::Ode(i) => self.odes[i].name.span,
        })
    }

    /// A weight or budget: a number known from data, zero or more (a weight of 0 switches a modality
    /// off).
    fn check_weight(&mut self, w: &Expr, what: &str) -> bool {
        let Some(info) = self.expr(w) else {
            return false;
        };
        if !info.ty.is_scalar() || info.dep != Dep::Data {
            self.error(
                Diagnostic::error(
                    w.span,
                    format!("{what} must be a single number known from data"),
                )
                .with_label(format!(
                    "this is {} ({})",
                    info.ty,
                    dep_word(info.dep)
                )),
            );
            return false;
        }
        if let Some(v) = const_real(w) {
            if v < 0.0 {
                self.error(
                    Diagnostic::error(w.span, format!("{what} must be zero or more"))
                        .with_label(format!("this is {v}")),
                );
                return false;
            }
        }
        true
    }

    pub(super) fn check_combine(&mut self) {
        if self.combines.len() > 1 {
            let d = Diagnostic::error(self.combines[1].span, "`combine` is given more than once")
                .with_label("second combine")
                .with_secondary(self.combines[0].span, "first combine");
            self.error(d);
            return;
        }
        let Some(c) = self.combines.first().copied() else {
            return;
        };
        let rule = match c.rule.name.as_str() {
            "product" => CombineRule::Product,
            "tempered" => CombineRule::Tempered,
            "minmax" => CombineRule::Minmax,
            "tolerant" => CombineRule::Tolerant,
            other => {
                let mut d = Diagnostic::error(c.rule.span, format!("unknown combine rule `{other}`"))
                    .with_label("not a combine rule")
                    .with_note("the rules are `product`, `tempered { m: weight, ... }`, `minmax { m: budget, ... }` and `tolerant { m: budget, ... }`");
                if let Some(h) = did_you_mean(other, RULES.iter().copied()) {
                    d = d.with_help(h);
                }
                self.error(d);
                return;
            }
        };
        let entries: &[CombineEntry] = match (rule, &c.entries) {
            (CombineRule::Product, None) => &[],
            (CombineRule::Product, Some(_)) => {
                self.error(
                    Diagnostic::error(c.span, "`combine product` takes no entries")
                        .with_label("the plain product weighs every modality by 1")
                        .with_help("for weights, write `combine tempered { name: weight }`"),
                );
                return;
            }
            (_, Some(e)) if !e.is_empty() => e,
            _ => {
                let what = if rule == CombineRule::Tempered {
                    "weight"
                } else {
                    "budget"
                };
                self.error(
                    Diagnostic::error(
                        c.span,
                        format!("`combine {}` needs at least one entry", c.rule.name),
                    )
                    .with_label(format!("no modality given a {what}"))
                    .with_help(format!(
                        "write `combine {} {{ modality: value }}`",
                        c.rule.name
                    )),
                );
                return;
            }
        };
        let mut out = vec![];
        let mut seen: Vec<&Ident> = vec![];
        for entry in entries {
            let name = &entry.modality;
            let Some(m) = self
                .modalities
                .iter()
                .find(|m| m.name.name == name.name)
                .copied()
            else {
                let names: Vec<&str> = self
                    .modalities
                    .iter()
                    .map(|m| m.name.name.as_str())
                    .collect();
                let mut d =
                    Diagnostic::error(name.span, format!("unknown modality `{}`", name.name))
                        .with_label("no modality of this name");
                d = if names.is_empty() {
                    d.with_note("this model declares no modality")
                } else {
                    d.with_note(format!("the modalities are: {}", names.join(", ")))
                };
                if let Some(h) = did_you_mean(&name.name, names.iter().copied()) {
                    d = d.with_help(h);
                }
                self.error(d);
                continue;
            };
            if let Some(prev) = seen.iter().find(|s| s.name == name.name) {
                let d =
                    Diagnostic::error(name.span, format!("modality `{}` appears twice", name.name))
                        .with_label("again here")
                        .with_secondary(prev.span, "first here");
                self.error(d);
                continue;
            }
            seen.push(name);
            if rule == CombineRule::Tempered {
                if let Some(w) = &m.weight {
                    let d = Diagnostic::error(
                        name.span,
                        format!("modality `{}` is weighted twice", name.name),
                    )
                    .with_label("a weight here")
                    .with_secondary(w.span, "and a weight on the modality itself")
                    .with_help("keep one of the two");
                    self.error(d);
                    continue;
                }
            }
            let what = match rule {
                CombineRule::Tempered => "a tempering weight",
                CombineRule::Tolerant => "a tolerance budget",
                _ => "a min-max budget",
            };
            if self.check_weight(&entry.value, what) {
                out.push((name.name.clone(), entry.value.id));
            }
        }
        self.combine_info = Some(CombineInfo { rule, entries: out });
    }
}
