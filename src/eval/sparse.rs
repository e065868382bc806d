//! Sparse matrices with a pattern fixed at compile time: the pattern type, products of a sparse matrix
//! with a dense vector or matrix and their reverse (the transpose product), and the scatter-add that
//! assembles a matrix's values from a list of (row, column, value) entries.
//!
//! A sparse matrix in the graph is a node holding its nonzero values in the pattern's order (row after
//! row, columns increasing within a row) plus a `Pattern` in `Graph::patterns`. Data matrices, matrices
//! assembled from latents with `sparse(...)` and the fixed operators of `interp`, `grad`, `laplacian`
//! and `convolve` all take this one form, so one kernel serves them all. Nothing here allocates except
//! the constructors of patterns, which run at compile time.

/// The nonzero pattern of a `rows x cols` sparse matrix in compressed sparse rows: the entries of row
/// `r` are `row_start[r]..row_start[r + 1]`, entry `k` in column `col_index[k]`, with strictly
/// increasing columns within a row. Read as compressed sparse columns, the same arrays are the pattern
/// of the transpose, which is how the sparse LU sees it (`eval::solve`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    pub rows: usize,
    pub cols: usize,
    pub row_start: Vec<usize>,
    pub col_index: Vec<usize>,
}

impl Pattern {
    /// The number of stored entries.
    pub fn nnz(&self) -> usize {
        self.col_index.len()
    }

    /// The pattern of 0-based (row, column) coordinates, which must be in range, and for every
    /// coordinate the slot its value is added to (duplicates share a slot and are summed).
    pub fn from_coordinates(
        rows: usize,
        cols: usize,
        i: &[usize],
        j: &[usize],
    ) -> (Pattern, Vec<u32>) {
        let mut order: Vec<usize> = (0..i.len()).collect();
        order.sort_by_key(|&k| (i[k], j[k]));
        let mut row_start = vec![0; rows + 1];
        let mut col_index = vec![];
        let mut slot = vec![0u32; i.len()];
        let mut last = None;
        for k in order {
            if last != Some((i[k], j[k])) {
                last = Some((i[k], j[k]));
                col_index.push(j[k]);
                row_start[i[k] + 1] += 1;
            }
            slot[k] = (col_index.len() - 1) as u32;
        }
        for r in 0..rows {
            row_start[r + 1] += row_start[r];
        }
        let p = Pattern {
            rows,
            cols,
            row_start,
            col_index,
        };
        (p, slot)
    }

    /// How many columns the right side of a product has, from the product's length: the right side
    /// may have any shape with `cols * k` elements (a field multiplies flattened).
    pub fn columns_of(&self, out_len: usize) -> usize {
        out_len.checked_div(self.rows).unwrap_or(0)
    }

    /// The row of every stored entry.
    pub fn row_of_entries(&self) -> Vec<usize> {
        let mut rows = vec![0; self.nnz()];
        for r in 0..self.rows {
            rows[self.row_start[r]..self.row_start[r + 1]].fill(r);
        }
        rows
    }

    /// The transpose's pattern and, for each of its entries, the entry of `self` holding its value
    /// (a gather map from this matrix's values to the transpose's).
    pub fn transpose(&self) -> (Pattern, Vec<u32>) {
        let rows = self.row_of_entries();
        let (p, slot) = Pattern::from_coordinates(self.cols, self.rows, &self.col_index, &rows);
        let mut from = vec![0u32; self.nnz()];
        for (k, s) in slot.iter().enumerate() {
            from[*s as usize] = k as u32;
        }
        (p, from)
    }

    /// A gather map from the values with one extra zero appended (at index `nnz`) to the dense
    /// row-major matrix.
    pub fn dense_map(&self) -> Vec<u32> {
        let mut map = vec![self.nnz() as u32; self.rows * self.cols];
        for r in 0..self.rows {
            for k in self.row_start[r]..self.row_start[r + 1] {
                map[r * self.cols + self.col_index[k]] = k as u32;
            }
        }
        map
    }

    /// Whether `(r, c)` is stored, and where.
    pub fn find(&self, r: usize, c: usize) -> Option<usize> {
        let span = self.row_start[r]..self.row_start[r + 1];
        self.col_index[span.clone()]
            .binary_search(&c)
            .ok()
            .map(|k| span.start + k)
    }
}

/// `out = A x` for `A` with pattern `p` and values `a`, and `x` a `cols x k` row-major matrix (`k = 1`
/// for a vector); `out` is `rows x k`.
pub fn spmul(p: &Pattern, a: &[f64], x: &[f64], k: usize, out: &mut [f64]) {
    if k == 1 {
        for r in 0..p.rows {
            let mut s = 0.0;
            for e in p.row_start[r]..p.row_start[r + 1] {
                s += a[e] * x[p.col_index[e]];
            }
            out[r] = s;
        }
        return;
    }
    out.fill(0.0);
    for r in 0..p.rows {
        let row = &mut out[r * k..(r + 1) * k];
        for e in p.row_start[r]..p.row_start[r + 1] {
            let c = p.col_index[e];
            for (o, xv) in row.iter_mut().zip(&x[c * k..(c + 1) * k]) {
                *o += a[e] * xv;
            }
        }
    }
}

/// Reverse of `spmul` for the values: `ga[e] += sum_j g_out[r, j] x[c, j]` over each entry (r, c).
pub fn spmul_grad_values(p: &Pattern, x: &[f64], k: usize, g_out: &[f64], ga: &mut [f64]) {
    for r in 0..p.rows {
        let g = &g_out[r * k..(r + 1) * k];
        for e in p.row_start[r]..p.row_start[r + 1] {
            let c = p.col_index[e];
            let xc = &x[c * k..(c + 1) * k];
            ga[e] += g.iter().zip(xc).map(|(a, b)| a * b).sum::<f64>();
        }
    }
}

/// Reverse of `spmul` for the right side: `gx += A' g_out`, the transpose product.
pub fn spmul_grad_x(p: &Pattern, a: &[f64], k: usize, g_out: &[f64], gx: &mut [f64]) {
    for r in 0..p.rows {
        let g = &g_out[r * k..(r + 1) * k];
        for e in p.row_start[r]..p.row_start[r + 1] {
            let c = p.col_index[e];
            for (d, gv) in gx[c * k..(c + 1) * k].iter_mut().zip(g) {
                *d += a[e] * gv;
            }
        }
    }
}

/// `out[slot[i]] += input[i]` from zero: entries given twice are summed.
pub fn scatter_add(input: &[f64], slot: &[u32], out: &mut [f64]) {
    out.fill(0.0);
    for (v, s) in input.iter().zip(slot) {
        out[*s as usize] += v;
    }
}

/// Reverse of `scatter_add`: each input receives its slot's adjoint.
pub fn scatter_add_grad(slot: &[u32], g_out: &[f64], g_in: &mut [f64]) {
    for (g, s) in g_in.iter_mut().zip(slot) {
        *g += g_out[*s as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_sum_duplicates_and_transpose_maps_values() {
        // (1,2), (0,1), (1,0), (1,2) again.
        let (p, slot) = Pattern::from_coordinates(2, 3, &[1, 0, 1, 1], &[2, 1, 0, 2]);
        assert_eq!(p.row_start, vec![0, 1, 3]);
        assert_eq!(p.col_index, vec![1, 0, 2]);
        assert_eq!(slot, vec![2, 0, 1, 2]);
        let (t, from) = p.transpose();
        assert_eq!((t.rows, t.cols), (3, 2));
        assert_eq!(t.row_start, vec![0, 1, 2, 3]);
        assert_eq!(t.col_index, vec![1, 0, 1]);
        assert_eq!(from, vec![1, 0, 2]);
        assert_eq!(p.find(1, 2), Some(2));
        assert_eq!(p.find(0, 0), None);
        assert_eq!(p.dense_map(), vec![3, 0, 3, 1, 3, 2]);
    }
}
