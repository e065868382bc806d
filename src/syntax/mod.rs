//! The front of the pipeline: text → AST with spans. Nothing here knows what a name means.

pub mod ast;
mod parser;
pub mod print;

pub use parser::parse;
