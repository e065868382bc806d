//! Data-parallel evaluation of the big nodes: the log density of an elementwise `~` statement over many
//! entries, and an affine node (a linear predictor) with many rows, run on all of rayon's threads.
//!
//! Deterministic whatever the number of threads: the work is cut into pieces whose bounds depend only
//! on the node's size (`LPDF_CHUNK` entries, or whole rows of about `AFFINE_BLOCK` entries), each
//! piece is computed the same way whichever thread runs it, and whatever the pieces reduce (the log
//! densities, the gradient of a broadcast argument, the gradient of a product's right factor and of
//! per-column terms) lands in a per-piece slot of the node's scratch and is summed in piece order
//! afterwards. So a 1-thread and a 3-thread pool give the same bits; only the summation order differs
//! from the unsplit kernels, by rounding.
//!
//! Nothing allocates: the pieces are handed out by recursive `rayon::join` over `split_at_mut` halves
//! (the pieces of one half go to one task), never as a collected list. Called on a rayon worker, a join
//! only pushes a job on that worker's deque; called from outside any pool it goes through rayon's
//! injector, which allocates now and then, so evaluations that must not allocate run inside the pool.
//! Below the thresholds the sequential kernels run unchanged.

use super::affine;
use super::dists::{self, Family};
use super::forward::MAX_DIST_ARGS;
use super::ops::{axpy, matmul_grad};
use crate::ir::graph::Spread;

/// Entries per chunk of an elementwise log density. A constant, not derived from the number of
/// threads: the partition, hence the result, must not depend on the machine. Large enough that a
/// chunk (~0.1 ms) dwarfs the cost of a join (~1 µs), a multiple of the logistic kernels' block.
pub const LPDF_CHUNK: usize = 16384;

/// Output entries per row block of an affine node (rounded down to whole rows, at least one). Larger
/// than `LPDF_CHUNK`: every block of a backward pass sums the gradients that reduce over rows into its
/// own partial buffer (the right factor's k x cols, a per-column term's cols), which must stay small
/// next to the block's work (k + 1 per entry).
pub const AFFINE_BLOCK: usize = 65536;

/// Into how many chunks the log density of a statement with arguments of lengths `lens` is split, or
/// None when it runs sequentially: multivariate families (their densities are not a sum of
/// independent entries), statements of at most one chunk, and inconsistent lengths (the kernel
/// reports those).
pub fn lpdf_chunks(family: Family, lens: impl Iterator<Item = usize> + Clone) -> Option<usize> {
    if family.is_multivariate() {
        return None;
    }
    let n = lens.clone().max().unwrap_or(0);
    let consistent = lens.clone().all(|l| l == 1 || l == n);
    (consistent && n > LPDF_CHUNK).then(|| n.div_ceil(LPDF_CHUNK))
}

/// The scratch a log-density node needs: the gradient of each argument (laid out argument after
/// argument, as the reverse sweep reads them), then, when chunked, each chunk's log density and, for
/// every broadcast (length-1) argument, each chunk's partial gradient.
pub fn lpdf_scratch_len(family: Family, lens: impl Iterator<Item = usize> + Clone) -> usize {
    let grads: usize = lens.clone().sum();
    match lpdf_chunks(family, lens.clone()) {
        Some(chunks) => grads + chunks * (1 + lens.filter(|&l| l == 1).count()),
        None => grads,
    }
}

/// A piece of work that can be cut in two at a chunk boundary: the outputs of a run of chunks.
trait Split: Send + Sized {
    /// The outputs of the first `at` chunks, and those of the rest.
    fn split(self, at: usize) -> (Self, Self);
}

/// `stride` numbers per chunk of a buffer (the last chunk may be shorter).
struct Rows<'a> {
    data: &'a mut [f64],
    stride: usize,
}

impl Split for Rows<'_> {
    fn split(self, at: usize) -> (Self, Self) {
        let stride = self.stride;
        let (l, r) = self.data.split_at_mut((at * stride).min(self.data.len()));
        (Rows { data: l, stride }, Rows { data: r, stride })
    }
}

/// Runs `f(chunk, outputs)` for each of `count` chunks numbered from `first`, on rayon's threads:
/// halves by `rayon::join` until one chunk is left.
fn run<P: Split>(first: usize, count: usize, parts: P, f: &(impl Fn(usize, P) + Sync)) {
    if count <= 1 {
        f(first, parts);
        return;
    }
    let half = count / 2;
    let (l, r) = parts.split(half);
    rayon::join(
        || run(first, half, l, f),
        || run(first + half, count - half, r, f),
    );
}

/// Where one argument's gradient goes, chunk by chunk.
#[derive(Default)]
enum Slot<'a> {
    /// No gradient wanted.
    #[default]
    None,
    /// A full-length argument: `LPDF_CHUNK` entries per chunk.
    Full(&'a mut [f64]),
    /// A broadcast argument: one partial sum per chunk.
    Partial(&'a mut [f64]),
}

impl Slot<'_> {
    fn split(self, at: usize) -> (Self, Self) {
        match self {
            Slot::None => (Slot::None, Slot::None),
            Slot::Full(s) => {
                let (l, r) = s.split_at_mut((at * LPDF_CHUNK).min(s.len()));
                (Slot::Full(l), Slot::Full(r))
            }
            Slot::Partial(s) => {
                let (l, r) = s.split_at_mut(at);
                (Slot::Partial(l), Slot::Partial(r))
            }
        }
    }
}

/// The outputs of a run of chunks of a log density: the gradient slots and the log densities.
struct LpdfParts<'a> {
    grads: [Slot<'a>; MAX_DIST_ARGS],
    lp: &'a mut [f64],
}

impl Split for LpdfParts<'_> {
    fn split(self, at: usize) -> (Self, Self) {
        let (mut l, mut r): ([Slot; MAX_DIST_ARGS], [Slot; MAX_DIST_ARGS]) = Default::default();
        for ((s, l), r) in self.grads.into_iter().zip(&mut l).zip(&mut r) {
            (*l, *r) = s.split(at);
        }
        let (lp_l, lp_r) = self.lp.split_at_mut(at);
        (
            LpdfParts { grads: l, lp: lp_l },
            LpdfParts { grads: r, lp: lp_r },
        )
    }
}

/// `dists::lpdf` of a statement that `lpdf_chunks` splits, chunk by chunk on rayon's threads; same
/// arguments, with `scratch` laid out as `lpdf_scratch_len` says (its first part receives the
/// gradients when `want_grad`, for the arguments that are not `constant`).
pub fn lpdf(
    family: Family,
    values: &[&[f64]],
    dims: usize,
    constant: &[bool],
    normalised: bool,
    scratch: &mut [f64],
    want_grad: bool,
) -> f64 {
    let m = values.len().min(MAX_DIST_ARGS);
    let lens = values[..m].iter().map(|v| v.len());
    let Some(chunks) = lpdf_chunks(family, lens.clone()) else {
        debug_assert!(false, "lpdf_chunks decides whether a statement is chunked");
        return f64::NAN;
    };
    let n = lens.clone().max().unwrap_or(0);
    let grad_len: usize = lens.sum();
    {
        let (mut grad_area, rest) = scratch.split_at_mut(grad_len);
        let (lp, mut partials) = rest.split_at_mut(chunks);
        let mut grads: [Slot; MAX_DIST_ARGS] = Default::default();
        for (k, v) in values[..m].iter().enumerate() {
            let (head, tail) = std::mem::take(&mut grad_area).split_at_mut(v.len());
            grad_area = tail;
            let partial = if v.len() == 1 {
                let (p, rest) = std::mem::take(&mut partials).split_at_mut(chunks);
                partials = rest;
                Some(p)
            } else {
                None
            };
            if want_grad && !constant[k] {
                grads[k] = match partial {
                    Some(p) => Slot::Partial(p),
                    None => Slot::Full(head),
                };
            }
        }
        let chunk = |c: usize, mut parts: LpdfParts| {
            let (lo, hi) = (c * LPDF_CHUNK, ((c + 1) * LPDF_CHUNK).min(n));
            let mut args: [&[f64]; MAX_DIST_ARGS] = [&[]; MAX_DIST_ARGS];
            for (a, v) in args.iter_mut().zip(&values[..m]) {
                *a = if v.len() == 1 { v } else { &v[lo..hi] };
            }
            let mut g: [Option<&mut [f64]>; MAX_DIST_ARGS] = Default::default();
            for (g, s) in g.iter_mut().zip(parts.grads.iter_mut()) {
                *g = match s {
                    Slot::None => None,
                    Slot::Full(s) => Some(&mut **s),
                    Slot::Partial(s) => Some(&mut s[..1]),
                };
            }
            parts.lp[0] = dists::lpdf(
                family,
                &args[..m],
                dims,
                &constant[..m],
                normalised,
                &mut g[..m],
            );
        };
        run(0, chunks, LpdfParts { grads, lp }, &chunk);
    }
    // The reductions, in chunk order.
    let (grad_area, rest) = scratch.split_at_mut(grad_len);
    let (lp, partials) = rest.split_at_mut(chunks);
    let mut total = 0.0;
    for &l in lp.iter() {
        total += l;
    }
    // As the sequential kernel: out of the support anywhere means -inf, with zero gradients (and not
    // NaN when another chunk overflowed the other way).
    if lp.contains(&f64::NEG_INFINITY) {
        grad_area.fill(0.0);
        return f64::NEG_INFINITY;
    }
    if want_grad {
        let (mut at, mut p) = (0, 0);
        for (k, v) in values[..m].iter().enumerate() {
            if v.len() == 1 {
                if !constant[k] {
                    let mut sum = 0.0;
                    for &x in &partials[p * chunks..(p + 1) * chunks] {
                        sum += x;
                    }
                    grad_area[at] = sum;
                }
                p += 1;
            }
            at += v.len();
        }
    }
    total
}

/// The row blocks of a [rows, cols] affine node: (rows per block, blocks), or None when it has fewer
/// than two (it then runs sequentially).
pub fn affine_blocks(rows: usize, cols: usize) -> Option<(usize, usize)> {
    if cols == 0 {
        return None;
    }
    let per = (AFFINE_BLOCK / cols).max(1);
    let blocks = rows.div_ceil(per);
    (blocks >= 2).then_some((per, blocks))
}

/// The scratch of a [rows, cols] affine node whose product has inner dimension `k` (0 without a
/// product): one partial buffer per block, as large as the largest gradient that reduces over rows
/// (the right factor's k x cols, a per-column term's cols, an `All` term's 1).
pub fn affine_scratch_len(rows: usize, cols: usize, k: usize) -> usize {
    match affine_blocks(rows, cols) {
        Some((_, blocks)) => blocks * k.max(1) * cols,
        None => 0,
    }
}

/// The values of an affine node, `affine::affine`, by row blocks on rayon's threads when it is big.
/// Each row is computed exactly as the sequential kernel computes it, so the values are the same bits.
pub fn affine(
    rows: usize,
    cols: usize,
    product: Option<(&[f64], usize, &[f64])>,
    terms: &[(Spread, &[f64])],
    out: &mut [f64],
) {
    let Some((per, blocks)) = affine_blocks(rows, cols) else {
        return affine::affine(rows, cols, product, terms, out);
    };
    for_row_blocks(per, blocks, rows, cols, out, |r0, r1, out| {
        let product = product.map(|(a, k, b)| (&a[r0 * k..r1 * k], k, b));
        let mut views: [(Spread, &[f64]); crate::ir::graph::MAX_AFFINE_TERMS] =
            [(Spread::All, &[]); crate::ir::graph::MAX_AFFINE_TERMS];
        for (v, &(s, t)) in views.iter_mut().zip(terms) {
            *v = match s {
                Spread::All | Spread::PerColumn => (s, t),
                Spread::PerRow => (s, &t[r0..r1]),
                Spread::Full => (s, &t[r0 * cols..r1 * cols]),
            };
        }
        affine::affine(r1 - r0, cols, product, &views[..terms.len()], out);
    });
}

/// Adds the adjoint of an affine node's left factor `a` ([rows, k]) to `g_a`: row by row, so the row
/// blocks write disjoint parts of it.
#[allow(clippy::too_many_arguments)]
pub fn affine_grad_left(
    rows: usize,
    cols: usize,
    a: &[f64],
    k: usize,
    b: &[f64],
    g_out: &[f64],
    g_a: &mut [f64],
) {
    let Some((per, blocks)) = affine_blocks(rows, cols) else {
        return matmul_grad(a, rows, k, b, cols, g_out, Some(g_a), None);
    };
    for_row_blocks(per, blocks, rows, k, g_a, |r0, r1, g_a| {
        let (a, g_out) = (&a[r0 * k..r1 * k], &g_out[r0 * cols..r1 * cols]);
        matmul_grad(a, r1 - r0, k, b, cols, g_out, Some(g_a), None);
    });
}

/// Adds the adjoint of an affine node's right factor `b` ([k, cols]) to `g_b`: a sum over rows, taken
/// per block into `scratch` and then added block after block.
#[allow(clippy::too_many_arguments)]
pub fn affine_grad_right(
    rows: usize,
    cols: usize,
    a: &[f64],
    k: usize,
    b: &[f64],
    g_out: &[f64],
    scratch: &mut [f64],
    g_b: &mut [f64],
) {
    let Some((per, blocks)) = affine_blocks(rows, cols) else {
        return matmul_grad(a, rows, k, b, cols, g_out, None, Some(g_b));
    };
    reduce_over_blocks(per, blocks, rows, k * cols, scratch, g_b, |r0, r1, p| {
        let (a, g_out) = (&a[r0 * k..r1 * k], &g_out[r0 * cols..r1 * cols]);
        matmul_grad(a, r1 - r0, k, b, cols, g_out, None, Some(p));
    });
}

/// Adds the adjoint of an affine node's term with spread `s` to `g_term` (`affine::term_grad`), by
/// row blocks when the node is big: per-row and full terms directly, per-column and `All` terms
/// through per-block partial sums in `scratch`.
pub fn affine_grad_term(
    s: Spread,
    rows: usize,
    cols: usize,
    g_out: &[f64],
    scratch: &mut [f64],
    g_term: &mut [f64],
) {
    let Some((per, blocks)) = affine_blocks(rows, cols) else {
        return affine::term_grad(s, rows, cols, g_out, g_term);
    };
    match s {
        Spread::PerRow | Spread::Full => {
            let width = if s == Spread::PerRow { 1 } else { cols };
            for_row_blocks(per, blocks, rows, width, g_term, |r0, r1, g| {
                affine::term_grad(s, r1 - r0, cols, &g_out[r0 * cols..r1 * cols], g);
            });
        }
        Spread::PerColumn | Spread::All => {
            let size = if s == Spread::PerColumn { cols } else { 1 };
            reduce_over_blocks(per, blocks, rows, size, scratch, g_term, |r0, r1, p| {
                affine::term_grad(s, r1 - r0, cols, &g_out[r0 * cols..r1 * cols], p);
            });
        }
    }
}

/// The rows r0..r1 of block `c` (`per` rows a block, the last one shorter).
fn block_rows(c: usize, per: usize, rows: usize) -> (usize, usize) {
    (c * per, ((c + 1) * per).min(rows))
}

/// Runs `f(r0, r1, part)` for each row block on rayon's threads, where `dest` holds `width` numbers
/// per row and `part` is the block's rows of it: the blocks write disjoint parts.
fn for_row_blocks(
    per: usize,
    blocks: usize,
    rows: usize,
    width: usize,
    dest: &mut [f64],
    f: impl Fn(usize, usize, &mut [f64]) + Sync,
) {
    let block = |c: usize, part: Rows| {
        let (r0, r1) = block_rows(c, per, rows);
        f(r0, r1, part.data);
    };
    let dest = Rows {
        data: dest,
        stride: per * width,
    };
    run(0, blocks, dest, &block);
}

/// A gradient of `size` numbers that sums over rows: `f(r0, r1, partial)` adds rows r0..r1's part
/// to a zeroed per-block buffer of `scratch`, block by block on rayon's threads; the buffers are then
/// added to `dest` in block order.
#[allow(clippy::too_many_arguments)]
fn reduce_over_blocks(
    per: usize,
    blocks: usize,
    rows: usize,
    size: usize,
    scratch: &mut [f64],
    dest: &mut [f64],
    f: impl Fn(usize, usize, &mut [f64]) + Sync,
) {
    if size == 0 {
        return;
    }
    let partials = &mut scratch[..blocks * size];
    let block = |c: usize, p: Rows| {
        let (r0, r1) = block_rows(c, per, rows);
        p.data.fill(0.0);
        f(r0, r1, p.data);
    };
    let p = Rows {
        data: &mut *partials,
        stride: size,
    };
    run(0, blocks, p, &block);
    for p in partials.chunks_exact(size) {
        axpy(1.0, p, &mut dest[..size]);
    }
}
