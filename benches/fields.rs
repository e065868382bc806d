//! Field priors at scale. Run with `cargo bench --bench fields`; prints:
//!
//! 1. the gradient of a 256 x 256 Matérn field prior with latent range and sd (the spectrum is
//!    recomputed on every call, as the range moves), and with a data range (spectrum cached);
//! 2. the MAP (L-BFGS) of a 1000 x 1000 denoising model: one Gaussian modality observing 10% of the
//!    cells (simulated from a smooth pattern with a fixed seed), a Matérn prior with data range and sd.
//!
//! Each time is given as wall-clock time and as this thread's CPU time (the cost on one core when
//! the machine is shared).

mod support;

use mmi::infer::lbfgs::{maximise, LbfgsSettings};
use std::time::Instant;
use support::simulated::Rng;
use support::{compile, cpu_seconds, gradient_seconds};

fn gradient_timing() {
    for (what, range) in [
        ("latent range and sd", "rho"),
        ("data range, latent sd", "20"),
    ] {
        let source = format!(
            "latent {{
  rho: real > 0 ~ lognormal(log(20), 0.5)
  s: real > 0 ~ lognormal(0, 1)
  f: field[256, 256] ~ matern(nu = 1, range = {range}, sd = s)
}}"
        );
        let model = compile(&source, "{}");
        let (per, per_cpu) = gradient_seconds(&model, 20, 200);
        println!(
            "gradient of a 256 x 256 Matérn prior ({what}): {:.3} ms ({:.3} ms of CPU)",
            per * 1e3,
            per_cpu * 1e3
        );
    }
}

fn map_timing() {
    let (nx, ny) = (1000usize, 1000usize);
    let mut rng = Rng(11);
    let (mut ix, mut iy, mut y) = (vec![], vec![], vec![]);
    for i in 1..=nx {
        for j in 1..=ny {
            if rng.next() < 0.1 {
                let (u, v) = (i as f64 / 80.0, j as f64 / 120.0);
                ix.push(i.to_string());
                iy.push(j.to_string());
                y.push(format!("{}", u.sin() * v.cos() + 0.2 * rng.normal()));
            }
        }
    }
    let json = format!(
        r#"{{"nx": {nx}, "ny": {ny}, "k": {}, "ix": [{}], "iy": [{}], "y": [{}]}}"#,
        y.len(),
        ix.join(","),
        iy.join(","),
        y.join(",")
    );
    let source =
        "data { nx: int > 0, ny: int > 0, k: int > 0, ix: int[k], iy: int[k], y: vector[k] }
latent { f: field[nx, ny] ~ matern(nu = 1, range = 40, sd = 1) }
modality pixels { y ~ normal(f[ix, iy], 0.2) }";
    let start = Instant::now();
    let model = compile(source, &json);
    let built = start.elapsed().as_secs_f64();
    let mut ev = model.evaluator();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let x0 = vec![0.0; model.dim()];
    let result = maximise(&mut ev, &x0, &LbfgsSettings::default());
    let took = start.elapsed().as_secs_f64();
    let took_cpu = cpu_seconds() - cpu;
    let (iters, evals, status) = match &result {
        Ok(r) => (r.iterations, r.evaluations, "converged".to_string()),
        Err(e) => (0, 0, format!("{e:?}").chars().take(80).collect()),
    };
    println!(
        "MAP of a 1000 x 1000 denoising model ({} observed cells): {took:.1} s ({took_cpu:.1} s \
         of CPU; {iters} iterations, {evals} gradients, {status}); loading and compiling {built:.1} s",
        y.len()
    );
}

fn main() {
    gradient_timing();
    map_timing();
}
