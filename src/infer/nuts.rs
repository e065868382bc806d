//! The No-U-Turn sampler as Stan implements it: multinomial sampling of trajectory states, the
//! generalised no-U-turn criterion checked across and between subtrees, a maximum tree depth, and
//! divergences flagged when the energy error exceeds a bound.
//!
//! Every buffer a transition needs (one set per tree depth) is allocated once, so a leapfrog step and a
//! whole transition allocate nothing.

use super::metric::Metric;
use super::LogDensity;
use rand::RngExt;

/// A point in phase space: position, momentum, and the log density with its gradient at the position.
#[derive(Debug, Clone)]
struct Point {
    q: Vec<f64>,
    p: Vec<f64>,
    grad: Vec<f64>,
    lp: f64,
}

impl Point {
    fn new(d: usize) -> Point {
        Point {
            q: vec![0.0; d],
            p: vec![0.0; d],
            grad: vec![0.0; d],
            lp: f64::NEG_INFINITY,
        }
    }

    fn copy_from(&mut self, o: &Point) {
        self.q.copy_from_slice(&o.q);
        self.p.copy_from_slice(&o.p);
        self.grad.copy_from_slice(&o.grad);
        self.lp = o.lp;
    }
}

/// The buffers of one level of the tree recursion.
#[derive(Debug, Clone, Default)]
struct Level {
    p_init_end: Vec<f64>,
    p_sharp_init_end: Vec<f64>,
    rho_init: Vec<f64>,
    propose_final: Option<Point>,
    p_final_beg: Vec<f64>,
    p_sharp_final_beg: Vec<f64>,
    rho_final: Vec<f64>,
    rho_subtree: Vec<f64>,
}

/// What one transition reports (Stan's sampler diagnostics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    pub lp: f64,
    pub accept_stat: f64,
    pub step_size: f64,
    pub tree_depth: usize,
    pub n_leapfrog: usize,
    pub divergent: bool,
    pub energy: f64,
}

pub struct Nuts {
    pub metric: Metric,
    pub step_size: f64,
    pub max_depth: usize,
    /// Energy error beyond which a trajectory is divergent.
    pub max_delta_h: f64,
    z: Point,
    fwd: Point,
    bck: Point,
    sample: Point,
    propose: Point,
    init: Point,
    scratch: Vec<f64>,
    vel: Vec<f64>,
    // Momenta and velocities at the ends of the forward and backward subtrees.
    p_fwd_fwd: Vec<f64>,
    ps_fwd_fwd: Vec<f64>,
    p_fwd_bck: Vec<f64>,
    ps_fwd_bck: Vec<f64>,
    p_bck_fwd: Vec<f64>,
    ps_bck_fwd: Vec<f64>,
    p_bck_bck: Vec<f64>,
    ps_bck_bck: Vec<f64>,
    rho: Vec<f64>,
    rho_fwd: Vec<f64>,
    rho_bck: Vec<f64>,
    rho_ext: Vec<f64>,
    levels: Vec<Level>,
    divergent: bool,
    epsilon: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn log_sum_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// The generalised no-U-turn criterion: both ends still move along the summed momentum.
fn criterion(ps_minus: &[f64], ps_plus: &[f64], rho: &[f64]) -> bool {
    dot(ps_plus, rho) > 0.0 && dot(ps_minus, rho) > 0.0
}

impl Nuts {
    pub fn new(d: usize, metric: Metric, step_size: f64, max_depth: usize) -> Nuts {
        let v = || vec![0.0; d];
        let level = || Level {
            p_init_end: v(),
            p_sharp_init_end: v(),
            rho_init: v(),
            propose_final: Some(Point::new(d)),
            p_final_beg: v(),
            p_sharp_final_beg: v(),
            rho_final: v(),
            rho_subtree: v(),
        };
        Nuts {
            metric,
            step_size,
            max_depth,
            max_delta_h: 1000.0,
            z: Point::new(d),
            fwd: Point::new(d),
            bck: Point::new(d),
            sample: Point::new(d),
            propose: Point::new(d),
            init: Point::new(d),
            scratch: v(),
            vel: v(),
            p_fwd_fwd: v(),
            ps_fwd_fwd: v(),
            p_fwd_bck: v(),
            ps_fwd_bck: v(),
            p_bck_fwd: v(),
            ps_bck_fwd: v(),
            p_bck_bck: v(),
            ps_bck_bck: v(),
            rho: v(),
            rho_fwd: v(),
            rho_bck: v(),
            rho_ext: v(),
            levels: (0..=max_depth).map(|_| level()).collect(),
            divergent: false,
            epsilon: step_size,
        }
    }

    /// Sets the current position; `Err` if the log density or gradient is not finite there.
    pub fn set_position(
        &mut self,
        model: &mut dyn LogDensity,
        q: &[f64],
    ) -> Result<(), super::EvalError> {
        self.z.q.copy_from_slice(q);
        self.z.lp = model.log_density_gradient(&self.z.q, &mut self.z.grad)?;
        Ok(())
    }

    pub fn position(&self) -> &[f64] {
        &self.z.q
    }

    pub fn log_density(&self) -> f64 {
        self.z.lp
    }

    /// One leapfrog step of `eps` from the current point `z`.
    fn leapfrog(&mut self, model: &mut dyn LogDensity, eps: f64) {
        let z = &mut self.z;
        for i in 0..z.p.len() {
            z.p[i] += 0.5 * eps * z.grad[i];
        }
        self.metric.velocity(&z.p, &mut self.vel);
        for i in 0..z.q.len() {
            z.q[i] += eps * self.vel[i];
        }
        match model.log_density_gradient(&z.q, &mut z.grad) {
            Ok(lp) => z.lp = lp,
            Err(_) => {
                // Outside the support (or an overflow): the energy is infinite, a divergence.
                z.lp = f64::NEG_INFINITY;
                z.grad.fill(0.0);
                return;
            }
        }
        for i in 0..z.p.len() {
            z.p[i] += 0.5 * eps * z.grad[i];
        }
    }

    /// The total energy at `z` (infinite where the log density is not finite).
    fn energy_z(&mut self) -> f64 {
        self.metric.velocity(&self.z.p, &mut self.vel);
        let h = -self.z.lp + Metric::kinetic(&self.z.p, &self.vel);
        if h.is_nan() {
            f64::INFINITY
        } else {
            h
        }
    }

    /// Stan's heuristic: double or halve the step size until one leapfrog step's acceptance crosses 0.8.
    pub fn init_step_size(&mut self, model: &mut dyn LogDensity, rng: &mut impl rand::Rng) {
        self.init.copy_from(&self.z);
        let mut direction = 0.0;
        for _ in 0..100 {
            self.z.copy_from(&self.init);
            self.metric
                .sample_momentum(rng, &mut self.z.p, &mut self.scratch);
            let h0 = self.energy_z();
            self.leapfrog(model, self.step_size);
            let h = self.energy_z();
            let delta_h = h0 - h;
            let up = delta_h > (0.8f64).ln();
            if direction == 0.0 {
                direction = if up { 1.0 } else { -1.0 };
            }
            if (direction == 1.0 && !up) || (direction == -1.0 && up) {
                break;
            }
            self.step_size *= if direction == 1.0 { 2.0 } else { 0.5 };
            if self.step_size > 1e7 || self.step_size < 1e-300 {
                self.step_size = self.step_size.clamp(1e-300, 1e7);
                break;
            }
        }
        self.z.copy_from(&self.init);
    }

    /// One NUTS transition from the current position.
    pub fn transition(
        &mut self,
        model: &mut dyn LogDensity,
        rng: &mut impl rand::Rng,
    ) -> Transition {
        self.epsilon = self.step_size;
        self.metric
            .sample_momentum(rng, &mut self.z.p, &mut self.scratch);
        self.fwd.copy_from(&self.z);
        self.bck.copy_from(&self.z);
        self.sample.copy_from(&self.z);
        self.propose.copy_from(&self.z);
        self.metric.velocity(&self.z.p, &mut self.ps_fwd_fwd);
        for v in [
            &mut self.p_fwd_fwd,
            &mut self.p_fwd_bck,
            &mut self.p_bck_fwd,
            &mut self.p_bck_bck,
            &mut self.rho,
        ] {
            v.copy_from_slice(&self.z.p);
        }
        self.ps_fwd_bck.copy_from_slice(&self.ps_fwd_fwd);
        self.ps_bck_fwd.copy_from_slice(&self.ps_fwd_fwd);
        self.ps_bck_bck.copy_from_slice(&self.ps_fwd_fwd);

        let h0 = self.energy_z();
        let mut log_sum_weight = 0.0;
        let mut n_leapfrog = 0;
        let mut sum_metro_prob = 0.0;
        let mut depth = 0;
        self.divergent = false;

        while depth < self.max_depth {
            self.rho_fwd.fill(0.0);
            self.rho_bck.fill(0.0);
            let mut log_sum_weight_subtree = f64::NEG_INFINITY;
            let forward = rng.random::<f64>() > 0.5;
            let valid = self.extend(
                model,
                rng,
                forward,
                depth,
                h0,
                &mut n_leapfrog,
                &mut log_sum_weight_subtree,
                &mut sum_metro_prob,
            );
            if !valid {
                break;
            }
            depth += 1;
            if log_sum_weight_subtree > log_sum_weight {
                self.sample.copy_from(&self.propose);
            } else {
                let accept = (log_sum_weight_subtree - log_sum_weight).exp();
                if rng.random::<f64>() < accept {
                    self.sample.copy_from(&self.propose);
                }
            }
            log_sum_weight = log_sum_exp(log_sum_weight, log_sum_weight_subtree);
            for i in 0..self.rho.len() {
                self.rho[i] = self.rho_bck[i] + self.rho_fwd[i];
            }
            let mut persist = criterion(&self.ps_bck_bck, &self.ps_fwd_fwd, &self.rho);
            for i in 0..self.rho.len() {
                self.rho_ext[i] = self.rho_bck[i] + self.p_fwd_bck[i];
            }
            persist &= criterion(&self.ps_bck_bck, &self.ps_fwd_bck, &self.rho_ext);
            for i in 0..self.rho.len() {
                self.rho_ext[i] = self.rho_fwd[i] + self.p_bck_fwd[i];
            }
            persist &= criterion(&self.ps_bck_fwd, &self.ps_fwd_fwd, &self.rho_ext);
            if !persist {
                break;
            }
        }
        self.z.copy_from(&self.sample);
        let energy = self.energy_z();
        Transition {
            lp: self.z.lp,
            accept_stat: if n_leapfrog > 0 {
                sum_metro_prob / n_leapfrog as f64
            } else {
                0.0
            },
            step_size: self.step_size,
            tree_depth: depth,
            n_leapfrog,
            divergent: self.divergent,
            energy,
        }
    }

    /// Grows the trajectory by a subtree of 2^depth steps at its forward or backward end. The
    /// trajectory so far becomes the other subtree: its edge next to the new one is the old end (checked
    /// against the new subtree in the merged criterion).
    #[allow(clippy::too_many_arguments)]
    fn extend(
        &mut self,
        model: &mut dyn LogDensity,
        rng: &mut impl rand::Rng,
        forward: bool,
        depth: usize,
        h0: f64,
        n_leapfrog: &mut usize,
        log_sum_weight: &mut f64,
        sum_metro_prob: &mut f64,
    ) -> bool {
        if forward {
            self.z.copy_from(&self.fwd);
            self.rho_bck.copy_from_slice(&self.rho);
            self.p_bck_fwd.copy_from_slice(&self.p_fwd_fwd);
            self.ps_bck_fwd.copy_from_slice(&self.ps_fwd_fwd);
            self.epsilon = self.step_size.abs();
        } else {
            self.z.copy_from(&self.bck);
            self.rho_fwd.copy_from_slice(&self.rho);
            self.p_fwd_bck.copy_from_slice(&self.p_bck_bck);
            self.ps_fwd_bck.copy_from_slice(&self.ps_bck_bck);
            self.epsilon = -self.step_size.abs();
        }
        let mut ends = Ends::take(self, forward);
        let valid = self.build_tree(
            model,
            rng,
            depth,
            &mut ends,
            h0,
            n_leapfrog,
            log_sum_weight,
            sum_metro_prob,
        );
        ends.put(self, forward);
        if forward {
            self.fwd.copy_from(&self.z);
        } else {
            self.bck.copy_from(&self.z);
        }
        valid
    }

    /// Builds a subtree of 2^depth leapfrog steps in the direction of `self.epsilon` from `z`.
    #[allow(clippy::too_many_arguments)]
    fn build_tree(
        &mut self,
        model: &mut dyn LogDensity,
        rng: &mut impl rand::Rng,
        depth: usize,
        ends: &mut Ends,
        h0: f64,
        n_leapfrog: &mut usize,
        log_sum_weight: &mut f64,
        sum_metro_prob: &mut f64,
    ) -> bool {
        if depth == 0 {
            self.leapfrog(model, self.epsilon);
            *n_leapfrog += 1;
            let h = self.energy_z();
            if h - h0 > self.max_delta_h {
                self.divergent = true;
            }
            *log_sum_weight = log_sum_exp(*log_sum_weight, h0 - h);
            *sum_metro_prob += if h0 - h > 0.0 { 1.0 } else { (h0 - h).exp() };
            ends.propose.copy_from(&self.z);
            self.metric.velocity(&self.z.p, &mut ends.ps_beg);
            ends.ps_end.copy_from_slice(&ends.ps_beg);
            for i in 0..ends.rho.len() {
                ends.rho[i] += self.z.p[i];
            }
            ends.p_beg.copy_from_slice(&self.z.p);
            ends.p_end.copy_from_slice(&self.z.p);
            return !self.divergent;
        }
        let mut lv = std::mem::take(&mut self.levels[depth]);
        let mut log_sum_weight_init = f64::NEG_INFINITY;
        lv.rho_init.fill(0.0);
        // The initial subtree: its begin is ours, its end is kept in this level's buffers.
        let valid_init = {
            let mut sub = Ends {
                propose: std::mem::replace(&mut ends.propose, Point::new(0)),
                ps_beg: std::mem::take(&mut ends.ps_beg),
                ps_end: std::mem::take(&mut lv.p_sharp_init_end),
                rho: std::mem::take(&mut lv.rho_init),
                p_beg: std::mem::take(&mut ends.p_beg),
                p_end: std::mem::take(&mut lv.p_init_end),
            };
            let ok = self.build_tree(
                model,
                rng,
                depth - 1,
                &mut sub,
                h0,
                n_leapfrog,
                &mut log_sum_weight_init,
                sum_metro_prob,
            );
            ends.propose = sub.propose;
            ends.ps_beg = sub.ps_beg;
            lv.p_sharp_init_end = sub.ps_end;
            lv.rho_init = sub.rho;
            ends.p_beg = sub.p_beg;
            lv.p_init_end = sub.p_end;
            ok
        };
        if !valid_init {
            self.levels[depth] = lv;
            return false;
        }
        let mut propose_final = lv
            .propose_final
            .take()
            .expect("level buffers are restored after use");
        propose_final.copy_from(&self.z);
        let mut log_sum_weight_final = f64::NEG_INFINITY;
        lv.rho_final.fill(0.0);
        let valid_final = {
            let mut sub = Ends {
                propose: propose_final,
                ps_beg: std::mem::take(&mut lv.p_sharp_final_beg),
                ps_end: std::mem::take(&mut ends.ps_end),
                rho: std::mem::take(&mut lv.rho_final),
                p_beg: std::mem::take(&mut lv.p_final_beg),
                p_end: std::mem::take(&mut ends.p_end),
            };
            let ok = self.build_tree(
                model,
                rng,
                depth - 1,
                &mut sub,
                h0,
                n_leapfrog,
                &mut log_sum_weight_final,
                sum_metro_prob,
            );
            propose_final = sub.propose;
            lv.p_sharp_final_beg = sub.ps_beg;
            ends.ps_end = sub.ps_end;
            lv.rho_final = sub.rho;
            lv.p_final_beg = sub.p_beg;
            ends.p_end = sub.p_end;
            ok
        };
        let result = if !valid_final {
            false
        } else {
            let log_sum_weight_subtree = log_sum_exp(log_sum_weight_init, log_sum_weight_final);
            *log_sum_weight = log_sum_exp(*log_sum_weight, log_sum_weight_subtree);
            if log_sum_weight_final > log_sum_weight_subtree {
                ends.propose.copy_from(&propose_final);
            } else {
                let accept = (log_sum_weight_final - log_sum_weight_subtree).exp();
                if rng.random::<f64>() < accept {
                    ends.propose.copy_from(&propose_final);
                }
            }
            for i in 0..lv.rho_subtree.len() {
                lv.rho_subtree[i] = lv.rho_init[i] + lv.rho_final[i];
                ends.rho[i] += lv.rho_subtree[i];
            }
            let mut persist = criterion(&ends.ps_beg, &ends.ps_end, &lv.rho_subtree);
            for i in 0..self.rho_ext.len() {
                self.rho_ext[i] = lv.rho_init[i] + lv.p_final_beg[i];
            }
            persist &= criterion(&ends.ps_beg, &lv.p_sharp_final_beg, &self.rho_ext);
            for i in 0..self.rho_ext.len() {
                self.rho_ext[i] = lv.rho_final[i] + lv.p_init_end[i];
            }
            persist &= criterion(&lv.p_sharp_init_end, &ends.ps_end, &self.rho_ext);
            persist
        };
        lv.propose_final = Some(propose_final);
        self.levels[depth] = lv;
        result
    }
}

/// The buffers a subtree fills: the proposal, velocities and momenta at its two ends, and its summed
/// momentum. Moved in and out of the sampler (no copying, no allocation).
struct Ends {
    propose: Point,
    ps_beg: Vec<f64>,
    ps_end: Vec<f64>,
    rho: Vec<f64>,
    p_beg: Vec<f64>,
    p_end: Vec<f64>,
}

impl Ends {
    /// The forward subtree grows from the forward end: its begin is (p_fwd_bck, ps_fwd_bck), its end
    /// (p_fwd_fwd, ps_fwd_fwd); the backward one mirrors it.
    fn take(s: &mut Nuts, forward: bool) -> Ends {
        let propose = std::mem::replace(&mut s.propose, Point::new(0));
        if forward {
            Ends {
                propose,
                ps_beg: std::mem::take(&mut s.ps_fwd_bck),
                ps_end: std::mem::take(&mut s.ps_fwd_fwd),
                rho: std::mem::take(&mut s.rho_fwd),
                p_beg: std::mem::take(&mut s.p_fwd_bck),
                p_end: std::mem::take(&mut s.p_fwd_fwd),
            }
        } else {
            Ends {
                propose,
                ps_beg: std::mem::take(&mut s.ps_bck_fwd),
                ps_end: std::mem::take(&mut s.ps_bck_bck),
                rho: std::mem::take(&mut s.rho_bck),
                p_beg: std::mem::take(&mut s.p_bck_fwd),
                p_end: std::mem::take(&mut s.p_bck_bck),
            }
        }
    }

    fn put(self, s: &mut Nuts, forward: bool) {
        s.propose = self.propose;
        if forward {
            s.ps_fwd_bck = self.ps_beg;
            s.ps_fwd_fwd = self.ps_end;
            s.rho_fwd = self.rho;
            s.p_fwd_bck = self.p_beg;
            s.p_fwd_fwd = self.p_end;
        } else {
            s.ps_bck_fwd = self.ps_beg;
            s.ps_bck_bck = self.ps_end;
            s.rho_bck = self.rho;
            s.p_bck_fwd = self.p_beg;
            s.p_bck_bck = self.p_end;
        }
    }
}
