//! The single-cell multiome model (models/multiome.mmi) at scale. Run with
//! `cargo bench --bench multiome`; prints the gradient time of the shipped small data set (60 cells)
//! and of a realistic one (2000 cells, 500 genes, 1000 peaks: 10^6 negative-binomial and 2 x 10^6
//! Bernoulli entries), and the MAP (L-BFGS) of the realistic one from `mmi map`'s initial point.
//! The realistic data are simulated with `mmi::infer::simulate` from a truth made here the way the
//! shipped truth was made (three cell types as clusters in a 2-D state; RNA loads on the first axis,
//! ATAC on the second). Times are wall-clock and this thread's CPU time.

use mmi::infer::lbfgs::{maximise, LbfgsSettings};
use std::time::Instant;

/// splitmix64: a fixed, portable stream of simulated values (benchmark data only).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn normals(&mut self, n: usize, mean: f64, sd: f64) -> String {
        let v: Vec<String> = (0..n)
            .map(|_| format!("{:.4}", mean + sd * self.normal()))
            .collect();
        format!("[{}]", v.join(","))
    }
}

/// The given data (sizes, library sizes) and a truth of n cells, g genes and p peaks.
fn truth(n: usize, g: usize, p: usize) -> (String, String) {
    let mut rng = Rng(2024);
    let centres = [[-1.2, -0.7], [1.2, -0.7], [-1.2, 1.4]];
    let z: Vec<String> = (0..n)
        .map(|i| {
            let c = centres[i % 3];
            format!(
                "[{:.4},{:.4}]",
                c[0] + 0.35 * rng.normal(),
                c[1] + 0.35 * rng.normal()
            )
        })
        .collect();
    let w_rna = format!(
        "[{},{}]",
        rng.normals(g, 0.0, 1.0),
        rng.normals(g, 0.0, 0.15)
    );
    let w_atac = format!(
        "[{},{}]",
        rng.normals(p, 0.0, 0.15),
        rng.normals(p, 0.0, 1.2)
    );
    let truth = format!(
        r#"{{"z": [{}], "W_rna": {w_rna}, "W_atac": {w_atac}, "b": {}, "c": {}, "phi": 8}}"#,
        z.join(","),
        rng.normals(g, 1.0, 0.8),
        rng.normals(p, -0.5, 0.8)
    );
    let given = format!(
        r#"{{"n": {n}, "g": {g}, "p": {p}, "k": 2, "log_lib": {}}}"#,
        rng.normals(n, 0.0, 0.3)
    );
    (given, truth)
}

/// This thread's CPU time in seconds.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn compile(source: &str, json: &str) -> mmi::eval::CompiledModel {
    let checked = mmi::check_source(source).model.expect("the model checks");
    let (data, _) = mmi::data::load(&checked, json, "bench.json").expect("the data load");
    mmi::compile(&checked, &data, &mmi::passes::Settings::default()).expect("compiles")
}

fn gradient_time(what: &str, model: &mmi::eval::CompiledModel, reps: usize) {
    let mut ev = model.evaluator();
    let mut rng = Rng(7);
    let points: Vec<Vec<f64>> = (0..4)
        .map(|_| (0..model.dim()).map(|_| 0.5 * rng.normal()).collect())
        .collect();
    let mut grad = vec![0.0; model.dim()];
    ev.log_density_and_gradient(&points[0], &mut grad).unwrap();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    for r in 0..reps {
        ev.log_density_and_gradient(&points[r % points.len()], &mut grad)
            .unwrap();
    }
    let per = start.elapsed().as_secs_f64() / reps as f64;
    let per_cpu = (cpu_seconds() - cpu) / reps as f64;
    println!(
        "gradient, {what}: {:.3} ms ({:.3} ms of CPU)",
        per * 1e3,
        per_cpu * 1e3
    );
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let source = std::fs::read_to_string(format!("{root}/models/multiome.mmi")).unwrap();
    let small = std::fs::read_to_string(format!("{root}/models/multiome.data.json")).unwrap();
    gradient_time(
        "shipped data (60 cells, 40 genes, 60 peaks)",
        &compile(&source, &small),
        2000,
    );

    let (n, g, p) = (2000, 500, 1000);
    let (given, truth) = truth(n, g, p);
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

    let mut ev = model.evaluator();
    let mut rng = mmi::infer::sample::chain_rng(1, 0);
    let x0 = mmi::infer::sample::initial_point(&mut ev, &mut rng, 2.0).unwrap();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let result = maximise(&mut ev, &x0, &LbfgsSettings::default());
    let took = start.elapsed().as_secs_f64();
    let took_cpu = cpu_seconds() - cpu;
    let (iters, evals, status) = match &result {
        Ok(r) => (r.iterations, r.evaluations, format!("{:?}", r.converged)),
        Err(e) => (0, 0, format!("{e:?}").chars().take(80).collect()),
    };
    println!(
        "MAP of {n} cells: {took:.1} s ({took_cpu:.1} s of CPU; {iters} iterations, {evals} \
         gradients, {:.0} ms of CPU each, {status})",
        1e3 * took_cpu / evals.max(1) as f64
    );
}
