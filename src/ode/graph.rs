//! Compiled ODE systems and the `solve_ode` node.
//!
//! An `ode` item is lowered to a small graph of its own (`ir::graph::OdeSystem::rhs`) whose parameter
//! vector is z = (t, states, parameters) and whose one law is the rate vector. [`GraphSystem`] runs that
//! graph with the evaluator's kernels: a forward sweep gives the rate, one reverse sweep per state gives
//! a row of the Jacobian with respect to z (states are few, so n sweeps beat forward mode over
//! 1 + n + m directions). Comparisons and `step` inside the rate are the system's switches: the
//! forward sweep can hold them at given values (see `ode::mod` on discontinuities).
//!
//! [`SolveWork`] is the preallocated memory of one solve node (the right-hand side's buffers, the
//! solver's workspace, the input values); [`forward`] and [`backward`] are the node's rules for the
//! evaluator. The node's scratch holds d out / d input for the reverse sweep.

use super::tape::Tape;
use super::{solve, Column, Failure, System, Workspace};
use crate::eval::forward::{forward_node, scratch_len};
use crate::eval::reverse::backward_node;
use crate::eval::solve::Work;
use crate::eval::EvalError;
use crate::ir::graph::{Graph, NodeId, Op};
use std::ops::Range;

/// A right-hand side graph's buffer layout and buffers.
pub struct RhsWork {
    offset: Vec<usize>,
    len: Vec<usize>,
    scratch_offset: Vec<usize>,
    scratch_len: Vec<usize>,
    /// The scalar fast path, when the rate is scalar arithmetic.
    tape: Option<Tape>,
    /// Parameter-dependent nodes the rate needs, in arena order.
    schedule: Vec<NodeId>,
    /// Per node: the index of its first switch value, or `u32::MAX` when it is not a switch.
    switch_of: Vec<u32>,
    /// Per switch value: its node and element.
    switches: Vec<(NodeId, usize)>,
    output: NodeId,
    values: Vec<f64>,
    adj: Vec<f64>,
    scratch: Vec<f64>,
    z: Vec<f64>,
    dz: Vec<f64>,
}

/// Whether a node is piecewise constant in its inputs: a comparison or `step`.
fn is_switch(op: &Op) -> bool {
    match op {
        Op::Binary(b, ..) => b.is_comparison(),
        Op::Unary(crate::eval::ops::Unary::Step, _) => true,
        _ => false,
    }
}

impl RhsWork {
    /// Lays out the buffers of a right-hand side graph and computes its data-only values once.
    pub fn new(rhs: &Graph) -> RhsWork {
        let n = rhs.nodes.len();
        let (mut offset, mut len) = (vec![], vec![]);
        let (mut scratch_offset, mut scratch_lens) = (vec![], vec![]);
        let (mut total, mut scratch_total) = (0, 0);
        for i in 0..n {
            offset.push(total);
            len.push(rhs.nodes[i].len());
            total += rhs.nodes[i].len();
            scratch_offset.push(scratch_total);
            scratch_lens.push(scratch_len(rhs, NodeId(i as u32)));
            scratch_total += scratch_lens[i];
        }
        let output = rhs.laws[0].1;
        let mut need = vec![false; n];
        need[output.index()] = true;
        for i in (0..n).rev() {
            if need[i] {
                for j in rhs.nodes[i].op.inputs() {
                    need[j.index()] = true;
                }
            }
        }
        let schedule: Vec<NodeId> = (0..n)
            .filter(|&i| need[i] && rhs.nodes[i].param)
            .map(|i| NodeId(i as u32))
            .collect();
        let mut switch_of = vec![u32::MAX; n];
        let mut switches = vec![];
        for &id in &schedule {
            if is_switch(&rhs.node(id).op) {
                switch_of[id.index()] = switches.len() as u32;
                for e in 0..len[id.index()] {
                    switches.push((id, e));
                }
            }
        }
        let tape = Tape::build(rhs, &schedule, &offset, &switch_of);
        let mut w = RhsWork {
            offset,
            len,
            scratch_offset,
            scratch_len: scratch_lens,
            tape,
            schedule,
            switch_of,
            switches,
            output,
            values: vec![0.0; total],
            adj: vec![0.0; total],
            scratch: vec![0.0; scratch_total],
            z: vec![0.0; rhs.dim],
            dz: vec![0.0; rhs.dim],
        };
        for i in 0..n {
            if !rhs.nodes[i].param {
                w.run(rhs, NodeId(i as u32));
            }
        }
        w
    }

    pub fn n_switches(&self) -> usize {
        self.switches.len()
    }

    fn range(&self, id: NodeId) -> Range<usize> {
        let i = id.index();
        self.offset[i]..self.offset[i] + self.len[i]
    }

    fn run(&mut self, g: &Graph, id: NodeId) {
        let r = self.range(id);
        let (before, rest) = self.values.split_at_mut(r.start);
        let before: &[f64] = before;
        let out = &mut rest[..r.len()];
        let s0 = self.scratch_offset[id.index()];
        let scratch = &mut self.scratch[s0..s0 + self.scratch_len[id.index()]];
        let (offset, len) = (&self.offset, &self.len);
        let get = |n: NodeId| &before[offset[n.index()]..offset[n.index()] + len[n.index()]];
        // A right-hand side holds no linear or ODE solves, so it needs no per-node work space.
        forward_node(
            g,
            id,
            &get,
            &self.z,
            out,
            scratch,
            &mut Work::None,
            false,
            &mut [],
        )
        .expect("an ODE right-hand side holds no solves");
    }

    /// The forward sweep at `self.z`, switches held at `modes` when given.
    fn forward(&mut self, g: &Graph, modes: Option<&[f64]>) {
        if let Some(tape) = &self.tape {
            tape.forward(&mut self.values, &self.z, modes);
            return;
        }
        for k in 0..self.schedule.len() {
            let id = self.schedule[k];
            match (modes, self.switch_of[id.index()]) {
                (Some(m), s) if s != u32::MAX => {
                    let r = self.range(id);
                    let s = s as usize;
                    self.values[r.clone()].copy_from_slice(&m[s..s + r.len()]);
                }
                _ => self.run(g, id),
            }
        }
    }

    /// The reverse sweep from the adjoints already seeded in `adj`; leaves d/dz in `dz`.
    fn reverse(&mut self, g: &Graph) {
        self.dz.fill(0.0);
        if let Some(tape) = &self.tape {
            tape.reverse(&self.values, &mut self.adj, &mut self.dz);
            return;
        }
        for k in (0..self.schedule.len()).rev() {
            let id = self.schedule[k];
            let r = self.range(id);
            if let Op::Param { offset } = g.node(id).op {
                for (d, a) in self.dz[offset..offset + r.len()]
                    .iter_mut()
                    .zip(&self.adj[r])
                {
                    *d += a;
                }
                continue;
            }
            let (adj_before, adj_rest) = self.adj.split_at_mut(r.start);
            let g_out = &adj_rest[..r.len()];
            let (offset, len) = (&self.offset, &self.len);
            let values = &self.values;
            let get = |n: NodeId| &values[offset[n.index()]..offset[n.index()] + len[n.index()]];
            let range = |n: NodeId| offset[n.index()]..offset[n.index()] + len[n.index()];
            let s0 = self.scratch_offset[id.index()];
            let scratch = &mut self.scratch[s0..s0 + self.scratch_len[id.index()]];
            backward_node(
                g,
                id,
                &get,
                &values[r],
                g_out,
                scratch,
                &mut Work::None,
                adj_before,
                &range,
            );
        }
    }

    fn clear_adjoints(&mut self) {
        for k in 0..self.schedule.len() {
            let r = self.range(self.schedule[k]);
            self.adj[r].fill(0.0);
        }
    }

    fn set_z(&mut self, t: f64, y: &[f64], p: &[f64]) {
        let n = y.len();
        self.z[0] = t;
        self.z[1..1 + n].copy_from_slice(y);
        self.z[1 + n..1 + n + p.len()].copy_from_slice(p);
    }
}

/// A compiled right-hand side as a [`System`].
pub struct GraphSystem<'a> {
    pub rhs: &'a Graph,
    pub work: &'a mut RhsWork,
    pub n: usize,
    pub m: usize,
}

impl System for GraphSystem<'_> {
    fn n_states(&self) -> usize {
        self.n
    }

    fn n_params(&self) -> usize {
        self.m
    }

    fn n_switches(&self) -> usize {
        self.work.switches.len()
    }

    fn rate(&mut self, t: f64, y: &[f64], p: &[f64], modes: &[f64], f: &mut [f64]) {
        self.work.set_z(t, y, p);
        self.work.forward(self.rhs, Some(modes));
        let r = self.work.range(self.work.output);
        f.copy_from_slice(&self.work.values[r]);
    }

    fn jacobian(
        &mut self,
        t: f64,
        y: &[f64],
        p: &[f64],
        modes: &[f64],
        f: &mut [f64],
        jac: &mut [f64],
    ) {
        self.rate(t, y, p, modes, f);
        let w = 1 + self.n + self.m;
        let out = self.work.output;
        if !self.rhs.node(out).param {
            jac.fill(0.0);
            return;
        }
        let start = self.work.range(out).start;
        for i in 0..self.n {
            self.work.clear_adjoints();
            self.work.adj[start + i] = 1.0;
            self.work.reverse(self.rhs);
            jac[i * w..(i + 1) * w].copy_from_slice(&self.work.dz[..w]);
        }
    }

    fn modes(&mut self, t: f64, y: &[f64], p: &[f64], out: &mut [f64]) {
        if out.is_empty() {
            return;
        }
        self.work.set_z(t, y, p);
        self.work.forward(self.rhs, None);
        for (k, (id, e)) in self.work.switches.iter().enumerate() {
            out[k] = self.work.values[self.work.offset[id.index()] + e];
        }
    }

    fn switch_gradient(
        &mut self,
        k: usize,
        t: f64,
        y: &[f64],
        p: &[f64],
        modes: &[f64],
        grad: &mut [f64],
    ) -> f64 {
        self.work.set_z(t, y, p);
        self.work.forward(self.rhs, Some(modes));
        self.work.clear_adjoints();
        let (id, e) = self.work.switches[k];
        // The switching function: a - b for a comparison of a and b, x for step(x).
        let (a, b) = match self.rhs.node(id).op {
            Op::Binary(_, a, b) => (Some(a), Some(b)),
            Op::Unary(_, x) => (Some(x), None),
            _ => (None, None),
        };
        let mut value = 0.0;
        for (node, sign) in [(a, 1.0), (b, -1.0)] {
            let Some(node) = node else { continue };
            let r = self.work.range(node);
            // A broadcast operand has one element.
            let at = r.start + if r.len() == 1 { 0 } else { e };
            value += sign * self.work.values[at];
            if self.rhs.node(node).param {
                self.work.adj[at] += sign;
            }
        }
        self.work.reverse(self.rhs);
        grad.copy_from_slice(&self.work.dz[..grad.len()]);
        value
    }
}

/// The preallocated memory of one `solve_ode` node.
pub struct SolveWork {
    rhs: RhsWork,
    solver: Workspace,
    cols: Vec<Column>,
    t0_col: bool,
    y0: Vec<f64>,
    p: Vec<f64>,
    f0: Vec<f64>,
    modes0: Vec<f64>,
}

/// Calls `f(column index, column)` for the sensitivity columns a solve node needs: every initial
/// state when the initial state or time depends on the latents, then each parameter that does.
/// Returns whether the initial time does (its derivative follows from the initial-state columns).
fn for_each_column(g: &Graph, args: &[NodeId], mut f: impl FnMut(usize, Column)) -> bool {
    let n = g.node(args[0]).len();
    let t0 = g.node(args[1]).param;
    let mut c = 0;
    if g.node(args[0]).param || t0 {
        for j in 0..n {
            f(c, Column::Init(j));
            c += 1;
        }
    }
    for (j, a) in args[3..].iter().enumerate() {
        if g.node(*a).param {
            f(c, Column::Param(j));
            c += 1;
        }
    }
    t0
}

/// How many numbers a solve node keeps for its reverse rule: d out / d input per column.
pub fn solve_scratch_len(g: &Graph, id: NodeId) -> usize {
    let Op::SolveOde { args, .. } = &g.node(id).op else {
        return 0;
    };
    let mut k = 0;
    let t0 = for_each_column(g, args, |_, _| k += 1);
    g.node(id).len() * (k + usize::from(t0))
}

impl SolveWork {
    /// The memory of solve `solve` read by a node with inputs `args` (init, t0, times, parameters).
    pub fn new(g: &Graph, solve: usize, args: &[NodeId]) -> SolveWork {
        let s = &g.solves[solve];
        let sys = &g.odes[s.system];
        let (n, m) = (sys.states.len(), sys.params.len());
        let mut cols = vec![];
        let t0_col = for_each_column(g, args, |_, c| cols.push(c));
        let rhs = RhsWork::new(&sys.rhs);
        let n_sw = rhs.n_switches();
        SolveWork {
            solver: Workspace::new(s.method, n, m, cols.len(), n_sw),
            rhs,
            cols,
            t0_col,
            y0: vec![0.0; n],
            p: vec![0.0; m],
            f0: vec![0.0; n],
            modes0: vec![0.0; n_sw],
        }
    }
}

/// Builds the memory of every solve node of `g`, indexed by solve (`None` for solves no node uses).
pub fn workspaces(g: &Graph) -> Vec<Option<SolveWork>> {
    let mut w: Vec<Option<SolveWork>> = (0..g.solves.len()).map(|_| None).collect();
    for node in &g.nodes {
        if let Op::SolveOde { solve, args } = &node.op {
            w[*solve as usize] = Some(SolveWork::new(g, *solve as usize, args));
        }
    }
    w
}

/// The forward rule of a solve node: the solution at the output times into `out` (times x states)
/// and, with `want_grad`, its derivatives with respect to the inputs into `scratch`.
#[allow(clippy::too_many_arguments)]
pub fn forward<'a>(
    g: &Graph,
    solve_id: usize,
    args: &[NodeId],
    get: &dyn Fn(NodeId) -> &'a [f64],
    work: &mut SolveWork,
    out: &mut [f64],
    scratch: &mut [f64],
    want_grad: bool,
) -> Result<(), EvalError> {
    let s = &g.solves[solve_id];
    let sys = &g.odes[s.system];
    let (n, m) = (sys.states.len(), sys.params.len());
    let SolveWork {
        rhs,
        solver,
        cols,
        t0_col,
        y0,
        p,
        f0,
        modes0,
    } = work;
    y0.copy_from_slice(get(args[0]));
    let t0 = get(args[1])[0];
    let times = get(args[2]);
    for j in 0..m {
        p[j] = get(args[3 + j])[0];
    }
    let cols: &[Column] = if want_grad { cols } else { &[] };
    let (sens, t0_sens) = scratch.split_at_mut(times.len() * cols.len() * n);
    let mut system = GraphSystem {
        rhs: &sys.rhs,
        work: rhs,
        n,
        m,
    };
    let fail = |failure: Failure| EvalError::Ode {
        system: sys.name.clone(),
        method: s.method,
        failure,
    };
    solve(
        &mut system,
        s.tol,
        y0,
        t0,
        times,
        p,
        cols,
        solver,
        out,
        sens,
    )
    .map_err(fail)?;
    if want_grad && *t0_col {
        // dy(t)/dt0 = -S_y0(t) f(t0, y0): moving the start later is starting from y0 - f dt0.
        system.modes(t0, y0, p, modes0);
        system.rate(t0, y0, p, modes0, f0);
        let k = cols.len();
        for i in 0..times.len() {
            for st in 0..n {
                let mut v = 0.0;
                for j in 0..n {
                    v -= sens[(i * k + j) * n + st] * f0[j];
                }
                t0_sens[i * n + st] = v;
            }
        }
    }
    Ok(())
}

/// The reverse rule of a solve node: adds g_out contracted with each column's d out / d input to the
/// adjoints of the parameter-dependent inputs.
pub fn backward(
    g: &Graph,
    id: NodeId,
    args: &[NodeId],
    g_out: &[f64],
    scratch: &[f64],
    adj: &mut [f64],
    range: &dyn Fn(NodeId) -> Range<usize>,
) {
    let n = g.node(args[0]).len();
    let n_out = g.node(id).len();
    let mut k = 0;
    let t0 = for_each_column(g, args, |_, _| k += 1);
    let (sens, t0_sens) = scratch.split_at(n_out * k);
    let times = n_out / n.max(1);
    let contract = |c: usize| -> f64 {
        let mut v = 0.0;
        for i in 0..times {
            for st in 0..n {
                v += g_out[i * n + st] * sens[(i * k + c) * n + st];
            }
        }
        v
    };
    for_each_column(g, args, |c, col| {
        let target = match col {
            Column::Init(j) if g.node(args[0]).param => range(args[0]).start + j,
            Column::Param(j) => range(args[3 + j]).start,
            Column::Init(_) => return,
        };
        adj[target] += contract(c);
    });
    if t0 && g.node(args[1]).param {
        let v: f64 = g_out.iter().zip(t0_sens).map(|(a, b)| a * b).sum();
        adj[range(args[1]).start] += v;
    }
}
