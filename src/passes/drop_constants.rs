//! Dropping constant terms: log densities no longer keep terms that depend only on data (Stan's `~`),
//! and terms that are wholly constant leave the target.

use crate::ir::graph::{Graph, Op};

/// Marks every log density unnormalised and removes terms that do not depend on the parameters.
pub fn drop_constant_terms(mut g: Graph) -> Graph {
    for node in &mut g.nodes {
        if let Op::Lpdf { normalised, .. } | Op::FieldPrior { normalised, .. } = &mut node.op {
            *normalised = false;
        }
    }
    let nodes = &g.nodes;
    g.terms.retain(|t| nodes[t.node.index()].param);
    g
}
