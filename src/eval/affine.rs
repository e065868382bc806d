//! The kernels of `Op::Affine`: out = a b + broadcast terms, for a [rows, cols] output, and the adjoint
//! of each input. A linear predictor with per-row and per-column offsets (cells x genes plus a per-gene
//! baseline and a per-cell log library size) is then one pass over the output, instead of a product,
//! one full-size broadcast copy per offset and one partial sum per `+` — each with an adjoint buffer
//! to clear and to add through in the reverse sweep.

use super::ops::{axpy, sum};
use crate::ir::graph::Spread;

/// out = a b + Σ terms. `product` is (a, k, b) with a [rows, k] and b [k, cols], row-major; each term's
/// length fits its spread (1, rows, cols or rows * cols).
pub fn affine(
    rows: usize,
    cols: usize,
    product: Option<(&[f64], usize, &[f64])>,
    terms: &[(Spread, &[f64])],
    out: &mut [f64],
) {
    debug_assert_eq!(out.len(), rows * cols);
    if cols == 0 {
        return;
    }
    for (i, row) in out.chunks_exact_mut(cols).enumerate().take(rows) {
        // The terms constant along the row first, then the vectors, then the product's axpys.
        let mut start = 0.0;
        for (s, v) in terms {
            match s {
                Spread::All => start += v[0],
                Spread::PerRow => start += v[i],
                Spread::PerColumn | Spread::Full => {}
            }
        }
        row.fill(start);
        for (s, v) in terms {
            match s {
                Spread::PerColumn => axpy(1.0, &v[..cols], row),
                Spread::Full => axpy(1.0, &v[i * cols..(i + 1) * cols], row),
                Spread::All | Spread::PerRow => {}
            }
        }
        if let Some((a, k, b)) = product {
            for (&a_il, b_row) in a[i * k..(i + 1) * k].iter().zip(b.chunks_exact(cols)) {
                axpy(a_il, b_row, row);
            }
        }
    }
}

/// Adds the adjoint of a term with spread `s` to `g_term`, given the output's adjoint `g_out`
/// ([rows, cols]): each value of the term gets the sum of `g_out` over the elements it was added to.
/// (The product's factors get `ops::matmul_grad`, as for a plain product.)
pub fn term_grad(s: Spread, rows: usize, cols: usize, g_out: &[f64], g_term: &mut [f64]) {
    debug_assert_eq!(g_out.len(), rows * cols);
    if cols == 0 {
        return;
    }
    let g_rows = g_out.chunks_exact(cols).take(rows);
    match s {
        Spread::All => g_term[0] += sum(g_out),
        Spread::PerRow => {
            for (d, g_row) in g_term.iter_mut().zip(g_rows) {
                *d += sum(g_row);
            }
        }
        Spread::PerColumn => {
            for g_row in g_rows {
                axpy(1.0, g_row, &mut g_term[..cols]);
            }
        }
        Spread::Full => axpy(1.0, g_out, g_term),
    }
}
