//! Lowering of ODE systems and their solves.
//!
//! An `ode` item becomes an `OdeSystem`: its right-hand side lowered into a graph of its own, with one
//! `Param` node per name of its signature (x = (t, states, parameters)), the data it reads, and the
//! rate vector as its one law; the passes fold and compact it. It is lowered once, at its first solve.
//! A `solve_ode` call becomes an `Op::SolveOde` node with an `OdeSolve` entry (solver and tolerances).
//! What only the data can show is checked here with the call's spans: the options' values, output
//! times that decrease or start before the initial time, and a solve whose inputs are all data fails
//! at compile time (it is computed here, once).

use super::graph::*;
use super::lower::{Lowerer, Val, R};
use crate::check::Form;
use crate::diagnostic::Diagnostic;
use crate::ode::{Method, Tolerances};
use crate::syntax::ast::*;
use crate::syntax::print::show_real;

impl<'m> Lowerer<'m> {
    /// `solve_ode(system, init, t0, times, params..., rtol = , atol = , max_steps = )` and
    /// `solve_ode_stiff(...)`.
    pub(super) fn solve_ode(&mut self, e: &Expr, func: &Ident, args: &[Arg]) -> R<Val> {
        if self.in_ode {
            return Err(Diagnostic::error(
                func.span,
                format!("`{}` inside an ODE right-hand side", func.name),
            )
            .with_label("an ODE's rate cannot solve another ODE")
            .with_help(
                "solve the inner system outside, in a `law`, and pass what you need as parameters",
            ));
        }
        let method = if func.name == "solve_ode_stiff" {
            Method::Stiff
        } else {
            Method::Explicit
        };
        let mut pos: Vec<&Expr> = vec![];
        let mut options: Vec<(&Ident, &Expr)> = vec![];
        for a in args {
            match &a.name {
                None => pos.push(&a.value),
                Some(n) => options.push((n, &a.value)),
            }
        }
        let def = match &pos[0].kind {
            ExprKind::Name(n) => self.odes.get(n.as_str()).copied(),
            _ => None,
        }
        .ok_or_else(|| {
            Diagnostic::error(
                pos[0].span,
                "internal error: the ode system was not resolved",
            )
        })?;
        let tol = self.tolerances(&options)?;
        let system = self.ode_system(def)?;
        let init = self.expr(pos[1])?;
        let t0 = self.expr(pos[2])?;
        let times = self.expr(pos[3])?;
        let mut inputs = vec![init.node, t0.node, times.node];
        for (p, v) in pos[4..].iter().zip(&def.params) {
            let val = self.expr(p)?;
            self.no_per_element(&val, &format!("an ODE parameter (`{}`)", v.name), p.span)?;
            inputs.push(val.node);
        }
        for (v, x) in [(&init, pos[1]), (&t0, pos[2]), (&times, pos[3])] {
            self.no_per_element(v, "an ODE solve", x.span)?;
        }
        let t = self.value_of(times.node, pos[3].span)?;
        if let Some(i) = (1..t.len()).find(|&i| t[i] < t[i - 1]) {
            return Err(Diagnostic::error(
                pos[3].span,
                format!("the output times of `{}` decrease", func.name),
            )
            .with_label(format!(
                "time {i} is {} but time {} is {}",
                show_real(t[i - 1]),
                i + 1,
                show_real(t[i])
            ))
            .with_help("give the output times in increasing order"));
        }
        if !self.g.node(t0.node).param {
            let start = self.value_of(t0.node, pos[2].span)?[0];
            if let Some(&first) = t.first().filter(|&&f| f < start) {
                return Err(Diagnostic::error(
                    pos[3].span,
                    format!("the first output time is before the initial time of `{}`", func.name),
                )
                .with_label(format!("the first time is {}", show_real(first)))
                .with_secondary(pos[2].span, format!("the solve starts at {}", show_real(start)))
                .with_help("solves run forward in time: every output time must be at or after the initial time"));
            }
        }
        self.g.solves.push(OdeSolve {
            system,
            method,
            tol,
        });
        let solve = self.g.solves.len() as u32 - 1;
        let n = def.states.len();
        let node = self.g.push(
            Op::SolveOde {
                solve,
                args: inputs,
            },
            vec![t.len(), n],
            e.span,
        );
        if !self.g.node(node).param {
            // Every input is data: solve now, once, and report a failure where the call stands.
            self.value_of(node, e.span).map_err(|d| {
                Diagnostic::error(e.span, d.message.clone()).with_label(
                    "every input of this solve is data, so it is solved when the model compiles",
                )
            })?;
        }
        Ok(self.plain(node, false, false))
    }

    /// The named options of a solve, checked against their meaning.
    fn tolerances(&mut self, options: &[(&Ident, &Expr)]) -> R<Tolerances> {
        let mut tol = Tolerances::default();
        for (name, value) in options {
            let x = self.scalar_data(value)?;
            match name.name.as_str() {
                "rtol" | "atol" => {
                    if !(x > 0.0 && x.is_finite()) {
                        return Err(Diagnostic::error(
                            value.span,
                            format!("`{}` must be a positive number", name.name),
                        )
                        .with_label(format!("this is {}", show_real(x)))
                        .with_note("the tolerances scale each step's error estimate: rtol relative to the states, atol absolute"));
                    }
                    if name.name == "rtol" {
                        tol.rtol = x;
                    } else {
                        tol.atol = x;
                    }
                }
                _ => {
                    if !(x >= 1.0 && x.fract() == 0.0 && x <= 1e12) {
                        return Err(Diagnostic::error(
                            value.span,
                            "`max_steps` must be a positive whole number",
                        )
                        .with_label(format!("this is {}", show_real(x))));
                    }
                    tol.max_steps = x as usize;
                }
            }
        }
        Ok(tol)
    }

    /// The index of an `ode` item's compiled system in `Graph::odes`, lowering it on first use.
    fn ode_system(&mut self, def: &'m OdeDef) -> R<usize> {
        if let Some(&k) = self.ode_index.get(def.name.name.as_str()) {
            return Ok(k);
        }
        // Lower the right-hand side into a graph of its own, with its own names and known values.
        let g = std::mem::take(&mut self.g);
        let globals = std::mem::take(&mut self.globals);
        let known = std::mem::take(&mut self.known);
        let scopes = std::mem::take(&mut self.scopes);
        let sparse_of = std::mem::take(&mut self.sparse_of);
        self.in_ode = true;
        let rate = self.ode_rate(def);
        self.in_ode = false;
        let mut rhs = std::mem::replace(&mut self.g, g);
        self.globals = globals;
        self.known = known;
        self.scopes = scopes;
        self.sparse_of = sparse_of;
        let rate = rate?;
        let (n, m) = (def.states.len(), def.params.len());
        rhs.laws.push(("rate".to_string(), rate));
        rhs.dim = 1 + n + m;
        let rhs = crate::passes::optimise(rhs, &crate::passes::Settings::default());
        let name = |i: &Ident| i.name.clone();
        self.g.odes.push(OdeSystem {
            name: def.name.name.clone(),
            time: def.time.name.clone(),
            states: def.states.iter().map(name).collect(),
            params: def.params.iter().map(name).collect(),
            rhs,
        });
        let k = self.g.odes.len() - 1;
        self.ode_index.insert(def.name.name.as_str(), k);
        Ok(k)
    }

    /// The rate vector of an `ode` item, lowered into the (fresh) current graph.
    fn ode_rate(&mut self, def: &OdeDef) -> R<NodeId> {
        self.lower_data();
        let names = std::iter::once(&def.time)
            .chain(&def.states)
            .chain(&def.params);
        let mut frame = vec![];
        for (k, id) in names.enumerate() {
            let node = self.g.push(Op::Param { offset: k }, vec![], id.span);
            let v = Val {
                node,
                form: Form::Scalar,
                int: false,
                per_element: false,
            };
            frame.push((id.name.clone(), v));
        }
        self.scopes = vec![frame];
        let mut rates = vec![];
        for state in &def.states {
            let eq = def
                .equations
                .iter()
                .find(|eq| eq.state.name == state.name)
                .ok_or_else(|| {
                    Diagnostic::error(state.span, "internal error: a state without an equation")
                })?;
            let v = self.expr(&eq.rhs)?;
            if self.g.node(v.node).len() != 1 {
                return Err(Diagnostic::error(
                    eq.rhs.span,
                    format!(
                        "internal error: the rate of `{}` is not one number",
                        state.name
                    ),
                ));
            }
            rates.push(v.node);
        }
        Ok(self
            .g
            .push(Op::Concat(rates), vec![def.states.len()], def.span))
    }
}
