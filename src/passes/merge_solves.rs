//! Merging ODE solves: solves of one system with the same inputs and settings that differ only in their
//! output times (two instruments watching one process) become one solve at the union of the times,
//! each original read back from it by a gather, so the system is integrated once.
//!
//! The steps a solver takes do not depend on the output times (outputs come from its interpolant),
//! except that the last step ends at the last time: the merged values agree with the separate solves
//! to within their tolerances, not to the bit.

use crate::ir::graph::{ConstId, Graph, MapId, Node, NodeId, Op};

/// What must agree for two solves to merge: the solve's settings and every input but the times.
fn key(g: &Graph, solve: u32, args: &[NodeId]) -> (usize, String, Vec<NodeId>) {
    let s = &g.solves[solve as usize];
    // Tolerances compare by their bits; the method by name.
    let settings = format!(
        "{} {} {} {}",
        s.method.name(),
        s.tol.rtol.to_bits(),
        s.tol.atol.to_bits(),
        s.tol.max_steps
    );
    let mut inputs = args.to_vec();
    inputs.remove(2);
    (s.system, settings, inputs)
}

/// The output times of a solve when they are a constant (after folding).
fn times<'g>(g: &'g Graph, args: &[NodeId]) -> Option<&'g [f64]> {
    match &g.node(args[2]).op {
        Op::Const(c) | Op::Data(_, c) => Some(&g.consts[c.0 as usize]),
        _ => None,
    }
}

/// Merges solves that differ only in their output times.
pub fn merge_solves(g: Graph) -> Graph {
    // Group the solve nodes by key, in arena order.
    let mut groups: Vec<(NodeId, Vec<NodeId>)> = vec![];
    let mut keys = vec![];
    for (i, node) in g.nodes.iter().enumerate() {
        let Op::SolveOde { solve, args } = &node.op else {
            continue;
        };
        if times(&g, args).is_none() {
            continue;
        }
        let k = key(&g, *solve, args);
        match keys.iter().position(|x| *x == k) {
            Some(p) => groups[p].1.push(NodeId(i as u32)),
            None => {
                keys.push(k);
                groups.push((NodeId(i as u32), vec![NodeId(i as u32)]));
            }
        }
    }
    groups.retain(|(_, members)| members.len() > 1);
    if groups.is_empty() {
        return g;
    }
    let mut out = Graph {
        consts: g.consts.clone(),
        maps: g.maps.clone(),
        terms: g.terms.clone(),
        latents: g.latents.clone(),
        laws: g.laws.clone(),
        modalities: g.modalities.clone(),
        dim: g.dim,
        odes: g.odes.clone(),
        solves: g.solves.clone(),
        ..Graph::default()
    };
    let mut new_id: Vec<NodeId> = vec![NodeId(u32::MAX); g.nodes.len()];
    // For each member: the merged solve it reads and the row of each of its times there.
    let mut reads: Vec<Option<(NodeId, Vec<usize>)>> = vec![None; g.nodes.len()];
    for i in 0..g.nodes.len() {
        let id = NodeId(i as u32);
        let node = &g.nodes[i];
        let span = g.spans[i];
        if let Some((_, members)) = groups.iter().find(|(first, _)| *first == id) {
            // The union of the members' times, then the merged solve, before the first member.
            let mut all: Vec<f64> = vec![];
            for m in members {
                let Op::SolveOde { args, .. } = &g.node(*m).op else {
                    unreachable!("groups hold solves")
                };
                all.extend_from_slice(times(&g, args).expect("grouped solves have constant times"));
            }
            all.sort_by(f64::total_cmp);
            all.dedup();
            let Op::SolveOde { solve, args } = &node.op else {
                unreachable!("groups hold solves")
            };
            out.consts.push(all.clone());
            let c = ConstId(out.consts.len() as u32 - 1);
            out.nodes.push(Node {
                op: Op::Const(c),
                shape: vec![all.len()],
                param: false,
            });
            out.spans.push(span);
            let t = NodeId(out.nodes.len() as u32 - 1);
            out.solves.push(g.solves[*solve as usize].clone());
            let mut merged_args: Vec<NodeId> = args.iter().map(|a| new_id[a.index()]).collect();
            merged_args[2] = t;
            let n = node.shape[1];
            out.nodes.push(Node {
                op: Op::SolveOde {
                    solve: out.solves.len() as u32 - 1,
                    args: merged_args,
                },
                shape: vec![all.len(), n],
                param: node.param,
            });
            out.spans.push(span);
            let merged = NodeId(out.nodes.len() as u32 - 1);
            for m in members {
                let Op::SolveOde { args, .. } = &g.node(*m).op else {
                    unreachable!("groups hold solves")
                };
                let rows = times(&g, args)
                    .expect("grouped solves have constant times")
                    .iter()
                    .map(|s| all.partition_point(|x| x < s))
                    .collect();
                reads[m.index()] = Some((merged, rows));
            }
        }
        let op = match &reads[i] {
            Some((merged, rows)) => {
                let n = node.shape[1];
                let map: Vec<u32> = rows
                    .iter()
                    .flat_map(|r| (0..n).map(move |s| (r * n + s) as u32))
                    .collect();
                out.maps.push(map);
                Op::Gather(*merged, MapId(out.maps.len() as u32 - 1))
            }
            None => node.op.map_inputs(&mut |j| new_id[j.index()]),
        };
        out.nodes.push(Node {
            op,
            shape: node.shape.clone(),
            param: node.param,
        });
        out.spans.push(span);
        new_id[i] = NodeId(out.nodes.len() as u32 - 1);
    }
    for t in &mut out.terms {
        t.node = new_id[t.node.index()];
    }
    for (_, n) in &mut out.laws {
        *n = new_id[n.index()];
    }
    for l in &mut out.latents {
        l.value = new_id[l.value.index()];
    }
    out
}
