//! Calls: built-in functions by their shape rule, user `fn`s instantiated at each call with the
//! argument types, and `solve_ode` against the declared system.

use super::decls::dep_word;
use super::exprs::elementwise_ty;
use super::types::{broadcast, show_shape};
use super::{Checker, Context, Dep, Dim, Elem, Form, Global, Info, Ty};
use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::library::functions::{self, FnSpec, Rule};
use crate::syntax::ast::*;

/// Positional argument values, then `name = value` options.
type SplitArgs<'a> = (Vec<&'a Expr>, Vec<(&'a Ident, &'a Expr)>);

impl<'p> Checker<'p> {
    pub(super) fn call(&mut self, e: &Expr, func: &Ident, args: &[Arg]) -> Option<Info> {
        let name = func.name.as_str();
        if self.lookup_local(name).is_some() {
            self.error(
                Diagnostic::error(func.span, format!("`{name}` is a value, not a function"))
                    .with_label("called here"),
            );
            return None;
        }
        match self.globals.get(name).copied() {
            Some(Global::Fn(i)) => return self.call_fn(e, i, args),
            Some(g) => {
                self.error(
                    Diagnostic::error(
                        func.span,
                        format!("`{name}` is {}, not a function", g.describe()),
                    )
                    .with_label("called here")
                    .with_help(if matches!(g, Global::Ode(_)) {
                        format!("solve it: `solve_ode({name}, init, t0, times, ...)`")
                    } else {
                        "index with square brackets: `x[i]`".to_string()
                    }),
                );
                return None;
            }
            None => {}
        }
        let Some(spec) = functions::lookup(name) else {
            if crate::library::distributions::lookup(name).is_some() {
                self.error(
                    Diagnostic::error(
                        func.span,
                        format!("`{name}` is a distribution, not a function"),
                    )
                    .with_label("called like a function")
                    .with_help(format!(
                        "distributions stand on the right of `~`: `y ~ {name}(...)`"
                    )),
                );
                return None;
            }
            let user: Vec<String> = self.fns.iter().map(|f| f.name.name.clone()).collect();
            let candidates = functions::names().map(str::to_string).chain(user);
            let candidates: Vec<String> = candidates.collect();
            let mut d = Diagnostic::error(func.span, format!("unknown function `{name}`"))
                .with_label("not a built-in or a `fn` of this model");
            if let Some(h) = did_you_mean(name, candidates.iter().map(|s| s.as_str())) {
                d = d.with_help(h);
            }
            self.error(d);
            return None;
        };
        if spec.rule == Rule::SolveOde {
            return self.solve_ode(e, func, spec, args);
        }
        let (positional, options) = self.split_args(func, spec, args)?;
        let infos: Vec<Option<Info>> = positional.iter().map(|a| self.expr(a)).collect();
        let infos: Vec<Info> = infos.into_iter().collect::<Option<_>>()?;
        let mut axis = None;
        for (n, v) in &options {
            if n.name == "axis" {
                axis = Some(self.axis_option(v)?);
            }
            if n.name == "spacing" {
                self.spacing_option(spec, v)?;
            }
        }
        self.builtin(e, spec, &positional, &infos, axis)
    }

    /// Splits arguments into positional values and named options, checking counts and names.
    fn split_args<'a>(
        &mut self,
        func: &Ident,
        spec: &FnSpec,
        args: &'a [Arg],
    ) -> Option<SplitArgs<'a>> {
        let mut positional = vec![];
        let mut options: Vec<(&Ident, &Expr)> = vec![];
        for a in args {
            match &a.name {
                None => {
                    if let Some((n, _)) = options.first() {
                        self.error(
                            Diagnostic::error(
                                a.value.span,
                                "a positional argument after a named one",
                            )
                            .with_label("positional")
                            .with_secondary(n.span, "named argument before it"),
                        );
                        return None;
                    }
                    positional.push(&a.value);
                }
                Some(n) => {
                    if !spec.options.contains(&n.name.as_str()) {
                        let mut d = Diagnostic::error(
                            n.span,
                            format!("`{}` has no option `{}`", spec.name, n.name),
                        )
                        .with_label("unknown option");
                        d = match spec.options {
                            [] => d.with_note(format!(
                                "`{}` takes only positional arguments",
                                spec.name
                            )),
                            opts => d.with_note(format!("its options are: {}", opts.join(", "))),
                        };
                        self.error(d);
                        return None;
                    }
                    if let Some((prev, _)) = options.iter().find(|(p, _)| p.name == n.name) {
                        let d =
                            Diagnostic::error(n.span, format!("option `{}` given twice", n.name))
                                .with_label("again here")
                                .with_secondary(prev.span, "first here");
                        self.error(d);
                        return None;
                    }
                    options.push((n, &a.value));
                }
            }
        }
        let n = positional.len();
        if n < spec.min_args || n > spec.max_args {
            let want = if spec.min_args == spec.max_args {
                format!("{}", spec.min_args)
            } else if spec.max_args == usize::MAX {
                format!("at least {}", spec.min_args)
            } else {
                format!("{} or {}", spec.min_args, spec.max_args)
            };
            self.error(
                Diagnostic::error(
                    func.span,
                    format!(
                        "`{}` takes {want} argument{}, but {n} {} given",
                        spec.name,
                        if want == "1" { "" } else { "s" },
                        if n == 1 { "was" } else { "were" }
                    ),
                )
                .with_label("wrong number of arguments"),
            );
            return None;
        }
        Some((positional, options))
    }

    /// An `axis = k` option: an integer literal.
    fn axis_option(&mut self, v: &Expr) -> Option<usize> {
        match v.kind {
            ExprKind::Int(k) if k >= 1 => Some(k as usize),
            _ => {
                self.error(
                    Diagnostic::error(v.span, "`axis` must be a positive integer literal")
                        .with_label("not an axis number")
                        .with_help("axes are numbered from 1: `axis = 2` is the second index"),
                );
                None
            }
        }
    }

    fn builtin(
        &mut self,
        e: &Expr,
        spec: &FnSpec,
        args: &[&Expr],
        infos: &[Info],
        axis: Option<usize>,
    ) -> Option<Info> {
        let dep = infos.iter().map(|i| i.dep).max().unwrap_or(Dep::Data);
        let name = spec.name;
        let a0 = &infos[0];
        let real = |shape: Vec<Dim>| Ty::of_shape(Elem::Real, shape);
        let ty = match spec.rule {
            Rule::Map1 { keeps_int } => {
                let elem = if keeps_int { a0.ty.elem } else { Elem::Real };
                let mut ty = a0.ty.clone();
                ty.elem = elem;
                if ty.form == Form::Sparse {
                    ty.form = Form::Matrix;
                }
                if ty.form == Form::Array && elem == Elem::Real {
                    ty = elementwise_ty(elem, ty.shape, &[&a0.ty]);
                }
                ty
            }
            Rule::MapN | Rule::Select => {
                self.broadcast_all(e, name, args, infos, spec.rule == Rule::Select)?
            }
            Rule::ReduceOrMap if infos.len() == 2 => {
                if axis.is_some() {
                    self.error(
                        Diagnostic::error(
                            e.span,
                            format!("`{name}` of two arguments is elementwise and takes no axis"),
                        )
                        .with_label("remove `axis`"),
                    );
                    return None;
                }
                self.broadcast_all(e, name, args, infos, false)?
            }
            Rule::Reduce | Rule::ReduceOrMap => match axis {
                None => Ty::real(),
                Some(k) => {
                    let k = self.check_axis(e, args[0], a0, k)?;
                    let mut shape = a0.ty.shape.clone();
                    shape.remove(k);
                    elementwise_ty(Elem::Real, shape, &[])
                }
            },
            Rule::Dot => {
                let b = &infos[1];
                if a0.ty.rank() != 1 || a0.ty.shape != b.ty.shape {
                    self.error(
                        Diagnostic::error(e.span, "`dot` needs two vectors of the same length")
                            .with_label(format!("{} and {}", a0.ty, b.ty)),
                    );
                    return None;
                }
                Ty::real()
            }
            Rule::Scan | Rule::Diff => {
                if a0.ty.rank() == 0 {
                    self.error(
                        Diagnostic::error(
                            args[0].span,
                            format!("`{name}` needs a vector or array"),
                        )
                        .with_label(format!("this is {}", a0.ty)),
                    );
                    return None;
                }
                let k = self.check_axis(e, args[0], a0, axis.unwrap_or(a0.ty.rank()))?;
                let mut ty = a0.ty.clone();
                ty.elem = if spec.rule == Rule::Scan {
                    a0.ty.elem
                } else {
                    ty.elem
                };
                if spec.rule == Rule::Diff {
                    ty.shape[k] = ty.shape[k].sub(&Dim::constant(1))?;
                }
                if ty.form == Form::Sparse {
                    ty.form = Form::Matrix;
                }
                ty
            }
            Rule::VectorMap => {
                if a0.ty.rank() != 1 {
                    self.error(
                        Diagnostic::error(args[0].span, format!("`{name}` needs a vector"))
                            .with_label(format!("this is {}", a0.ty)),
                    );
                    return None;
                }
                Ty::vector(a0.ty.shape[0].clone())
            }
            Rule::Flatten => {
                let n = Dim::product(&a0.ty.shape)?;
                Ty::of_shape(a0.ty.elem, vec![n])
            }
            Rule::ToMatrix => {
                let (r, c) = (self.dim_of(args[1])?, self.dim_of(args[2])?);
                let n = Dim::product(&a0.ty.shape)?;
                if r.mul(&c)? != n {
                    self.error(
                        Diagnostic::error(e.span, "`to_matrix` must keep the number of elements")
                            .with_label(format!("{n} elements into {r} x {c}")),
                    );
                    return None;
                }
                Ty::matrix(r, c)
            }
            Rule::Rep => {
                if !a0.ty.is_scalar() {
                    self.error(
                        Diagnostic::error(args[0].span, "`rep` repeats a single number")
                            .with_label(format!("this is {}", a0.ty)),
                    );
                    return None;
                }
                let dims: Vec<Option<Dim>> = args[1..].iter().map(|a| self.dim_of(a)).collect();
                let dims: Vec<Dim> = dims.into_iter().collect::<Option<_>>()?;
                Ty::of_shape(a0.ty.elem, dims)
            }
            Rule::Linspace => {
                for (i, info) in infos[..2].iter().enumerate() {
                    if !info.ty.is_scalar() {
                        self.error(
                            Diagnostic::error(args[i].span, "`linspace` ends must be numbers")
                                .with_label(format!("this is {}", info.ty)),
                        );
                        return None;
                    }
                }
                Ty::vector(self.dim_of(args[2])?)
            }
            Rule::Size => {
                return Some(Info {
                    ty: Ty::int(),
                    dep: Dep::Data,
                })
            }
            Rule::DiagMatrix => {
                if a0.ty.rank() != 1 {
                    self.error(
                        Diagnostic::error(args[0].span, "`diag_matrix` needs a vector")
                            .with_label(format!("this is {}", a0.ty)),
                    );
                    return None;
                }
                Ty::matrix(a0.ty.shape[0].clone(), a0.ty.shape[0].clone())
            }
            Rule::Diagonal => {
                if a0.ty.rank() != 2 || a0.ty.shape[0] != a0.ty.shape[1] {
                    self.error(
                        Diagnostic::error(args[0].span, "`diagonal` needs a square matrix")
                            .with_label(format!("this is {}", a0.ty)),
                    );
                    return None;
                }
                Ty::vector(a0.ty.shape[0].clone())
            }
            Rule::Solve => {
                let b = &infos[1];
                let square = a0.ty.rank() == 2 && a0.ty.shape[0] == a0.ty.shape[1];
                if !square {
                    self.error(
                        Diagnostic::error(args[0].span, "`solve(A, b)` needs a square matrix A")
                            .with_label(format!("this is {}", a0.ty)),
                    );
                    return None;
                }
                if !(1..=2).contains(&b.ty.rank()) || b.ty.shape[0] != a0.ty.shape[0] {
                    self.error(
                        Diagnostic::error(
                            args[1].span,
                            "`solve(A, b)` needs b with as many rows as A",
                        )
                        .with_label(format!("this is {}", b.ty))
                        .with_secondary(args[0].span, format!("A is {}", a0.ty)),
                    );
                    return None;
                }
                real(b.ty.shape.clone())
            }
            Rule::SolveOde => unreachable!("handled by solve_ode"),
            Rule::Sparse | Rule::Interp | Rule::Grad | Rule::Laplacian | Rule::Convolve => {
                self.operator(e, spec, args, infos, axis)?
            }
        };
        Some(Info { ty, dep })
    }

    fn broadcast_all(
        &mut self,
        e: &Expr,
        name: &str,
        args: &[&Expr],
        infos: &[Info],
        select: bool,
    ) -> Option<Ty> {
        let mut shape: Vec<Dim> = vec![];
        for (i, info) in infos.iter().enumerate() {
            match broadcast(&shape, &info.ty.shape) {
                Some(s) => shape = s,
                None => {
                    self.error(
                        Diagnostic::error(
                            args[i].span,
                            format!("the arguments of `{name}` do not match in shape"),
                        )
                        .with_label(format!("this is {}", info.ty))
                        .with_secondary(
                            e.span,
                            format!("the others broadcast to {}", show_shape(&shape)),
                        ),
                    );
                    return None;
                }
            }
        }
        let values = if select { &infos[1..] } else { infos };
        let elem = if select && values.iter().all(|i| i.ty.elem == Elem::Int) {
            Elem::Int
        } else {
            Elem::Real
        };
        let tys: Vec<&Ty> = infos.iter().map(|i| &i.ty).collect();
        Some(elementwise_ty(elem, shape, &tys))
    }

    /// A 1-based axis checked against the argument's rank; returns it 0-based.
    pub(super) fn check_axis(
        &mut self,
        e: &Expr,
        arg: &Expr,
        info: &Info,
        k: usize,
    ) -> Option<usize> {
        if k == 0 || k > info.ty.rank() {
            self.error(
                Diagnostic::error(e.span, format!("axis {k} does not exist"))
                    .with_label(format!(
                        "the argument has {} ax{}",
                        info.ty.rank(),
                        if info.ty.rank() == 1 { "is" } else { "es" }
                    ))
                    .with_secondary(arg.span, format!("{}", info.ty)),
            );
            return None;
        }
        Some(k - 1)
    }

    /// A call of a user `fn`: the body is checked with the argument types (once per distinct types).
    fn call_fn(&mut self, e: &Expr, i: usize, args: &[Arg]) -> Option<Info> {
        let def = self.fns[i];
        let mut bound: Vec<Option<&Expr>> = vec![None; def.params.len()];
        let mut positional = 0;
        for a in args {
            let slot = match &a.name {
                None => {
                    positional += 1;
                    positional - 1
                }
                Some(n) => match def.params.iter().position(|p| p.name == n.name) {
                    Some(k) => k,
                    None => {
                        self.error(
                            Diagnostic::error(
                                n.span,
                                format!("`{}` has no parameter `{}`", def.name.name, n.name),
                            )
                            .with_label("unknown parameter")
                            .with_secondary(
                                def.name.span,
                                format!("`{}` is defined here", def.name.name),
                            ),
                        );
                        return None;
                    }
                },
            };
            if slot >= def.params.len() || bound[slot].is_some() {
                let msg = if slot >= def.params.len() {
                    format!(
                        "`{}` takes {} argument{}, but {} were given",
                        def.name.name,
                        def.params.len(),
                        if def.params.len() == 1 { "" } else { "s" },
                        args.len()
                    )
                } else {
                    format!(
                        "parameter `{}` of `{}` is given twice",
                        def.params[slot].name, def.name.name
                    )
                };
                self.error(
                    Diagnostic::error(a.value.span, msg)
                        .with_label("extra argument")
                        .with_secondary(
                            def.name.span,
                            format!("`{}` is defined here", def.name.name),
                        ),
                );
                return None;
            }
            bound[slot] = Some(&a.value);
        }
        if let Some(k) = bound.iter().position(|b| b.is_none()) {
            self.error(
                Diagnostic::error(
                    e.span,
                    format!(
                        "missing argument `{}` of `{}`",
                        def.params[k].name, def.name.name
                    ),
                )
                .with_label(format!(
                    "`{}` takes {} argument{}",
                    def.name.name,
                    def.params.len(),
                    if def.params.len() == 1 { "" } else { "s" }
                ))
                .with_secondary(def.name.span, "defined here"),
            );
            return None;
        }
        let infos: Vec<Option<Info>> = bound
            .iter()
            .map(|b| self.expr(b.expect("all bound")))
            .collect();
        let infos: Vec<Info> = infos.into_iter().collect::<Option<_>>()?;
        if let Some(start) = self.context.iter().position(|c| *c == Context::FnBody(i)) {
            let mut chain: Vec<&str> = self.context[start..]
                .iter()
                .filter_map(|c| match c {
                    Context::FnBody(k) => Some(self.fns[*k].name.name.as_str()),
                    _ => None,
                })
                .collect();
            chain.push(&def.name.name);
            let label = if chain.len() == 2 {
                "recursive call".to_string()
            } else {
                format!("a cycle: {}", chain.join(" -> "))
            };
            self.error(
                Diagnostic::error(e.span, format!("`{}` calls itself", def.name.name))
                    .with_label(label)
                    .with_note(
                        "functions are expanded where they are called, so they cannot recurse",
                    ),
            );
            return None;
        }
        let key = (i, infos.clone());
        if let Some(r) = self.fn_cache.get(&key) {
            return r.clone();
        }
        let r = self.instantiate(i, e, &infos);
        self.fn_cache.insert(key, r.clone());
        r
    }

    fn instantiate(&mut self, i: usize, call: &Expr, infos: &[Info]) -> Option<Info> {
        let def = self.fns[i];
        self.push_frame(true);
        for (p, info) in def.params.iter().zip(infos) {
            self.bind_local(p, info.clone());
        }
        self.context.push(Context::FnBody(i));
        self.call_sites.push(call.span);
        let r = self.expr(&def.body);
        self.call_sites.pop();
        self.context.pop();
        self.pop_frame();
        r
    }

    /// Checks a `fn` definition on its own (its body's types are checked at each call): parameter names
    /// are unique, and every name in the body is a parameter, a comprehension variable or data.
    pub(super) fn check_fn_def(&mut self, i: usize) {
        let def = self.fns[i];
        let mut bound: Vec<&str> = def.params.iter().map(|p| p.name.as_str()).collect();
        def.body.walk(&mut |e| {
            if let ExprKind::Comprehension { generators, .. } = &e.kind {
                bound.extend(generators.iter().map(|g| g.var.name.as_str()));
            }
        });
        for (n, span) in def.body.names() {
            if bound.contains(&n) {
                continue;
            }
            match self.globals.get(n).copied() {
                Some(Global::Data(_)) => {}
                Some(g @ (Global::Latent(_) | Global::Law(_))) => self.error(
                    Diagnostic::error(
                        span,
                        format!("a `fn` body cannot use `{n}`, which is {}", g.describe()),
                    )
                    .with_label("not visible here")
                    .with_help("pass it to the function as an argument"),
                ),
                Some(_) => {} // reported as "not a value" when the body is checked at a call
                None if functions::lookup(n).is_some() => {}
                None => {
                    self.context.push(Context::FnBody(i));
                    self.push_frame(true);
                    for p in &bound {
                        let id = Ident {
                            name: p.to_string(),
                            span,
                        };
                        self.bind_local(
                            &id,
                            Info {
                                ty: Ty::real(),
                                dep: Dep::Data,
                            },
                        );
                    }
                    self.unknown_name(n, span, "name");
                    self.pop_frame();
                    self.context.pop();
                }
            }
        }
        for (k, p) in def.params.iter().enumerate() {
            if let Some(prev) = def.params[..k].iter().find(|q| q.name == p.name) {
                let d = Diagnostic::error(p.span, format!("parameter `{}` is repeated", p.name))
                    .with_label("again here")
                    .with_secondary(prev.span, "first here");
                self.error(d);
            }
        }
    }

    /// `solve_ode(system, init, t0, times, params..., rtol = , atol = , max_steps = )`
    fn solve_ode(&mut self, e: &Expr, func: &Ident, spec: &FnSpec, args: &[Arg]) -> Option<Info> {
        let (positional, options) = self.split_args(func, spec, args)?;
        let sys = positional[0];
        let ode_index = match &sys.kind {
            ExprKind::Name(n) => match self.globals.get(n) {
                Some(Global::Ode(k)) => Some(*k),
                _ => None,
            },
            _ => None,
        };
        let Some(k) = ode_index else {
            self.error(
                Diagnostic::error(
                    sys.span,
                    format!(
                        "the first argument of `{}` must name an `ode` system",
                        spec.name
                    ),
                )
                .with_label("not an ode system")
                .with_help("declare one with `ode name(t; states; parameters) { dX/dt = ... }`"),
            );
            return None;
        };
        let ode = self.odes[k];
        let want = 3 + ode.params.len();
        if positional.len() - 1 != want {
            self.error(
                Diagnostic::error(
                    e.span,
                    format!(
                        "`{}` of `{}` takes {} arguments after the system, but {} were given",
                        spec.name,
                        ode.name.name,
                        want,
                        positional.len() - 1
                    ),
                )
                .with_label("wrong number of arguments")
                .with_secondary(
                    ode.name.span,
                    format!(
                        "init, t0, times, then the {} parameter{} of `{}`",
                        ode.params.len(),
                        if ode.params.len() == 1 { "" } else { "s" },
                        ode.name.name
                    ),
                ),
            );
            return None;
        }
        let infos: Vec<Option<Info>> = positional[1..].iter().map(|a| self.expr(a)).collect();
        let infos: Vec<Info> = infos.into_iter().collect::<Option<_>>()?;
        for (n, v) in &options {
            let info = self.expr(v)?;
            if !info.ty.is_scalar() || info.dep != Dep::Data {
                self.error(
                    Diagnostic::error(
                        v.span,
                        format!("`{}` must be a number known from data", n.name),
                    )
                    .with_label(format!(
                        "this is {} ({})",
                        info.ty,
                        dep_word(info.dep)
                    )),
                );
                return None;
            }
        }
        let (init, t0, times) = (&infos[0], &infos[1], &infos[2]);
        let n_states = ode.states.len() as i64;
        if init.ty.rank() != 1 || init.ty.shape[0].as_constant() != Some(n_states) {
            self.error(
                Diagnostic::error(
                    positional[1].span,
                    format!(
                        "the initial state of `{}` needs {} value{}",
                        ode.name.name,
                        n_states,
                        if n_states == 1 { "" } else { "s" }
                    ),
                )
                .with_label(format!("this is {}", init.ty))
                .with_secondary(
                    ode.name.span,
                    format!(
                        "states: {}",
                        ode.states
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            );
            return None;
        }
        if !t0.ty.is_scalar() {
            self.error(
                Diagnostic::error(positional[2].span, "the initial time must be a number")
                    .with_label(format!("this is {}", t0.ty)),
            );
            return None;
        }
        if times.ty.rank() != 1 || times.dep != Dep::Data {
            self.error(
                Diagnostic::error(
                    positional[3].span,
                    "the output times must be a vector known from data",
                )
                .with_label(format!(
                    "this is {} ({})",
                    times.ty,
                    dep_word(times.dep)
                )),
            );
            return None;
        }
        for (j, p) in infos[3..].iter().enumerate() {
            if !p.ty.is_scalar() {
                self.error(
                    Diagnostic::error(
                        positional[4 + j].span,
                        format!(
                            "parameter `{}` of `{}` must be a number",
                            ode.params[j].name, ode.name.name
                        ),
                    )
                    .with_label(format!("this is {}", p.ty)),
                );
                return None;
            }
        }
        let dep = infos.iter().map(|i| i.dep).max().unwrap_or(Dep::Data);
        Some(Info {
            ty: Ty::matrix(times.ty.shape[0].clone(), Dim::constant(n_states)),
            dep,
        })
    }

    /// Checks an `ode` declaration: one equation per state, named `dX/dt` with the system's time, and
    /// scalar right-hand sides using only the system's own names, data and functions.
    pub(super) fn check_ode(&mut self, k: usize) {
        let ode = self.odes[k];
        let mut names: Vec<&Ident> = vec![&ode.time];
        names.extend(ode.states.iter());
        names.extend(ode.params.iter());
        for (j, n) in names.iter().enumerate() {
            if let Some(prev) = names[..j].iter().find(|m| m.name == n.name) {
                let d = Diagnostic::error(
                    n.span,
                    format!(
                        "`{}` appears twice in the signature of `{}`",
                        n.name, ode.name.name
                    ),
                )
                .with_label("again here")
                .with_secondary(prev.span, "first here");
                self.error(d);
                return;
            }
        }
        let mut seen: Vec<&Ident> = vec![];
        for eq in &ode.equations {
            if eq.time.name != ode.time.name {
                self.error(
                    Diagnostic::error(
                        eq.time.span,
                        format!(
                            "`{}` is not the time variable of `{}`",
                            eq.time.name, ode.name.name
                        ),
                    )
                    .with_label(format!("write d{}/d{}", eq.state.name, ode.time.name))
                    .with_secondary(ode.time.span, "the time variable"),
                );
            }
            if !ode.states.iter().any(|s| s.name == eq.state.name) {
                let mut d = Diagnostic::error(
                    eq.state.span,
                    format!("`{}` is not a state of `{}`", eq.state.name, ode.name.name),
                )
                .with_label("unknown state")
                .with_note(format!(
                    "the states are: {}",
                    ode.states
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                if let Some(h) =
                    did_you_mean(&eq.state.name, ode.states.iter().map(|s| s.name.as_str()))
                {
                    d = d.with_help(h);
                }
                self.error(d);
            } else if let Some(prev) = seen.iter().find(|s| s.name == eq.state.name) {
                let d = Diagnostic::error(
                    eq.state.span,
                    format!("two equations for `{}`", eq.state.name),
                )
                .with_label("again here")
                .with_secondary(prev.span, "first here");
                self.error(d);
            } else {
                seen.push(&eq.state);
            }
        }
        for s in &ode.states {
            if !seen.iter().any(|q| q.name == s.name)
                && ode.equations.iter().all(|eq| eq.state.name != s.name)
            {
                self.error(
                    Diagnostic::error(
                        s.span,
                        format!("state `{}` of `{}` has no equation", s.name, ode.name.name),
                    )
                    .with_label(format!("add `d{}/d{} = ...`", s.name, ode.time.name))
                    .with_secondary(ode.name.span, "in this system"),
                );
            }
        }
        let scalar = Info {
            ty: Ty::real(),
            dep: Dep::Latent,
        };
        self.push_frame(true);
        for n in &names {
            self.bind_local(n, scalar.clone());
        }
        self.context.push(Context::OdeBody(k));
        for eq in &ode.equations {
            if let Some(info) = self.expr(&eq.rhs) {
                if !info.ty.is_scalar() {
                    self.error(
                        Diagnostic::error(
                            eq.rhs.span,
                            format!("the rate of `{}` must be a single number", eq.state.name),
                        )
                        .with_label(format!("this is {}", info.ty)),
                    );
                }
            }
        }
        self.context.pop();
        self.pop_frame();
    }
}
