//! The front of the pipeline: text → AST with spans. Nothing here knows what a name means.

pub mod ast;
pub mod edit;
mod parser;
pub mod print;

pub use parser::parse;
