//! Forward simulation (`mmi simulate`): latents from a truth file or drawn from the prior, laws
//! computed from them, and every modality's data drawn from its likelihood.
//!
//! Design: the model is compiled with every pass switched off (`passes::Settings::none()`), so the
//! graph keeps one `Lpdf` term per `~` statement, in source order: priors first (declaration lines
//! in latent order, then prior statements in item order), then the modalities' likelihood statements.
//! Those terms are paired with the AST statements by position (their names and spans serve the
//! messages), and the graph does the arithmetic: a term's argument nodes, evaluated at a point with
//! [`Evaluator::node_values`], are the distribution's parameters there, whatever laws, `let`s,
//! broadcasting and matrix products stand between them and the latents.
//!
//! Prior draws. A latent is drawable when exactly one prior term involves it on its left side and
//! that left side is the latent itself (`mu: real ~ normal(0, 1)` or `mu ~ normal(0, 1)`), with a
//! family we can draw. Latents are drawn in dependency order (a prior's parameters and the latent's
//! bounds may use other latents): each draw is written into an unconstrained point whose other
//! coordinates are 0, so the next prior's parameters can be read off the graph. A draw outside the
//! latent's declared bounds is redrawn (element by element for univariate families, row by row for
//! multivariate ones) up to [`MAX_TRIES`] times; `ordered` latents with an exchangeable prior are
//! drawn i.i.d. and sorted (the order statistics, which is what the model's prior is). When a bound
//! depends on another latent, the truncated conditional is drawn, which ignores how the truncation's
//! mass varies with that latent (exact for constant bounds). A field with a Matérn / GMRF prior is
//! drawn exactly as mean + Q^(-1/2) z from white noise z through the prior's spectral square root
//! (`FieldSpec::draw`); a whitened field draws z, its own coordinates. Flat priors, improper random
//! walks, bounded Gaussian fields, priors on transforms, several priors on one latent and cycles are
//! errors naming the latents.
//!
//! Likelihood draws. Each likelihood's left side must be a data variable, perhaps indexed (integer,
//! integer array, slice, transpose): it lowers to a chain of gathers of the data node, whose index
//! maps give the positions the draws are written to. Positions no statement writes keep the input
//! file's value. Discrete families draw integers; an `int` variable under a continuous family is an
//! error.
//!
//! Random streams: the data are drawn from `chain_rng(seed, 0)` and prior draws from
//! `chain_rng(seed, 1)`, so the same seed gives the same data whether the latents were drawn or read
//! back from the truth file that a draw wrote.

use crate::check::{CheckedModel, DeclInfo, Elem};
use crate::data::{self, DataValue};
use crate::diagnostic::Diagnostic;
use crate::eval::dists::Family;
use crate::eval::fields::FieldKind;
use crate::eval::model::{element_names, Output};
use crate::eval::{transforms, CompiledModel};
use crate::ir::graph::{Graph, NodeId, Op, TermKind, Transform};
use crate::syntax::ast::{DistCall, Expr, ExprKind, Item, ModalityStmt};
use crate::syntax::print::show;
use rand::rngs::ChaCha8Rng;
use rand::RngExt;
use rand_distr::{Beta, Binomial, Distribution, Exp1, Gamma, Poisson, StandardNormal, StudentT};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

/// How many times a draw outside a latent's bounds is redrawn before giving up.
pub const MAX_TRIES: usize = 10_000;

/// Why a simulation could not be made.
#[derive(Debug)]
pub enum SimError {
    /// Problems located in the model (a left side that is not data, data that do not load).
    Diagnostics(Vec<Diagnostic>),
    /// Other problems, in plain words (a latent without a drawable prior, a bad truth file).
    Message(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Diagnostics(d) => {
                let msgs: Vec<String> = d.iter().map(|d| format!("{d:?}")).collect();
                write!(f, "{}", msgs.join("\n"))
            }
            SimError::Message(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for SimError {}

fn msg<T>(m: impl Into<String>) -> Result<T, SimError> {
    Err(SimError::Message(m.into()))
}

/// What a simulation produced.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Every declared data variable, in declaration order, with the simulated positions filled in.
    pub data: Vec<(String, DataValue)>,
    /// Every latent (as given or drawn) and law, in declaration order.
    pub truth: Vec<Output>,
    /// Warnings from loading the data (rendered against the model).
    pub warnings: Vec<Diagnostic>,
    /// Notes in plain words (keys of the truth file that were ignored).
    pub notes: Vec<String>,
}

impl Simulation {
    /// The data as a Stan JSON data file (ints as ints, arrays nested row-major).
    pub fn data_json(&self) -> String {
        let entries: Vec<(String, String)> = self
            .data
            .iter()
            .map(|(name, v)| (name.clone(), data_value_json(v)))
            .collect();
        json_object(&entries)
    }

    /// The latents and laws in the same JSON form `--params` reads.
    pub fn truth_json(&self) -> String {
        let entries: Vec<(String, String)> = self
            .truth
            .iter()
            .map(|o| (o.name.clone(), nested(&o.shape, &o.values, false)))
            .collect();
        json_object(&entries)
    }
}

/// Simulates data for `model`. `data_json` is the text of the input data file (`data_file` names it
/// in messages; `"{}"` when there is none); `params`, when given, is the text of a truth file with
/// every latent by name, otherwise the latents are drawn from the prior.
///
/// The observed variables (the left sides of likelihood statements) may be missing from the input:
/// before loading, each missing one is filled with zeros of its declared shape (its sizes evaluated
/// with `data::eval_dim` from the integer sizes in the file), and the observed variables' declared
/// bounds are not checked on input (zeros may break them). The simulated data are then checked
/// against the full model, bounds included, before they are returned.
pub fn simulate(
    model: &CheckedModel,
    data_json: &str,
    data_file: &str,
    params: Option<&str>,
    seed: u64,
) -> Result<Simulation, SimError> {
    let likelihoods = likelihood_statements(model).map_err(SimError::Diagnostics)?;
    let observed: Vec<&str> = likelihoods.iter().map(|l| l.variable.as_str()).collect();
    let filled = fill_observed(model, data_json, &observed).map_err(SimError::Diagnostics)?;
    let relaxed = relax_bounds(model, &observed);
    let (set, warnings) =
        data::load(&relaxed, &filled, data_file).map_err(SimError::Diagnostics)?;
    let compiled = crate::compile(&relaxed, &set, &crate::passes::Settings::none())
        .map_err(SimError::Diagnostics)?;
    let g = &compiled.graph;
    let priors: Vec<NodeId> = terms_of(g, |k| matches!(k, TermKind::Prior));
    let likes: Vec<NodeId> = terms_of(g, |k| matches!(k, TermKind::Likelihood(_)));
    let prior_stmts = prior_statements(model);
    if priors.len() != prior_stmts.len() || likes.len() != likelihoods.len() {
        return msg(
            "internal error: the compiled graph's terms do not match the model's `~` \
                    statements (this is a bug in mmi)",
        );
    }

    let mut notes = vec![];
    let latents: Vec<Vec<f64>> = match params {
        Some(text) => read_params(g, model, text, &mut notes)?,
        None => draw_prior(&compiled, &priors, &prior_stmts, seed)?,
    };
    let mut ev = compiled.evaluator();
    let given: Vec<(String, Vec<f64>)> = g
        .latents
        .iter()
        .zip(&latents)
        .map(|(l, v)| (l.name.clone(), v.clone()))
        .collect();
    let x = ev.unconstrain(&given).map_err(|e| {
        SimError::Message(format!(
            "{e} (the latent values must lie inside their declared constraints)"
        ))
    })?;
    let outputs = ev
        .constrain(&x)
        .map_err(|e| SimError::Message(format!("cannot evaluate the laws: {e}")))?;
    let mut truth: Vec<Output> = g
        .latents
        .iter()
        .zip(latents)
        .map(|(l, values)| Output {
            name: l.name.clone(),
            shape: l.shape.clone(),
            values,
        })
        .collect();
    truth.extend(outputs.into_iter().skip(g.latents.len()));

    let mut values: Vec<DataValue> = set.values.clone();
    let mut rng = crate::infer::sample::chain_rng(seed, 0);
    for (stmt, &term) in likelihoods.iter().zip(&likes) {
        let Op::Lpdf {
            family, args, dims, ..
        } = &g.node(term).op
        else {
            return msg("internal error: a likelihood term is not a log density (a bug in mmi)");
        };
        let k = model
            .data
            .iter()
            .position(|d| d.name == stmt.variable)
            .expect("an observed variable is data");
        let positions = positions(g, args[0]).ok_or_else(|| {
            SimError::Message(format!(
                "internal error: the left side `{}` did not compile to positions of `{}` (a bug in mmi)",
                stmt.lhs, stmt.variable
            ))
        })?;
        let decl = &model.data[k];
        if decl.ty.elem == Elem::Int && !family.is_discrete() {
            return msg(format!(
                "`{}` is declared int, but `{}` in modality `{}` draws real numbers; declare it real \
                 to simulate it",
                stmt.variable,
                family.name(),
                stmt.modality
            ));
        }
        let params = ev
            .node_values(&x, &args[1..])
            .map_err(|e| SimError::Message(e.to_string()))?;
        let p: Vec<&[f64]> = params.iter().map(|v| v.as_slice()).collect();
        let mut draws = vec![0.0; positions.len()];
        let unit = if family.is_multivariate() { *dims } else { 1 };
        for (u, out) in draws.chunks_mut(unit.max(1)).enumerate() {
            draw_unit(*family, &p, u, unit, &mut rng, out).map_err(|e| {
                let names = element_names(&stmt.variable, &values[k].shape);
                let at = names
                    .get(positions[u * unit])
                    .cloned()
                    .unwrap_or_else(|| stmt.variable.clone());
                SimError::Message(format!(
                    "cannot simulate `{at}` in modality `{}` (`{} ~ {}(...)`): {e}",
                    stmt.modality,
                    stmt.lhs,
                    family.name()
                ))
            })?;
        }
        if let Some(j) = draws.iter().position(|d| !d.is_finite()) {
            let names = element_names(&stmt.variable, &values[k].shape);
            return msg(format!(
                "the simulated `{}` in modality `{}` is {} (`{} ~ {}(...)` overflows at these \
                 latent values)",
                names.get(positions[j]).unwrap_or(&stmt.variable),
                stmt.modality,
                draws[j],
                stmt.lhs,
                family.name()
            ));
        }
        let v = &mut values[k];
        for (&pos, &d) in positions.iter().zip(&draws) {
            v.values[pos] = d;
            if let Some(ints) = v.ints.as_mut() {
                ints[pos] = d as i64;
            }
        }
    }

    let sim = Simulation {
        data: model
            .data
            .iter()
            .map(|d| d.name.clone())
            .zip(values)
            .collect(),
        truth,
        warnings,
        notes,
    };
    // The simulated data must load into the model as it stands, bounds and all.
    if let Err(diags) = data::load(model, &sim.data_json(), "the simulated data") {
        return Err(SimError::Diagnostics(diags));
    }
    Ok(sim)
}

// ---------------------------------------------------------------------------------------------
// The model's `~` statements.

/// A likelihood statement: its modality, its left side and the data variable it writes.
struct Likelihood {
    modality: String,
    lhs: String,
    variable: String,
}

/// Every likelihood statement in source order, each left side checked to be (indexed) data.
fn likelihood_statements(model: &CheckedModel) -> Result<Vec<Likelihood>, Vec<Diagnostic>> {
    let mut out = vec![];
    let mut errors = vec![];
    for item in &model.program.items {
        let Item::Modality(m) = item else { continue };
        for s in &m.stmts {
            let ModalityStmt::Tilde(t) = s else { continue };
            match data_root(model, &t.lhs) {
                Some(name) => out.push(Likelihood {
                    modality: m.name.name.clone(),
                    lhs: show(&t.lhs),
                    variable: name,
                }),
                None => errors.push(
                    Diagnostic::error(
                        t.lhs.span,
                        format!(
                            "cannot simulate `{}`: the left side of a likelihood must be a data \
                             variable, perhaps indexed",
                            show(&t.lhs)
                        ),
                    )
                    .with_label("a transform of data cannot be drawn")
                    .with_help(
                        "simulate the variable itself, e.g. `y ~ lognormal(mu, sigma)` rather \
                         than `log(y) ~ normal(mu, sigma)`",
                    ),
                ),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The data variable a left side writes: a data name, indexed or transposed any number of times.
fn data_root(model: &CheckedModel, e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Name(n) if model.data.iter().any(|d| &d.name == n) => Some(n.clone()),
        ExprKind::Index { base, .. } => data_root(model, base),
        ExprKind::Transpose(base) => data_root(model, base),
        _ => None,
    }
}

/// A prior statement: its left side's text and its distribution.
struct PriorStmt<'a> {
    lhs: String,
    dist: &'a DistCall,
}

/// Every prior statement in the order lowering turns them into terms: the declaration lines in
/// latent order, then the prior statements in item order.
fn prior_statements(model: &CheckedModel) -> Vec<PriorStmt<'_>> {
    let mut out = vec![];
    for l in &model.latents {
        for item in &model.program.items {
            let Item::Latent(b) = item else { continue };
            for d in &b.decls {
                if d.name.name == l.name {
                    if let Some(p) = &d.prior {
                        out.push(PriorStmt {
                            lhs: l.name.clone(),
                            dist: p,
                        });
                    }
                }
            }
        }
    }
    for item in &model.program.items {
        let tildes: Vec<_> = match item {
            Item::Latent(b) => b.priors.iter().collect(),
            Item::Tilde(t) => vec![t],
            _ => continue,
        };
        for t in tildes {
            out.push(PriorStmt {
                lhs: show(&t.lhs),
                dist: &t.dist,
            });
        }
    }
    out
}

/// The log-density terms of `~` statements of one kind (other terms, such as a `combine minmax`
/// worst case, are not statements and draw nothing).
fn terms_of(g: &Graph, keep: impl Fn(&TermKind) -> bool) -> Vec<NodeId> {
    g.terms
        .iter()
        .filter(|t| {
            keep(&t.kind) && matches!(g.node(t.node).op, Op::Lpdf { .. } | Op::FieldPrior { .. })
        })
        .map(|t| t.node)
        .collect()
}

/// The flat positions in its data variable of every element of a left side: the composition of the
/// gathers between it and the data node (`None` if anything else stands between them).
fn positions(g: &Graph, node: NodeId) -> Option<Vec<usize>> {
    match &g.node(node).op {
        Op::Data(..) => Some((0..g.node(node).len()).collect()),
        Op::Gather(inner, m) => {
            let below = positions(g, *inner)?;
            g.maps[m.0 as usize]
                .iter()
                .map(|&i| below.get(i as usize).copied())
                .collect()
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Input data: observed variables filled in, their bounds relaxed.

/// The data file's text with every observed variable it lacks filled with zeros of its shape.
fn fill_observed(
    model: &CheckedModel,
    json: &str,
    observed: &[&str],
) -> Result<String, Vec<Diagnostic>> {
    // A file that is not a JSON object is left to the loader, whose message says so.
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(json) else {
        return Ok(json.to_string());
    };
    let sizes: HashMap<String, i64> = model
        .data
        .iter()
        .filter(|d| d.ty.is_int_scalar())
        .filter_map(|d| {
            let v = map.get(&d.name)?;
            let i = v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))?;
            Some((d.name.clone(), i))
        })
        .collect();
    let mut errors = vec![];
    for d in &model.data {
        if !observed.contains(&d.name.as_str()) || map.contains_key(&d.name) {
            continue;
        }
        let dims: Result<Vec<usize>, String> =
            d.ty.shape
                .iter()
                .map(|dim| data::eval_dim(dim, &sizes).map(|v| v as usize))
                .collect();
        match dims {
            Ok(dims) => {
                let n: usize = dims.iter().product();
                let text = nested(&dims, &vec![0.0; n], d.ty.elem == Elem::Int);
                map.insert(
                    d.name.clone(),
                    serde_json::from_str(&text).expect("zeros are JSON"),
                );
            }
            Err(e) => errors.push(
                Diagnostic::error(
                    d.span,
                    format!("cannot make room for the simulated `{}`: {e}", d.name),
                )
                .with_label("observed here, simulated by `mmi simulate`")
                .with_help("the data file must give the sizes of the simulated variables"),
            ),
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(map).to_string())
    } else {
        Err(errors)
    }
}

/// A copy of the model whose observed data variables carry no bounds (they hold placeholders).
fn relax_bounds(model: &CheckedModel, observed: &[&str]) -> CheckedModel {
    let data: Vec<DeclInfo> = model
        .data
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if observed.contains(&d.name.as_str()) {
                d.lower = None;
                d.upper = None;
            }
            d
        })
        .collect();
    CheckedModel {
        program: model.program.clone(),
        data,
        latents: model.latents.clone(),
        laws: model.laws.clone(),
        combine: model.combine.clone(),
        exprs: model.exprs.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Latents from a truth file.

/// Every latent's value from a truth file (Stan JSON form; laws and `_` keys are ignored).
fn read_params(
    g: &Graph,
    model: &CheckedModel,
    text: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Vec<f64>>, SimError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| SimError::Message(format!("the --params file is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return msg("the --params file must hold one JSON object with every latent by name");
    };
    for key in map.keys() {
        let known =
            g.latents.iter().any(|l| &l.name == key) || model.laws.iter().any(|l| &l.name == key);
        if !key.starts_with('_') && !known {
            notes.push(format!(
                "the --params file gives `{key}`, which is neither a latent nor a law of the model; \
                 it is ignored"
            ));
        }
    }
    let mut missing = vec![];
    let mut out = vec![];
    for l in &g.latents {
        let Some(v) = map.get(&l.name) else {
            missing.push(format!("`{}`", l.name));
            continue;
        };
        let mut values = vec![];
        let mut shape = vec![];
        if !flatten(v, 0, &mut shape, &mut values) {
            return msg(format!(
                "the --params file gives `{}` as {}, but it must be {} (numbers, arrays nested \
                 row-major)",
                l.name,
                v,
                describe_shape(&l.shape)
            ));
        }
        if shape != l.shape {
            return msg(format!(
                "the --params file gives `{}` with shape {}, but it is declared with shape {}",
                l.name,
                describe_shape(&shape),
                describe_shape(&l.shape)
            ));
        }
        out.push(values);
    }
    if !missing.is_empty() {
        return msg(format!(
            "the --params file gives no value for the latent{} {}; it must give every latent",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    Ok(out)
}

/// Reads nested JSON arrays of numbers into `values` (row-major), recording the shape; false when the
/// value is not a rectangular array of finite numbers.
fn flatten(v: &Value, depth: usize, shape: &mut Vec<usize>, values: &mut Vec<f64>) -> bool {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => {
                values.push(f);
                shape.len() == depth
            }
            _ => false,
        },
        Value::Array(items) => {
            if shape.len() == depth {
                shape.push(items.len());
            } else if shape.get(depth) != Some(&items.len()) {
                return false;
            }
            items.iter().all(|i| flatten(i, depth + 1, shape, values))
        }
        _ => false,
    }
}

fn describe_shape(shape: &[usize]) -> String {
    if shape.is_empty() {
        "a scalar".to_string()
    } else {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        format!("[{}]", dims.join(", "))
    }
}

// ---------------------------------------------------------------------------------------------
// Latents from the prior.

/// How one latent is drawn: its prior term, the latents it waits for, and how.
struct Plan {
    term: NodeId,
    deps: Vec<usize>,
    how: How,
}

#[derive(Clone, Copy, PartialEq)]
enum How {
    /// From a `~` log density's family.
    Family,
    /// A Matérn / GMRF field, exactly, through its spectral square root.
    Field,
    /// A whitened field: its coordinates are white noise.
    White,
}

/// Draws every latent from its prior, in dependency order.
fn draw_prior(
    compiled: &CompiledModel,
    priors: &[NodeId],
    stmts: &[PriorStmt],
    seed: u64,
) -> Result<Vec<Vec<f64>>, SimError> {
    let g = &compiled.graph;
    let nl = g.latents.len();
    // Which latents every node depends on (inputs come first, so one sweep suffices).
    let raw: HashMap<NodeId, usize> = g
        .latents
        .iter()
        .enumerate()
        .map(|(i, l)| match &g.node(l.value).op {
            Op::Constrain(_, inputs) | Op::FieldWhiten { args: inputs, .. } => (inputs[0], i),
            _ => (l.value, i),
        })
        .collect();
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(g.nodes.len());
    for (i, node) in g.nodes.iter().enumerate() {
        let mut d: Vec<usize> = raw.get(&NodeId(i as u32)).into_iter().copied().collect();
        if node.param {
            for input in node.op.inputs() {
                d.extend(deps[input.index()].iter().copied());
            }
            d.sort_unstable();
            d.dedup();
        }
        deps.push(d);
    }
    let union = |nodes: &[NodeId]| {
        let mut d: Vec<usize> = nodes
            .iter()
            .flat_map(|n| deps[n.index()].iter().copied())
            .collect();
        d.sort_unstable();
        d.dedup();
        d
    };

    let mut plans: Vec<Option<Plan>> = vec![];
    let mut problems = vec![];
    for (i, l) in g.latents.iter().enumerate() {
        let on_lhs: Vec<usize> = (0..priors.len())
            .filter(|&t| match &g.node(priors[t]).op {
                Op::Lpdf { args, .. } | Op::FieldPrior { args, .. } => {
                    deps[args[0].index()].contains(&i)
                }
                _ => false,
            })
            .collect();
        let describe = |t: usize| format!("`{} ~ {}(...)`", stmts[t].lhs, stmts[t].dist.name.name);
        let problem = match on_lhs.as_slice() {
            [] => Some("has no prior (a flat prior cannot be drawn from)".to_string()),
            [t] => {
                let name = stmts[*t].dist.name.name.as_str();
                let (how, needs) = match (&g.node(priors[*t]).op, &g.node(l.value).op) {
                    (Op::Lpdf { args, .. }, Op::FieldWhiten { args: w, .. }) if args[0] == w[0] => {
                        (Ok(How::White), w[1..].to_vec())
                    }
                    (Op::Lpdf { family, args, .. }, _) => {
                        let how = if args[0] != l.value {
                            Err(format!(
                                "has its prior on a transform of it ({}), not on the latent itself",
                                describe(*t)
                            ))
                        } else if !drawable(*family) {
                            Err(format!("has a `{name}` prior, which cannot be drawn from"))
                        } else {
                            Ok(How::Family)
                        };
                        (how, args[1..].to_vec())
                    }
                    (Op::FieldPrior { field, args, .. }, value) => {
                        let how = if matches!(g.field(*field).kind, FieldKind::RandomWalk { .. }) {
                            Err(format!(
                                "has an improper `{name}` prior ({}): an intrinsic random walk \
                                 leaves the field's level (and trend) free, so it cannot be drawn \
                                 from; give the field's values in --params",
                                describe(*t)
                            ))
                        } else if matches!(value, Op::Constrain(..)) {
                            Err(format!(
                                "is bounded, so its Gaussian `{name}` prior ({}) cannot be drawn \
                                 from exactly; give its values in --params",
                                describe(*t)
                            ))
                        } else {
                            Ok(How::Field)
                        };
                        (how, args[1..].to_vec())
                    }
                    _ => unreachable!("prior terms are log densities"),
                };
                match how {
                    Err(problem) => Some(problem),
                    Ok(how) => {
                        let mut needs = needs;
                        if let Op::Constrain(_, inputs) = &g.node(l.value).op {
                            needs.extend(inputs[1..].iter().copied());
                        }
                        let d = union(&needs);
                        if d.contains(&i) {
                            Some(format!(
                                "has a prior or bounds that depend on itself ({})",
                                describe(*t)
                            ))
                        } else {
                            plans.push(Some(Plan {
                                term: priors[*t],
                                deps: d,
                                how,
                            }));
                            None
                        }
                    }
                }
            }
            many => Some(format!(
                "has {} priors ({}); their product cannot be drawn from directly",
                many.len(),
                many.iter()
                    .map(|&t| describe(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        if let Some(p) = problem {
            plans.push(None);
            problems.push(format!("latent `{}` {p}", l.name));
        }
    }
    if !problems.is_empty() {
        return msg(format!(
            "cannot draw the latents from the prior:\n  {}\ngive every latent's value with \
             --params TRUTH.json instead",
            problems.join("\n  ")
        ));
    }
    let plans: Vec<Plan> = plans.into_iter().map(|p| p.expect("no problems")).collect();

    // Dependency order (Kahn); what is left over lies on a cycle.
    let mut order = vec![];
    let mut done = vec![false; nl];
    while order.len() < nl {
        let ready: Vec<usize> = (0..nl)
            .filter(|&i| !done[i] && plans[i].deps.iter().all(|&d| done[d]))
            .collect();
        if ready.is_empty() {
            let cycle: Vec<String> = (0..nl)
                .filter(|&i| !done[i])
                .map(|i| format!("`{}`", g.latents[i].name))
                .collect();
            return msg(format!(
                "cannot draw the latents from the prior: the priors (or bounds) of {} depend on each \
                 other in a cycle; give every latent's value with --params TRUTH.json instead",
                cycle.join(", ")
            ));
        }
        for i in ready {
            done[i] = true;
            order.push(i);
        }
    }

    let mut rng = crate::infer::sample::chain_rng(seed, 1);
    let mut ev = compiled.evaluator();
    let mut x = vec![0.0; g.dim];
    let mut values = vec![vec![]; nl];
    for i in order {
        let l = &g.latents[i];
        if plans[i].how != How::Family {
            values[i] = draw_field(compiled, &mut ev, &mut x, i, &plans[i], &mut rng)?;
            continue;
        }
        let Op::Lpdf {
            family, args, dims, ..
        } = &g.node(plans[i].term).op
        else {
            unreachable!("prior terms are log densities")
        };
        let (t, bound_nodes) = match &g.node(l.value).op {
            Op::Constrain(t, inputs) => (Some(*t), inputs[1..].to_vec()),
            _ => (None, vec![]),
        };
        let mut wanted = args[1..].to_vec();
        wanted.extend(bound_nodes.iter().copied());
        let vals = ev
            .node_values(&x, &wanted)
            .map_err(|e| SimError::Message(e.to_string()))?;
        let (params, bounds) = vals.split_at(args.len() - 1);
        let p: Vec<&[f64]> = params.iter().map(|v| v.as_slice()).collect();
        let b: Vec<&[f64]> = bounds.iter().map(|v| v.as_slice()).collect();
        let n: usize = l.shape.iter().product();
        let v = draw_latent(*family, &p, *dims, n, t, &b, &mut rng).map_err(|e| {
            SimError::Message(format!(
                "cannot draw latent `{}` from its prior `{}`: {e}",
                l.name,
                family.name()
            ))
        })?;
        let coords = &mut x[l.offset..l.offset + l.free];
        match t {
            Some(t) => transforms::unconstrain(t, &v, &b, coords)
                .map_err(|e| SimError::Message(format!("latent `{}`: {e}", l.name)))?,
            None => coords.copy_from_slice(&v),
        }
        values[i] = v;
    }
    Ok(values)
}

/// A field latent drawn exactly from its Matérn / GMRF prior (x = mean + Q^(-1/2) z, z white noise
/// through the spectral square root), or the white coordinates of a whitened field; returns the
/// field's values and writes its coordinates into `x`.
fn draw_field(
    compiled: &CompiledModel,
    ev: &mut crate::eval::Evaluator,
    x: &mut [f64],
    i: usize,
    plan: &Plan,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>, SimError> {
    let g = &compiled.graph;
    let l = &g.latents[i];
    let n: usize = l.shape.iter().product();
    let z: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    let eval_err = |e: crate::eval::EvalError| SimError::Message(e.to_string());
    if plan.how == How::White {
        x[l.offset..l.offset + l.free].copy_from_slice(&z);
        let v = ev.node_values(x, &[l.value]).map_err(eval_err)?;
        return Ok(v.into_iter().next().expect("one node"));
    }
    let Op::FieldPrior { field, args, .. } = &g.node(plan.term).op else {
        unreachable!("a field plan holds a field prior")
    };
    let p = ev.node_values(x, &args[1..]).map_err(eval_err)?;
    let v = g
        .field(*field)
        .draw(&z, &p[0], &p[1], p[2][0])
        .ok_or_else(|| {
            SimError::Message(format!(
                "cannot draw latent `{}` from its field prior: its range and sd must be positive \
                 (range {:?}, sd {})",
                l.name, p[1], p[2][0]
            ))
        })?;
    x[l.offset..l.offset + l.free].copy_from_slice(&v);
    Ok(v)
}

/// Whether a family can be a drawn prior.
fn drawable(f: Family) -> bool {
    !f.is_discrete()
}

/// One latent's value (n elements) from its prior, inside its constraint.
fn draw_latent(
    family: Family,
    p: &[&[f64]],
    dims: usize,
    n: usize,
    t: Option<Transform>,
    bounds: &[&[f64]],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>, String> {
    let unit = if family.is_multivariate() {
        dims.max(1)
    } else {
        1
    };
    // Elementwise bounds, checked (and redrawn) unit by unit.
    let inside = |k: usize, v: f64| -> bool {
        let at = |b: &[f64]| if b.len() == 1 { b[0] } else { b[k] };
        match t {
            Some(Transform::Lower) => v > at(bounds[0]),
            Some(Transform::Upper) => v < at(bounds[0]),
            Some(Transform::Interval) => v > at(bounds[0]) && v < at(bounds[1]),
            Some(Transform::PositiveOrdered) => v > 0.0,
            _ => v.is_finite(),
        }
    };
    let draw_all = |rng: &mut ChaCha8Rng| -> Result<Vec<f64>, String> {
        let mut out = vec![0.0; n];
        for (u, chunk) in out.chunks_mut(unit).enumerate() {
            let mut tries = 0;
            loop {
                draw_unit(family, p, u, unit, rng, chunk)?;
                if chunk
                    .iter()
                    .enumerate()
                    .all(|(j, &v)| inside(u * unit + j, v))
                {
                    break;
                }
                tries += 1;
                if tries >= MAX_TRIES {
                    return Err(format!(
                        "no draw of element {} fell inside its bounds in {MAX_TRIES} tries (the prior \
                         puts almost no mass there)",
                        u * unit + 1
                    ));
                }
            }
        }
        Ok(out)
    };
    match t {
        Some(tr @ (Transform::Ordered | Transform::PositiveOrdered | Transform::Simplex)) => {
            // i.i.d. elements (one value of every parameter) may simply be sorted.
            let exchangeable = !family.is_multivariate()
                && p.iter()
                    .all(|a| a.iter().all(|v| v.to_bits() == a[0].to_bits()));
            let mut scratch = vec![0.0; n.saturating_sub((tr == Transform::Simplex) as usize)];
            for _ in 0..MAX_TRIES {
                let mut v = draw_all(rng)?;
                if exchangeable && tr != Transform::Simplex {
                    v.sort_by(f64::total_cmp);
                }
                if transforms::unconstrain(tr, &v, bounds, &mut scratch).is_ok() {
                    return Ok(v);
                }
            }
            Err(format!(
                "no draw satisfied its `{}` constraint in {MAX_TRIES} tries",
                tr.name()
            ))
        }
        _ => draw_all(rng),
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing from the families.

/// Draws unit `u` of a vectorised statement into `out`: one element for univariate families (the
/// parameters' element `u`, or their only element), one row of `dims` for multivariate ones.
pub(crate) fn draw_unit(
    family: Family,
    p: &[&[f64]],
    u: usize,
    dims: usize,
    rng: &mut ChaCha8Rng,
    out: &mut [f64],
) -> Result<(), String> {
    let at = |a: &[f64], k: usize| if a.len() == 1 { a[0] } else { a[k] };
    let names = crate::library::distributions::lookup(family.name())
        .map(|s| s.params.iter().map(|p| p.name).collect::<Vec<_>>())
        .unwrap_or_default();
    let arg = |j: usize| at(p[j], u);
    let positive = |j: usize| -> Result<f64, String> {
        let v = arg(j);
        if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(format!(
                "{} = {v} must be positive and finite",
                names.get(j).copied().unwrap_or("a parameter")
            ))
        }
    };
    let finite = |j: usize| -> Result<f64, String> {
        let v = arg(j);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(format!(
                "{} = {v} is not finite",
                names.get(j).copied().unwrap_or("a parameter")
            ))
        }
    };
    let z = |rng: &mut ChaCha8Rng| -> f64 { rng.sample(StandardNormal) };
    let cauchy = |rng: &mut ChaCha8Rng| -> f64 {
        // tan(pi (w - 1/2)) with w uniform on (0, 1).
        let w: f64 = rng.random::<f64>();
        (std::f64::consts::PI * (w - 0.5)).tan()
    };
    let gamma = |shape: f64, scale: f64, rng: &mut ChaCha8Rng| -> Result<f64, String> {
        Gamma::new(shape, scale)
            .map(|d| d.sample(rng))
            .map_err(|e| format!("gamma({shape}, scale {scale}): {e}"))
    };
    let v = match family {
        Family::Dirichlet => {
            let mut sum = 0.0;
            for (j, o) in out.iter_mut().enumerate() {
                let a = at(p[0], j);
                if !(a > 0.0 && a.is_finite()) {
                    return Err(format!("alpha[{}] = {a} must be positive", j + 1));
                }
                *o = gamma(a, 1.0, rng)?;
                sum += *o;
            }
            if sum > 0.0 {
                out.iter_mut().for_each(|o| *o /= sum);
            }
            return Ok(());
        }
        Family::MultiNormalCholesky => {
            let k = dims;
            if p[1].len() != k * k {
                return Err(format!(
                    "L has {} elements, but a {k} x {k} matrix is needed",
                    p[1].len()
                ));
            }
            let zs: Vec<f64> = (0..k).map(|_| z(rng)).collect();
            for (i, o) in out.iter_mut().enumerate() {
                let mu = match p[0].len() {
                    1 => p[0][0],
                    l if l == k => p[0][i],
                    _ => p[0].get(u * k + i).copied().unwrap_or(f64::NAN),
                };
                let lz: f64 = (0..=i).map(|j| p[1][i * k + j] * zs[j]).sum();
                *o = mu + lz;
            }
            return Ok(());
        }
        Family::Normal => finite(0)? + positive(1)? * z(rng),
        Family::StudentT => {
            let nu = positive(0)?;
            let t: f64 = StudentT::new(nu)
                .map_err(|e| format!("student_t({nu}): {e}"))?
                .sample(rng);
            finite(1)? + positive(2)? * t
        }
        Family::Cauchy => finite(0)? + positive(1)? * cauchy(rng),
        Family::Laplace => {
            let e: f64 = rng.sample(Exp1);
            let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
            finite(0)? + positive(1)? * sign * e
        }
        Family::Huber => finite(0)? + positive(1)? * huber_std(positive(2)?, rng),
        Family::Lognormal => (finite(0)? + positive(1)? * z(rng)).exp(),
        Family::Gamma => gamma(positive(0)?, 1.0 / positive(1)?, rng)?,
        Family::InvGamma => 1.0 / gamma(positive(0)?, 1.0 / positive(1)?, rng)?,
        Family::Exponential => {
            let e: f64 = rng.sample(Exp1);
            e / positive(0)?
        }
        Family::Beta => {
            let (a, b) = (positive(0)?, positive(1)?);
            Beta::new(a, b)
                .map_err(|e| format!("beta({a}, {b}): {e}"))?
                .sample(rng)
        }
        Family::HalfNormal => (positive(0)? * z(rng)).abs(),
        Family::HalfCauchy => (positive(0)? * cauchy(rng)).abs(),
        Family::Uniform => {
            let (lo, hi) = (finite(0)?, finite(1)?);
            if lo >= hi {
                return Err(format!("lo = {lo} must be below hi = {hi}"));
            }
            lo + (hi - lo) * rng.random::<f64>()
        }
        Family::PoissonLog => poisson(finite(0)?.exp(), rng)?,
        Family::BernoulliLogit => {
            let p = 1.0 / (1.0 + (-finite(0)?).exp());
            (rng.random::<f64>() < p) as u8 as f64
        }
        Family::BinomialLogit => {
            let n = arg(0);
            if !(n >= 0.0 && n.fract() == 0.0 && n.is_finite()) {
                return Err(format!("trials = {n} must be a nonnegative integer"));
            }
            let p = 1.0 / (1.0 + (-finite(1)?).exp());
            Binomial::new(n as u64, p)
                .map_err(|e| format!("binomial({n}, {p}): {e}"))?
                .sample(rng) as f64
        }
        Family::NegBinomial2Log => {
            // A gamma-Poisson mixture: mean exp(eta), variance mean + mean^2 / phi.
            let (mean, phi) = (finite(0)?.exp(), positive(1)?);
            let rate = gamma(phi, mean / phi, rng)?;
            poisson(rate, rng)?
        }
    };
    out[0] = v;
    Ok(())
}

fn poisson(rate: f64, rng: &mut ChaCha8Rng) -> Result<f64, String> {
    if rate == 0.0 {
        return Ok(0.0);
    }
    Poisson::new(rate)
        .map(|d| d.sample(rng))
        .map_err(|e| format!("a Poisson draw with mean {rate}: {e}"))
}

/// A standard Huber draw (density proportional to exp(-rho(r)), quadratic within `delta`, linear
/// beyond): the centre (a truncated normal) or one of the two exponential tails, by their masses.
fn huber_std(delta: f64, rng: &mut ChaCha8Rng) -> f64 {
    let centre = (2.0 * std::f64::consts::PI).sqrt() * crate::eval::ops::erf(delta / 2f64.sqrt());
    let tails = 2.0 * (-0.5 * delta * delta).exp() / delta;
    if rng.random::<f64>() * (centre + tails) < centre {
        loop {
            // Uniform proposals on (-delta, delta) for a narrow centre, normal ones otherwise.
            let r: f64 = if delta < 1.0 {
                delta * (2.0 * rng.random::<f64>() - 1.0)
            } else {
                rng.sample(StandardNormal)
            };
            let accept = if delta < 1.0 {
                rng.random::<f64>() < (-0.5 * r * r).exp()
            } else {
                true
            };
            if r.abs() <= delta && accept {
                return r;
            }
        }
    } else {
        let e: f64 = rng.sample(Exp1);
        let r = delta + e / delta;
        if rng.random::<bool>() {
            r
        } else {
            -r
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON output.

/// `{"a": ..., "b": ...}` with one key per line, in the given order.
fn json_object(entries: &[(String, String)]) -> String {
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("  {}: {v}", Value::String(k.clone())))
        .collect();
    format!("{{\n{}\n}}\n", body.join(",\n"))
}

/// Row-major values as nested JSON arrays of the given shape.
fn nested(shape: &[usize], values: &[f64], int: bool) -> String {
    let number = |v: f64| {
        if int {
            format!("{}", v as i64)
        } else {
            Value::from(v).to_string()
        }
    };
    match shape.split_first() {
        None => values.first().map_or("null".to_string(), |&v| number(v)),
        Some((&n, rest)) => {
            let inner: usize = rest.iter().product();
            let parts: Vec<String> = (0..n)
                .map(|i| nested(rest, &values[i * inner..(i + 1) * inner], int))
                .collect();
            format!("[{}]", parts.join(","))
        }
    }
}

fn data_value_json(v: &DataValue) -> String {
    if let Some(s) = &v.sparse {
        let mut i = vec![];
        for r in 0..s.rows {
            i.extend(std::iter::repeat_n(
                r + 1,
                s.row_start[r + 1] - s.row_start[r],
            ));
        }
        let j: Vec<usize> = s.col_index.iter().map(|c| c + 1).collect();
        return serde_json::json!({"rows": s.rows, "cols": s.cols, "i": i, "j": j, "x": s.values})
            .to_string();
    }
    nested(&v.shape, &v.values, v.ints.is_some())
}
