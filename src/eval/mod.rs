//! Evaluation of the compiled graph: the forward pass, the reverse sweep, transforms and the numeric
//! kernels of every operation and distribution.

pub mod dists;
