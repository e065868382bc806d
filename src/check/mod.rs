//! The semantic checker: resolves names, infers every expression's type, shape and dependence on the
//! latents, validates declarations, distributions, modalities and the combine rule, and collects warnings.
//!
//! It never rewrites the AST: its findings go into side tables (`CheckedModel`). Errors do not stop it;
//! an expression whose type cannot be known is "poisoned" (`None`) so that one mistake gives one message.

mod calls;
mod decls;
mod dists;
pub mod dump;
mod exprs;
mod lints;
mod model;
mod operators;
pub mod types;

use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::*;
pub use decls::const_real;
use std::collections::HashMap;
pub use types::{Dep, Dim, Elem, Form, Info, Ty};

/// Structural constraints carried by a type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    None,
    Simplex,
    Ordered,
    PositiveOrdered,
}

/// A checked `data` or `latent` declaration.
#[derive(Debug, Clone)]
pub struct DeclInfo {
    pub name: String,
    pub ty: Ty,
    pub structure: Structure,
    /// Grid spacing of a field, one expression per axis or one for all.
    pub spacing: Option<ExprId>,
    /// A field's boundary per axis (`boundary = ...`; reflecting by default); empty for other types.
    pub boundary: Vec<crate::library::distributions::Boundary>,
    pub lower: Option<ExprId>,
    pub upper: Option<ExprId>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct LawInfo {
    pub name: String,
    pub info: Info,
    /// Declared `derived`: reported only.
    pub derived: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CombineRule {
    Product,
    Tempered,
    Minmax,
    /// Forgives each named modality residuals up to a budget: the best case over the ball.
    Tolerant,
}

/// The checked combine declaration (product when none is written).
#[derive(Debug, Clone)]
pub struct CombineInfo {
    pub rule: CombineRule,
    /// Modality name and the expression of its weight or budget.
    pub entries: Vec<(String, ExprId)>,
}

/// The result of checking a program that had no errors.
#[derive(Debug)]
pub struct CheckedModel {
    pub program: Program,
    pub data: Vec<DeclInfo>,
    pub latents: Vec<DeclInfo>,
    pub laws: Vec<LawInfo>,
    pub combine: CombineInfo,
    /// Type, shape and dependence of every expression outside `fn` and `ode` bodies, by `ExprId`.
    pub exprs: Vec<Option<Info>>,
}

impl CheckedModel {
    /// What the model declares, counted: `16 data items, 6 latents, 6 laws, 1 derived, 2 modalities`
    /// (derived quantities only when there are some).
    pub fn summary(&self) -> String {
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let derived = self.laws.iter().filter(|l| l.derived).count();
        let modalities = self
            .program
            .items
            .iter()
            .filter(|i| matches!(i, Item::Modality(_)))
            .count();
        let mut parts = vec![
            count(self.data.len(), "data item", "data items"),
            count(self.latents.len(), "latent", "latents"),
            count(self.laws.len() - derived, "law", "laws"),
        ];
        if derived > 0 {
            parts.push(format!("{derived} derived"));
        }
        parts.push(count(modalities, "modality", "modalities"));
        parts.join(", ")
    }

    /// The expression with this id, wherever it stands in the program.
    pub fn find_expr(&self, id: ExprId) -> Option<&Expr> {
        fn find_in(e: &Expr, id: ExprId) -> Option<&Expr> {
            if e.id == id {
                return Some(e);
            }
            e.kind.children().into_iter().find_map(|c| find_in(c, id))
        }
        let mut found = None;
        for_each_expr(&self.program, &mut |e| {
            if found.is_none() {
                found = find_in(e, id);
            }
        });
        found
    }

    pub fn info(&self, e: &Expr) -> &Info {
        self.exprs[e.id.0 as usize]
            .as_ref()
            .expect("a checked model has an info for every expression")
    }
}

/// Calls `f` on every top-level expression of the program (each then walks its own children).
pub fn for_each_expr<'a>(program: &'a Program, f: &mut impl FnMut(&'a Expr)) {
    let args = |args: &'a [Arg], f: &mut dyn FnMut(&'a Expr)| args.iter().for_each(|a| f(&a.value));
    let decl = |d: &'a Decl, f: &mut dyn FnMut(&'a Expr)| {
        args(&d.ty.args, f);
        for c in &d.constraints {
            match &c.kind {
                ConstraintKind::Lower(e) | ConstraintKind::Upper(e) => f(e),
                ConstraintKind::Interval(a, b) => {
                    f(a);
                    f(b);
                }
            }
        }
        if let Some(p) = &d.prior {
            args(&p.args, f);
        }
    };
    let tilde = |t: &'a Tilde, f: &mut dyn FnMut(&'a Expr)| {
        f(&t.lhs);
        args(&t.dist.args, f);
    };
    for item in &program.items {
        match item {
            Item::Data(b) | Item::Latent(b) => {
                b.decls.iter().for_each(|d| decl(d, f));
                b.priors.iter().for_each(|t| tilde(t, f));
            }
            Item::Law(l) => f(&l.value),
            Item::Fn(d) => f(&d.body),
            Item::Ode(o) => o.equations.iter().for_each(|e| f(&e.rhs)),
            Item::Modality(m) => {
                if let Some(w) = &m.weight {
                    f(w);
                }
                for s in &m.stmts {
                    match s {
                        ModalityStmt::Let(l) => f(&l.value),
                        ModalityStmt::Tilde(t) => tilde(t, f),
                    }
                }
            }
            Item::Combine(c) => c.entries.iter().flatten().for_each(|e| f(&e.value)),
            Item::Tilde(t) => tilde(t, f),
        }
    }
}

/// Everything `check` found: the model when there were no errors, and all diagnostics.
pub struct CheckOutput {
    pub model: Option<CheckedModel>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks a parsed program.
pub fn check(program: Program) -> CheckOutput {
    let mut cx = Checker::new(&program);
    cx.run();
    let mut diagnostics = std::mem::take(&mut cx.diags);
    // The same mistake inside a `fn` body is found once per call; report it once.
    let mut seen = std::collections::HashSet::new();
    diagnostics.retain(|d| seen.insert((d.message.clone(), d.primary_span())));
    let has_errors = diagnostics.iter().any(|d| d.is_error());
    let model = if has_errors {
        None
    } else {
        let laws: Option<Vec<LawInfo>> = cx
            .laws
            .iter()
            .enumerate()
            .map(|(i, l)| match &cx.law_state[i] {
                LawState::Done(Some(info)) => Some(LawInfo {
                    name: l.name.name.clone(),
                    info: info.clone(),
                    derived: l.derived,
                }),
                _ => None,
            })
            .collect();
        let data: Option<Vec<DeclInfo>> = cx.data_decls.iter().cloned().collect();
        let latents: Option<Vec<DeclInfo>> = cx.latent_decls.iter().cloned().collect();
        let combine = cx.combine_info.clone().unwrap_or(CombineInfo {
            rule: CombineRule::Product,
            entries: vec![],
        });
        let exprs = std::mem::take(&mut cx.infos);
        drop(cx);
        match (laws, data, latents) {
            (Some(laws), Some(data), Some(latents)) => Some(CheckedModel {
                program,
                data,
                latents,
                laws,
                combine,
                exprs,
            }),
            _ => {
                // Every declaration that fails to check reports why; reaching here is a bug.
                diagnostics.push(Diagnostic::error(
                    Span::default(),
                    "internal error: a declaration could not be checked but no message was given; please report this model",
                ));
                None
            }
        }
    };
    CheckOutput { model, diagnostics }
}

/// What a global name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    Data(usize),
    Latent(usize),
    Law(usize),
    Fn(usize),
    Ode(usize),
}

impl Global {
    fn describe(self) -> &'static str {
        match self {
            Global::Data(_) => "data",
            Global::Latent(_) => "a latent",
            Global::Law(_) => "a law",
            Global::Fn(_) => "a function",
            Global::Ode(_) => "an ode system",
        }
    }
}

#[derive(Debug, Clone)]
enum LawState {
    Todo,
    InProgress,
    Done(Option<Info>),
}

/// Where expressions are being checked: what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Main,
    /// Inside a `fn` body: parameters, data and functions only.
    FnBody(usize),
    /// Inside an `ode` body: time, states, parameters, data and functions.
    OdeBody(usize),
}

/// A frame of local names; lookups do not pass a barrier frame (the start of a `fn` body).
struct Frame {
    names: Vec<(String, Info, Span)>,
    barrier: bool,
}

struct Checker<'p> {
    data: Vec<&'p Decl>,
    latents: Vec<&'p Decl>,
    laws: Vec<&'p Law>,
    fns: Vec<&'p FnDef>,
    odes: Vec<&'p OdeDef>,
    modalities: Vec<&'p Modality>,
    combines: Vec<&'p Combine>,
    /// Prior statements (top level and in latent blocks).
    priors: Vec<&'p Tilde>,
    globals: HashMap<String, Global>,

    data_decls: Vec<Option<DeclInfo>>,
    latent_decls: Vec<Option<DeclInfo>>,
    law_state: Vec<LawState>,
    /// Laws being checked, outermost first, to name the cycle when one law needs itself.
    law_stack: Vec<usize>,
    combine_info: Option<CombineInfo>,
    /// Results of `fn` calls by argument types, so each instantiation is checked once.
    fn_cache: HashMap<(usize, Vec<Info>), Option<Info>>,

    frames: Vec<Frame>,
    context: Vec<Context>,
    /// Call sites of the `fn` bodies being checked, outermost first.
    call_sites: Vec<Span>,
    infos: Vec<Option<Info>>,
    diags: Vec<Diagnostic>,
    /// Counter for sizes known only at run time.
    opaque: u32,
    /// Latents with a whitened field prior, and where it was asked for.
    whitened_fields: Vec<(usize, Span)>,
}

impl<'p> Checker<'p> {
    fn new(program: &'p Program) -> Checker<'p> {
        let mut cx = Checker {
            data: vec![],
            latents: vec![],
            laws: vec![],
            fns: vec![],
            odes: vec![],
            modalities: vec![],
            combines: vec![],
            priors: vec![],
            globals: HashMap::new(),
            data_decls: vec![],
            latent_decls: vec![],
            law_state: vec![],
            law_stack: vec![],
            combine_info: None,
            fn_cache: HashMap::new(),
            frames: vec![],
            context: vec![Context::Main],
            call_sites: vec![],
            infos: vec![None; program.expr_count as usize],
            diags: vec![],
            opaque: 0,
            whitened_fields: vec![],
        };
        for item in &program.items {
            match item {
                Item::Data(b) => cx.data.extend(b.decls.iter()),
                Item::Latent(b) => {
                    cx.latents.extend(b.decls.iter());
                    cx.priors.extend(b.priors.iter());
                }
                Item::Law(l) => cx.laws.push(l),
                Item::Fn(f) => cx.fns.push(f),
                Item::Ode(o) => cx.odes.push(o),
                Item::Modality(m) => cx.modalities.push(m),
                Item::Combine(c) => cx.combines.push(c),
                Item::Tilde(t) => cx.priors.push(t),
            }
        }
        cx.law_state = vec![LawState::Todo; cx.laws.len()];
        cx
    }

    fn run(&mut self) {
        self.declare_globals();
        self.check_decls();
        for i in 0..self.laws.len() {
            self.law_info(i);
        }
        for i in 0..self.fns.len() {
            self.check_fn_def(i);
        }
        for i in 0..self.odes.len() {
            self.check_ode(i);
        }
        self.check_priors();
        self.check_modalities();
        self.check_combine();
        self.lint();
    }

    fn error(&mut self, mut d: Diagnostic) {
        if let Some(site) = self.call_sites.first() {
            d = d.with_secondary(*site, "in this call");
        }
        self.diags.push(d);
    }

    fn warn(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Registers every global name, rejecting duplicates and clashes with built-ins.
    fn declare_globals(&mut self) {
        let mut all: Vec<(Ident, Global)> = vec![];
        all.extend(
            self.data
                .iter()
                .enumerate()
                .map(|(i, d)| (d.name.clone(), Global::Data(i))),
        );
        all.extend(
            self.latents
                .iter()
                .enumerate()
                .map(|(i, d)| (d.name.clone(), Global::Latent(i))),
        );
        all.extend(
            self.laws
                .iter()
                .enumerate()
                .map(|(i, l)| (l.name.clone(), Global::Law(i))),
        );
        all.extend(
            self.fns
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.clone(), Global::Fn(i))),
        );
        all.extend(
            self.odes
                .iter()
                .enumerate()
                .map(|(i, o)| (o.name.clone(), Global::Ode(i))),
        );
        let mut first: HashMap<String, (Span, Global)> = HashMap::new();
        for (id, g) in all {
            if let Some((prev, pg)) = first.get(&id.name) {
                let d = Diagnostic::error(id.span, format!("`{}` is declared twice", id.name))
                    .with_label(format!("declared again here as {}", g.describe()))
                    .with_secondary(*prev, format!("first declared here as {}", pg.describe()));
                self.error(d);
                continue;
            }
            // Values and functions are told apart by syntax (`f(...)` is a call), so data may be named
            // `beta` or `mean`; only a user function may not hide a built-in one.
            if matches!(g, Global::Fn(_)) && crate::library::functions::lookup(&id.name).is_some() {
                self.error(
                    Diagnostic::error(
                        id.span,
                        format!("`{}` is the name of a built-in function", id.name),
                    )
                    .with_label("choose another name"),
                );
                continue;
            }
            first.insert(id.name.clone(), (id.span, g));
            self.globals.insert(id.name, g);
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for m in &self.modalities {
            if let Some(prev) = seen.get(m.name.name.as_str()) {
                let d = Diagnostic::error(
                    m.name.span,
                    format!("modality `{}` is declared twice", m.name.name),
                )
                .with_label("declared again here")
                .with_secondary(*prev, "first declared here");
                self.diags.push(d);
            } else {
                seen.insert(&m.name.name, m.name.span);
            }
        }
    }

    /// The checked type of a law, computed on first use (laws may appear in any order).
    fn law_info(&mut self, i: usize) -> Option<Info> {
        match &self.law_state[i] {
            LawState::Done(info) => return info.clone(),
            LawState::InProgress => {
                let law = self.laws[i];
                let start = self.law_stack.iter().position(|&k| k == i).unwrap_or(0);
                let mut path: Vec<&str> = self.law_stack[start..]
                    .iter()
                    .map(|&k| self.laws[k].name.name.as_str())
                    .collect();
                path.push(&law.name.name);
                let label = if path.len() == 2 {
                    "defined in terms of itself".to_string()
                } else {
                    format!("a cycle: {}", path.join(" -> "))
                };
                self.error(
                    Diagnostic::error(
                        law.name.span,
                        format!("law `{}` depends on itself", law.name.name),
                    )
                    .with_label(label)
                    .with_help("a law must be computable from data and latents alone"),
                );
                self.law_state[i] = LawState::Done(None);
                return None;
            }
            LawState::Todo => {}
        }
        self.law_state[i] = LawState::InProgress;
        self.law_stack.push(i);
        // A law is checked in the main context whatever referred to it.
        let saved_frames = std::mem::take(&mut self.frames);
        let saved_context = std::mem::replace(&mut self.context, vec![Context::Main]);
        let saved_sites = std::mem::take(&mut self.call_sites);
        let info = self.expr(&self.laws[i].value);
        self.law_stack.pop();
        self.frames = saved_frames;
        self.context = saved_context;
        self.call_sites = saved_sites;
        if let LawState::Done(None) = self.law_state[i] {
            return None; // a cycle was reported while checking the body
        }
        self.law_state[i] = LawState::Done(info.clone());
        info
    }

    fn push_frame(&mut self, barrier: bool) {
        self.frames.push(Frame {
            names: vec![],
            barrier,
        });
    }

    fn pop_frame(&mut self) {
        self.frames.pop();
    }

    fn bind_local(&mut self, name: &Ident, info: Info) {
        self.frames
            .last_mut()
            .expect("a frame is open")
            .names
            .push((name.name.clone(), info, name.span));
    }

    fn lookup_local(&self, name: &str) -> Option<&Info> {
        for frame in self.frames.iter().rev() {
            if let Some((_, info, _)) = frame.names.iter().rev().find(|(n, _, _)| n == name) {
                return Some(info);
            }
            if frame.barrier {
                break;
            }
        }
        None
    }

    fn local_names(&self) -> Vec<String> {
        let mut out = vec![];
        for frame in self.frames.iter().rev() {
            out.extend(frame.names.iter().map(|(n, _, _)| n.clone()));
            if frame.barrier {
                break;
            }
        }
        out
    }

    fn in_main(&self) -> bool {
        self.context.last() == Some(&Context::Main)
    }

    /// An "unknown name" error with a suggestion drawn from everything visible.
    fn unknown_name(&mut self, name: &str, span: Span, what: &str) {
        let mut candidates: Vec<String> = self.local_names();
        candidates.extend(self.globals.keys().cloned());
        let mut d = Diagnostic::error(span, format!("unknown {what} `{name}`"))
            .with_label("not declared anywhere in this model");
        if let Some(hint) = did_you_mean(name, candidates.iter().map(|s| s.as_str())) {
            d = d.with_help(hint);
        }
        self.error(d);
    }

    fn fresh_opaque(&mut self, text: String) -> Dim {
        self.opaque += 1;
        Dim::Opaque(self.opaque, text)
    }
}
