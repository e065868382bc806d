//! Dead-node elimination and compaction: nodes no output needs are removed, the rest renumbered in
//! order, and unused constants, index maps and ODE solves dropped.

use crate::ir::graph::{ConstId, Graph, MapId, Node, NodeId, Op};

/// Keeps only nodes reachable from the outputs (terms, laws, latents), renumbered.
pub fn remove_dead_nodes(g: Graph) -> Graph {
    let n = g.nodes.len();
    let mut live = vec![false; n];
    for r in g.roots() {
        live[r.index()] = true;
    }
    for i in (0..n).rev() {
        if live[i] {
            for j in g.nodes[i].op.inputs() {
                live[j.index()] = true;
            }
        }
    }
    let mut new_id = vec![NodeId(u32::MAX); n];
    let mut out = Graph {
        terms: g.terms.clone(),
        latents: g.latents.clone(),
        laws: g.laws.clone(),
        modalities: g.modalities.clone(),
        // Patterns are few and small beside the values: kept whole, so their numbers stay.
        patterns: g.patterns.clone(),
        dim: g.dim,
        fields: g.fields.clone(),
        odes: g.odes.clone(),
        ..Graph::default()
    };
    let mut const_id: Vec<Option<ConstId>> = vec![None; g.consts.len()];
    let mut map_id: Vec<Option<MapId>> = vec![None; g.maps.len()];
    let mut solve_id: Vec<Option<u32>> = vec![None; g.solves.len()];
    for i in 0..n {
        if !live[i] {
            continue;
        }
        let mut op = g.nodes[i].op.map_inputs(&mut |j| new_id[j.index()]);
        match &mut op {
            Op::Const(c) | Op::Data(_, c) => {
                let k = c.0 as usize;
                *c = *const_id[k].get_or_insert_with(|| {
                    out.consts.push(g.consts[k].clone());
                    ConstId(out.consts.len() as u32 - 1)
                });
            }
            Op::Gather(_, m) | Op::ScatterAdd(_, m) => {
                let k = m.0 as usize;
                *m = *map_id[k].get_or_insert_with(|| {
                    out.maps.push(g.maps[k].clone());
                    MapId(out.maps.len() as u32 - 1)
                });
            }
            Op::SolveOde { solve, .. } => {
                let k = *solve as usize;
                *solve = *solve_id[k].get_or_insert_with(|| {
                    out.solves.push(g.solves[k].clone());
                    out.solves.len() as u32 - 1
                });
            }
            _ => {}
        }
        out.nodes.push(Node {
            op,
            shape: g.nodes[i].shape.clone(),
            param: g.nodes[i].param,
        });
        out.spans.push(g.spans[i]);
        new_id[i] = NodeId(out.nodes.len() as u32 - 1);
    }
    for t in &mut out.terms {
        t.node = new_id[t.node.index()];
    }
    for (_, node) in &mut out.laws {
        *node = new_id[node.index()];
    }
    for l in &mut out.latents {
        l.value = new_id[l.value.index()];
    }
    out
}
