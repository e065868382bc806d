//! Evaluation of the compiled graph: the forward pass, the reverse sweep, transforms and the numeric
//! kernels of every operation and distribution.

pub mod affine;
pub mod dists;
pub mod fields;
pub mod forward;
pub mod logistic;
pub mod model;
pub mod ops;
pub mod parallel;
pub mod reverse;
pub mod solve;
pub mod sparse;
pub mod transforms;
pub mod worst_case;

pub use model::{CompiledModel, EvalError, Evaluator, Output};
