//! The reverse kernel of every node: given the adjoint of a node's value, adds the adjoints of its
//! parameter-dependent inputs. Inputs that are data get nothing. Each input is updated by its own call,
//! so a node that reads the same input twice (`x * x`) is handled without aliasing.

use super::forward::{rows_and_columns, MAX_DIST_ARGS};
use super::ops;
use super::parallel;
use super::solve::{self, Work};
use super::sparse;
use super::transforms;
use crate::ir::graph::{Graph, NodeId, Op};
use std::ops::Range;

/// Adds the contributions of node `id` (adjoint `g_out`) to the adjoints of its inputs, which live in
/// `adj` at `range(input)` (every input precedes the node, so `adj` ends before the node's own adjoint).
/// `scratch` and `work` are what the forward pass of the same node left (a solve's factors).
#[allow(clippy::too_many_arguments)]
pub fn backward_node<'a>(
    g: &Graph,
    id: NodeId,
    get: &dyn Fn(NodeId) -> &'a [f64],
    out: &[f64],
    g_out: &[f64],
    scratch: &mut [f64],
    work: &mut Work,
    adj: &mut [f64],
    range: &dyn Fn(NodeId) -> Range<usize>,
) {
    let node = g.node(id);
    let wants = |n: NodeId| g.node(n).param;
    match &node.op {
        Op::Data(..) | Op::Const(_) | Op::Param { .. } => {}
        Op::Constrain(t, inputs) | Op::LogJacobian(t, inputs) => {
            let mut bounds: [&[f64]; 2] = [&[], &[]];
            for (k, b) in inputs[1..].iter().enumerate() {
                bounds[k] = get(*b);
            }
            let bounds = &bounds[..inputs.len() - 1];
            let x = get(inputs[0]);
            let (y, g_y, g_jac) = match &node.op {
                Op::Constrain(..) => (out, Some(g_out), 0.0),
                _ => (&*scratch, None, g_out[0]),
            };
            // The raw coordinates always depend on the parameters; bounds may not. One call per input.
            for k in 0..inputs.len() {
                if !wants(inputs[k]) {
                    continue;
                }
                let target = &mut adj[range(inputs[k])];
                let mut gb: [Option<&mut [f64]>; 2] = [None, None];
                let gx = if k == 0 {
                    Some(target)
                } else {
                    gb[k - 1] = Some(target);
                    None
                };
                transforms::constrain_grad(
                    *t,
                    x,
                    bounds,
                    y,
                    g_y,
                    g_jac,
                    gx,
                    &mut gb[..inputs.len() - 1],
                );
            }
        }
        Op::Unary(op, a) => {
            if wants(*a) {
                ops::unary_grad(*op, get(*a), out, g_out, &mut adj[range(*a)]);
            }
        }
        Op::Binary(op, a, b) => {
            let (va, vb) = (get(*a), get(*b));
            if wants(*a) {
                ops::binary_grad(*op, va, vb, out, g_out, Some(&mut adj[range(*a)]), None);
            }
            if wants(*b) {
                ops::binary_grad(*op, va, vb, out, g_out, None, Some(&mut adj[range(*b)]));
            }
        }
        Op::Select(c, a, b) => {
            let vc = get(*c);
            if wants(*a) {
                ops::select_grad(vc, g_out, Some(&mut adj[range(*a)]), None);
            }
            if wants(*b) {
                ops::select_grad(vc, g_out, None, Some(&mut adj[range(*b)]));
            }
        }
        Op::Reduce(op, a, [o, l, i]) => {
            if wants(*a) {
                ops::reduce_grad(*op, get(*a), *o, *l, *i, out, g_out, &mut adj[range(*a)]);
            }
        }
        Op::CumSum(a, [o, l, i]) => {
            if wants(*a) {
                ops::cumsum_grad(*o, *l, *i, g_out, &mut adj[range(*a)]);
            }
        }
        Op::Softmax(a) => {
            if wants(*a) {
                ops::softmax_grad(out, g_out, &mut adj[range(*a)]);
            }
        }
        Op::LogSoftmax(a) => {
            if wants(*a) {
                ops::log_softmax_grad(out, g_out, &mut adj[range(*a)]);
            }
        }
        Op::MatVec(a, x) => {
            let s = &g.node(*a).shape;
            let (va, vx) = (get(*a), get(*x));
            if wants(*a) {
                ops::matvec_grad(va, s[0], s[1], vx, g_out, Some(&mut adj[range(*a)]), None);
            }
            if wants(*x) {
                ops::matvec_grad(va, s[0], s[1], vx, g_out, None, Some(&mut adj[range(*x)]));
            }
        }
        Op::MatMul(a, b) => {
            let (sa, sb) = (&g.node(*a).shape, &g.node(*b).shape);
            let (va, vb) = (get(*a), get(*b));
            if wants(*a) {
                ops::matmul_grad(
                    va,
                    sa[0],
                    sa[1],
                    vb,
                    sb[1],
                    g_out,
                    Some(&mut adj[range(*a)]),
                    None,
                );
            }
            if wants(*b) {
                ops::matmul_grad(
                    va,
                    sa[0],
                    sa[1],
                    vb,
                    sb[1],
                    g_out,
                    None,
                    Some(&mut adj[range(*b)]),
                );
            }
        }
        Op::Affine { product, terms } => {
            let (rows, cols) = rows_and_columns(&node.shape);
            // By row blocks on all threads when the node is big (the sums over rows through
            // per-block partials in scratch), else the sequential kernels.
            if let Some((a, b)) = *product {
                let (va, vb, k) = (get(a), get(b), g.node(a).shape[1]);
                if wants(a) {
                    let g_a = &mut adj[range(a)];
                    parallel::affine_grad_left(rows, cols, va, k, vb, g_out, g_a);
                }
                if wants(b) {
                    let g_b = &mut adj[range(b)];
                    parallel::affine_grad_right(rows, cols, va, k, vb, g_out, scratch, g_b);
                }
            }
            for &(s, t) in terms {
                if wants(t) {
                    let g_t = &mut adj[range(t)];
                    parallel::affine_grad_term(s, rows, cols, g_out, scratch, g_t);
                }
            }
        }
        Op::Dot(a, b) => {
            let (va, vb) = (get(*a), get(*b));
            if wants(*a) {
                ops::dot_grad(va, vb, g_out[0], Some(&mut adj[range(*a)]), None);
            }
            if wants(*b) {
                ops::dot_grad(va, vb, g_out[0], None, Some(&mut adj[range(*b)]));
            }
        }
        Op::Gather(a, m) => {
            if wants(*a) {
                ops::gather_grad(&g.maps[m.0 as usize], g_out, &mut adj[range(*a)]);
            }
        }
        Op::Concat(items) => scatter(g, items, g_out, 1.0, adj, range),
        Op::DiagMatrix(a) => {
            if wants(*a) {
                let r = range(*a);
                let k = r.len();
                for (i, d) in adj[r].iter_mut().enumerate() {
                    *d += g_out[i * k + i];
                }
            }
        }
        // The forward pass left d(lpdf)/d(arg) in scratch, argument after argument.
        Op::Lpdf { args, .. } => {
            let n = args.len().min(MAX_DIST_ARGS);
            scatter(g, &args[..n], scratch, g_out[0], adj, range);
        }
        // The forward pass left the envelope gradient in scratch, argument after argument.
        Op::WorstCase { args, .. } => scatter(g, args, scratch, g_out[0], adj, range),
        Op::SolveOde { args, .. } => {
            crate::ode::graph::backward(g, id, args, g_out, scratch, adj, range)
        }
        Op::AddScalars(items) => {
            for it in items {
                if wants(*it) {
                    adj[range(*it).start] += g_out[0];
                }
            }
        }
        Op::ScatterAdd(a, m) => {
            if wants(*a) {
                sparse::scatter_add_grad(&g.maps[m.0 as usize], g_out, &mut adj[range(*a)]);
            }
        }
        Op::SpMul(p, a, x) => {
            let p = g.pattern(*p);
            let k = p.columns_of(g_out.len());
            if wants(*a) {
                sparse::spmul_grad_values(p, get(*x), k, g_out, &mut adj[range(*a)]);
            }
            if wants(*x) {
                sparse::spmul_grad_x(p, get(*a), k, g_out, &mut adj[range(*x)]);
            }
        }
        // The adjoint method: lambda = A^-T xbar from the forward factors; bbar += lambda and
        // Abar -= lambda x'.
        Op::Solve(a, b) => {
            let (n, k) = rows_and_columns(&g.node(*b).shape);
            solve::dense_adjoint(n, k, g_out, scratch);
            let lambda = solve::dense_lambda(n, scratch);
            if wants(*a) {
                solve::dense_grad_a(n, k, lambda, out, &mut adj[range(*a)]);
            }
            if wants(*b) {
                for (d, l) in adj[range(*b)].iter_mut().zip(lambda) {
                    *d += l;
                }
            }
        }
        Op::SparseSolve(p, a, b) => {
            let p = g.pattern(*p);
            let (_, k) = rows_and_columns(&g.node(*b).shape);
            let Some(lu) = work.sparse_lu() else {
                return;
            };
            let lambda = lu.adjoint(p, k, g_out);
            if wants(*a) {
                solve::sparse_grad_a(p, k, lambda, out, &mut adj[range(*a)]);
            }
            if wants(*b) {
                for (d, l) in adj[range(*b)].iter_mut().zip(lambda) {
                    *d += l;
                }
            }
        }
        // Like `Lpdf`: the forward pass left each argument's gradient in scratch.
        Op::FieldPrior { args, .. } => scatter(g, args, scratch, g_out[0], adj, range),
        Op::FieldWhiten { field, args } => {
            let spec = g.field(*field);
            let vals = super::forward::field_args(args, get);
            spec.whiten_adjoint(g_out, scratch);
            // One call per input, so the same node given twice is handled without aliasing.
            for (k, a) in args.iter().enumerate() {
                if wants(*a) {
                    spec.whiten_grad(k, &vals, g_out, scratch, &mut adj[range(*a)]);
                }
            }
        }
    }
}

/// Adds `scale` times consecutive pieces of `source` (one per input, as long as it) to the adjoints of
/// the parameter-dependent inputs: the reverse of laying inputs end to end.
fn scatter(
    g: &Graph,
    inputs: &[NodeId],
    source: &[f64],
    scale: f64,
    adj: &mut [f64],
    range: &dyn Fn(NodeId) -> Range<usize>,
) {
    let mut at = 0;
    for it in inputs {
        let r = range(*it);
        let len = r.len();
        if g.node(*it).param {
            for (d, s) in adj[r].iter_mut().zip(&source[at..at + len]) {
                *d += scale * s;
            }
        }
        at += len;
    }
}
