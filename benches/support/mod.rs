//! What the benchmarks share: this thread's CPU clock, compiling a model from text, and the simulated
//! inputs the tests use too.
#![allow(dead_code)]

#[path = "../../tests/common/simulated.rs"]
pub mod simulated;

/// This thread's CPU time in seconds: on a shared machine, the cost on one core without the time
/// spent waiting for it.
pub fn cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// This process's CPU time in seconds, every thread included: with data-parallel evaluation the work of
/// rayon's worker threads, which the calling thread's clock does not see.
pub fn process_cpu_seconds() -> f64 {
    clock_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock_seconds(clock: libc::clockid_t) -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer it is given.
    unsafe { libc::clock_gettime(clock, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Checks, loads and compiles a benchmark model (default passes).
pub fn compile(source: &str, json: &str) -> mmi::eval::CompiledModel {
    compile_with(source, json, &mmi::passes::Settings::default())
}

/// Checks, loads and compiles a benchmark model with the given passes.
pub fn compile_with(
    source: &str,
    json: &str,
    settings: &mmi::passes::Settings,
) -> mmi::eval::CompiledModel {
    let checked = mmi::check_source(source)
        .model
        .expect("the benchmark model checks");
    let (data, _) = mmi::data::load(&checked, json, "bench.json").expect("the benchmark data load");
    mmi::compile(&checked, &data, settings).expect("compiles")
}

/// The wall-clock and CPU seconds of one gradient of `model`, averaged over `reps` evaluations cycling
/// through `points` fixed points near the origin of the unconstrained space (after one warm-up call).
pub fn gradient_seconds(
    model: &mmi::eval::CompiledModel,
    points: usize,
    reps: usize,
) -> (f64, f64) {
    let (wall, cpu, _) = gradient_times(model, points, reps);
    (wall, cpu)
}

/// Like `gradient_seconds`, with the process's CPU time (all threads) per gradient as well.
pub fn gradient_times(
    model: &mmi::eval::CompiledModel,
    points: usize,
    reps: usize,
) -> (f64, f64, f64) {
    let mut ev = model.evaluator();
    let mut rng = simulated::Rng(7);
    let points: Vec<Vec<f64>> = (0..points)
        .map(|_| (0..model.dim()).map(|_| 0.5 * rng.normal()).collect())
        .collect();
    let mut grad = vec![0.0; model.dim()];
    ev.log_density_and_gradient(&points[0], &mut grad).unwrap();
    let (start, cpu, all) = (
        std::time::Instant::now(),
        cpu_seconds(),
        process_cpu_seconds(),
    );
    for r in 0..reps {
        ev.log_density_and_gradient(&points[r % points.len()], &mut grad)
            .unwrap();
    }
    (
        start.elapsed().as_secs_f64() / reps as f64,
        (cpu_seconds() - cpu) / reps as f64,
        (process_cpu_seconds() - all) / reps as f64,
    )
}
