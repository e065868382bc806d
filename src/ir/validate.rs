//! Checks the graph's invariants; a failure is a bug in the compiler, never in the user's model.

use super::graph::{Graph, Op, Spread};

/// Every input precedes its user, every reference is in range, shapes agree with element counts where
/// an operation fixes them, and the parameter tags follow from the inputs.
pub fn validate(g: &Graph) -> Result<(), String> {
    if g.spans.len() != g.nodes.len() {
        return Err("spans and nodes differ in number".into());
    }
    for (i, node) in g.nodes.iter().enumerate() {
        for input in node.op.inputs() {
            if input.index() >= i {
                return Err(format!(
                    "node %{i} uses %{} which does not precede it",
                    input.0
                ));
            }
        }
        let param = matches!(node.op, Op::Param { .. })
            || node.op.inputs().iter().any(|j| g.nodes[j.index()].param);
        if param != node.param {
            return Err(format!("node %{i} has the wrong parameter tag"));
        }
        match &node.op {
            Op::Data(_, c) | Op::Const(c) => {
                let v = g
                    .consts
                    .get(c.0 as usize)
                    .ok_or(format!("node %{i}: constant out of range"))?;
                if v.len() != node.len() {
                    return Err(format!(
                        "node %{i}: {} values for shape {:?}",
                        v.len(),
                        node.shape
                    ));
                }
            }
            Op::Gather(a, m) => {
                let map = g
                    .maps
                    .get(m.0 as usize)
                    .ok_or(format!("node %{i}: map out of range"))?;
                let src = g.nodes[a.index()].len();
                if map.len() != node.len() || map.iter().any(|&k| k as usize >= src) {
                    return Err(format!("node %{i}: gather map does not fit"));
                }
            }
            Op::ScatterAdd(a, m) => {
                let map = g
                    .maps
                    .get(m.0 as usize)
                    .ok_or(format!("node %{i}: map out of range"))?;
                let src = g.nodes[a.index()].len();
                if map.len() != src || map.iter().any(|&k| k as usize >= node.len()) {
                    return Err(format!("node %{i}: scatter map does not fit"));
                }
            }
            Op::SpMul(p, a, x) | Op::SparseSolve(p, a, x) => {
                let p = g
                    .patterns
                    .get(p.0 as usize)
                    .ok_or(format!("node %{i}: pattern out of range"))?;
                let (nnz, xlen) = (g.nodes[a.index()].len(), g.nodes[x.index()].len());
                let solve = matches!(node.op, Op::SparseSolve(..));
                let k = p.columns_of(node.len());
                if nnz != p.nnz()
                    || (p.rows > 0 && xlen != p.cols * k)
                    || node.len() != p.rows * k
                    || (solve && p.rows != p.cols)
                {
                    return Err(format!("node %{i}: sparse operands do not fit"));
                }
            }
            Op::Solve(a, b) => {
                let (sa, lb) = (&g.nodes[a.index()].shape, g.nodes[b.index()].len());
                if sa.len() != 2 || sa[0] != sa[1] || lb != node.len() {
                    return Err(format!("node %{i}: solve operands do not fit"));
                }
            }
            Op::Affine { product, terms } => {
                let [rows, cols] = node.shape[..] else {
                    return Err(format!("node %{i}: affine output is not a matrix"));
                };
                if let Some((a, b)) = product {
                    let (sa, sb) = (&g.nodes[a.index()].shape, &g.nodes[b.index()].shape);
                    if sa.len() != 2
                        || sb.len() != 2
                        || sa[0] != rows
                        || sb[1] != cols
                        || sa[1] != sb[0]
                    {
                        return Err(format!("node %{i}: affine product does not fit"));
                    }
                }
                if terms.len() > super::graph::MAX_AFFINE_TERMS {
                    return Err(format!("node %{i}: too many affine terms"));
                }
                for (s, t) in terms {
                    let want = match s {
                        Spread::All => 1,
                        Spread::PerRow => rows,
                        Spread::PerColumn => cols,
                        Spread::Full => rows * cols,
                    };
                    if g.nodes[t.index()].len() != want {
                        return Err(format!("node %{i}: affine term of the wrong length"));
                    }
                }
            }
            Op::Binary(_, a, b) => {
                for x in [a, b] {
                    let l = g.nodes[x.index()].len();
                    if l != 1 && l != node.len() {
                        return Err(format!(
                            "node %{i}: operand of length {l} for output {}",
                            node.len()
                        ));
                    }
                }
            }
            Op::Param { offset } if offset + node.len() > g.dim => {
                return Err(format!("node %{i}: parameters past the end"));
            }
            Op::SolveOde { solve, args } => {
                let s = g
                    .solves
                    .get(*solve as usize)
                    .ok_or(format!("node %{i}: solve out of range"))?;
                let sys = g
                    .odes
                    .get(s.system)
                    .ok_or(format!("node %{i}: ode system out of range"))?;
                let (n, m) = (sys.states.len(), sys.params.len());
                let len = |k: usize| g.nodes[args[k].index()].len();
                let ok = args.len() == 3 + m
                    && len(0) == n
                    && len(1) == 1
                    && g.nodes[args[2].index()].shape.len() == 1
                    && !g.nodes[args[2].index()].param
                    && (3..3 + m).all(|k| len(k) == 1)
                    && node.shape == [len(2), n];
                if !ok {
                    return Err(format!("node %{i}: solve inputs do not fit `{}`", sys.name));
                }
            }
            _ => {}
        }
    }
    for o in &g.odes {
        validate(&o.rhs).map_err(|e| format!("the rate of `{}`: {e}", o.name))?;
        let n = o.states.len();
        let rate = o.rhs.laws.first().map(|(_, r)| *r);
        let fits = rate.is_some_and(|r| o.rhs.nodes[r.index()].shape == [n])
            && o.rhs.dim == 1 + n + o.params.len()
            && o.rhs.odes.is_empty();
        if !fits {
            return Err(format!("the rate graph of `{}` is malformed", o.name));
        }
    }
    for t in &g.terms {
        if t.node.index() >= g.nodes.len() || !g.nodes[t.node.index()].shape.is_empty() {
            return Err("a term is not a scalar node".into());
        }
    }
    Ok(())
}
