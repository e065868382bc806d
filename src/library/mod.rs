//! The language's built-in library: every distribution and function by name, with its parameters and
//! shape rule. The checker validates calls against these tables; the evaluator implements the same names,
//! so adding an entry here is the one place a new built-in is declared.

pub mod distributions;
pub mod functions;
