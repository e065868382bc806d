//! Field priors on regular grids: Matérn / GMRF log densities with exact log-determinants, the
//! whitened (non-centred) form, and intrinsic random walks, with their gradients.
//!
//! A field of rank d holds its cells in row-major order (the last index varies fastest). Internally
//! every grid is padded to three axes with leading axes of length 1, so one code path serves ranks 1
//! to 3.
//!
//! Matérn / GMRF. The precision is Q = c (kappa^2 I - Laplacian_h)^alpha, where Laplacian_h is the
//! second-difference Laplacian with spacing h_a per axis and kappa = sqrt(8 nu) / range (the SPDE
//! relation). Per-axis ranges rescale each axis: in units where axis a has spacing h_a / range_a,
//! kappa^2 = 8 nu, so Q = c mu^alpha with mu = 8 nu + sum_a (range_a / h_a)^2 (-Laplacian_1 along a).
//! (With one range this is range^2 times the isotropic operator, and the constant c absorbs the power
//! of range^2, so the two agree.) The Laplacian's eigenvectors are separable: the orthonormal DCT-II
//! basis on axes with reflecting (Neumann) boundaries, with eigenvalues 2 - 2 cos(pi k / n), and the
//! orthonormal discrete Hartley basis on periodic axes, with eigenvalues 2 - 2 cos(2 pi k / n) (the
//! Hartley transform is real, its own inverse, and diagonalises every symmetric circulant matrix).
//! So with y = T (x - mean) (T the separable transform) and mu_k the eigenvalues of
//! 8 nu - sum_a w_a Laplacian_a, w_a = (range_a / h_a)^2:
//!
//!   log p(x) = -n/2 log(2 pi) + 1/2 (n log c + alpha sum_k log mu_k) - c/2 sum_k mu_k^alpha y_k^2,
//!
//! exact in O(n log n). c makes the average marginal variance trace(Q^-1) / n equal sd^2:
//! c = S / (n sd^2), S = sum_k mu_k^-alpha. (On a periodic grid every cell has that variance; with
//! reflecting boundaries cells near a boundary have somewhat more, those inside somewhat less.)
//!
//! The whitened form writes the field as x = mean + T^-1 (z / sqrt(c mu^alpha)) with z ~ N(0, I):
//! the sampler moves z, whose prior is a standard normal whatever the hyperparameters.
//!
//! Intrinsic random walks. Q = (1 / sd^2) sum_a D_a' D_a with D_a the first (rw1) or second (rw2)
//! differences along axis a (with wrap-around on periodic axes). The null space of a sum of
//! Kronecker-structured positive semi-definite terms is the product of the axes' null spaces, so the
//! rank is r = n - prod_a null_a, with null_a = min(n_a, order) (polynomials of degree < order along
//! the axis) on a free axis and 1 (constants) on a periodic one. The log density is
//!
//!   log p(x) = -r/2 log(2 pi) - r log sd - 1/(2 sd^2) sum_a |D_a x|^2,
//!
//! the generalised density (2 pi)^(-r/2) |Q|*^(1/2) exp(-x'Qx / 2) divided by the structure matrix's
//! pseudo-determinant |R|*^(1/2) (R = sd^2 Q), a constant. Leaving that constant out makes the value in
//! one dimension the density of the increments (Rue & Held 2005, eq. 3.18), as mmi always computed;
//! the dependence on sd, which is what matters when sd is a latent, is exact.
//!
//! Evaluation allocates nothing: transforms are planned when the graph is built, and every buffer
//! (the spectrum, the eigenvalue cache, one line of the grid, the transforms' scratch) lives in the
//! node's scratch slice. The eigenvalues mu_k and their powers are cached there too, keyed by the
//! range: when the range is data they are computed once, when the model is compiled (`prime`; every
//! evaluator starts from that scratch), and a latent range recomputes them only when it moves.

use crate::library::distributions::Boundary;
use num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use rustdct::{DctPlanner, TransformType2And3};
use std::f64::consts::PI;
use std::fmt;
use std::sync::Arc;

/// Which prior a field node computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldKind {
    /// Matérn (and GMRF, nu = 2 - d/2): alpha = nu + d/2.
    Matern { nu: f64 },
    /// Intrinsic random walk of order 1 or 2 along every axis.
    RandomWalk { order: usize },
}

/// One axis's orthonormal transform.
#[derive(Clone)]
enum AxisPlan {
    /// A single cell: nothing to transform.
    Identity,
    /// DCT-II forward, DCT-III inverse (reflecting boundaries).
    Cosine(Arc<dyn TransformType2And3<f64>>),
    /// The discrete Hartley transform through a real FFT (periodic boundaries); its own inverse.
    Hartley(Arc<dyn RealToComplex<f64>>),
}

/// A field prior's grid and kind, with its transforms planned once.
#[derive(Clone)]
pub struct FieldSpec {
    pub kind: FieldKind,
    /// The field's declared rank (1 to 3).
    pub rank: usize,
    /// Axis lengths padded with leading 1s to three axes.
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    pub boundary: [Boundary; 3],
    /// Eigenvalues of the unit-spacing negative second difference along each padded axis.
    eig: [Vec<f64>; 3],
    plans: [AxisPlan; 3],
    /// Scratch numbers one line transform needs (the line itself and the transform's own scratch).
    work: usize,
}

impl fmt::Debug for FieldSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldSpec")
            .field("kind", &self.kind)
            .field("dims", &self.dims)
            .field("spacing", &self.spacing)
            .field("boundary", &self.boundary)
            .finish()
    }
}

/// The plans follow from the other fields, so they take no part in comparisons.
impl PartialEq for FieldSpec {
    fn eq(&self, other: &FieldSpec) -> bool {
        self.kind == other.kind
            && self.rank == other.rank
            && self.dims == other.dims
            && self.spacing == other.spacing
            && self.boundary == other.boundary
    }
}

const KEY: usize = 6;
/// Lines transformed together along a strided axis (two cache lines of f64 wide).
const BLOCK: usize = 16;

impl FieldSpec {
    /// A field of this shape (rank 1 to 3), spacing and boundary per axis.
    pub fn new(
        kind: FieldKind,
        shape: &[usize],
        spacing: &[f64],
        boundary: &[Boundary],
    ) -> FieldSpec {
        let rank = shape.len();
        assert!((1..=3).contains(&rank), "fields have rank 1 to 3");
        let pad = 3 - rank;
        let mut dims = [1; 3];
        let mut h = [1.0; 3];
        let mut b = [Boundary::Neumann; 3];
        dims[pad..].copy_from_slice(shape);
        h[pad..].copy_from_slice(&spacing[..rank]);
        b[pad..].copy_from_slice(&boundary[..rank]);
        let mut dct = DctPlanner::new();
        let mut fft = RealFftPlanner::<f64>::new();
        let mut work = 0;
        let plans: [AxisPlan; 3] = std::array::from_fn(|p| {
            let n = dims[p];
            if n <= 1 {
                return AxisPlan::Identity;
            }
            match b[p] {
                Boundary::Neumann => {
                    let plan = dct.plan_dct2(n);
                    work = work.max(BLOCK * n + plan.get_scratch_len());
                    AxisPlan::Cosine(plan)
                }
                Boundary::Periodic => {
                    let plan = fft.plan_fft_forward(n);
                    work = work.max(BLOCK * n + 2 * (n / 2 + 1) + 2 * plan.get_scratch_len());
                    AxisPlan::Hartley(plan)
                }
            }
        });
        let eig = std::array::from_fn(|p| {
            let n = dims[p] as f64;
            (0..dims[p])
                .map(|k| match b[p] {
                    Boundary::Neumann => 2.0 - 2.0 * (PI * k as f64 / n).cos(),
                    Boundary::Periodic => 2.0 - 2.0 * (2.0 * PI * k as f64 / n).cos(),
                })
                .collect()
        });
        FieldSpec {
            kind,
            rank,
            dims,
            spacing: h,
            boundary: b,
            eig,
            plans,
            work,
        }
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The Matérn smoothness nu and the precision's power alpha = nu + d/2.
    pub fn nu_alpha(&self) -> (f64, f64) {
        match self.kind {
            FieldKind::Matern { nu } => (nu, nu + self.rank as f64 / 2.0),
            FieldKind::RandomWalk { .. } => (0.0, 0.0),
        }
    }

    /// The rank of a random walk's precision: cells minus the null space's dimension.
    pub fn rw_rank(&self) -> usize {
        let FieldKind::RandomWalk { order } = self.kind else {
            return self.len();
        };
        let null: usize = (0..3)
            .map(|p| match self.boundary[p] {
                Boundary::Periodic => 1,
                Boundary::Neumann => self.dims[p].min(order),
            })
            .product();
        self.len() - null
    }

    /// Scratch numbers for the spectral work of a Matérn node: spectrum, eigenvalues and their
    /// powers, the cache key, one line.
    fn spectral_len(&self) -> usize {
        3 * self.len() + KEY + self.work
    }

    /// Scratch of a log-density node whose arguments hold `grads` numbers together: each argument's
    /// gradient, then (Matérn) the spectral work.
    pub fn prior_scratch_len(&self, grads: usize) -> usize {
        match self.kind {
            FieldKind::Matern { .. } => grads + self.spectral_len(),
            FieldKind::RandomWalk { .. } => grads,
        }
    }

    /// Scratch of a whitening node: the spectral work and the spectrum's adjoint.
    pub fn whiten_scratch_len(&self) -> usize {
        self.spectral_len() + self.len()
    }

    /// The separable transform T (or its inverse) applied in place to a whole field. Lines along the
    /// last axis are contiguous and transformed where they lie; along other axes, blocks of `BLOCK`
    /// neighbouring lines are copied out together, so each cache line of the field is read once per
    /// block rather than once per line.
    fn transform(&self, data: &mut [f64], inverse: bool, work: &mut [f64]) {
        for p in 0..3 {
            let len = self.dims[p];
            if matches!(self.plans[p], AxisPlan::Identity) {
                continue;
            }
            let stride: usize = self.dims[p + 1..].iter().product();
            let outer: usize = self.dims[..p].iter().product();
            if stride == 1 {
                for line in data.chunks_exact_mut(len) {
                    self.line(p, line, inverse, work);
                }
                continue;
            }
            let (block, scratch) = work.split_at_mut(BLOCK * len);
            for o in 0..outer {
                let base = o * len * stride;
                for i0 in (0..stride).step_by(BLOCK) {
                    let b = BLOCK.min(stride - i0);
                    for j in 0..len {
                        let row = &data[base + j * stride + i0..base + j * stride + i0 + b];
                        for (t, v) in row.iter().enumerate() {
                            block[t * len + j] = *v;
                        }
                    }
                    for line in block[..b * len].chunks_exact_mut(len) {
                        self.line(p, line, inverse, scratch);
                    }
                    for j in 0..len {
                        let row = &mut data[base + j * stride + i0..base + j * stride + i0 + b];
                        for (t, v) in row.iter_mut().enumerate() {
                            *v = block[t * len + j];
                        }
                    }
                }
            }
        }
    }

    /// One axis's orthonormal transform of one line, in place.
    fn line(&self, p: usize, buf: &mut [f64], inverse: bool, scratch: &mut [f64]) {
        let n = buf.len();
        match &self.plans[p] {
            AxisPlan::Identity => {}
            AxisPlan::Cosine(plan) => {
                let s = &mut scratch[..plan.get_scratch_len()];
                let (first, rest) = ((1.0 / n as f64).sqrt(), (2.0 / n as f64).sqrt());
                if inverse {
                    // rustdct's DCT-III is x_j = X_0 / 2 + sum_k X_k cos(...): undo the orthonormal scaling.
                    buf[0] *= 2.0 * first;
                    buf[1..].iter_mut().for_each(|v| *v *= rest);
                    plan.process_dct3_with_scratch(buf, s);
                } else {
                    plan.process_dct2_with_scratch(buf, s);
                    buf[0] *= first;
                    buf[1..].iter_mut().for_each(|v| *v *= rest);
                }
            }
            AxisPlan::Hartley(plan) => {
                let half = n / 2 + 1;
                let (spec, rest) = scratch.split_at_mut(2 * half);
                let fs = &mut rest[..2 * plan.get_scratch_len()];
                let spec: &mut [Complex<f64>] = bytemuck::cast_slice_mut(spec);
                let fs: &mut [Complex<f64>] = bytemuck::cast_slice_mut(fs);
                plan.process_with_scratch(buf, spec, fs)
                    .expect("buffers are laid out for this plan");
                // H_k = Re X_k - Im X_k, and X_k = conj(X_{n-k}) past the middle.
                let scale = 1.0 / (n as f64).sqrt();
                for k in 0..n {
                    buf[k] = scale
                        * if k < half {
                            spec[k].re - spec[k].im
                        } else {
                            spec[n - k].re + spec[n - k].im
                        };
                }
            }
        }
    }

    /// The axis weights w_a = (range_a / h_a)^2 on the padded axes, or None if a range is not a
    /// positive finite number.
    fn weights(&self, range: &[f64]) -> Option<[f64; 3]> {
        let pad = 3 - self.rank;
        let mut w = [0.0; 3];
        for a in 0..self.rank {
            let r = if range.len() == 1 { range[0] } else { range[a] };
            if !(r > 0.0 && r.is_finite()) {
                return None;
            }
            let v = r / self.spacing[pad + a];
            w[pad + a] = v * v;
        }
        Some(w)
    }

    /// Fills mu_k, mu_k^alpha and the sums S = sum mu^-alpha, A = sum log mu unless the cache holds
    /// them for these weights already.
    fn spectrum(&self, w: [f64; 3], mu: &mut [f64], pw: &mut [f64], key: &mut [f64]) {
        if key[3] == 1.0 && key[..3] == w {
            return;
        }
        let (nu, alpha) = self.nu_alpha();
        // Integer and half-integer powers (every gmrf, the common nu) avoid exp and log per cell.
        let twice = 2.0 * alpha;
        let half_integer = twice.fract() == 0.0 && twice <= 64.0;
        let whole = alpha.floor() as i32;
        let odd = half_integer && (twice as i64) % 2 == 1;
        let base = 8.0 * nu;
        let [n0, n1, n2] = self.dims;
        let (mut s_sum, mut a_sum) = (0.0, 0.0);
        let mut k = 0;
        for i0 in 0..n0 {
            let l0 = base + w[0] * self.eig[0][i0];
            for i1 in 0..n1 {
                let l1 = l0 + w[1] * self.eig[1][i1];
                for i2 in 0..n2 {
                    let m = l1 + w[2] * self.eig[2][i2];
                    let lm = m.ln();
                    let p = if half_integer {
                        let p = m.powi(whole);
                        if odd {
                            p * m.sqrt()
                        } else {
                            p
                        }
                    } else {
                        (alpha * lm).exp()
                    };
                    mu[k] = m;
                    pw[k] = p;
                    s_sum += 1.0 / p;
                    a_sum += lm;
                    k += 1;
                }
            }
        }
        key[..3].copy_from_slice(&w);
        key[3] = 1.0;
        key[4] = s_sum;
        key[5] = a_sum;
    }

    /// Fills the spectral cache of a node's scratch for a range known from the data, so that no
    /// evaluation computes it. `grads` is the length of the gradients a log-density node keeps before
    /// its spectral work (0 for a whitening node).
    pub fn prime(&self, range: &[f64], scratch: &mut [f64], grads: usize) {
        let n = self.len();
        if !matches!(self.kind, FieldKind::Matern { .. }) {
            return;
        }
        let Some(w) = self.weights(range) else { return };
        let rest = &mut scratch[grads + n..];
        let (mu, rest) = rest.split_at_mut(n);
        let (pw, rest) = rest.split_at_mut(n);
        self.spectrum(w, mu, pw, &mut rest[..KEY]);
    }

    /// sum_k g_k dmu_k/dw_a for every padded axis, with g_k = f(k).
    fn per_axis(&self, mut f: impl FnMut(usize) -> f64) -> [f64; 3] {
        let [n0, n1, n2] = self.dims;
        let mut acc = [0.0; 3];
        let mut k = 0;
        for i0 in 0..n0 {
            let mut s0 = 0.0;
            for i1 in 0..n1 {
                let mut s1 = 0.0;
                for i2 in 0..n2 {
                    let g = f(k);
                    s1 += g;
                    acc[2] += g * self.eig[2][i2];
                    k += 1;
                }
                s0 += s1;
                acc[1] += s1 * self.eig[1][i1];
            }
            acc[0] += s0 * self.eig[0][i0];
        }
        acc
    }

    /// Adds d/d(range) from d/dw per padded axis (w_a = (range_a / h_a)^2).
    fn range_grad(&self, range: &[f64], dw: [f64; 3], out: &mut [f64]) {
        let pad = 3 - self.rank;
        for a in 0..self.rank {
            let p = pad + a;
            let r = if range.len() == 1 { range[0] } else { range[a] };
            let g = dw[p] * 2.0 * r / (self.spacing[p] * self.spacing[p]);
            if out.len() == 1 {
                out[0] += g;
            } else {
                out[a] += g;
            }
        }
    }

    /// The log density of the field prior and (when `grads` is given) its gradient with respect to
    /// the arguments flagged in `want`, written into the start of `scratch`, laid end to end in
    /// argument order. Matérn arguments are [x, mean, range, sd]; random-walk arguments [x, sd].
    /// `hyper_live` keeps the terms that depend on the hyperparameters (needed when any of them is a
    /// latent), `normalised` the -r/2 log(2 pi).
    pub fn log_density(
        &self,
        args: &[&[f64]],
        normalised: bool,
        hyper_live: bool,
        scratch: &mut [f64],
        want: [bool; 4],
    ) -> f64 {
        match self.kind {
            FieldKind::Matern { .. } => self.matern(args, normalised, hyper_live, scratch, want),
            FieldKind::RandomWalk { order } => {
                self.random_walk(order, args, normalised, hyper_live, scratch, want)
            }
        }
    }

    fn matern(
        &self,
        args: &[&[f64]],
        normalised: bool,
        hyper_live: bool,
        scratch: &mut [f64],
        want: [bool; 4],
    ) -> f64 {
        let (x, mean, range, sd) = (args[0], args[1], args[2], args[3][0]);
        let n = self.len();
        let nf = n as f64;
        let lens = [n, mean.len(), range.len(), 1];
        let grads_len: usize = lens.iter().sum();
        let (grads, rest) = scratch.split_at_mut(grads_len);
        let (y, rest) = rest.split_at_mut(n);
        let (mu, rest) = rest.split_at_mut(n);
        let (pw, rest) = rest.split_at_mut(n);
        let (key, work) = rest.split_at_mut(KEY);
        let Some(w) = self.weights(range) else {
            return f64::NEG_INFINITY;
        };
        if !(sd > 0.0 && sd.is_finite()) {
            return f64::NEG_INFINITY;
        }
        self.spectrum(w, mu, pw, key);
        let (s_sum, a_sum) = (key[4], key[5]);
        let (_, alpha) = self.nu_alpha();
        let lm = mean.len();
        for (yc, xc) in y.chunks_exact_mut(lm).zip(x.chunks_exact(lm)) {
            for ((y, x), m) in yc.iter_mut().zip(xc).zip(mean) {
                *y = x - m;
            }
        }
        self.transform(y, false, work);
        let b: f64 = y.iter().zip(pw.iter()).map(|(v, p)| p * v * v).sum();
        let c = s_sum / (nf * sd * sd);
        let mut lp = -0.5 * c * b;
        if hyper_live || normalised {
            lp += 0.5 * (nf * c.ln() + alpha * a_sum);
        }
        if normalised {
            lp -= 0.5 * nf * (2.0 * PI).ln();
        }
        let (gx, rest) = grads.split_at_mut(n);
        let (gm, rest) = rest.split_at_mut(lm);
        let (gr, gs) = rest.split_at_mut(range.len());
        if want[3] {
            gs[0] = (c * b - nf) / sd;
        }
        if want[2] {
            gr.fill(0.0);
            let dw = self.per_axis(|k| {
                let (m, p, v) = (mu[k], pw[k], y[k]);
                0.5 * alpha / m * (1.0 - c * p * v * v + (c * b - nf) / (s_sum * p))
            });
            self.range_grad(range, dw, gr);
        }
        if want[0] || want[1] {
            for k in 0..n {
                gx[k] = -c * pw[k] * y[k];
            }
            self.transform(gx, true, work);
        }
        if want[1] {
            gm.fill(0.0);
            for gc in gx.chunks_exact(lm) {
                for (m, g) in gm.iter_mut().zip(gc) {
                    *m -= g;
                }
            }
        }
        lp
    }

    fn random_walk(
        &self,
        order: usize,
        args: &[&[f64]],
        normalised: bool,
        hyper_live: bool,
        scratch: &mut [f64],
        want: [bool; 4],
    ) -> f64 {
        let (x, sd) = (args[0], args[1][0]);
        let want_grad = want[0];
        if !(sd > 0.0 && sd.is_finite()) {
            return f64::NEG_INFINITY;
        }
        let n = self.len();
        let (gx, gs) = scratch.split_at_mut(n);
        let inv = 1.0 / (sd * sd);
        if want_grad {
            gx.fill(0.0);
        }
        let mut q = 0.0;
        for p in 0..3 {
            let len = self.dims[p];
            let periodic = self.boundary[p] == Boundary::Periodic;
            // Differences along this axis: n - order of them on a free axis, n on a periodic one.
            let count = if periodic {
                len
            } else {
                len.saturating_sub(order)
            };
            if count == 0 || (len == 1 && !periodic) {
                continue;
            }
            let stride: usize = self.dims[p + 1..].iter().product();
            let outer: usize = self.dims[..p].iter().product();
            let at = |base: usize, j: usize| base + (j % len) * stride;
            for o in 0..outer {
                for i in 0..stride {
                    let base = o * len * stride + i;
                    for j in 0..count {
                        if order == 1 {
                            let (a, b) = (at(base, j), at(base, j + 1));
                            let d = x[b] - x[a];
                            q += d * d;
                            if want_grad {
                                gx[a] += d * inv;
                                gx[b] -= d * inv;
                            }
                        } else {
                            let (a, b, c) = (at(base, j), at(base, j + 1), at(base, j + 2));
                            let e = x[a] - 2.0 * x[b] + x[c];
                            q += e * e;
                            if want_grad {
                                gx[a] -= e * inv;
                                gx[b] += 2.0 * e * inv;
                                gx[c] -= e * inv;
                            }
                        }
                    }
                }
            }
        }
        let r = self.rw_rank() as f64;
        let mut lp = -0.5 * q * inv;
        if hyper_live || normalised {
            lp -= r * sd.ln();
        }
        if normalised {
            lp -= 0.5 * r * (2.0 * PI).ln();
        }
        if want[1] {
            gs[0] = (q * inv - r) / sd;
        }
        lp
    }

    /// The whitened field x = mean + T^-1 (z / sqrt(c mu^alpha)) into `out`; arguments
    /// [z, mean, range, sd]. Leaves the spectrum y = z / sqrt(c mu^alpha) in scratch for the reverse
    /// sweep. Returns false when a hyperparameter is invalid (the field is then NaN).
    pub fn whiten(&self, args: &[&[f64]], out: &mut [f64], scratch: &mut [f64]) -> bool {
        let (z, mean, range, sd) = (args[0], args[1], args[2], args[3][0]);
        let n = self.len();
        let (y, rest) = scratch.split_at_mut(n);
        let (mu, rest) = rest.split_at_mut(n);
        let (pw, rest) = rest.split_at_mut(n);
        let (key, rest) = rest.split_at_mut(KEY);
        let work = &mut rest[n..];
        let (Some(w), true) = (self.weights(range), sd > 0.0 && sd.is_finite()) else {
            out.fill(f64::NAN);
            return false;
        };
        self.spectrum(w, mu, pw, key);
        // 1 / sqrt(c) = sd sqrt(n / S).
        let scale = sd * (n as f64 / key[4]).sqrt();
        for k in 0..n {
            y[k] = scale * z[k] / pw[k].sqrt();
        }
        out.copy_from_slice(y);
        self.transform(out, true, work);
        for oc in out.chunks_exact_mut(mean.len()) {
            for (v, m) in oc.iter_mut().zip(mean) {
                *v += m;
            }
        }
        true
    }

    /// The reverse of `whiten`, first step: the spectrum's adjoint T g_out, into scratch.
    pub fn whiten_adjoint(&self, g_out: &[f64], scratch: &mut [f64]) {
        let n = self.len();
        let (ybar, work) = scratch[3 * n + KEY..].split_at_mut(n);
        ybar.copy_from_slice(g_out);
        self.transform(ybar, false, work);
    }

    /// The reverse of `whiten`, second step: adds argument `k`'s adjoint ([z, mean, range, sd]) to
    /// `target`, after `whiten_adjoint`.
    pub fn whiten_grad(
        &self,
        k: usize,
        args: &[&[f64]],
        g_out: &[f64],
        scratch: &[f64],
        target: &mut [f64],
    ) {
        let (range, sd) = (args[2], args[3][0]);
        let n = self.len();
        let (y, rest) = scratch.split_at(n);
        let (mu, rest) = rest.split_at(n);
        let (pw, rest) = rest.split_at(n);
        let (key, rest) = rest.split_at(KEY);
        let ybar = &rest[..n];
        let s_sum = key[4];
        let p = || -> f64 { ybar.iter().zip(y.iter()).map(|(a, b)| a * b).sum() };
        match k {
            0 => {
                let scale = sd * (n as f64 / s_sum).sqrt();
                for i in 0..n {
                    target[i] += ybar[i] * scale / pw[i].sqrt();
                }
            }
            1 => {
                for gc in g_out.chunks_exact(target.len()) {
                    for (t, g) in target.iter_mut().zip(gc) {
                        *t += g;
                    }
                }
            }
            2 => {
                let (_, alpha) = self.nu_alpha();
                let p = p();
                let dw =
                    self.per_axis(|k| 0.5 * alpha / mu[k] * (p / (s_sum * pw[k]) - ybar[k] * y[k]));
                self.range_grad(range, dw, target);
            }
            _ => target[0] += p() / sd,
        }
    }

    /// The white coordinates z of a field x (the inverse of `whiten`), at compile or set-up time.
    pub fn unwhiten(&self, x: &[f64], mean: &[f64], range: &[f64], sd: f64) -> Option<Vec<f64>> {
        let n = self.len();
        let w = self.weights(range)?;
        if !(sd > 0.0 && sd.is_finite()) {
            return None;
        }
        let mut scratch = vec![0.0; self.whiten_scratch_len()];
        let (mu, rest) = scratch[n..].split_at_mut(n);
        let (pw, rest) = rest.split_at_mut(n);
        let (key, rest) = rest.split_at_mut(KEY);
        let work = &mut rest[n..];
        self.spectrum(w, mu, pw, key);
        let lm = mean.len();
        let mut z: Vec<f64> = (0..n).map(|i| x[i] - mean[i % lm]).collect();
        self.transform(&mut z, false, work);
        let scale = sd * (n as f64 / key[4]).sqrt();
        for k in 0..n {
            z[k] *= pw[k].sqrt() / scale;
        }
        Some(z)
    }

    /// An exact draw from the Matérn prior given standard normal numbers `z` (one per cell).
    pub fn draw(&self, z: &[f64], mean: &[f64], range: &[f64], sd: f64) -> Option<Vec<f64>> {
        let mut out = vec![0.0; self.len()];
        let mut scratch = vec![0.0; self.whiten_scratch_len()];
        let args: [&[f64]; 4] = [z, mean, range, &[sd]];
        self.whiten(&args, &mut out, &mut scratch).then_some(out)
    }

    /// The separable orthonormal transform of a field (allocating; for tests and set-up).
    pub fn transform_copy(&self, x: &[f64], inverse: bool) -> Vec<f64> {
        let mut out = x.to_vec();
        let mut work = vec![0.0; self.work];
        self.transform(&mut out, inverse, &mut work);
        out
    }
}
