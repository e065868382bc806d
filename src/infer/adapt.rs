//! Warm-up adaptation as Stan does it: dual averaging of the step size towards a target acceptance
//! statistic, and windowed estimation of the metric (an initial fast window, slow windows doubling in
//! length, a final fast window).

/// Nesterov dual averaging of log step size (Hoffman and Gelman 2014, with Stan's constants).
#[derive(Debug, Clone)]
pub struct StepSizeAdapter {
    pub target: f64,
    gamma: f64,
    kappa: f64,
    t0: f64,
    mu: f64,
    counter: f64,
    s_bar: f64,
    x_bar: f64,
}

impl StepSizeAdapter {
    pub fn new(target: f64) -> StepSizeAdapter {
        StepSizeAdapter {
            target,
            gamma: 0.05,
            kappa: 0.75,
            t0: 10.0,
            mu: (10.0f64).ln(),
            counter: 0.0,
            s_bar: 0.0,
            x_bar: 0.0,
        }
    }

    /// Starts afresh around a new step size (after each metric update).
    pub fn restart(&mut self, epsilon: f64) {
        self.mu = (10.0 * epsilon).ln();
        self.counter = 0.0;
        self.s_bar = 0.0;
        self.x_bar = 0.0;
    }

    /// Learns from one transition's acceptance statistic; returns the next step size.
    pub fn learn(&mut self, accept_stat: f64) -> f64 {
        self.counter += 1.0;
        let a = accept_stat.min(1.0);
        let eta = 1.0 / (self.counter + self.t0);
        self.s_bar = (1.0 - eta) * self.s_bar + eta * (self.target - a);
        let x = self.mu - self.s_bar * self.counter.sqrt() / self.gamma;
        let x_eta = self.counter.powf(-self.kappa);
        self.x_bar = (1.0 - x_eta) * self.x_bar + x_eta * x;
        x.exp()
    }

    /// The step size to sample with once warm-up ends.
    pub fn final_step_size(&self) -> f64 {
        self.x_bar.exp()
    }
}

/// Stan's windowed schedule for estimating the metric during warm-up.
#[derive(Debug, Clone)]
pub struct Windows {
    warmup: usize,
    init_buffer: usize,
    term_buffer: usize,
    window_size: usize,
    next_window: usize,
    counter: usize,
}

impl Windows {
    /// Defaults 75 / 25 / 50 (initial buffer, first slow window, final buffer), shrunk in proportion
    /// (15% / 75% / 10%) when warm-up is too short for them, as Stan does.
    pub fn new(warmup: usize) -> Windows {
        let (mut init, mut base, mut term) = (75usize, 25usize, 50usize);
        if warmup < 20 {
            // Too short to estimate a metric: only the step size adapts.
            return Windows {
                warmup,
                init_buffer: warmup,
                term_buffer: 0,
                window_size: 0,
                next_window: usize::MAX,
                counter: 0,
            };
        }
        if init + base + term > warmup {
            init = (0.15 * warmup as f64) as usize;
            term = (0.1 * warmup as f64) as usize;
            base = warmup - (init + term);
        }
        Windows {
            warmup,
            init_buffer: init,
            term_buffer: term,
            window_size: base,
            next_window: init + base - 1,
            counter: 0,
        }
    }

    /// Whether the current iteration's draw goes into the metric estimate.
    pub fn in_window(&self) -> bool {
        self.window_size > 0
            && self.counter >= self.init_buffer
            && self.counter < self.warmup - self.term_buffer
            && self.counter != self.warmup
    }

    /// Whether the current iteration closes a slow window (time to update the metric).
    pub fn end_of_window(&self) -> bool {
        self.window_size > 0 && self.counter == self.next_window && self.counter != self.warmup
    }

    /// Moves to the next iteration, computing the next window when one just closed.
    pub fn advance(&mut self) {
        if self.end_of_window() {
            self.compute_next_window();
        }
        self.counter += 1;
    }

    fn compute_next_window(&mut self) {
        let last = self.warmup - self.term_buffer - 1;
        if self.next_window == last {
            return;
        }
        self.window_size *= 2;
        self.next_window = self.counter + self.window_size;
        if self.next_window != last {
            let boundary = self.next_window + 2 * self.window_size;
            if boundary >= self.warmup - self.term_buffer {
                self.next_window = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window ends for 1000 warm-up iterations are Stan's: 75 + 25, then 50, 100, 200, and a last
    /// slow window stretched to iteration 950.
    #[test]
    fn stan_window_schedule() {
        let mut w = Windows::new(1000);
        let mut ends = vec![];
        let mut first_in = None;
        for i in 0..1000 {
            if w.in_window() && first_in.is_none() {
                first_in = Some(i);
            }
            if w.end_of_window() {
                ends.push(i);
            }
            w.advance();
        }
        assert_eq!(first_in, Some(75));
        assert_eq!(ends, vec![99, 149, 249, 449, 949]);
    }

    #[test]
    fn short_warmup_shrinks_the_buffers() {
        let mut w = Windows::new(100);
        let mut ends = vec![];
        for i in 0..100 {
            if w.end_of_window() {
                ends.push(i);
            }
            w.advance();
        }
        assert_eq!(ends.last(), Some(&89));
        assert!(!Windows::new(10).end_of_window());
    }

    #[test]
    fn dual_averaging_moves_towards_the_target() {
        let mut a = StepSizeAdapter::new(0.8);
        a.restart(1.0);
        // Always accepting: the step size must grow; never accepting: shrink.
        let mut eps = 1.0;
        for _ in 0..50 {
            eps = a.learn(1.0);
        }
        assert!(eps > 1.0 && a.final_step_size() > 1.0);
        a.restart(1.0);
        for _ in 0..50 {
            eps = a.learn(0.0);
        }
        assert!(eps < 1.0 && a.final_step_size() < 1.0);
    }
}
