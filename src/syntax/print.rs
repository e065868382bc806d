//! AST → source text, with only the parentheses precedence needs. Used by dumps, messages and the REPL's
//! `:show`; `parse(print(x))` gives back `x`.

use super::ast::*;

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(op, ..) if op.is_comparison() => 1,
        ExprKind::Binary(BinOp::Add | BinOp::Sub, ..) => 2,
        ExprKind::Binary(BinOp::Pow, ..) => 5,
        ExprKind::Binary(..) => 3,
        ExprKind::Neg(_) => 4,
        ExprKind::Int(v) if *v < 0 => 4,
        ExprKind::Real(v) if v.is_sign_negative() => 4,
        ExprKind::Index { .. } | ExprKind::Transpose(_) => 6,
        _ => 7,
    }
}

fn wrap(e: &Expr, min: u8) -> String {
    if prec(e) < min {
        format!("({})", show(e))
    } else {
        show(e)
    }
}

/// A real literal that reads back as a real (`1.0`, `6.674e-11`).
pub fn show_real(v: f64) -> String {
    format!("{v:?}")
}

pub fn show_args(args: &[Arg]) -> String {
    args.iter()
        .map(|a| match &a.name {
            Some(n) => format!("{} = {}", n.name, show(&a.value)),
            None => show(&a.value),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The expression as source text.
pub fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Real(v) => show_real(*v),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Neg(a) => format!("-{}", wrap(a, 5)),
        ExprKind::Binary(op, a, b) => {
            let p = prec(e);
            let (l, r) = match op {
                // Right-associative, and binds tighter than a unary minus on its right operand's left.
                BinOp::Pow => (wrap(a, 6), wrap(b, 4)),
                _ if op.is_comparison() => (wrap(a, 2), wrap(b, 2)),
                _ => (wrap(a, p), wrap(b, p + 1)),
            };
            format!("{l} {} {r}", op.symbol())
        }
        ExprKind::Call { func, args } => format!("{}({})", func.name, show_args(args)),
        ExprKind::Index { base, indices } => {
            let items: Vec<String> = indices
                .iter()
                .map(|ix| match ix {
                    IndexItem::Single(e) => show(e),
                    IndexItem::Slice { lo, hi, .. } => format!(
                        "{}:{}",
                        lo.as_ref().map(show).unwrap_or_default(),
                        hi.as_ref().map(show).unwrap_or_default()
                    ),
                })
                .collect();
            format!("{}[{}]", wrap(base, 6), items.join(", "))
        }
        ExprKind::Transpose(a) => format!("{}'", wrap(a, 6)),
        ExprKind::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            )
        }
        ExprKind::Comprehension { body, generators } => {
            let gens: Vec<String> = generators
                .iter()
                .map(|g| format!("{} in {}:{}", g.var.name, show(&g.lo), show(&g.hi)))
                .collect();
            format!("[{} for {}]", show(body), gens.join(", "))
        }
    }
}
