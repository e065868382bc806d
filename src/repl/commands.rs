//! The REPL's `:` commands: the table `:help` prints, and what each one does. Model text typed at the
//! prompt is handled in `edit.rs`, expressions in `eval_expr.rs`.

use super::edit::{self, Typed};
use super::session::{preview, say, Mode, Run, Session};
use crate::infer::lbfgs::{maximise, LbfgsSettings, MapError};
use crate::infer::sample::{
    chain_rng, column_names, initial_point, sample, SampleSettings, SAMPLER_COLUMNS,
};
use crate::plot::inputs::{compute_report, AnyReport, Draws, Inputs, Output, Request};
use crate::plot::labels::{base_name, Labels};
use std::io::Write;
use std::path::Path;

/// Every command: name, arguments, one line of help.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (":help", "[COMMAND]", "this list, or one command's usage"),
    (
        ":load",
        "FILE",
        "load a model (and MODEL.data.json beside it, if there is one)",
    ),
    (
        ":data",
        "FILE",
        "load a data file (Stan JSON) for the current model",
    ),
    (":show", "", "print the current model as source"),
    (
        ":check",
        "",
        "check the model: errors, warnings, what it declares, whether it compiles",
    ),
    (
        ":graph",
        "[--stage lowered|optimised]",
        "print the compiled graph, one node per line",
    ),
    (":map", "", "find the posterior mode (L-BFGS) and print it"),
    (
        ":sample",
        "[DRAWS] [CHAINS]",
        "sample the posterior with NUTS (other settings from :set)",
    ),
    (
        ":summary",
        "[NAME...]",
        "the last run's summary, for all or some quantities",
    ),
    (
        ":report",
        "",
        "what each modality contributes (from the draws if any, else Laplace fits)",
    ),
    (
        ":evidence",
        "[laplace|bridge]",
        "the model's log marginal likelihood on the session's data (bridge sampling by default)",
    ),
    (
        ":compare",
        "FILE... [laplace|bridge]",
        "compare the model with model files on the session's data: evidences, Bayes factors, per modality",
    ),
    (
        ":simulate",
        "[--params TRUTH.json] [--output FILE] [--use]",
        "simulate data from the model; --use makes them the session's data",
    ),
    (
        ":modality",
        "NAME off|on|weight W",
        "switch a modality off or on, or give it a weight, without editing the model",
    ),
    (
        ":combine",
        "[RULE]",
        "show or replace the model's combine declaration",
    ),
    (
        ":set",
        "[seed|chains|warmup|draws|adapt_delta VALUE]",
        "show or change a sampler setting",
    ),
    (
        ":eval",
        "EXPR",
        "an expression of the model's language at the mode and over the draws",
    ),
    (
        ":plot",
        "KIND [NAME...] [--slice AXIS=INDEX] [FILE.png|FILE.svg]",
        "trace, density, field, contributions or compare; text in the terminal without a file",
    ),
    (
        ":remove",
        "NAME",
        "remove a declaration, law, fn, ode or modality (and the priors on it), or `combine`",
    ),
    (
        ":save",
        "DIR",
        "write the model, its data, the draws, the summary and the mode into DIR",
    ),
    (":quit", "", "leave the session (also Ctrl-D)"),
];

impl Session {
    /// Handles one complete input (a command, or model text, perhaps of several lines).
    pub fn handle(&mut self, input: &str) {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') && !trimmed.contains('\n') {
            return;
        }
        if trimmed.starts_with(':') {
            self.command(trimmed);
        } else {
            match edit::apply(&self.source, input) {
                Typed::Edit(source, changes) => {
                    if changes.is_empty() {
                        return;
                    }
                    self.set_source(source, &changes);
                }
                Typed::Expression(e) => self.eval(&e),
                Typed::Error { diagnostic, text } => {
                    let rendered =
                        crate::diagnostic::render_all(&[diagnostic], "<input>", &text, self.color);
                    let _ = write!(self.out, "{rendered}");
                }
            }
        }
        let _ = self.out.flush();
    }

    fn command(&mut self, line: &str) {
        let (name, rest) = match line.find(char::is_whitespace) {
            Some(i) => (&line[..i], line[i..].trim()),
            None => (line, ""),
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        match name {
            ":help" | ":h" | ":?" => self.help(words.first().copied()),
            ":load" | ":l" => match words.as_slice() {
                [file] => self.load_model(Path::new(file)),
                _ => self.usage(":load"),
            },
            ":data" => match words.as_slice() {
                [file] => self.load_data(Path::new(file)),
                _ => self.usage(":data"),
            },
            ":show" => self.show(),
            ":check" => self.check(),
            ":graph" => self.graph(&words),
            ":map" => self.map(),
            ":sample" => self.sample(&words),
            ":summary" => self.summary(&words),
            ":report" => self.report(),
            ":simulate" => self.simulate(&words),
            ":evidence" => self.evidence(&words),
            ":compare" => self.compare(&words),
            ":modality" => self.modality(&words),
            ":combine" => self.combine(rest),
            ":set" => self.set(&words),
            ":eval" | ":e" => {
                if rest.is_empty() {
                    self.usage(":eval");
                } else {
                    self.eval(rest);
                }
            }
            ":plot" => self.plot(&words),
            ":remove" | ":rm" => match words.as_slice() {
                [name] => match edit::remove(&self.source, name) {
                    Ok((source, what)) => {
                        self.set_source(source, &[what]);
                    }
                    Err(e) => say!(self.out, "error: {e}"),
                },
                _ => self.usage(":remove"),
            },
            ":save" => match words.as_slice() {
                [dir] => self.save(Path::new(dir)),
                _ => self.usage(":save"),
            },
            ":quit" | ":q" | ":exit" => self.quit = true,
            other => {
                let names = COMMANDS.iter().map(|(n, _, _)| *n);
                let hint = crate::diagnostic::did_you_mean(other, names)
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                say!(
                    self.out,
                    "error: unknown command `{other}`{hint}; `:help` lists them"
                );
            }
        }
    }

    pub(crate) fn usage(&mut self, name: &str) {
        if let Some((n, args, help)) = COMMANDS.iter().find(|(n, _, _)| *n == name) {
            say!(self.out, "usage: {n} {args}\n  {help}");
        }
    }

    fn help(&mut self, which: Option<&str>) {
        if let Some(w) = which {
            let w = if w.starts_with(':') {
                w.to_string()
            } else {
                format!(":{w}")
            };
            if COMMANDS.iter().any(|(n, _, _)| *n == w) {
                self.usage(&w);
                if w == ":plot" {
                    for (k, _, h) in crate::plot::inputs::Kind::ALL {
                        say!(self.out, "  {k:14} {h}");
                    }
                }
            } else {
                say!(self.out, "error: no command `{w}`; `:help` lists them");
            }
            return;
        }
        for (n, args, help) in COMMANDS {
            let head = if args.is_empty() {
                n.to_string()
            } else {
                format!("{n} {args}")
            };
            if head.len() > 30 {
                say!(self.out, "{head}\n{:30} {help}", "");
            } else {
                say!(self.out, "{head:30} {help}");
            }
        }
        say!(
            self.out,
            "\nAnything else is model text: a declaration (`sigma: real > 0 ~ half_normal(1)`, `data n: int`),\n\
             a `law`, `fn`, `ode` or `modality` block, a prior (`mu ~ normal(0, 1)`) or `combine ...` adds\n\
             itself to the model or replaces what defined the same name; an expression is evaluated."
        );
    }

    fn show(&mut self) {
        if self.source.trim().is_empty() {
            say!(
                self.out,
                "(the model is empty: type declarations, or `:load FILE`)"
            );
        } else {
            let text = self.source.clone();
            let _ = write!(self.out, "{text}");
            if !text.ends_with('\n') {
                say!(self.out);
            }
        }
    }

    fn check(&mut self) {
        let out = crate::check_source(&self.source);
        let source = self.source.clone();
        self.render(&out.diagnostics, &source);
        let warnings = out.diagnostics.iter().filter(|d| !d.is_error()).count();
        say!(
            self.out,
            "{}: ok ({}){}",
            self.file_name(),
            self.counts(),
            match warnings {
                0 => String::new(),
                1 => ", 1 warning".into(),
                n => format!(", {n} warnings"),
            }
        );
        match (&self.compiled, &self.data) {
            (Some(c), Some(d)) => say!(
                self.out,
                "compiled with the data from {} ({} unconstrained coordinates)",
                d.name,
                c.dim()
            ),
            (Some(c), None) => say!(self.out, "compiled ({} unconstrained coordinates)", c.dim()),
            (None, _) => say!(
                self.out,
                "not compiled: {}",
                self.not_compiled.clone().unwrap_or_default()
            ),
        }
    }

    fn graph(&mut self, words: &[&str]) {
        let stage = match words {
            [] | ["--stage", "optimised"] | ["--stage=optimised"] => "optimised",
            ["--stage", "lowered"] | ["--stage=lowered"] => "lowered",
            _ => return self.usage(":graph"),
        };
        if !self.need_compiled() {
            return;
        }
        if stage == "optimised" {
            let text = crate::ir::print::print(&self.compiled.as_ref().expect("checked").graph);
            let _ = write!(self.out, "{text}");
            return;
        }
        // The lowered graph: compile again without the passes.
        let json = self
            .data
            .as_ref()
            .map_or("{}".to_string(), |d| d.text.clone());
        let model = self.checked.as_ref().expect("a compiled model checked");
        let Ok((set, _)) = crate::data::load(model, &json, "data") else {
            return;
        };
        match crate::compile(model, &set, &crate::passes::Settings::none()) {
            Ok(c) => {
                let text = crate::ir::print::print(&c.graph);
                let _ = write!(self.out, "{text}");
            }
            Err(d) => {
                let source = self.source.clone();
                self.render(&d, &source);
            }
        }
    }

    /// Whether there is a compiled model with something to estimate (else says why not).
    pub(crate) fn need_latents(&mut self) -> bool {
        if !self.need_compiled() {
            return false;
        }
        if self.compiled.as_ref().is_some_and(|c| c.dim() == 0) {
            say!(
                self.out,
                "error: the model has no latents: there is nothing to estimate"
            );
            return false;
        }
        true
    }

    fn map(&mut self) {
        if !self.need_latents() {
            return;
        }
        let compiled = self.compiled.as_ref().expect("checked");
        let mut ev = compiled.evaluator();
        ev.set_jacobian(false);
        let mut rng = chain_rng(self.settings.seed, 0);
        let Some(x0) = initial_point(&mut ev, &mut rng, 2.0) else {
            say!(
                self.out,
                "error: no initial point with a finite log density and gradient after 100 tries"
            );
            return;
        };
        let (result, converged) = match maximise(&mut ev, &x0, &LbfgsSettings::default()) {
            Ok(r) => (r, true),
            Err(MapError::MaxIterations(best)) | Err(MapError::LineSearchFailed(best)) => {
                (*best, false)
            }
            Err(e) => {
                say!(self.out, "error: {e}");
                return;
            }
        };
        let outputs = match ev.constrain(&result.x) {
            Ok(o) => o,
            Err(e) => {
                say!(self.out, "error: {e}");
                return;
            }
        };
        let mut names = vec![];
        let mut values = vec![];
        for o in &outputs {
            names.extend(crate::eval::model::element_names(&o.name, &o.shape));
            values.extend(o.values.iter().copied());
        }
        let width = names.iter().map(|n| n.len()).max().unwrap_or(4).max(4);
        say!(
            self.out,
            "posterior mode ({} iterations){}",
            result.iterations,
            if converged {
                ""
            } else {
                " -- NOT CONVERGED, best point so far"
            }
        );
        say!(self.out, "{:width$} {:>12.6}", "lp__", result.log_density);
        for (n, v) in names.iter().zip(&values) {
            say!(self.out, "{n:width$} {v:>12.6}");
        }
        self.mode = Some(Mode {
            x: result.x.clone(),
            names,
            values,
            log_density: result.log_density,
        });
    }

    fn sample(&mut self, words: &[&str]) {
        let mut settings = SampleSettings {
            chains: self.settings.chains,
            warmup: self.settings.warmup,
            draws: self.settings.draws,
            seed: self.settings.seed,
            adapt_delta: self.settings.adapt_delta,
            ..Default::default()
        };
        let count = |w: &str| w.parse::<usize>().ok().filter(|n| *n > 0);
        match words {
            [] => {}
            [d] | [d, _] if count(d).is_none() => return self.usage(":sample"),
            [_, c] if count(c).is_none() => return self.usage(":sample"),
            [d] => settings.draws = count(d).expect("checked"),
            [d, c] => {
                settings.draws = count(d).expect("checked");
                settings.chains = count(c).expect("checked");
            }
            _ => return self.usage(":sample"),
        }
        if !self.need_latents() {
            return;
        }
        let compiled = self.compiled.as_ref().expect("checked");
        say!(
            self.out,
            "sampling: {} chains, {} warm-up + {} draws each, seed {}",
            settings.chains,
            settings.warmup,
            settings.draws,
            settings.seed
        );
        let _ = self.out.flush();
        self.stop.store(false, std::sync::atomic::Ordering::SeqCst);
        self.busy.store(true, std::sync::atomic::Ordering::SeqCst);
        let bars = crate::report::progress::chain_bars(&settings, self.progress);
        let progress = |chain: usize, it: usize| {
            if let Some(b) = bars.get(chain) {
                b.set_position(it as u64);
            }
        };
        let result = sample(compiled, &settings, &self.stop, &progress);
        self.busy.store(false, std::sync::atomic::Ordering::SeqCst);
        for b in &bars {
            b.finish_and_clear();
        }
        let chains = match result {
            Ok(c) => c,
            Err(e) => {
                say!(self.out, "error: {e}");
                return;
            }
        };
        let columns = column_names(compiled);
        let summary = crate::report::summary::summarise_run(&columns, &chains, &settings);
        let table = summary.table();
        let _ = write!(self.out, "{table}");
        let first = SAMPLER_COLUMNS.len();
        let draws = Draws {
            names: columns[first..].to_vec(),
            chains: chains
                .iter()
                .map(|c| c.rows.iter().map(|r| r[first..].to_vec()).collect())
                .collect(),
        };
        self.report = None;
        self.run = Some(Run {
            chains,
            settings,
            summary,
            draws,
        });
    }

    fn summary(&mut self, words: &[&str]) {
        let Some(run) = &self.run else {
            say!(self.out, "error: no draws yet: `:sample` first");
            return;
        };
        let s = &run.summary;
        let rows: Vec<_> = s
            .rows
            .iter()
            .filter(|(n, _)| words.is_empty() || words.iter().any(|w| n == w || base_name(n) == *w))
            .cloned()
            .collect();
        if rows.is_empty() {
            let names: Vec<&str> = s.rows.iter().map(|(n, _)| base_name(n)).collect();
            let hint = words
                .first()
                .and_then(|w| crate::diagnostic::did_you_mean(w, names))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            say!(
                self.out,
                "error: no quantity named {}{hint}",
                words.join(", ")
            );
            return;
        }
        let filtered = crate::report::summary::RunSummary {
            rows,
            divergences: s.divergences,
            max_depth_hits: s.max_depth_hits,
            transitions: s.transitions,
            e_bfmi: s.e_bfmi.clone(),
            interrupted: s.interrupted,
            warnings: if words.is_empty() {
                s.warnings.clone()
            } else {
                vec![]
            },
        };
        let text = filtered.table();
        let _ = write!(self.out, "{text}");
    }

    pub(crate) fn labels(&self) -> Labels {
        match &self.checked {
            Some(m) => Labels::new(&self.source, &m.program),
            None => Labels::default(),
        }
    }

    pub(crate) fn model_name(&self) -> String {
        self.model_path
            .as_ref()
            .and_then(|p| p.file_stem())
            .and_then(|s| s.to_str())
            .unwrap_or("the model")
            .to_string()
    }

    fn report(&mut self) {
        if !self.need_compiled() {
            return;
        }
        let labels = self.labels();
        let name = self.model_name();
        let inputs = Inputs {
            model: self.compiled.as_ref().expect("checked"),
            labels: &labels,
            model_name: &name,
            draws: self.run.as_ref().map(|r| &r.draws),
            mode: None,
            report: None,
            seed: self.settings.seed,
        };
        match compute_report(&inputs) {
            Ok(r) => {
                let table = match &r {
                    AnyReport::Laplace(l) => {
                        format!("per-modality report (Laplace fits)\n\n{}", l.table())
                    }
                    AnyReport::Draws(d) => format!("per-modality report\n\n{}", d.table()),
                };
                let _ = write!(self.out, "{table}");
                self.report = Some(r);
            }
            Err(e) => say!(self.out, "error: {e}"),
        }
    }

    fn simulate(&mut self, words: &[&str]) {
        let (mut params, mut output, mut use_it) = (None, None, false);
        let mut it = words.iter();
        while let Some(w) = it.next() {
            match *w {
                "--params" => params = it.next().copied(),
                "--output" => output = it.next().copied(),
                "--use" => use_it = true,
                _ => return self.usage(":simulate"),
            }
        }
        let Some(model) = &self.checked else { return };
        if model
            .program
            .items
            .iter()
            .all(|i| !matches!(i, crate::syntax::ast::Item::Modality(_)))
        {
            say!(
                self.out,
                "error: the model has no modality: there are no data to simulate"
            );
            return;
        }
        let params_text = match params {
            Some(p) => match self.read(Path::new(p)) {
                Some(t) => Some(t),
                None => return,
            },
            None => None,
        };
        let (json, file) = match &self.data {
            Some(d) => (d.text.clone(), d.name.clone()),
            None => ("{}".to_string(), "(no data)".to_string()),
        };
        let model = self.checked.as_ref().expect("checked above");
        let sim = crate::infer::simulate::simulate(
            model,
            &json,
            &file,
            params_text.as_deref(),
            self.settings.seed,
        );
        let sim = match sim {
            Ok(s) => s,
            Err(crate::infer::simulate::SimError::Diagnostics(d)) => {
                let source = self.source.clone();
                self.render(&d, &source);
                return;
            }
            Err(crate::infer::simulate::SimError::Message(m)) => {
                say!(self.out, "error: {m}");
                return;
            }
        };
        for n in &sim.notes {
            say!(self.out, "note: {n}");
        }
        say!(
            self.out,
            "simulated with seed {} from {}:",
            self.settings.seed,
            if params.is_some() {
                "the given latents"
            } else {
                "latents drawn from the prior"
            }
        );
        for o in &sim.truth {
            say!(self.out, "  {} = {}", o.name, values_preview(&o.values));
        }
        let observed = observed_names(model);
        for (name, v) in sim.data.iter().filter(|(n, _)| observed.contains(n)) {
            say!(self.out, "  data {name} = {}", values_preview(&v.values));
        }
        let json = sim.data_json();
        if let Some(path) = output {
            if let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                let _ = std::fs::create_dir_all(dir);
            }
            match crate::report::csv::write_atomic(Path::new(path), &json) {
                Ok(()) => say!(self.out, "wrote {path}"),
                Err(e) => say!(self.out, "error: cannot write {path}: {e}"),
            }
        }
        if use_it {
            say!(
                self.out,
                "the session now uses the simulated data (`:data FILE` goes back)"
            );
            let name = output.map_or("(simulated)".to_string(), str::to_string);
            self.use_data(name, json);
        }
    }

    fn modality(&mut self, words: &[&str]) {
        let (name, weight) = match words {
            [name, "off"] => (*name, Some(0.0)),
            [name, "on"] => (*name, None),
            [name, "weight", w] => match w.parse::<f64>() {
                Ok(w) if w.is_finite() && w >= 0.0 => (*name, Some(w)),
                _ => {
                    say!(self.out, "error: a weight is a number >= 0 (0 switches the modality off, 1 is the plain product)");
                    return;
                }
            },
            [] => {
                // The modalities and their weights now.
                let Some(c) = &self.compiled else {
                    return self.usage(":modality");
                };
                let lines: Vec<String> = c
                    .graph
                    .modalities
                    .iter()
                    .map(|m| format!("{:12} weight {}", m.name, m.weight))
                    .collect();
                for l in lines {
                    say!(self.out, "{l}");
                }
                return;
            }
            _ => return self.usage(":modality"),
        };
        let known: Vec<String> = self
            .checked
            .as_ref()
            .map(|m| {
                m.program
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        crate::syntax::ast::Item::Modality(m) => Some(m.name.name.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !known.iter().any(|k| k == name) {
            let hint = crate::diagnostic::did_you_mean(name, known.iter().map(|s| s.as_str()))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            say!(
                self.out,
                "error: no modality `{name}`{hint}; the model has {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
            return;
        }
        self.weights.retain(|(n, _)| n != name);
        match weight {
            Some(w) => {
                self.weights.push((name.to_string(), w));
                say!(
                    self.out,
                    "modality `{name}`: weight {w}{}",
                    if w == 0.0 { " (off)" } else { "" }
                );
            }
            None => say!(self.out, "modality `{name}`: the model's own weight"),
        }
        self.rebuild(false);
    }

    fn combine(&mut self, rule: &str) {
        if rule.is_empty() {
            let current = self.checked.as_ref().and_then(|m| {
                m.program.items.iter().find_map(|i| match i {
                    crate::syntax::ast::Item::Combine(c) => {
                        Some(self.source[c.span.range()].to_string())
                    }
                    _ => None,
                })
            });
            say!(
                self.out,
                "{}",
                current.unwrap_or_else(|| "combine product (the default)".into())
            );
            return;
        }
        match edit::apply(&self.source, &format!("combine {rule}")) {
            Typed::Edit(source, changes) => {
                self.set_source(source, &changes);
            }
            Typed::Error { diagnostic, text } => {
                let rendered =
                    crate::diagnostic::render_all(&[diagnostic], "<input>", &text, self.color);
                let _ = write!(self.out, "{rendered}");
            }
            Typed::Expression(_) => self.usage(":combine"),
        }
    }

    fn set(&mut self, words: &[&str]) {
        let s = &mut self.settings;
        let bad = match words {
            [] => {
                let s = self.settings.clone();
                say!(
                    self.out,
                    "seed {}, chains {}, warmup {}, draws {}, adapt_delta {}",
                    s.seed,
                    s.chains,
                    s.warmup,
                    s.draws,
                    s.adapt_delta
                );
                return;
            }
            ["seed", v] => v.parse().map(|v| s.seed = v).is_err(),
            ["chains", v] => v
                .parse()
                .ok()
                .filter(|v| *v > 0)
                .map(|v| s.chains = v)
                .is_none(),
            ["warmup", v] => v.parse().map(|v| s.warmup = v).is_err(),
            ["draws", v] => v
                .parse()
                .ok()
                .filter(|v| *v > 0)
                .map(|v| s.draws = v)
                .is_none(),
            ["adapt_delta", v] => v
                .parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0 && *v < 1.0)
                .map(|v| s.adapt_delta = v)
                .is_none(),
            _ => return self.usage(":set"),
        };
        if bad {
            say!(
                self.out,
                "error: `{}` needs {}",
                words[0],
                match words[0] {
                    "seed" | "warmup" => "a whole number >= 0",
                    "adapt_delta" => "a number strictly between 0 and 1",
                    _ => "a whole number >= 1",
                }
            );
        } else {
            say!(self.out, "{} = {}", words[0], words[1]);
        }
    }

    fn plot(&mut self, words: &[&str]) {
        let req = match Request::parse(words) {
            Ok(r) => r,
            Err(e) => {
                say!(self.out, "error: {e}");
                return self.usage(":plot");
            }
        };
        if !self.need_compiled() {
            return;
        }
        let labels = self.labels();
        let name = self.model_name();
        let inputs = Inputs {
            model: self.compiled.as_ref().expect("checked"),
            labels: &labels,
            model_name: &name,
            draws: self.run.as_ref().map(|r| &r.draws),
            mode: self.mode.as_ref().map(|m| m.values.as_slice()),
            report: self.report.as_ref(),
            seed: self.settings.seed,
        };
        match crate::plot::inputs::render(&req, &inputs) {
            Ok(Output::Written(p)) => say!(self.out, "wrote {}", p.display()),
            Ok(Output::Text(t)) => {
                let _ = write!(self.out, "{t}");
            }
            Err(e) => say!(self.out, "error: {e}"),
        }
    }

    fn save(&mut self, dir: &Path) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            say!(self.out, "error: cannot create {}: {e}", dir.display());
            return;
        }
        let stem = self
            .model_path
            .as_ref()
            .and_then(|p| p.file_stem())
            .and_then(|s| s.to_str())
            .unwrap_or("model")
            .to_string();
        let mut files: Vec<(String, String)> = vec![(format!("{stem}.mmi"), self.source.clone())];
        if let Some(d) = &self.data {
            files.push((format!("{stem}.data.json"), d.text.clone()));
        }
        if let (Some(run), Some(compiled)) = (&self.run, &self.compiled) {
            let columns = column_names(compiled);
            let data_file = format!("{stem}.data.json");
            let info = crate::report::csv::RunInfo {
                model_name: &stem,
                data_file: &data_file,
                metric: run.settings.metric.cmdstan_name(),
            };
            for (k, chain) in run.chains.iter().enumerate() {
                files.push((
                    format!("chain_{}.csv", k + 1),
                    crate::report::csv::chain_csv(&columns, chain, k, &run.settings, &info),
                ));
            }
            let json = serde_json::to_string_pretty(&run.summary.json(&run.settings, 0.0))
                .unwrap_or_default();
            files.push(("summary.json".into(), json));
        }
        if let Some(m) = &self.mode {
            let header: Vec<String> = m
                .names
                .iter()
                .map(|n| crate::report::csv::csv_name(n))
                .collect();
            let row: Vec<String> = m.values.iter().map(|v| format!("{v}")).collect();
            files.push((
                "map.csv".into(),
                format!(
                    "# model = {stem}\n# method = optimize\n#   optimize\n#     algorithm = lbfgs (Default)\n#     jacobian = 0\n# random\n#   seed = {}\nlp__,{}\n{},{}\n",
                    self.settings.seed,
                    header.join(","),
                    m.log_density,
                    row.join(",")
                ),
            ));
        }
        let mut written = vec![];
        for (name, text) in files {
            let path = dir.join(&name);
            if let Err(e) = crate::report::csv::write_atomic(&path, &text) {
                say!(self.out, "error: cannot write {}: {e}", path.display());
                return;
            }
            written.push(name);
        }
        say!(
            self.out,
            "wrote {} into {}",
            preview(&written.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            dir.display()
        );
        if written.len() > 5 {
            say!(self.out, "({} files)", written.len());
        }
    }
}

/// The data variables on the left of likelihood statements.
fn observed_names(model: &crate::CheckedModel) -> Vec<String> {
    let mut out = vec![];
    for item in &model.program.items {
        if let crate::syntax::ast::Item::Modality(m) = item {
            for s in &m.stmts {
                if let crate::syntax::ast::ModalityStmt::Tilde(t) = s {
                    if let Some((n, _)) = t.lhs.names().first() {
                        out.push(n.to_string());
                    }
                }
            }
        }
    }
    out
}

/// `1.5` or `[1.5, 2, 3, ... (10 values)]`.
pub(crate) fn values_preview(v: &[f64]) -> String {
    let f = |x: &f64| format!("{}", (x * 1e4).round() / 1e4);
    match v {
        [x] => f(x),
        _ if v.len() <= 6 => format!("[{}]", v.iter().map(f).collect::<Vec<_>>().join(", ")),
        _ => format!(
            "[{}, ... ({} values)]",
            v[..4].iter().map(f).collect::<Vec<_>>().join(", "),
            v.len()
        ),
    }
}
