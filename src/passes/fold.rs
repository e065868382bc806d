//! Constant folding: every node that does not depend on the parameters is computed once, here, and
//! replaced by a constant (laws and expressions of data alike).

use crate::eval::forward::eval_data_node;
use crate::ir::graph::{Graph, Op};

/// Computes data-only nodes at compile time and replaces them by constants.
pub fn fold_constants(mut g: Graph) -> Graph {
    let mut values: Vec<Option<Vec<f64>>> = vec![None; g.nodes.len()];
    for i in 0..g.nodes.len() {
        let node = &g.nodes[i];
        if node.param {
            continue;
        }
        let id = crate::ir::graph::NodeId(i as u32);
        let inputs = node.op.inputs();
        let v = {
            let refs: Vec<&[f64]> = inputs
                .iter()
                .map(|j| {
                    values[j.index()]
                        .as_deref()
                        .expect("inputs precede their users")
                })
                .collect();
            eval_data_node(&g, id, &refs).expect("a data-only node can be evaluated")
        };
        if !matches!(g.nodes[i].op, Op::Data(..) | Op::Const(_)) {
            g.consts.push(v.clone());
            let c = crate::ir::graph::ConstId(g.consts.len() as u32 - 1);
            g.nodes[i].op = Op::Const(c);
        }
        values[i] = Some(v);
    }
    g
}
