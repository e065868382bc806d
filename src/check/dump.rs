//! A readable text dump of a checked model: every declaration with its resolved type and shape, every
//! law with its dependence, every `~` statement with the shapes that meet in it. Snapshot tests pin it.

use super::{CheckedModel, CombineRule, Dep, Structure};
use crate::library::distributions::Boundary;
use crate::syntax::ast::*;
use crate::syntax::print::{show, show_args};
use std::fmt::Write;

pub fn dump(m: &CheckedModel) -> String {
    let mut out = String::new();
    let dep = |d: Dep| match d {
        Dep::Data => "data",
        Dep::Latent => "latent",
    };
    let bounds = |out: &mut String, lower: Option<ExprId>, upper: Option<ExprId>, decl: &Decl| {
        let find = |id: ExprId| -> String {
            for c in &decl.constraints {
                match &c.kind {
                    ConstraintKind::Lower(e) | ConstraintKind::Upper(e) if e.id == id => {
                        return show(e)
                    }
                    ConstraintKind::Interval(a, _) if a.id == id => return show(a),
                    ConstraintKind::Interval(_, b) if b.id == id => return show(b),
                    _ => {}
                }
            }
            String::new()
        };
        match (lower, upper) {
            (Some(l), Some(u)) => write!(out, " in ({}, {})", find(l), find(u)).unwrap(),
            (Some(l), None) => write!(out, " > {}", find(l)).unwrap(),
            (None, Some(u)) => write!(out, " < {}", find(u)).unwrap(),
            (None, None) => {}
        }
    };
    let decls: Vec<&Decl> = m
        .program
        .items
        .iter()
        .flat_map(|i| match i {
            Item::Data(b) | Item::Latent(b) => b.decls.iter().collect::<Vec<_>>(),
            _ => vec![],
        })
        .collect();
    let find_decl = |name: &str| decls.iter().find(|d| d.name.name == name).copied();
    for d in &m.data {
        write!(out, "data {}: {}", d.name, d.ty).unwrap();
        if let Some(decl) = find_decl(&d.name) {
            bounds(&mut out, d.lower, d.upper, decl);
        }
        out.push('\n');
    }
    for d in &m.latents {
        let structure = match d.structure {
            Structure::None => "",
            Structure::Simplex => " simplex",
            Structure::Ordered => " ordered",
            Structure::PositiveOrdered => " positive_ordered",
        };
        write!(out, "latent {}: {}{structure}", d.name, d.ty).unwrap();
        let decl = find_decl(&d.name);
        if let Some(decl) = decl {
            bounds(&mut out, d.lower, d.upper, decl);
            if let Some(s) = d.spacing.and_then(|_| {
                decl.ty
                    .args
                    .iter()
                    .find(|a| a.name.as_ref().is_some_and(|n| n.name == "spacing"))
            }) {
                write!(out, " spacing {}", show(&s.value)).unwrap();
            }
            if d.boundary.iter().any(|b| *b != Boundary::Neumann) {
                let names: Vec<&str> = d.boundary.iter().map(|b| b.name()).collect();
                write!(out, " boundary {}", names.join(",")).unwrap();
            }
            if let Some(p) = &decl.prior {
                write!(out, " ~ {}({})", p.name.name, show_args(&p.args)).unwrap();
            }
        }
        out.push('\n');
    }
    for l in &m.laws {
        let keyword = if l.derived { "derived" } else { "law" };
        writeln!(
            out,
            "{keyword} {}: {} ({})",
            l.name,
            l.info.ty,
            dep(l.info.dep)
        )
        .unwrap();
    }
    let tilde = |out: &mut String, t: &Tilde, indent: &str| {
        let types: Vec<String> = t
            .dist
            .args
            .iter()
            .map(|a| m.info(&a.value).ty.to_string())
            .collect();
        writeln!(
            out,
            "{indent}{} ~ {}({})",
            show(&t.lhs),
            t.dist.name.name,
            show_args(&t.dist.args)
        )
        .unwrap();
        writeln!(
            out,
            "{indent}  : {} ~ {}({})",
            m.info(&t.lhs).ty,
            t.dist.name.name,
            types.join(", ")
        )
        .unwrap();
    };
    for item in &m.program.items {
        match item {
            Item::Fn(f) => {
                let ps: Vec<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
                writeln!(
                    out,
                    "fn {}({}) = {}",
                    f.name.name,
                    ps.join(", "),
                    show(&f.body)
                )
                .unwrap();
            }
            Item::Ode(o) => {
                let names = |v: &[Ident]| {
                    v.iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                writeln!(
                    out,
                    "ode {}({}; {}; {})",
                    o.name.name,
                    o.time.name,
                    names(&o.states),
                    names(&o.params)
                )
                .unwrap();
                for eq in &o.equations {
                    writeln!(
                        out,
                        "  d{}/d{} = {}",
                        eq.state.name,
                        eq.time.name,
                        show(&eq.rhs)
                    )
                    .unwrap();
                }
            }
            _ => {}
        }
    }
    for item in &m.program.items {
        match item {
            Item::Tilde(t) => {
                out.push_str("prior ");
                tilde(&mut out, t, "");
            }
            Item::Latent(b) => {
                for t in &b.priors {
                    out.push_str("prior ");
                    tilde(&mut out, t, "");
                }
            }
            _ => {}
        }
    }
    for item in &m.program.items {
        let Item::Modality(md) = item else { continue };
        match &md.weight {
            Some(w) => writeln!(out, "modality {} weight {} {{", md.name.name, show(w)).unwrap(),
            None => writeln!(out, "modality {} {{", md.name.name).unwrap(),
        }
        for s in &md.stmts {
            match s {
                ModalityStmt::Let(l) => {
                    let info = m.info(&l.value);
                    writeln!(
                        out,
                        "  let {}: {} ({}) = {}",
                        l.name.name,
                        info.ty,
                        dep(info.dep),
                        show(&l.value)
                    )
                    .unwrap();
                }
                ModalityStmt::Tilde(t) => tilde(&mut out, t, "  "),
            }
        }
        out.push_str("}\n");
    }
    let rule = match m.combine.rule {
        CombineRule::Product => "product",
        CombineRule::Tempered => "tempered",
        CombineRule::Minmax => "minmax",
        CombineRule::Tolerant => "tolerant",
    };
    let exprs: Vec<String> = m
        .program
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Combine(c) => c.entries.as_ref(),
            _ => None,
        })
        .flatten()
        .map(|e| format!("{}: {}", e.modality.name, show(&e.value)))
        .collect();
    if exprs.is_empty() {
        writeln!(out, "combine {rule}").unwrap();
    } else {
        writeln!(out, "combine {rule} {{ {} }}", exprs.join(", ")).unwrap();
    }
    out
}
