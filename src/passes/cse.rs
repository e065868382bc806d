//! Common-subexpression elimination: nodes with the same operation on the same inputs (and constants
//! with the same values) are merged into the first.

use crate::ir::graph::{Graph, NodeId, Op};
use std::collections::HashMap;

/// What makes two nodes interchangeable: the operation with its (already merged) inputs, the shape,
/// and for constants and gathers the actual numbers.
#[derive(PartialEq, Eq, Hash)]
struct Key {
    op: Op,
    shape: Vec<usize>,
    payload: Vec<u64>,
}

/// Merges duplicate nodes; later users read the first copy.
pub fn eliminate_common_subexpressions(mut g: Graph) -> Graph {
    let mut replace: Vec<NodeId> = (0..g.nodes.len() as u32).map(NodeId).collect();
    let mut seen: HashMap<Key, NodeId> = HashMap::new();
    for i in 0..g.nodes.len() {
        let op = g.nodes[i].op.map_inputs(&mut |n| replace[n.index()]);
        g.nodes[i].op = op.clone();
        // Parameter slices and data are distinct by construction; compare constants and gathers by content.
        let (key_op, payload) = match &op {
            Op::Param { .. } | Op::Data(..) => continue,
            Op::Const(c) => (
                Op::Const(crate::ir::graph::ConstId(0)),
                g.consts[c.0 as usize].iter().map(|v| v.to_bits()).collect(),
            ),
            Op::Gather(a, m) => (
                Op::Gather(*a, crate::ir::graph::MapId(0)),
                g.maps[m.0 as usize].iter().map(|&v| v as u64).collect(),
            ),
            Op::ScatterAdd(a, m) => (
                Op::ScatterAdd(*a, crate::ir::graph::MapId(0)),
                g.maps[m.0 as usize].iter().map(|&v| v as u64).collect(),
            ),
            _ => (op, vec![]),
        };
        let key = Key {
            op: key_op,
            shape: g.nodes[i].shape.clone(),
            payload,
        };
        match seen.get(&key) {
            Some(&first) => replace[i] = first,
            None => {
                seen.insert(key, NodeId(i as u32));
            }
        }
    }
    for t in &mut g.terms {
        t.node = replace[t.node.index()];
    }
    for (_, n) in &mut g.laws {
        *n = replace[n.index()];
    }
    for l in &mut g.latents {
        l.value = replace[l.value.index()];
    }
    g
}
