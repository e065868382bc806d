//! A scalar tape for right-hand sides made of scalar arithmetic, the usual case: every state and
//! parameter of an ODE is a number, so its rate graph is a few dozen one-element nodes, where the
//! general node kernels spend more time dispatching than computing. The tape is the same computation
//! flattened to instructions on the same value buffer (same layout, same kernels per element), run
//! several times per step by the solvers. A rate graph with any other node keeps the general path.

use crate::eval::ops::{self, Binary, Unary};
use crate::ir::graph::{Graph, NodeId, Op};

#[derive(Debug, Clone, Copy)]
enum Ins {
    Param {
        dst: usize,
        z: usize,
    },
    Unary {
        op: Unary,
        dst: usize,
        a: usize,
    },
    Binary {
        op: Binary,
        dst: usize,
        a: usize,
        b: usize,
    },
    Select {
        dst: usize,
        c: usize,
        a: usize,
        b: usize,
    },
    Copy {
        dst: usize,
        src: usize,
    },
}

pub(super) struct Tape {
    ins: Vec<Ins>,
    /// Per instruction: the switch value it is held at when switches are frozen, or `u32::MAX`.
    mode: Vec<u32>,
    /// Per instruction: whether its first and second value inputs depend on (t, y, p).
    wants: Vec<[bool; 2]>,
}

impl Tape {
    /// The tape of `schedule` (the parameter-dependent nodes in arena order), if every node there is
    /// scalar arithmetic, a selection, or a copy (concatenations, gathers).
    pub(super) fn build(
        g: &Graph,
        schedule: &[NodeId],
        offset: &[usize],
        switch_of: &[u32],
    ) -> Option<Tape> {
        let mut t = Tape {
            ins: vec![],
            mode: vec![],
            wants: vec![],
        };
        let at = |n: NodeId| offset[n.index()];
        let scalar = |n: NodeId| g.node(n).len() == 1;
        let param = |n: NodeId| g.node(n).param;
        for &id in schedule {
            let node = g.node(id);
            let dst = at(id);
            let mode = switch_of[id.index()];
            match &node.op {
                Op::Param { offset: z } if scalar(id) => {
                    t.push(Ins::Param { dst, z: *z }, mode, [false, false])
                }
                Op::Unary(op, a) if scalar(id) && scalar(*a) => {
                    let ins = Ins::Unary {
                        op: *op,
                        dst,
                        a: at(*a),
                    };
                    t.push(ins, mode, [param(*a), false]);
                }
                Op::Binary(op, a, b) if scalar(id) && scalar(*a) && scalar(*b) => {
                    let ins = Ins::Binary {
                        op: *op,
                        dst,
                        a: at(*a),
                        b: at(*b),
                    };
                    t.push(ins, mode, [param(*a), param(*b)]);
                }
                Op::Select(c, a, b) if scalar(id) && scalar(*c) && scalar(*a) && scalar(*b) => {
                    let ins = Ins::Select {
                        dst,
                        c: at(*c),
                        a: at(*a),
                        b: at(*b),
                    };
                    t.push(ins, mode, [param(*a), param(*b)]);
                }
                Op::Concat(items) => {
                    let mut k = dst;
                    for it in items {
                        for e in 0..g.node(*it).len() {
                            let ins = Ins::Copy {
                                dst: k,
                                src: at(*it) + e,
                            };
                            t.push(ins, u32::MAX, [param(*it), false]);
                            k += 1;
                        }
                    }
                }
                Op::Gather(a, m) => {
                    for (i, &src) in g.maps[m.0 as usize].iter().enumerate() {
                        let ins = Ins::Copy {
                            dst: dst + i,
                            src: at(*a) + src as usize,
                        };
                        t.push(ins, u32::MAX, [param(*a), false]);
                    }
                }
                _ => return None,
            }
        }
        Some(t)
    }

    fn push(&mut self, ins: Ins, mode: u32, wants: [bool; 2]) {
        self.ins.push(ins);
        self.mode.push(mode);
        self.wants.push(wants);
    }

    /// The forward sweep into `v` at z, switches held at `modes` when given.
    pub(super) fn forward(&self, v: &mut [f64], z: &[f64], modes: Option<&[f64]>) {
        for (k, ins) in self.ins.iter().enumerate() {
            if let Some(m) = modes {
                let s = self.mode[k];
                if s != u32::MAX {
                    let dst = match *ins {
                        Ins::Unary { dst, .. } | Ins::Binary { dst, .. } => dst,
                        _ => unreachable!("only comparisons and steps are switches"),
                    };
                    v[dst] = m[s as usize];
                    continue;
                }
            }
            match *ins {
                Ins::Param { dst, z: i } => v[dst] = z[i],
                Ins::Unary { op, dst, a } => {
                    v[dst] = match op {
                        Unary::Neg => -v[a],
                        _ => {
                            let mut o = [0.0];
                            ops::unary(op, &[v[a]], &mut o);
                            o[0]
                        }
                    }
                }
                Ins::Binary { op, dst, a, b } => {
                    // The arithmetic inline (the same IEEE operations as the kernels), the rest by
                    // the kernels.
                    let (x, y) = (v[a], v[b]);
                    v[dst] = match op {
                        Binary::Add => x + y,
                        Binary::Sub => x - y,
                        Binary::Mul => x * y,
                        Binary::Div => x / y,
                        _ => {
                            let mut o = [0.0];
                            ops::binary(op, &[x], &[y], &mut o);
                            o[0]
                        }
                    }
                }
                Ins::Select { dst, c, a, b } => v[dst] = if v[c] != 0.0 { v[a] } else { v[b] },
                Ins::Copy { dst, src } => v[dst] = v[src],
            }
        }
    }

    /// The reverse sweep from the adjoints seeded in `adj` (same layout as `v`); adds d/dz to `dz`.
    pub(super) fn reverse(&self, v: &[f64], adj: &mut [f64], dz: &mut [f64]) {
        for (k, ins) in self.ins.iter().enumerate().rev() {
            let [wa, wb] = self.wants[k];
            match *ins {
                Ins::Param { dst, z } => dz[z] += adj[dst],
                Ins::Unary { op, dst, a } => {
                    let g = adj[dst];
                    if wa && g != 0.0 {
                        let mut ga = [0.0];
                        ops::unary_grad(op, &[v[a]], &[v[dst]], &[g], &mut ga);
                        adj[a] += ga[0];
                    }
                }
                Ins::Binary { op, dst, a, b } => {
                    let g = adj[dst];
                    if g == 0.0 || op.is_comparison() {
                        continue;
                    }
                    let (x, y) = (v[a], v[b]);
                    let inline = match op {
                        Binary::Add => Some((g, g)),
                        Binary::Sub => Some((g, -g)),
                        Binary::Mul => Some((g * y, g * x)),
                        // The kernels' own formulas, so both paths agree to the bit.
                        Binary::Div => Some((g * (1.0 / y), g * (-v[dst] / y))),
                        _ => None,
                    };
                    if let Some((ga, gb)) = inline {
                        if wa {
                            adj[a] += ga;
                        }
                        if wb {
                            adj[b] += gb;
                        }
                        continue;
                    }
                    let (va, vb, o) = ([x], [y], [v[dst]]);
                    if wa {
                        let mut ga = [0.0];
                        ops::binary_grad(op, &va, &vb, &o, &[g], Some(&mut ga), None);
                        adj[a] += ga[0];
                    }
                    if wb {
                        let mut gb = [0.0];
                        ops::binary_grad(op, &va, &vb, &o, &[g], None, Some(&mut gb));
                        adj[b] += gb[0];
                    }
                }
                Ins::Select { dst, c, a, b } => {
                    let g = adj[dst];
                    if v[c] != 0.0 {
                        if wa {
                            adj[a] += g;
                        }
                    } else if wb {
                        adj[b] += g;
                    }
                }
                Ins::Copy { dst, src } => {
                    if wa {
                        adj[src] += adj[dst];
                    }
                }
            }
        }
    }
}
