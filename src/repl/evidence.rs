//! The REPL's `:evidence` and `:compare`: the marginal likelihood of the session's model (with its
//! `:modality` weights) on the session's data, and the comparison of that model with model files
//! fitted to the same data, jointly and per modality, as `mmi evidence` and `mmi compare` print them.

use super::session::{say, Session};
use crate::eval::CompiledModel;
use crate::infer::evidence::{compile_normalised, estimate, Method, NotNormalised};
use crate::report::compare::{table, ModelEvidence};
use std::io::Write;
use std::path::Path;

/// Splits `[FILE...] [laplace|bridge]` into the files and the method (bridge by default, as on the
/// command line).
fn method_and_files<'a>(words: &[&'a str]) -> (Method, Vec<&'a str>) {
    let mut method = Method::Bridge;
    let mut files = vec![];
    for w in words {
        match *w {
            "laplace" => method = Method::Laplace,
            "bridge" => method = Method::Bridge,
            f => files.push(f),
        }
    }
    (method, files)
}

impl Session {
    /// `:evidence [laplace|bridge]`.
    pub(crate) fn evidence(&mut self, words: &[&str]) {
        let (method, files) = method_and_files(words);
        if !files.is_empty() {
            return self.usage(":evidence");
        }
        let Some(compiled) = self.normalised_session_model() else {
            return;
        };
        let weights: Vec<f64> = compiled.graph.modalities.iter().map(|m| m.weight).collect();
        let name = self.model_name();
        match estimate(&compiled, &weights, method, self.settings.seed) {
            Ok(e) => say!(self.out, "log evidence of {name}: {}", e.describe()),
            Err(e) => say!(self.out, "error: no evidence for {name}: {e}"),
        }
    }

    /// `:compare FILE... [laplace|bridge]`: the session's model against each file, on the session's
    /// data, under equal prior model probabilities. The session's `:modality` weights apply to every
    /// model by modality name, so switching a technique off compares the models without it.
    pub(crate) fn compare(&mut self, words: &[&str]) {
        let (method, files) = method_and_files(words);
        if files.is_empty() {
            return self.usage(":compare");
        }
        let Some(own) = self.normalised_session_model() else {
            return;
        };
        let own_name = match &self.model_path {
            Some(p) => p.display().to_string(),
            None => "the session's model".to_string(),
        };
        let mut models = vec![(own_name, own)];
        for file in files {
            match self.normalised_file(Path::new(file)) {
                Some(mut m) => {
                    self.apply_weights(&mut m);
                    models.push((file.to_string(), m))
                }
                None => return,
            }
        }
        let seed = self.settings.seed;
        let mut results = vec![];
        for (name, model) in &models {
            let mut notes = vec![];
            let estimated = ModelEvidence::estimate(name, model, method, seed, |n| notes.push(n));
            for n in notes {
                say!(self.out, "note: {n}");
            }
            match estimated {
                Ok(e) => results.push(e),
                Err(e) => return say!(self.out, "error: no evidence for {name}: {e}"),
            }
        }
        let prior = vec![1.0 / results.len() as f64; results.len()];
        let _ = write!(self.out, "{}", table(&results, &prior));
    }

    /// The session's model compiled with normalised densities and its `:modality` weights, or a line
    /// saying why there is none.
    fn normalised_session_model(&mut self) -> Option<CompiledModel> {
        if !self.need_latents() {
            return None;
        }
        let name = self.model_name();
        let (json, file) = self.data_text();
        let checked = self.checked.as_ref()?;
        // The data loaded when the model was compiled, so they fit.
        let (set, _) = crate::data::load(checked, &json, &file).ok()?;
        match compile_normalised(checked, &set) {
            Ok(mut compiled) => {
                self.apply_weights(&mut compiled);
                Some(compiled)
            }
            Err(NotNormalised::Compile(diags)) => {
                let source = self.source.clone();
                self.render(&diags, &source);
                None
            }
            Err(e) => {
                say!(self.out, "error: {}", e.message(&name));
                None
            }
        }
    }

    /// Another model file, checked, fitted to the session's data and compiled with normalised
    /// densities; or its diagnostics.
    fn normalised_file(&mut self, path: &Path) -> Option<CompiledModel> {
        let source = self.read(path)?;
        let name = path.display().to_string();
        let out = crate::check_source(&source);
        let show = |s: &mut Session, diags: &[crate::Diagnostic]| {
            let text = crate::diagnostic::render_all(diags, &name, &source, s.color);
            let _ = write!(s.out, "{text}");
        };
        if out.diagnostics.iter().any(|d| d.is_error()) {
            show(self, &out.diagnostics);
            say!(self.out, "{name} does not check");
            return None;
        }
        let checked = out.model?;
        let (json, file) = self.data_text();
        let set = match crate::data::load(&checked, &json, &file) {
            Ok((set, _)) => set,
            Err(diags) => {
                // The errors only: the session's data are another model's, so notes on the
                // variables this model does not declare are beside the point.
                let errors: Vec<_> = diags.into_iter().filter(|d| d.is_error()).collect();
                show(self, &errors);
                say!(
                    self.out,
                    "{file}: the session's data do not fit {name}; models are compared on the same data"
                );
                return None;
            }
        };
        match compile_normalised(&checked, &set) {
            Ok(compiled) => Some(compiled),
            Err(NotNormalised::Compile(diags)) => {
                show(self, &diags);
                None
            }
            Err(e) => {
                say!(self.out, "error: {}", e.message(&name));
                None
            }
        }
    }

    /// The session's data as text with the name to show, or an empty data set.
    fn data_text(&self) -> (String, String) {
        match &self.data {
            Some(d) => (d.text.clone(), d.name.clone()),
            None => ("{}".to_string(), "(no data)".to_string()),
        }
    }
}
