//! The compiled model: an optimised graph with its buffers laid out once, and evaluators that compute
//! the log density and its gradient without allocating.
//!
//! The target is the weighted sum of the graph's terms: priors and Jacobians with weight 1, each
//! modality's likelihood statements with that modality's weight (changeable at run time, so modalities
//! can be switched off or tempered without recompiling).

use super::forward::{forward_node, scratch_len, work_for};
use super::reverse::backward_node;
use super::solve::{self, Work};
use super::transforms;
use crate::ir::graph::{Graph, NodeId, Op, TermKind};
use crate::ode::graph::{workspaces, SolveWork};
use faer::sparse::linalg::lu::SymbolicLu;
use std::fmt;
use std::sync::Arc;

/// Why a log density could not be computed.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalError {
    /// The log density or its gradient is not finite here (outside a support, an overflow): a
    /// sampler treats this as a divergence, an optimiser as a rejected step.
    NonFinite,
    /// A value does not exist at this point (a singular matrix in `solve`): recoverable like
    /// `NonFinite`, with a message saying what failed.
    Numerical(String),
    /// The caller passed a vector of the wrong length: a bug in the caller.
    Dimension { expected: usize, found: usize },
    /// An ODE solve failed at this point (too many steps, a step size that underflowed, a non-finite
    /// state): recoverable like a non-finite density, with the system and the time it reached.
    Ode {
        system: String,
        method: crate::ode::Method,
        failure: crate::ode::Failure,
    },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::NonFinite => write!(
                f,
                "the log density or its gradient is not finite at this point"
            ),
            EvalError::Numerical(m) => write!(f, "{m}"),
            EvalError::Dimension { expected, found } => {
                write!(
                    f,
                    "expected a point with {expected} coordinates, got {found}"
                )
            }
            EvalError::Ode {
                system,
                method,
                failure,
            } => write!(
                f,
                "`{}` of the ode system `{system}` failed: {failure}",
                method.function()
            ),
        }
    }
}

impl std::error::Error for EvalError {}

impl EvalError {
    /// Whether a sampler may simply reject the point and go on.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            EvalError::NonFinite | EvalError::Numerical(_) | EvalError::Ode { .. }
        )
    }
}

/// A named output of `constrain`: a latent or a law, with its shape and values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

pub struct CompiledModel {
    pub graph: Graph,
    offset: Vec<usize>,
    len: Vec<usize>,
    scratch_offset: Vec<usize>,
    scratch_total: usize,
    /// Every evaluator's initial scratch: zeros, except the spectra of field priors whose range is
    /// data, computed here once.
    scratch_template: Vec<f64>,
    /// Parameter-dependent nodes the target needs, in arena order.
    target_schedule: Vec<NodeId>,
    /// Parameter-dependent nodes any output needs (latents and laws too), in arena order.
    full_schedule: Vec<NodeId>,
    /// Every node's value where it does not depend on the parameters.
    data_values: Vec<f64>,
    /// The compile-time analysis of every sparse solve's matrix, by node (shared by evaluators).
    symbolic: Vec<Option<Arc<SymbolicLu<usize>>>>,
}

/// An evaluator's buffers: values, adjoints, per-node scratch and the ODE solves' memory.
struct Buffers {
    values: Vec<f64>,
    scratch: Vec<f64>,
    /// Per-node state of sparse solves (their factorisation buffers).
    work: Vec<Work>,
    /// The memory of every ODE solve, by solve.
    ode: Vec<Option<SolveWork>>,
}

impl CompiledModel {
    /// Lays out buffers for an (optimised) graph and computes every data-only value once.
    pub fn new(graph: Graph) -> CompiledModel {
        let n = graph.nodes.len();
        let mut offset = Vec::with_capacity(n);
        let mut len = Vec::with_capacity(n);
        let mut scratch_offset = Vec::with_capacity(n);
        let (mut total, mut scratch_total) = (0, 0);
        for i in 0..n {
            let l = graph.nodes[i].len();
            offset.push(total);
            len.push(l);
            total += l;
            scratch_offset.push(scratch_total);
            scratch_total += scratch_len(&graph, NodeId(i as u32));
        }
        let needed = |roots: Vec<NodeId>| {
            let mut need = vec![false; n];
            for r in roots {
                need[r.index()] = true;
            }
            for i in (0..n).rev() {
                if need[i] {
                    for j in graph.nodes[i].op.inputs() {
                        need[j.index()] = true;
                    }
                }
            }
            (0..n)
                .filter(|&i| need[i] && graph.nodes[i].param)
                .map(|i| NodeId(i as u32))
                .collect::<Vec<_>>()
        };
        let target_schedule = needed(graph.terms.iter().map(|t| t.node).collect());
        let full_schedule = needed(graph.roots());
        // One analysis per pattern, shared by every solve with that matrix pattern.
        let mut by_pattern: Vec<(u32, Arc<SymbolicLu<usize>>)> = vec![];
        let mut symbolic = vec![None; n];
        for i in 0..n {
            if let Op::SparseSolve(p, ..) = graph.nodes[i].op {
                let found = by_pattern
                    .iter()
                    .find(|(q, _)| *q == p.0)
                    .map(|(_, s)| s.clone());
                let s = found.or_else(|| solve::symbolic_lu(graph.pattern(p)).ok());
                if let Some(s) = &s {
                    by_pattern.push((p.0, s.clone()));
                }
                symbolic[i] = s;
            }
        }
        let mut model = CompiledModel {
            graph,
            offset,
            len,
            scratch_offset,
            scratch_total,
            target_schedule,
            full_schedule,
            data_values: vec![0.0; total],
            symbolic,
            scratch_template: vec![],
        };
        let mut b = Buffers {
            values: vec![0.0; total],
            scratch: vec![0.0; model.scratch_total],
            work: model.work(),
            ode: workspaces(&model.graph),
        };
        for i in 0..n {
            if !model.graph.nodes[i].param {
                // Data-only values that fail (a singular data matrix, a failing solve) were
                // reported with their spans when lowering.
                let _ = model.run_forward(NodeId(i as u32), &mut b, &[], false);
            }
        }
        model.data_values = b.values;
        model.scratch_template = model.primed_scratch();
        model
    }

    /// Zeros, with the spectral caches of field nodes whose range is data filled in.
    fn primed_scratch(&self) -> Vec<f64> {
        let mut scratch = vec![0.0; self.scratch_total];
        for (i, node) in self.graph.nodes.iter().enumerate() {
            let (field, args, grads) = match &node.op {
                Op::FieldPrior { field, args, .. } => {
                    let grads = args.iter().map(|a| self.len[a.index()]).sum();
                    (field, args, grads)
                }
                Op::FieldWhiten { field, args } => (field, args, 0),
                _ => continue,
            };
            let spec = self.graph.field(*field);
            let Some(range) = args.get(2).filter(|r| !self.graph.node(**r).param) else {
                continue;
            };
            let start = self.scratch_offset[i];
            let len = scratch_len(&self.graph, NodeId(i as u32));
            spec.prime(
                &self.data_values[self.range(*range)],
                &mut scratch[start..start + len],
                grads,
            );
        }
        scratch
    }

    /// The number of unconstrained coordinates.
    pub fn dim(&self) -> usize {
        self.graph.dim
    }

    /// Stan-style names of every latent element: `mu`, `beta[1]`, `T[2,3]` (1-based, row-major).
    /// A flat row of constrained latent values (the latents in order, each flattened, as in the
    /// draws' columns) split into named latents, the form `Evaluator::unconstrain` takes.
    pub fn named_latents(&self, row: &[f64]) -> Vec<(String, Vec<f64>)> {
        let mut at = 0;
        self.graph
            .latents
            .iter()
            .map(|l| {
                let len: usize = l.shape.iter().product();
                at += len;
                (l.name.clone(), row[at - len..at].to_vec())
            })
            .collect()
    }

    pub fn latent_names(&self) -> Vec<String> {
        self.graph
            .latents
            .iter()
            .flat_map(|l| element_names(&l.name, &l.shape))
            .collect()
    }

    /// Names of the unconstrained coordinates (a simplex of k has k - 1).
    pub fn param_names(&self) -> Vec<String> {
        self.graph
            .latents
            .iter()
            .flat_map(|l| {
                let names = element_names(&l.name, &l.shape);
                names.into_iter().take(l.free).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Fresh per-node state for one evaluator (sparse solves' factorisation buffers).
    fn work(&self) -> Vec<Work> {
        (0..self.graph.nodes.len())
            .map(|i| match &self.symbolic[i] {
                Some(s) => {
                    work_for(&self.graph, NodeId(i as u32), Some(s.clone())).unwrap_or_default()
                }
                None => Work::None,
            })
            .collect()
    }

    pub fn evaluator(&self) -> Evaluator<'_> {
        Evaluator {
            model: self,
            b: Buffers {
                values: self.data_values.clone(),
                scratch: self.scratch_template.clone(),
                work: self.work(),
                ode: workspaces(&self.graph),
            },
            adj: vec![0.0; self.data_values.len()],
            weights: self.graph.modalities.iter().map(|m| m.weight).collect(),
            jacobian: true,
        }
    }

    fn range(&self, id: NodeId) -> std::ops::Range<usize> {
        let i = id.index();
        self.offset[i]..self.offset[i] + self.len[i]
    }

    fn run_forward(
        &self,
        id: NodeId,
        b: &mut Buffers,
        params: &[f64],
        want_grad: bool,
    ) -> Result<(), EvalError> {
        let r = self.range(id);
        let (before, rest) = b.values.split_at_mut(r.start);
        let before: &[f64] = before;
        let out = &mut rest[..r.len()];
        let sr = self.scratch_offset[id.index()]
            ..self.scratch_offset[id.index()] + scratch_len(&self.graph, id);
        let get = |n: NodeId| &before[self.range(n)];
        forward_node(
            &self.graph,
            id,
            &get,
            params,
            out,
            &mut b.scratch[sr],
            &mut b.work[id.index()],
            want_grad,
            &mut b.ode,
        )
    }
}

pub fn element_names(name: &str, shape: &[usize]) -> Vec<String> {
    let total: usize = shape.iter().product();
    if shape.is_empty() {
        return vec![name.to_string()];
    }
    (0..total)
        .map(|flat| {
            let mut rest = flat;
            let mut idx = vec![0; shape.len()];
            for k in (0..shape.len()).rev() {
                idx[k] = rest % shape[k] + 1;
                rest /= shape[k];
            }
            let parts: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
            format!("{name}[{}]", parts.join(","))
        })
        .collect()
}

/// One evaluation workspace over a compiled model (one per chain or thread).
pub struct Evaluator<'m> {
    model: &'m CompiledModel,
    b: Buffers,
    adj: Vec<f64>,
    weights: Vec<f64>,
    jacobian: bool,
}

impl<'m> Evaluator<'m> {
    /// Whether the log-Jacobians of the constraining transforms are part of the target (the default).
    /// Without them, the maximum is the mode of the constrained posterior (Stan's optimisation default);
    /// with them, it is the mode in the unconstrained space (what Laplace and NUTS use).
    pub fn set_jacobian(&mut self, on: bool) {
        self.jacobian = on;
    }

    pub fn model(&self) -> &'m CompiledModel {
        self.model
    }

    /// Sets the weight of modality `k` (0 switches it off, 1 is the plain product).
    pub fn set_modality_weight(&mut self, k: usize, weight: f64) {
        self.weights[k] = weight;
    }

    pub fn modality_weights(&self) -> &[f64] {
        &self.weights
    }

    fn check_dim(&self, x: &[f64]) -> Result<(), EvalError> {
        if x.len() != self.model.dim() {
            return Err(EvalError::Dimension {
                expected: self.model.dim(),
                found: x.len(),
            });
        }
        Ok(())
    }

    fn term_weight(&self, kind: &TermKind) -> f64 {
        match kind {
            TermKind::Likelihood(k) => self.weights[*k],
            TermKind::Jacobian if !self.jacobian => 0.0,
            _ => 1.0,
        }
    }

    fn target(&self) -> f64 {
        let m = self.model;
        m.graph
            .terms
            .iter()
            .map(|t| {
                let w = self.term_weight(&t.kind);
                if w == 0.0 {
                    0.0
                } else {
                    w * self.b.values[m.offset[t.node.index()]]
                }
            })
            .sum()
    }

    /// The log density (up to the constants the passes dropped) at unconstrained `x`.
    pub fn log_density(&mut self, x: &[f64]) -> Result<f64, EvalError> {
        self.check_dim(x)?;
        let m = self.model;
        for &id in &m.target_schedule {
            m.run_forward(id, &mut self.b, x, false)?;
        }
        let lp = self.target();
        if lp.is_finite() {
            Ok(lp)
        } else {
            Err(EvalError::NonFinite)
        }
    }

    /// The log density and its gradient (written into `grad`) at unconstrained `x`.
    pub fn log_density_and_gradient(
        &mut self,
        x: &[f64],
        grad: &mut [f64],
    ) -> Result<f64, EvalError> {
        self.check_dim(x)?;
        if grad.len() != x.len() {
            return Err(EvalError::Dimension {
                expected: x.len(),
                found: grad.len(),
            });
        }
        let m = self.model;
        for &id in &m.target_schedule {
            m.run_forward(id, &mut self.b, x, true)?;
            self.adj[m.range(id)].fill(0.0);
        }
        let lp = self.target();
        if !lp.is_finite() {
            return Err(EvalError::NonFinite);
        }
        for t in &m.graph.terms {
            let w = self.term_weight(&t.kind);
            if m.graph.node(t.node).param && w != 0.0 {
                self.adj[m.offset[t.node.index()]] += w;
            }
        }
        grad.fill(0.0);
        for &id in m.target_schedule.iter().rev() {
            let r = m.range(id);
            if let Op::Param { offset } = m.graph.node(id).op {
                for (g, a) in grad[offset..offset + r.len()].iter_mut().zip(&self.adj[r]) {
                    *g += a;
                }
                continue;
            }
            let (adj_before, adj_rest) = self.adj.split_at_mut(r.start);
            let g_out = &adj_rest[..r.len()];
            let values = &self.b.values;
            let get = |n: NodeId| &values[m.range(n)];
            let range = |n: NodeId| m.range(n);
            let s0 = m.scratch_offset[id.index()];
            let scratch = &mut self.b.scratch[s0..s0 + scratch_len(&m.graph, id)];
            backward_node(
                &m.graph,
                id,
                &get,
                &values[r.clone()],
                g_out,
                scratch,
                &mut self.b.work[id.index()],
                adj_before,
                &range,
            );
        }
        if grad.iter().all(|g| g.is_finite()) {
            Ok(lp)
        } else {
            Err(EvalError::NonFinite)
        }
    }

    /// Every latent (constrained) and law at unconstrained `x`.
    pub fn constrain(&mut self, x: &[f64]) -> Result<Vec<Output>, EvalError> {
        self.check_dim(x)?;
        let m = self.model;
        for &id in &m.full_schedule {
            m.run_forward(id, &mut self.b, x, false)?;
        }
        let out = |name: &str, node: NodeId, values: &[f64]| Output {
            name: name.to_string(),
            shape: m.graph.node(node).shape.clone(),
            values: values[m.range(node)].to_vec(),
        };
        let mut outputs: Vec<Output> = m
            .graph
            .latents
            .iter()
            .map(|l| out(&l.name, l.value, &self.b.values))
            .collect();
        outputs.extend(
            m.graph
                .laws
                .iter()
                .map(|(n, node)| out(n, *node, &self.b.values)),
        );
        Ok(outputs)
    }

    /// The values of `nodes` (each row-major) at unconstrained `x`, for forward simulation, which needs
    /// the arguments of `~` statements at a point. Runs the forward pass of every output (latents, laws
    /// and terms), so any node one of them needs has its value at `x`; no finiteness check is made.
    pub fn node_values(&mut self, x: &[f64], nodes: &[NodeId]) -> Result<Vec<Vec<f64>>, EvalError> {
        self.check_dim(x)?;
        let m = self.model;
        for &id in &m.full_schedule {
            m.run_forward(id, &mut self.b, x, false)?;
        }
        Ok(nodes
            .iter()
            .map(|&n| self.b.values[m.range(n)].to_vec())
            .collect())
    }

    /// The unconstrained point of given latent values (every latent by name, row-major).
    pub fn unconstrain(&mut self, latents: &[(String, Vec<f64>)]) -> Result<Vec<f64>, String> {
        let m = self.model;
        let mut x = vec![0.0; m.dim()];
        // Bounds may depend on other latents: repeat until every bound has seen the final values.
        for _ in 0..=m.graph.latents.len() {
            // Only the bounds are read here: a solve that fails at this provisional point (it may
            // feed a law, not a bound) must not stop the conversion.
            for &id in &m.full_schedule {
                let _ = m.run_forward(id, &mut self.b, &x, false);
            }
            let mut next = x.clone();
            for l in &m.graph.latents {
                let (_, given) = latents
                    .iter()
                    .find(|(n, _)| *n == l.name)
                    .ok_or_else(|| format!("no value given for latent `{}`", l.name))?;
                let n: usize = l.shape.iter().product();
                if given.len() != n {
                    return Err(format!(
                        "latent `{}` needs {n} values, {} given",
                        l.name,
                        given.len()
                    ));
                }
                let target = &mut next[l.offset..l.offset + l.free];
                match &m.graph.node(l.value).op {
                    Op::Constrain(t, inputs) => {
                        let bounds: Vec<&[f64]> = inputs[1..]
                            .iter()
                            .map(|b| &self.b.values[m.range(*b)])
                            .collect();
                        transforms::unconstrain(*t, given, &bounds, target)
                            .map_err(|e| format!("latent `{}`: {e}", l.name))?;
                    }
                    // A whitened field's coordinates are the white noise that gives these values.
                    Op::FieldWhiten { field, args } => {
                        let v = |k: usize| &self.b.values[m.range(args[k])];
                        let z = m
                            .graph
                            .field(*field)
                            .unwhiten(given, v(1), v(2), v(3)[0])
                            .ok_or_else(|| {
                                format!(
                                    "latent `{}`: the range and sd of its prior must be positive",
                                    l.name
                                )
                            })?;
                        target.copy_from_slice(&z);
                    }
                    _ => target.copy_from_slice(given),
                }
            }
            if next == x {
                break;
            }
            x = next;
        }
        Ok(x)
    }
}
