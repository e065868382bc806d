//! Affine fusion. A linear predictor with offsets, `z * W + b` or `(log_lib + (z * W + b)')'`, lowers
//! to a matrix product, broadcasts of the offset vectors (gathers as large as the product) and one
//! elementwise `+` per offset, each a full-size intermediate with an adjoint to clear and add through
//! on every gradient. A tree of `+` over a [rows, cols] matrix whose leaves include a product or a
//! broadcast vector becomes one `Op::Affine` node: the product (if nothing else reads it), vectors
//! broadcast along rows or columns (read directly, so a broadcast data vector is never materialised),
//! scalars and full matrices, evaluated in one pass (`eval::affine`).
//!
//! Runs after gather simplification (which leaves broadcasts as gathers of the vectors) and before
//! constant folding (which would turn a broadcast data vector into a full-size constant). The tree's
//! inner `+` nodes and the product are left unread and removed by dead-node elimination; node ids do not
//! change (each root is rewritten in place, and its leaves precede it).

use crate::eval::ops::Binary;
use crate::ir::graph::{Graph, NodeId, Op, Spread, MAX_AFFINE_TERMS};

/// Rewrites sums of products and broadcast vectors as described in the module comment.
pub fn fuse_affine(mut g: Graph) -> Graph {
    let n = g.nodes.len();
    // Uses by live nodes only: earlier passes leave dead readers behind (a cancelled transpose).
    let mut live = vec![false; n];
    for r in g.roots() {
        live[r.index()] = true;
    }
    let mut uses = vec![0usize; n];
    for r in g.roots() {
        uses[r.index()] += 1;
    }
    for i in (0..n).rev() {
        if live[i] {
            for j in g.nodes[i].op.inputs() {
                live[j.index()] = true;
                uses[j.index()] += 1;
            }
        }
    }
    // A `+` read only by a `+` of the same shape is inside that one's tree, not a root.
    let mut inner = vec![false; n];
    for node in g
        .nodes
        .iter()
        .zip(&live)
        .filter(|(_, l)| **l)
        .map(|(n, _)| n)
    {
        if let Op::Binary(Binary::Add, a, b) = node.op {
            for x in [a, b] {
                if opens(&g, &uses, x, &node.shape) {
                    inner[x.index()] = true;
                }
            }
        }
    }
    for i in 0..n {
        let node = g.node(NodeId(i as u32));
        if inner[i]
            || !live[i]
            || !node.param
            || node.shape.len() != 2
            || !is_add(&g, NodeId(i as u32))
        {
            continue;
        }
        let mut leaves = vec![];
        collect_leaves(&g, &uses, NodeId(i as u32), &mut leaves);
        if let Some(op) = fused(&g, &uses, &node.shape, &leaves) {
            g.nodes[i].op = op;
        }
    }
    g
}

fn is_add(g: &Graph, x: NodeId) -> bool {
    matches!(g.node(x).op, Op::Binary(Binary::Add, ..))
}

/// Whether the operand `y` of a `+` of `shape` is opened into that one's tree: a `+` of the same shape
/// that nothing else reads and that depends on the latents (a data-only sum stays, to be folded).
fn opens(g: &Graph, uses: &[usize], y: NodeId, shape: &[usize]) -> bool {
    is_add(g, y) && uses[y.index()] == 1 && g.node(y).shape == shape && g.node(y).param
}

/// The operands of the `+` tree rooted at `x`: inner `+` nodes of the same shape that nothing else
/// reads are opened, anything else is a leaf.
fn collect_leaves(g: &Graph, uses: &[usize], x: NodeId, out: &mut Vec<NodeId>) {
    let Op::Binary(Binary::Add, a, b) = g.node(x).op else {
        unreachable!("called on additions")
    };
    for y in [a, b] {
        if opens(g, uses, y, &g.node(x).shape) {
            collect_leaves(g, uses, y, out);
        } else {
            out.push(y);
        }
    }
}

/// The affine node adding `leaves` into a matrix of `shape`, when that saves work: there is a product
/// nothing else reads, or a vector broadcast along rows or columns.
fn fused(g: &Graph, uses: &[usize], shape: &[usize], leaves: &[NodeId]) -> Option<Op> {
    let (rows, cols) = (shape[0], shape[1]);
    let mut product = None;
    let mut terms = vec![];
    for &x in leaves {
        let node = g.node(x);
        match &node.op {
            Op::MatMul(a, b) if product.is_none() && uses[x.index()] == 1 => {
                product = Some((*a, *b));
                continue;
            }
            Op::Gather(v, m) if node.len() == rows * cols => {
                let (map, len) = (&g.maps[m.0 as usize], g.node(*v).len());
                let along = |f: &dyn Fn(usize, usize) -> usize| {
                    (0..rows).all(|i| (0..cols).all(|j| map[i * cols + j] as usize == f(i, j)))
                };
                if len == cols && len != 1 && along(&|_, j| j) {
                    terms.push((Spread::PerColumn, *v));
                    continue;
                }
                if len == rows && len != 1 && along(&|i, _| i) {
                    terms.push((Spread::PerRow, *v));
                    continue;
                }
            }
            _ => {}
        }
        match node.len() {
            1 => terms.push((Spread::All, x)),
            l if l == rows * cols => terms.push((Spread::Full, x)),
            _ => return None,
        }
    }
    let broadcast = terms
        .iter()
        .any(|(s, _)| matches!(s, Spread::PerRow | Spread::PerColumn));
    let worth = product.is_some() || broadcast;
    (worth && terms.len() <= MAX_AFFINE_TERMS).then_some(Op::Affine { product, terms })
}
