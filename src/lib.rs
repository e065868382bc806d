//! mmi: a probabilistic programming language for multi-modal inversion.
//!
//! The compiler is one pipeline, each stage in its own module:
//!
//! ```text
//! source ──syntax::parse──▶ AST (spans) ──check::check──▶ CheckedModel (types, shapes, dependence)
//! ```
//!
//! Later stages (graph IR, passes, evaluation, inference, reports) extend this pipeline; see
//! ARCHITECTURE.md for the code map. Every user-facing problem is a `diagnostic::Diagnostic` with a
//! source span, rendered in one place.

// Numeric kernels index several slices in step; index loops say that most plainly.
#![allow(clippy::needless_range_loop)]

pub mod check;
pub mod data;
pub mod diagnostic;
pub mod eval;
pub mod infer;
pub mod ir;
pub mod library;
pub mod ode;
pub mod passes;
pub mod plot;
pub mod repl;
pub mod report;
pub mod span;
pub mod syntax;

pub use check::{CheckOutput, CheckedModel};
pub use diagnostic::Diagnostic;

/// Compiles a checked model with its data: lower to the graph IR, validate, optimise, lay out.
pub fn compile(
    model: &CheckedModel,
    data: &data::DataSet,
    settings: &passes::Settings,
) -> Result<eval::CompiledModel, Vec<Diagnostic>> {
    let graph = ir::lower(model, data)?;
    let internal = |e: String| {
        vec![Diagnostic::error(
            span::Span::default(),
            format!("internal error in the compiler: {e}"),
        )]
    };
    ir::validate::validate(&graph).map_err(internal)?;
    let graph = passes::optimise(graph, settings);
    ir::validate::validate(&graph).map_err(internal)?;
    Ok(eval::CompiledModel::new(graph))
}

/// Parses and checks a model's source text.
pub fn check_source(source: &str) -> CheckOutput {
    match syntax::parse(source) {
        Ok(program) => check::check(program),
        Err(d) => CheckOutput {
            model: None,
            diagnostics: vec![d],
        },
    }
}
