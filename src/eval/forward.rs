//! The forward kernel of every node: computes a node's value from its inputs' values.
//!
//! Used three ways: by the evaluator in arena order on every log-density call, by constant folding on
//! data-only nodes, and by lowering when it needs a data value (an index, a slice bound). Nothing here
//! allocates except `eval_data_node` and `work_for`, which run at compile time. ODE solves run in the
//! memory the caller keeps for them (`ode::graph::SolveWork`, one per solve).

use super::dists::{self, Family};
use super::fields::FieldKind;
use super::ops;
use super::parallel;
use super::solve::{self, Work};
use super::sparse;
use super::transforms;
use super::EvalError;
use crate::ir::graph::{Graph, NodeId, Op, Spread, Transform, MAX_AFFINE_TERMS};
use crate::ode::graph::SolveWork;

/// Most arguments any distribution takes (variate included).
pub const MAX_DIST_ARGS: usize = 6;

/// How many scratch numbers a node needs: gradients of a log density's arguments, or the constrained
/// values a Jacobian node recomputes.
pub fn scratch_len(g: &Graph, id: NodeId) -> usize {
    match &g.node(id).op {
        Op::Lpdf { family, args, .. } => {
            parallel::lpdf_scratch_len(*family, args.iter().map(|a| g.node(*a).len()))
        }
        Op::Affine { product, .. } => {
            let (rows, cols) = rows_and_columns(&g.node(id).shape);
            let k = product.map_or(0, |(a, _)| g.node(a).shape[1]);
            parallel::affine_scratch_len(rows, cols, k)
        }
        Op::LogJacobian(_, inputs) => constrained_len(g, inputs[0], &g.node(id).op),
        Op::WorstCase { families, args } => super::worst_case::scratch_len(g, families, args),
        Op::Solve(_, b) => {
            let (n, k) = rows_and_columns(&g.node(*b).shape);
            solve::dense_scratch_len(n, k)
        }
        Op::FieldPrior { field, args, .. } => {
            let grads = args.iter().map(|a| g.node(*a).len()).sum();
            g.field(*field).prior_scratch_len(grads)
        }
        Op::FieldWhiten { field, .. } => g.field(*field).whiten_scratch_len(),
        Op::SolveOde { .. } => crate::ode::graph::solve_scratch_len(g, id),
        _ => 0,
    }
}

/// A vector's length and 1, or a matrix's rows and columns: the right side of a product or solve.
pub fn rows_and_columns(shape: &[usize]) -> (usize, usize) {
    match shape {
        [n] => (*n, 1),
        [n, k] => (*n, *k),
        _ => (shape.iter().product(), 1),
    }
}

/// The state node `id` keeps between evaluations (a sparse solve's factorisation buffers), built at
/// compile time; `symbolic` is the pattern's analysis when the caller already has it.
pub fn work_for(
    g: &Graph,
    id: NodeId,
    symbolic: Option<std::sync::Arc<faer::sparse::linalg::lu::SymbolicLu<usize>>>,
) -> Result<Work, String> {
    match &g.node(id).op {
        Op::SparseSolve(p, _, b) => {
            let p = g.pattern(*p);
            let symbolic = match symbolic {
                Some(s) => s,
                None => solve::symbolic_lu(p)?,
            };
            let (n, k) = rows_and_columns(&g.node(*b).shape);
            Ok(Work::SparseLu(Box::new(solve::SparseLu::new(
                symbolic, n, k,
            ))))
        }
        _ => Ok(Work::None),
    }
}

fn constrained_len(g: &Graph, raw: NodeId, op: &Op) -> usize {
    let free = g.node(raw).len();
    match op {
        Op::LogJacobian(Transform::Simplex, _) => free + 1,
        _ => free,
    }
}

/// Computes node `id` into `out`. `get` returns any earlier node's value; `params` is the unconstrained
/// vector. With `want_grad`, a log-density node also leaves the gradient of each argument in `scratch`
/// (laid out argument after argument) for the reverse sweep, and a solve its sensitivities. `work` is
/// the node's state from `work_for`; `ode` holds the memory of every ODE solve (indexed by solve).
/// Fails only where the value does not exist (a singular matrix, a failing ODE solve): recoverably.
#[allow(clippy::too_many_arguments)]
pub fn forward_node<'a>(
    g: &Graph,
    id: NodeId,
    get: &dyn Fn(NodeId) -> &'a [f64],
    params: &[f64],
    out: &mut [f64],
    scratch: &mut [f64],
    work: &mut Work,
    want_grad: bool,
    ode: &mut [Option<SolveWork>],
) -> Result<(), EvalError> {
    let node = g.node(id);
    match &node.op {
        Op::SolveOde { solve, args } => {
            let work = ode[*solve as usize]
                .as_mut()
                .expect("every solve node has its memory");
            crate::ode::graph::forward(
                g,
                *solve as usize,
                args,
                get,
                work,
                out,
                scratch,
                want_grad,
            )?;
        }
        Op::Data(_, c) | Op::Const(c) => out.copy_from_slice(&g.consts[c.0 as usize]),
        Op::Param { offset } => out.copy_from_slice(&params[*offset..*offset + out.len()]),
        Op::Constrain(t, inputs) => {
            let mut bounds: [&[f64]; 2] = [&[], &[]];
            for (k, b) in inputs[1..].iter().enumerate() {
                bounds[k] = get(*b);
            }
            transforms::constrain(*t, get(inputs[0]), &bounds[..inputs.len() - 1], out);
        }
        Op::LogJacobian(t, inputs) => {
            let mut bounds: [&[f64]; 2] = [&[], &[]];
            for (k, b) in inputs[1..].iter().enumerate() {
                bounds[k] = get(*b);
            }
            let bounds = &bounds[..inputs.len() - 1];
            let x = get(inputs[0]);
            transforms::constrain(*t, x, bounds, scratch);
            out[0] = transforms::log_jacobian(*t, x, bounds, scratch);
        }
        Op::Unary(op, a) => ops::unary(*op, get(*a), out),
        Op::Binary(op, a, b) => ops::binary(*op, get(*a), get(*b), out),
        Op::Select(c, a, b) => ops::select(get(*c), get(*a), get(*b), out),
        Op::Reduce(op, a, [o, l, i]) => ops::reduce(*op, get(*a), *o, *l, *i, out),
        Op::CumSum(a, [o, l, i]) => ops::cumsum(get(*a), *o, *l, *i, out),
        Op::Softmax(a) => ops::softmax(get(*a), out),
        Op::LogSoftmax(a) => ops::log_softmax(get(*a), out),
        Op::MatVec(a, x) => {
            let s = &g.node(*a).shape;
            ops::matvec(get(*a), s[0], s[1], get(*x), out)
        }
        Op::MatMul(a, b) => {
            let (sa, sb) = (&g.node(*a).shape, &g.node(*b).shape);
            ops::matmul(get(*a), sa[0], sa[1], get(*b), sb[1], out)
        }
        Op::Dot(a, b) => out[0] = ops::dot(get(*a), get(*b)),
        Op::Affine { product, terms } => {
            let (rows, cols) = rows_and_columns(&g.node(id).shape);
            let product = product.map(|(a, b)| (get(a), g.node(a).shape[1], get(b)));
            let mut views: [(Spread, &[f64]); MAX_AFFINE_TERMS] =
                [(Spread::All, &[]); MAX_AFFINE_TERMS];
            for (v, &(s, t)) in views.iter_mut().zip(terms) {
                *v = (s, get(t));
            }
            parallel::affine(rows, cols, product, &views[..terms.len()], out);
        }
        Op::Gather(a, m) => ops::gather(get(*a), &g.maps[m.0 as usize], out),
        Op::Concat(items) => {
            let mut at = 0;
            for it in items {
                let v = get(*it);
                out[at..at + v.len()].copy_from_slice(v);
                at += v.len();
            }
        }
        Op::DiagMatrix(a) => {
            let v = get(*a);
            let k = v.len();
            out.fill(0.0);
            for i in 0..k {
                out[i * k + i] = v[i];
            }
        }
        Op::Lpdf {
            family,
            args,
            dims,
            normalised,
        } => {
            out[0] = lpdf_node(
                g,
                *family,
                args,
                *dims,
                *normalised,
                get,
                scratch,
                want_grad,
            );
        }
        Op::AddScalars(items) => out[0] = items.iter().map(|i| get(*i)[0]).sum(),
        Op::WorstCase { families, args } => {
            out[0] = super::worst_case::forward(g, families, args, get, scratch, want_grad);
        }
        Op::ScatterAdd(a, m) => sparse::scatter_add(get(*a), &g.maps[m.0 as usize], out),
        Op::SpMul(p, a, x) => {
            let p = g.pattern(*p);
            sparse::spmul(p, get(*a), get(*x), p.columns_of(out.len()), out)
        }
        Op::Solve(a, b) => {
            let (n, k) = rows_and_columns(&g.node(*b).shape);
            let constant = !g.node(*a).param;
            return solve::dense_solve(get(*a), get(*b), n, k, constant, out, scratch)
                .map_err(EvalError::Numerical);
        }
        Op::SparseSolve(p, a, b) => {
            let (_, k) = rows_and_columns(&g.node(*b).shape);
            let constant = !g.node(*a).param;
            let lu = work.sparse_lu().ok_or_else(|| {
                EvalError::Numerical("internal error: a sparse solve without its work space".into())
            })?;
            return lu
                .solve(g.pattern(*p), get(*a), constant, get(*b), k, out)
                .map_err(EvalError::Numerical);
        }
        Op::FieldPrior {
            field,
            args,
            normalised,
        } => {
            let spec = g.field(*field);
            let vals = field_args(args, get);
            // The log-determinant depends on range and sd (the last two arguments; sd alone for a
            // random walk).
            let hypers = match spec.kind {
                FieldKind::Matern { .. } => &args[2..],
                FieldKind::RandomWalk { .. } => &args[1..],
            };
            let hyper_live = hypers.iter().any(|a| g.node(*a).param);
            // Gradients only for the arguments that depend on the latents.
            let mut want = [false; 4];
            for (w, a) in want.iter_mut().zip(args) {
                *w = want_grad && g.node(*a).param;
            }
            out[0] = spec.log_density(&vals[..args.len()], *normalised, hyper_live, scratch, want);
        }
        Op::FieldWhiten { field, args } => {
            let vals = field_args(args, get);
            g.field(*field).whiten(&vals, out, scratch);
        }
    }
    Ok(())
}

/// A field node's argument values (at most four: field, mean, range, sd).
pub fn field_args<'a>(args: &[NodeId], get: &dyn Fn(NodeId) -> &'a [f64]) -> [&'a [f64]; 4] {
    let mut vals: [&[f64]; 4] = [&[]; 4];
    for (k, a) in args.iter().take(4).enumerate() {
        vals[k] = get(*a);
    }
    vals
}

#[allow(clippy::too_many_arguments)]
fn lpdf_node<'a>(
    g: &Graph,
    family: Family,
    args: &[NodeId],
    dims: usize,
    normalised: bool,
    get: &dyn Fn(NodeId) -> &'a [f64],
    scratch: &mut [f64],
    want_grad: bool,
) -> f64 {
    let n = args.len().min(MAX_DIST_ARGS);
    let mut values: [&[f64]; MAX_DIST_ARGS] = [&[]; MAX_DIST_ARGS];
    let mut constant = [true; MAX_DIST_ARGS];
    for k in 0..n {
        values[k] = get(args[k]);
        constant[k] = !g.node(args[k]).param;
    }
    // A big elementwise statement is split into chunks evaluated on all threads.
    if parallel::lpdf_chunks(family, values[..n].iter().map(|v| v.len())).is_some() {
        let (values, constant) = (&values[..n], &constant[..n]);
        return parallel::lpdf(
            family, values, dims, constant, normalised, scratch, want_grad,
        );
    }
    let mut grads: [Option<&mut [f64]>; MAX_DIST_ARGS] = Default::default();
    if want_grad {
        let mut rest = scratch;
        for k in 0..n {
            let (head, tail) = rest.split_at_mut(values[k].len());
            if !constant[k] {
                grads[k] = Some(head);
            }
            rest = tail;
        }
    }
    dists::lpdf(
        family,
        &values[..n],
        dims,
        &constant[..n],
        normalised,
        &mut grads[..n],
    )
}

/// Computes a data-only node from its inputs' values, at compile time.
pub fn eval_data_node(g: &Graph, id: NodeId, inputs: &[&[f64]]) -> Result<Vec<f64>, String> {
    let node = g.node(id);
    if node.param {
        return Err(
            "internal error: a value that depends on latents was needed at compile time".into(),
        );
    }
    let ids = node.op.inputs();
    let get = |n: NodeId| -> &[f64] {
        let k = ids
            .iter()
            .position(|i| *i == n)
            .expect("inputs are given in order");
        inputs[k]
    };
    let mut out = vec![0.0; node.len()];
    let mut scratch = vec![0.0; scratch_len(g, id)];
    let mut work = work_for(g, id, None)?;
    let mut ode: Vec<Option<SolveWork>> = (0..g.solves.len()).map(|_| None).collect();
    if let Op::SolveOde { solve, args } = &node.op {
        ode[*solve as usize] = Some(SolveWork::new(g, *solve as usize, args));
    }
    forward_node(
        g,
        id,
        &get,
        &[],
        &mut out,
        &mut scratch,
        &mut work,
        false,
        &mut ode,
    )
    .map_err(|e| e.to_string())?;
    Ok(out)
}
