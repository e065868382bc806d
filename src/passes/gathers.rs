//! Gather simplification. Broadcasting, transposes and reshapes lower to gathers, and a model that
//! adds a per-row vector by transposing twice, `(v + X')'`, pays for two full-size gathers (and their
//! adjoints) per evaluation. Three rewrites remove them:
//! - a gather of a gather is one gather through the composed map;
//! - a gather whose map is the identity on an input of the same shape is that input;
//! - a gather of an elementwise binary node that nothing else reads, whose operands are each data,
//!   a gather or a broadcast scalar, is the binary node of the gathered operands (the scalar stays
//!   as it is): the gathers of gathers compose (and often cancel), those of data are folded into
//!   constants. Only gathers that do not add elements (transposes, permutations, selections) are
//!   moved, so no node grows.
//!
//! The graph is rebuilt in order: every new node is appended where the node it replaces stood, so
//! inputs still precede their users. Nodes left unread are removed by dead-node elimination.

use crate::ir::graph::{Graph, MapId, Node, NodeId, Op};
use crate::span::Span;

/// Rewrites gathers as described in the module comment.
pub fn simplify_gathers(mut g: Graph) -> Graph {
    let n = g.nodes.len();
    let mut uses = vec![0usize; n];
    for node in &g.nodes {
        for i in node.op.inputs() {
            uses[i.index()] += 1;
        }
    }
    for r in g.roots() {
        uses[r.index()] += 1;
    }
    let old_nodes = std::mem::take(&mut g.nodes);
    let old_spans = std::mem::take(&mut g.spans);
    // Where each old node went, and which old node each new one came from (for its use count).
    let mut new_id = Vec::with_capacity(n);
    let mut origin: Vec<Option<usize>> = Vec::with_capacity(n);
    for (i, (node, span)) in old_nodes.into_iter().zip(old_spans).enumerate() {
        let op = node.op.map_inputs(&mut |j: NodeId| new_id[j.index()]);
        let before = g.nodes.len();
        let id = match op {
            Op::Gather(a, m) => {
                let private = |x: NodeId| {
                    origin
                        .get(x.index())
                        .copied()
                        .flatten()
                        .is_some_and(|k| uses[k] == 1)
                };
                gather(&mut g, a, m, node.shape, span, &private)
            }
            op => g.push(op, node.shape, span),
        };
        while origin.len() < g.nodes.len() {
            origin.push(None);
        }
        // A node that already existed now stands for two old nodes: not private to either.
        origin[id.index()] = (id.index() >= before).then_some(i);
        new_id.push(id);
    }
    for t in &mut g.terms {
        t.node = new_id[t.node.index()];
    }
    for (_, node) in &mut g.laws {
        *node = new_id[node.index()];
    }
    for l in &mut g.latents {
        l.value = new_id[l.value.index()];
    }
    g
}

/// The node `a[map]` of the given shape, simplified; `private(x)` says nothing but the gather being
/// simplified reads node `x` of the new graph.
fn gather(
    g: &mut Graph,
    a: NodeId,
    m: MapId,
    shape: Vec<usize>,
    span: Span,
    private: &dyn Fn(NodeId) -> bool,
) -> NodeId {
    let input: &Node = g.node(a);
    let (input_op, len) = (input.op.clone(), input.len());
    let map = &g.maps[m.0 as usize];
    if input.shape == shape && map.iter().enumerate().all(|(i, &k)| k as usize == i) {
        return a;
    }
    match input_op {
        Op::Gather(x, inner) => {
            let (first, second) = (&g.maps[inner.0 as usize], &g.maps[m.0 as usize]);
            let composed: Vec<u32> = second.iter().map(|&k| first[k as usize]).collect();
            let m = g.add_map(composed);
            gather(g, x, m, shape, span, private)
        }
        Op::Binary(op, p, q) if private(a) => {
            let full = |x: NodeId, g: &Graph| g.node(x).len() == len;
            let scalar = |x: NodeId, g: &Graph| g.node(x).len() == 1 && len != 1;
            // Only where it pays: no more elements than before, and every operand that is not a
            // broadcast scalar is data (folded) or a gather (composed), so no gather is added.
            let cheap = |x: NodeId, g: &Graph| {
                scalar(x, g)
                    || full(x, g) && (!g.node(x).param || matches!(g.node(x).op, Op::Gather(..)))
            };
            let out_len: usize = shape.iter().product();
            if out_len > len || !cheap(p, g) || !cheap(q, g) {
                return g.push(Op::Gather(a, m), shape, span);
            }
            let operand = |x: NodeId, g: &mut Graph| {
                if scalar(x, g) {
                    x
                } else {
                    let s = shape.clone();
                    gather(g, x, m, s, span, private)
                }
            };
            let (p, q) = (operand(p, g), operand(q, g));
            g.push(Op::Binary(op, p, q), shape, span)
        }
        _ => g.push(Op::Gather(a, m), shape, span),
    }
}
