//! Inference over a compiled model: the small trait samplers and optimisers see, NUTS with Stan-style
//! adaptation, L-BFGS and the Laplace approximation, and convergence diagnostics.

pub mod adapt;
pub mod diagnostics;
pub mod evidence;
pub mod laplace;
pub mod lbfgs;
pub mod metric;
pub mod nuts;
pub mod psis;
pub mod sample;
pub mod simulate;

pub use crate::eval::{EvalError, Evaluator};

/// What a sampler or optimiser needs of a model: its dimension, and the log density with its gradient
/// written into the caller's buffer. A recoverable error (a point outside the support) counts as a
/// divergence for NUTS and a rejected step for L-BFGS.
pub trait LogDensity {
    fn dim(&self) -> usize;
    fn log_density_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, EvalError>;
}

impl LogDensity for Evaluator<'_> {
    fn dim(&self) -> usize {
        self.model().dim()
    }

    fn log_density_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, EvalError> {
        self.log_density_and_gradient(x, grad)
    }
}
