//! The REPL's state: the model as source text (always one that checks), its data, the compiled model,
//! run-time modality weights, the sampler settings, and what was computed from them (the mode, the
//! draws, the per-modality report), which any change to the model, the data or the weights clears.

use crate::check::CheckedModel;
use crate::eval::CompiledModel;
use crate::infer::sample::{Chain, SampleSettings};
use crate::plot::inputs::{AnyReport, Draws};
use crate::report::summary::RunSummary;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Writes a line to the session's output; a closed output is not an error worth stopping for.
macro_rules! say {
    ($out:expr) => {{ let _ = writeln!($out); }};
    ($out:expr, $($arg:tt)*) => {{ let _ = writeln!($out, $($arg)*); }};
}
pub(crate) use say;

/// The settings `:set` changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub seed: u64,
    pub chains: usize,
    pub warmup: usize,
    pub draws: usize,
    pub adapt_delta: f64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            seed: 1,
            chains: 4,
            warmup: 1000,
            draws: 1000,
            adapt_delta: 0.8,
        }
    }
}

/// The data in use: where they came from and their text.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub name: String,
    pub text: String,
}

/// The posterior mode found by `:map`.
#[derive(Debug, Clone)]
pub struct Mode {
    /// The unconstrained point.
    pub x: Vec<f64>,
    /// Every latent and law element, by name.
    pub names: Vec<String>,
    pub values: Vec<f64>,
    pub log_density: f64,
}

/// A sampling run.
pub struct Run {
    pub chains: Vec<Chain>,
    pub settings: SampleSettings,
    pub summary: RunSummary,
    pub draws: Draws,
}

pub struct Session {
    pub(crate) out: Box<dyn Write>,
    pub(crate) color: bool,
    pub(crate) model_path: Option<PathBuf>,
    pub(crate) source: String,
    pub(crate) checked: Option<CheckedModel>,
    /// Messages of the model's current warnings, so that an edit shows only the new ones.
    pub(crate) warnings: Vec<String>,
    pub(crate) data: Option<DataFile>,
    pub(crate) compiled: Option<CompiledModel>,
    /// Why there is no compiled model.
    pub(crate) not_compiled: Option<String>,
    /// Run-time weights set with `:modality`, by modality name.
    pub(crate) weights: Vec<(String, f64)>,
    pub(crate) settings: Settings,
    pub(crate) mode: Option<Mode>,
    pub(crate) run: Option<Run>,
    pub(crate) report: Option<AnyReport>,
    /// Set by Ctrl-C while sampling: the chains stop and keep what they drew.
    pub(crate) stop: Arc<AtomicBool>,
    /// Whether a run is going on (Ctrl-C stops it; otherwise Ctrl-C ends a piped session).
    pub(crate) busy: Arc<AtomicBool>,
    /// Progress bars on standard error while sampling (interactive sessions).
    pub progress: bool,
    pub(crate) quit: bool,
}

impl Session {
    /// A session with an empty model, writing to `out` (with colour in rendered diagnostics if asked).
    pub fn new(out: Box<dyn Write>, color: bool) -> Session {
        let mut s = Session {
            out,
            color,
            model_path: None,
            source: String::new(),
            checked: None,
            warnings: vec![],
            data: None,
            compiled: None,
            not_compiled: None,
            weights: vec![],
            settings: Settings::default(),
            mode: None,
            run: None,
            report: None,
            stop: Arc::new(AtomicBool::new(false)),
            busy: Arc::new(AtomicBool::new(false)),
            progress: false,
            quit: false,
        };
        let out = crate::check_source("");
        s.checked = out.model;
        s.warnings = out.diagnostics.iter().map(|d| d.message.clone()).collect();
        s.rebuild(false);
        s
    }

    /// Whether `:quit` was given.
    pub fn done(&self) -> bool {
        self.quit
    }

    /// The flag that stops a sampling run (Ctrl-C sets it), and the one that says a run is going on.
    pub fn stop_flags(&self) -> (Arc<AtomicBool>, Arc<AtomicBool>) {
        (self.stop.clone(), self.busy.clone())
    }

    /// The file name diagnostics are rendered with.
    pub(crate) fn file_name(&self) -> String {
        match &self.model_path {
            Some(p) => p.display().to_string(),
            None => "<repl>".into(),
        }
    }

    /// Names of latents, laws, modalities, data and functions, for completion.
    pub fn names(&self) -> Vec<String> {
        super::edit::names(&self.source)
    }

    pub(crate) fn render(&mut self, diags: &[crate::Diagnostic], source: &str) {
        let text = crate::diagnostic::render_all(diags, &self.file_name(), source, self.color);
        let _ = write!(self.out, "{text}");
    }

    /// Reads a text file, or says why not.
    pub(crate) fn read(&mut self, path: &Path) -> Option<String> {
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => Some(t),
                Err(e) => {
                    say!(
                        self.out,
                        "error: {} is not UTF-8 text (invalid byte at offset {})",
                        path.display(),
                        e.utf8_error().valid_up_to()
                    );
                    None
                }
            },
            Err(e) => {
                say!(self.out, "error: cannot read {}: {e}", path.display());
                None
            }
        }
    }

    /// `:load FILE`: the model, and the data file beside it (MODEL.data.json) when there is one.
    pub fn load_model(&mut self, path: &Path) {
        let Some(source) = self.read(path) else {
            return;
        };
        let out = crate::check_source(&source);
        if out.diagnostics.iter().any(|d| d.is_error()) {
            let previous = self.model_path.replace(path.to_path_buf());
            self.render(&out.diagnostics, &source);
            self.model_path = previous;
            say!(
                self.out,
                "{} does not check: the session keeps its model",
                path.display()
            );
            return;
        }
        self.model_path = Some(path.to_path_buf());
        self.source = source;
        self.warnings = out.diagnostics.iter().map(|d| d.message.clone()).collect();
        self.render(&out.diagnostics, &self.source.clone());
        self.checked = out.model;
        self.weights.clear();
        let beside = path.with_extension("data.json");
        self.data = None;
        if beside.exists() {
            if let Some(text) = self.read(&beside) {
                self.data = Some(DataFile {
                    name: beside.display().to_string(),
                    text,
                });
            }
        }
        say!(self.out, "loaded {} ({})", path.display(), self.counts());
        if let Some(d) = &self.data {
            say!(self.out, "data from {}", d.name);
        }
        self.rebuild(true);
    }

    /// `:data FILE`.
    pub fn load_data(&mut self, path: &Path) {
        let Some(text) = self.read(path) else { return };
        self.data = Some(DataFile {
            name: path.display().to_string(),
            text,
        });
        say!(self.out, "data from {}", path.display());
        self.rebuild(true);
    }

    /// Data from text that is not a file (simulated data).
    pub(crate) fn use_data(&mut self, name: String, text: String) {
        self.data = Some(DataFile { name, text });
        self.rebuild(true);
    }

    /// "2 data items, 1 latent, 0 laws, 1 modality".
    pub(crate) fn counts(&self) -> String {
        match &self.checked {
            Some(m) => m.summary(),
            None => "empty".into(),
        }
    }

    /// Makes `source` the model if it checks; otherwise shows why and keeps the model. New warnings
    /// are shown; the model is recompiled.
    pub(crate) fn set_source(&mut self, source: String, changes: &[String]) -> bool {
        let out = crate::check_source(&source);
        if out.diagnostics.iter().any(|d| d.is_error()) {
            self.render(&out.diagnostics, &source);
            say!(self.out, "not applied: the model is unchanged");
            return false;
        }
        let fresh: Vec<crate::Diagnostic> = out
            .diagnostics
            .iter()
            .filter(|d| !self.warnings.contains(&d.message))
            .cloned()
            .collect();
        self.render(&fresh, &source);
        self.warnings = out.diagnostics.iter().map(|d| d.message.clone()).collect();
        self.source = source;
        self.checked = out.model;
        for c in changes {
            say!(self.out, "{c}");
        }
        self.rebuild(false);
        true
    }

    /// Forgets the mode, the draws and the report (they belong to another model, data or weights).
    pub(crate) fn clear_results(&mut self) {
        let had = self.mode.is_some() || self.run.is_some() || self.report.is_some();
        self.mode = None;
        self.run = None;
        self.report = None;
        if had {
            say!(
                self.out,
                "(the mode, draws and report of the previous model were cleared)"
            );
        }
    }

    /// Loads the data for the checked model and compiles it, applying the `:modality` weights.
    /// `verbose` shows the data's warnings too (errors are always shown).
    pub(crate) fn rebuild(&mut self, verbose: bool) {
        self.clear_results();
        self.compiled = None;
        self.not_compiled = None;
        let Some(model) = &self.checked else {
            self.not_compiled = Some("the model does not check".into());
            return;
        };
        let (json, file) = match &self.data {
            Some(d) => (d.text.clone(), d.name.clone()),
            None if model.data.is_empty() => ("{}".to_string(), "(no data)".to_string()),
            None => {
                let names: Vec<&str> = model.data.iter().map(|d| d.name.as_str()).collect();
                self.not_compiled = Some(format!(
                    "the model declares data ({}) and none are loaded: `:data FILE`",
                    preview(&names)
                ));
                return;
            }
        };
        let source = self.source.clone();
        let loaded = crate::data::load(model, &json, &file);
        let set = match loaded {
            Ok((set, warnings)) => {
                if verbose && model.data.is_empty() && !warnings.is_empty() {
                    // A model still to be typed: its data file is ahead of it, which is expected.
                    say!(
                        self.out,
                        "note: the model declares no data yet; declare the file's variables to use them"
                    );
                } else if verbose {
                    self.render(&warnings, &source);
                }
                set
            }
            Err(diags) => {
                self.render(&diags, &source);
                say!(self.out, "{file}: the data do not fit the model (yet)");
                self.not_compiled = Some(format!("the data in {file} do not fit the model"));
                return;
            }
        };
        let model = self.checked.as_ref().expect("checked above");
        match crate::compile(model, &set, &crate::passes::Settings::default()) {
            Ok(mut compiled) => {
                self.apply_weights(&mut compiled);
                self.compiled = Some(compiled);
            }
            Err(diags) => {
                self.render(&diags, &source);
                self.not_compiled = Some("the model does not compile with these data".into());
            }
        }
    }

    /// Gives the model's modalities the weights set with `:modality`, by name.
    pub(crate) fn apply_weights(&self, compiled: &mut CompiledModel) {
        for m in compiled.graph.modalities.iter_mut() {
            if let Some((_, w)) = self.weights.iter().find(|(n, _)| *n == m.name) {
                m.weight = *w;
            }
        }
    }

    /// The compiled model, or a line saying why there is none.
    pub(crate) fn need_compiled(&mut self) -> bool {
        if self.compiled.is_some() {
            return true;
        }
        let why = self
            .not_compiled
            .clone()
            .unwrap_or_else(|| "the model is not compiled".into());
        say!(self.out, "error: {why}");
        false
    }
}

/// The first few names, then "...".
pub(crate) fn preview(names: &[&str]) -> String {
    if names.len() > 5 {
        format!("{}, ...", names[..5].join(", "))
    } else {
        names.join(", ")
    }
}
