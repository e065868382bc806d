//! Linear solves `x = A^-1 b` with adjoint gradients, for a dense A (LU with partial pivoting, written
//! here so that it works in the node's preallocated scratch) and a sparse A (faer's sparse LU: the
//! fill-reducing ordering is computed once at compile time, the numeric factorisation per evaluation
//! into buffers that are kept between evaluations).
//!
//! The reverse sweep is the adjoint method: with `xbar` the adjoint of the solution,
//! `lambda = A^-T xbar`, then `bbar += lambda` and `Abar[i, j] -= sum_c lambda[i, c] x[j, c]` (only on
//! the pattern for a sparse A). The factorisation from the forward pass is reused, so the gradient costs
//! one more pair of triangular solves. `b` is a vector or a matrix of several right-hand sides, stored
//! row-major like every value.
//!
//! A singular matrix is an error with a message, which the evaluator turns into a recoverable
//! `EvalError` (a divergence for NUTS, a rejected step for L-BFGS) or, for data, a diagnostic.

use super::sparse::Pattern;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::sparse::linalg::lu::{
    factorize_symbolic_lu, LuRef, LuSymbolicParams, NumericLu, SymbolicLu,
};
use faer::sparse::linalg::{LuError, SupernodalThreshold};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------------
// Dense A.

/// Scratch numbers a dense solve of an `n x n` system with `k` right-hand sides needs: the LU factors,
/// the row pivots, a flag saying the factors are of a constant A, and lambda for the reverse sweep.
pub fn dense_scratch_len(n: usize, k: usize) -> usize {
    n * n + n + 1 + n * k
}

/// Splits the scratch of a dense solve into (lu, pivots, flag, lambda).
fn dense_parts(scratch: &mut [f64], n: usize) -> (&mut [f64], &mut [f64], &mut [f64], &mut [f64]) {
    let (lu, rest) = scratch.split_at_mut(n * n);
    let (piv, rest) = rest.split_at_mut(n);
    let (flag, lambda) = rest.split_at_mut(1);
    (lu, piv, flag, lambda)
}

/// Factors row-major `lu` (n x n) in place into P A = L U (L unit lower triangular below the
/// diagonal, U on and above it); `piv[j]` is the row swapped with row j at step j. Fails on a pivot
/// that is zero to working precision.
fn lu_factor(lu: &mut [f64], piv: &mut [f64], n: usize) -> Result<(), String> {
    let scale = lu.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !scale.is_finite() {
        return Err("the matrix of `solve` has non-finite entries".into());
    }
    let tiny = scale * f64::EPSILON * n as f64;
    for j in 0..n {
        let mut p = j;
        for i in j + 1..n {
            if lu[i * n + j].abs() > lu[p * n + j].abs() {
                p = i;
            }
        }
        let pivot = lu[p * n + j];
        if pivot.abs() <= tiny || pivot == 0.0 {
            return Err(singular(n, j));
        }
        piv[j] = p as f64;
        if p != j {
            for c in 0..n {
                lu.swap(j * n + c, p * n + c);
            }
        }
        for i in j + 1..n {
            let l = lu[i * n + j] / pivot;
            lu[i * n + j] = l;
            if l != 0.0 {
                for c in j + 1..n {
                    lu[i * n + c] -= l * lu[j * n + c];
                }
            }
        }
    }
    Ok(())
}

fn singular(n: usize, column: usize) -> String {
    format!(
        "the {n} x {n} matrix of `solve` is singular to working precision (no usable pivot in column {})",
        column + 1
    )
}

/// Solves A x = b in place (`x` holds b, n x k row-major) from the factors.
fn lu_solve(lu: &[f64], piv: &[f64], n: usize, k: usize, x: &mut [f64]) {
    for j in 0..n {
        let p = piv[j] as usize;
        if p != j {
            for c in 0..k {
                x.swap(j * k + c, p * k + c);
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            let l = lu[i * n + j];
            if l != 0.0 {
                for c in 0..k {
                    x[i * k + c] -= l * x[j * k + c];
                }
            }
        }
    }
    for i in (0..n).rev() {
        for j in i + 1..n {
            let u = lu[i * n + j];
            if u != 0.0 {
                for c in 0..k {
                    x[i * k + c] -= u * x[j * k + c];
                }
            }
        }
        let d = lu[i * n + i];
        for c in 0..k {
            x[i * k + c] /= d;
        }
    }
}

/// Solves A' y = g in place from the factors of A: U' z = g, L' w = z, y = P' w.
fn lu_solve_transpose(lu: &[f64], piv: &[f64], n: usize, k: usize, y: &mut [f64]) {
    for i in 0..n {
        for j in 0..i {
            let u = lu[j * n + i];
            if u != 0.0 {
                for c in 0..k {
                    y[i * k + c] -= u * y[j * k + c];
                }
            }
        }
        let d = lu[i * n + i];
        for c in 0..k {
            y[i * k + c] /= d;
        }
    }
    for i in (0..n).rev() {
        for j in i + 1..n {
            let l = lu[j * n + i];
            if l != 0.0 {
                for c in 0..k {
                    y[i * k + c] -= l * y[j * k + c];
                }
            }
        }
    }
    for j in (0..n).rev() {
        let p = piv[j] as usize;
        if p != j {
            for c in 0..k {
                y.swap(j * k + c, p * k + c);
            }
        }
    }
}

/// `out = A^-1 b` for a dense row-major `n x n` A and `b` of `n x k`. With `a_constant`, A is data and
/// is factored only on the first call.
pub fn dense_solve(
    a: &[f64],
    b: &[f64],
    n: usize,
    k: usize,
    a_constant: bool,
    out: &mut [f64],
    scratch: &mut [f64],
) -> Result<(), String> {
    let (lu, piv, flag, _) = dense_parts(scratch, n);
    if !(a_constant && flag[0] == 1.0) {
        flag[0] = 0.0;
        lu.copy_from_slice(a);
        lu_factor(lu, piv, n)?;
        flag[0] = if a_constant { 1.0 } else { 0.0 };
    }
    out.copy_from_slice(b);
    lu_solve(lu, piv, n, k, out);
    finite(out, n)
}

fn finite(x: &[f64], n: usize) -> Result<(), String> {
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(format!(
            "the {n} x {n} matrix of `solve` is singular to working precision (the solution is not finite)"
        ))
    }
}

/// Computes lambda = A^-T g_out into the scratch, from the factors `dense_solve` left there.
pub fn dense_adjoint(n: usize, k: usize, g_out: &[f64], scratch: &mut [f64]) {
    let (lu, piv, _, lambda) = dense_parts(scratch, n);
    lambda.copy_from_slice(g_out);
    lu_solve_transpose(lu, piv, n, k, lambda);
}

/// The lambda `dense_adjoint` computed.
pub fn dense_lambda(n: usize, scratch: &[f64]) -> &[f64] {
    &scratch[n * n + n + 1..]
}

/// `ga[i, j] -= sum_c lambda[i, c] x[j, c]` for a dense A.
pub fn dense_grad_a(n: usize, k: usize, lambda: &[f64], x: &[f64], ga: &mut [f64]) {
    for i in 0..n {
        let l = &lambda[i * k..(i + 1) * k];
        for j in 0..n {
            let xj = &x[j * k..(j + 1) * k];
            ga[i * n + j] -= l.iter().zip(xj).map(|(a, b)| a * b).sum::<f64>();
        }
    }
}

/// `ga[e] -= sum_c lambda[r, c] x[col(e), c]` over the entries e = (r, col) of a sparse A.
pub fn sparse_grad_a(p: &Pattern, k: usize, lambda: &[f64], x: &[f64], ga: &mut [f64]) {
    for r in 0..p.rows {
        let l = &lambda[r * k..(r + 1) * k];
        for e in p.row_start[r]..p.row_start[r + 1] {
            let c = p.col_index[e];
            let xc = &x[c * k..(c + 1) * k];
            ga[e] -= l.iter().zip(xc).map(|(a, b)| a * b).sum::<f64>();
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Sparse A.

/// The compile-time part of a sparse LU: the fill-reducing column ordering of the pattern.
///
/// The pattern's compressed rows are read as the compressed columns of A', so faer factors A' and
/// `A x = b` is its transposed solve (and the adjoint `A' lambda = xbar` its plain solve): no copy or
/// conversion of the values is ever made. The simplicial (left-looking) variant is forced: it keeps
/// its factors in vectors that are reused from one evaluation to the next, so after the first
/// evaluation it does not allocate, while faer's supernodal variant allocates work space on every
/// factorisation.
pub fn symbolic_lu(p: &Pattern) -> Result<Arc<SymbolicLu<usize>>, String> {
    let a = SymbolicSparseColMatRef::new_checked(p.cols, p.rows, &p.row_start, None, &p.col_index);
    let params = LuSymbolicParams {
        supernodal_flop_ratio_threshold: SupernodalThreshold::FORCE_SIMPLICIAL,
        ..Default::default()
    };
    factorize_symbolic_lu(a, params)
        .map(Arc::new)
        .map_err(|e| format!("the sparse LU analysis of `solve` failed: {e:?}"))
}

/// The per-evaluator part of a sparse LU: the numeric factors, faer's work space and lambda.
pub struct SparseLu {
    symbolic: Arc<SymbolicLu<usize>>,
    numeric: NumericLu<usize, f64>,
    mem: MemBuffer,
    lambda: Vec<f64>,
    /// Whether `numeric` holds the factors of a constant A (factored once).
    constant_ready: bool,
}

impl SparseLu {
    /// Buffers for an `n x n` system with `k` right-hand sides.
    pub fn new(symbolic: Arc<SymbolicLu<usize>>, n: usize, k: usize) -> SparseLu {
        let req = StackReq::any_of(&[
            symbolic.factorize_numeric_lu_scratch::<f64>(Par::Seq, Default::default()),
            symbolic.solve_in_place_scratch::<f64>(k, Par::Seq),
            symbolic.solve_transpose_in_place_scratch::<f64>(k, Par::Seq),
        ]);
        SparseLu {
            symbolic,
            numeric: NumericLu::new(),
            mem: MemBuffer::new(req),
            lambda: vec![0.0; n * k],
            constant_ready: false,
        }
    }

    /// Factors A (pattern `p`, values `a`); with `a_constant`, only on the first call.
    fn factor(&mut self, p: &Pattern, a: &[f64], a_constant: bool) -> Result<(), String> {
        if a_constant && self.constant_ready {
            return Ok(());
        }
        self.constant_ready = false;
        if a.iter().any(|v| !v.is_finite()) {
            return Err("the matrix of `solve` has non-finite entries".into());
        }
        let sym =
            SymbolicSparseColMatRef::new_checked(p.cols, p.rows, &p.row_start, None, &p.col_index);
        let at = SparseColMatRef::new(sym, a);
        let stack = MemStack::new(&mut self.mem);
        match self.symbolic.factorize_numeric_lu(
            &mut self.numeric,
            at,
            Par::Seq,
            stack,
            Default::default(),
        ) {
            Ok(_) => {}
            Err(LuError::SymbolicSingular { index }) => return Err(singular(p.rows, index)),
            Err(e) => return Err(format!("the sparse LU of `solve` failed: {e:?}")),
        }
        self.constant_ready = a_constant;
        Ok(())
    }

    /// `out = A^-1 b`, factoring A first.
    pub fn solve(
        &mut self,
        p: &Pattern,
        a: &[f64],
        a_constant: bool,
        b: &[f64],
        k: usize,
        out: &mut [f64],
    ) -> Result<(), String> {
        self.factor(p, a, a_constant)?;
        out.copy_from_slice(b);
        let lu = LuRef::new_unchecked(&self.symbolic, &self.numeric);
        let rhs = MatMut::from_row_major_slice_mut(out, p.rows, k);
        // The factors are of A', so A x = b is their transposed solve.
        lu.solve_transpose_in_place_with_conj(
            Conj::No,
            rhs,
            Par::Seq,
            MemStack::new(&mut self.mem),
        );
        finite(out, p.rows)
    }

    /// lambda = A^-T g_out from the factors of the forward pass; returns it.
    pub fn adjoint(&mut self, p: &Pattern, k: usize, g_out: &[f64]) -> &[f64] {
        self.lambda.copy_from_slice(g_out);
        let lu = LuRef::new_unchecked(&self.symbolic, &self.numeric);
        let rhs = MatMut::from_row_major_slice_mut(&mut self.lambda, p.rows, k);
        lu.solve_in_place_with_conj(Conj::No, rhs, Par::Seq, MemStack::new(&mut self.mem));
        &self.lambda
    }
}

/// State a node keeps between evaluations beyond its numbers in scratch: only sparse solves have any.
#[derive(Default)]
pub enum Work {
    #[default]
    None,
    SparseLu(Box<SparseLu>),
}

impl Work {
    pub fn sparse_lu(&mut self) -> Option<&mut SparseLu> {
        match self {
            Work::SparseLu(s) => Some(s),
            Work::None => None,
        }
    }
}
