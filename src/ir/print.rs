//! The graph's stable text form: one node per line (id, operation, inputs, shape, data/param tag),
//! then the outputs. Array data are shown by shape only; scalar constants by value.

use super::graph::{Graph, Op, TermKind};
use std::fmt::Write;

/// A field prior's kind and grid: `matern[nu=1.5; 3x3; spacing 25,25,1; periodic,neumann,neumann]`.
fn field_name(f: &crate::eval::fields::FieldSpec) -> String {
    use crate::eval::fields::FieldKind;
    let pad = 3 - f.rank;
    let dims: Vec<String> = f.dims[pad..].iter().map(|d| d.to_string()).collect();
    let h: Vec<String> = f.spacing[pad..]
        .iter()
        .map(|v| crate::syntax::print::show_real(*v))
        .collect();
    let b: Vec<&str> = f.boundary[pad..].iter().map(|b| b.name()).collect();
    let kind = match f.kind {
        FieldKind::Matern { nu } => format!("matern[nu={}", crate::syntax::print::show_real(nu)),
        FieldKind::RandomWalk { order } => format!("rw{order}["),
    };
    let sep = if kind.ends_with('[') { "" } else { "; " };
    format!(
        "{kind}{sep}{}; spacing {}; {}]",
        dims.join("x"),
        h.join(","),
        b.join(",")
    )
}

pub fn print(g: &Graph) -> String {
    let mut out = String::new();
    print_nodes(g, "", &mut out);
    print_outputs(g, &mut out);
    print_odes(g, &mut out);
    out
}

/// One line per node, each starting with `indent`.
fn print_nodes(g: &Graph, indent: &str, out: &mut String) {
    let id = |n: &super::graph::NodeId| format!("%{}", n.0);
    let list = |v: &[super::graph::NodeId]| v.iter().map(id).collect::<Vec<_>>().join(", ");
    // A pattern is shown by its number, size and count of stored entries.
    let pattern = |p: &super::graph::PatternId| {
        let q = g.pattern(*p);
        format!("pattern#{} {}x{} nnz {}", p.0, q.rows, q.cols, q.nnz())
    };
    for (i, node) in g.nodes.iter().enumerate() {
        let op = match &node.op {
            Op::Data(name, _) => format!("data {name}"),
            Op::Const(c) => {
                let v = &g.consts[c.0 as usize];
                if v.len() == 1 {
                    format!("const {}", crate::syntax::print::show_real(v[0]))
                } else {
                    "const".to_string()
                }
            }
            Op::Param { offset } => format!("param x[{}..{}]", offset, offset + node.len()),
            Op::Constrain(t, v) => format!("constrain.{}({})", t.name(), list(v)),
            Op::LogJacobian(t, v) => format!("log_jacobian.{}({})", t.name(), list(v)),
            Op::Unary(u, a) => format!("{}({})", u.name(), id(a)),
            Op::Binary(b, x, y) => format!("{}({}, {})", b.name(), id(x), id(y)),
            Op::Select(c, a, b) => format!("select({}, {}, {})", id(c), id(a), id(b)),
            Op::Reduce(r, a, [o, l, n]) => {
                format!("reduce.{}({}, [{o}, {l}, {n}])", r.name(), id(a))
            }
            Op::CumSum(a, [o, l, n]) => format!("cumulative_sum({}, [{o}, {l}, {n}])", id(a)),
            Op::Softmax(a) => format!("softmax({})", id(a)),
            Op::LogSoftmax(a) => format!("log_softmax({})", id(a)),
            Op::MatVec(a, b) => format!("matvec({}, {})", id(a), id(b)),
            Op::MatMul(a, b) => format!("matmul({}, {})", id(a), id(b)),
            Op::Dot(a, b) => format!("dot({}, {})", id(a), id(b)),
            Op::Affine { product, terms } => {
                let mut parts: Vec<String> = product
                    .iter()
                    .map(|(a, b)| format!("matmul({}, {})", id(a), id(b)))
                    .collect();
                parts.extend(terms.iter().map(|(s, t)| format!("{} {}", s.name(), id(t))));
                format!("affine({})", parts.join(" + "))
            }
            Op::Gather(a, m) => format!("gather({}, map#{})", id(a), m.0),
            Op::Concat(v) => format!("concat({})", list(v)),
            Op::DiagMatrix(a) => format!("diag_matrix({})", id(a)),
            Op::Lpdf {
                family,
                args,
                normalised,
                ..
            } => format!(
                "lpdf.{}({} | {}){}",
                family.name(),
                id(&args[0]),
                list(&args[1..]),
                if *normalised { "" } else { " unnormalised" }
            ),
            Op::AddScalars(v) => format!("add({})", list(v)),
            Op::WorstCase { families, args } => {
                let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
                format!(
                    "worst_case.{}(eps {} | {})",
                    names.join("+"),
                    id(&args[0]),
                    list(&args[1..])
                )
            }
            Op::ScatterAdd(a, m) => format!("scatter_add({}, map#{})", id(a), m.0),
            Op::SpMul(p, a, x) => format!("spmul({}, {}, {})", pattern(p), id(a), id(x)),
            Op::Solve(a, b) => format!("solve({}, {})", id(a), id(b)),
            Op::SparseSolve(p, a, b) => {
                format!("sparse_solve({}, {}, {})", pattern(p), id(a), id(b))
            }
            Op::FieldPrior {
                field,
                args,
                normalised,
            } => format!(
                "field_lpdf.{}({} | {}){}",
                field_name(g.field(*field)),
                id(&args[0]),
                list(&args[1..]),
                if *normalised { "" } else { " unnormalised" }
            ),
            Op::FieldWhiten { field, args } => format!(
                "field_whiten.{}({})",
                field_name(g.field(*field)),
                list(args)
            ),
            Op::SolveOde { solve, args } => format!(
                "solve_ode#{solve}({}, {}, {} | {})",
                id(&args[0]),
                id(&args[1]),
                id(&args[2]),
                list(&args[3..])
            ),
        };
        let shape: Vec<String> = node.shape.iter().map(|d| d.to_string()).collect();
        let tag = if node.param { "param" } else { "data" };
        writeln!(out, "{indent}%{i} = {op} : [{}] {tag}", shape.join(", ")).unwrap();
    }
}

/// The solves and the right-hand side graphs of their systems.
fn print_odes(g: &Graph, out: &mut String) {
    for (k, s) in g.solves.iter().enumerate() {
        let show = crate::syntax::print::show_real;
        writeln!(
            out,
            "solve #{k} = {} by {} (rtol {}, atol {}, max_steps {})",
            g.odes[s.system].name,
            s.method.name(),
            show(s.tol.rtol),
            show(s.tol.atol),
            s.tol.max_steps
        )
        .unwrap();
    }
    for o in &g.odes {
        writeln!(
            out,
            "ode {}({}; {}; {}), its rate with x = ({}):",
            o.name,
            o.time,
            o.states.join(", "),
            o.params.join(", "),
            [o.time.clone()]
                .iter()
                .chain(&o.states)
                .chain(&o.params)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
        .unwrap();
        print_nodes(&o.rhs, "  ", out);
        for (name, n) in &o.rhs.laws {
            writeln!(out, "  {name} = %{}", n.0).unwrap();
        }
    }
}

fn print_outputs(g: &Graph, out: &mut String) {
    let id = |n: &super::graph::NodeId| format!("%{}", n.0);
    writeln!(out, "target:").unwrap();
    for t in &g.terms {
        let what = match &t.kind {
            TermKind::Prior => "prior".to_string(),
            TermKind::Jacobian => "jacobian".to_string(),
            TermKind::Likelihood(k) => {
                let m = &g.modalities[*k];
                format!(
                    "likelihood {} (weight {})",
                    m.name,
                    crate::syntax::print::show_real(m.weight)
                )
            }
        };
        writeln!(out, "  {what} {}", id(&t.node)).unwrap();
    }
    for l in &g.latents {
        writeln!(
            out,
            "latent {} = {} (x[{}..{}])",
            l.name,
            id(&l.value),
            l.offset,
            l.offset + l.free
        )
        .unwrap();
    }
    for (name, n) in &g.laws {
        writeln!(out, "law {name} = {}", id(n)).unwrap();
    }
}
