//! The single-cell multiome model (models/multiome.mmi) at scale. Run with
//! `cargo bench --bench multiome`; prints the gradient time of the shipped small data set (60 cells)
//! and of a realistic one (2000 cells, 500 genes, 1000 peaks: 10^6 negative-binomial and 2 x 10^6
//! Bernoulli entries; also without affine fusion, to show what it saves), and the MAP (L-BFGS) of the
//! realistic one from `mmi map`'s initial point.
//! The realistic data are simulated with `mmi::infer::simulate` from the truth in tests/common/simulated.rs, made the way the
//! shipped truth was made (three cell types as clusters in a 2-D state; RNA loads on the first axis,
//! ATAC on the second). Times are wall-clock, this thread's CPU time and the process's CPU time (every
//! thread: the big likelihood and affine nodes are evaluated on all of rayon's threads). Everything runs
//! inside rayon's pool, as `mmi map` does, so that the parallel nodes split their work from a worker.

mod support;

use mmi::infer::lbfgs::{maximise, LbfgsSettings};
use std::time::Instant;
use support::{compile, cpu_seconds, gradient_times, process_cpu_seconds};

fn gradient_time(what: &str, model: &mmi::eval::CompiledModel, reps: usize) {
    let (per, per_cpu, per_all) = gradient_times(model, 4, reps);
    println!(
        "gradient, {what}: {:.3} ms ({:.3} ms of this thread's CPU, {:.3} ms of the process's)",
        per * 1e3,
        per_cpu * 1e3,
        per_all * 1e3
    );
}

fn main() {
    println!("rayon threads: {}", rayon::current_num_threads());
    rayon::scope(|_| run());
}

fn run() {
    let root = env!("CARGO_MANIFEST_DIR");
    let source = std::fs::read_to_string(format!("{root}/models/multiome.mmi")).unwrap();
    let small = std::fs::read_to_string(format!("{root}/models/multiome.data.json")).unwrap();
    gradient_time(
        "shipped data (60 cells, 40 genes, 60 peaks)",
        &compile(&source, &small),
        2000,
    );

    let (n, g, p) = (2000, 500, 1000);
    let (given, truth, _) = support::simulated::realistic_truth(n, g, p);
    let checked = mmi::check_source(&source).model.unwrap();
    let start = Instant::now();
    let data = mmi::infer::simulate::simulate(&checked, &given, "given.json", Some(&truth), 1)
        .unwrap_or_else(|_| panic!("simulates"))
        .data_json();
    let model = compile(&source, &data);
    println!(
        "simulating and compiling {n} cells x ({g} genes + {p} peaks): {:.1} s",
        start.elapsed().as_secs_f64()
    );
    gradient_time(&format!("{n} cells, {g} genes, {p} peaks"), &model, 20);
    // The same in a 1-thread pool, right after: the speed-up of the parallel nodes measured under the
    // same load of a shared machine.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    one.install(|| gradient_time("the same on 1 thread", &model, 20));
    // What affine fusion saves: the same graph with the linear predictors as a product, broadcast
    // copies of the offsets and partial sums.
    let unfused = support::compile_with(
        &source,
        &data,
        &mmi::passes::Settings {
            fuse_affine: false,
            ..mmi::passes::Settings::default()
        },
    );
    gradient_time("the same without affine fusion", &unfused, 20);
    drop(unfused);

    let mut ev = model.evaluator();
    let mut rng = mmi::infer::sample::chain_rng(1, 0);
    let x0 = mmi::infer::sample::initial_point(&mut ev, &mut rng, 2.0).unwrap();
    let (start, cpu, all) = (Instant::now(), cpu_seconds(), process_cpu_seconds());
    let result = maximise(&mut ev, &x0, &LbfgsSettings::default());
    let took = start.elapsed().as_secs_f64();
    let took_cpu = cpu_seconds() - cpu;
    let took_all = process_cpu_seconds() - all;
    let (iters, evals, status) = match &result {
        Ok(r) => (r.iterations, r.evaluations, format!("{:?}", r.converged)),
        Err(e) => (0, 0, format!("{e:?}").chars().take(80).collect()),
    };
    println!(
        "MAP of {n} cells: {took:.1} s wall ({took_cpu:.1} s of this thread's CPU, {took_all:.1} s \
         of the process's; {iters} iterations, {evals} gradients, {:.0} ms wall each, {status})",
        1e3 * took / evals.max(1) as f64
    );
}
