//! The graph IR and what produces and checks it: lowering from a checked model, validation of the
//! arena-order invariant, and a stable text form.

pub mod graph;
mod lower;
mod lower_expr;
mod lower_field_priors;
mod lower_ode;
mod lower_operators;
mod lower_sparse;
pub mod print;
pub mod validate;

pub use lower::lower;
