//! Gradient speed of a sparse solve: a finite-volume DC-resistivity forward model on a 100 x 100 grid
//! (10 000 log-conductivity latents). Each evaluation assembles the conductance matrix from the
//! latent field (harmonic means on 19 800 faces plus a grounded top row), factors it with the sparse
//! LU, solves for the potential of one current source, and the gradient takes one adjoint solve.
//! Run with `cargo bench --bench poisson`; prints the time of one log density with its gradient.

use std::time::Instant;

const NX: usize = 100;
const NZ: usize = 100;

const MODEL: &str = r#"
data {
  n: int > 0, nf: int > 0, ng: int > 0, k: int > 0
  a: int[nf], b: int[nf]              # the two cells of each face (row-major cell numbers)
  top: int[ng]                        # cells grounded through the surface
  f: vector[n]                        # injected current per cell
  at: int[k], v: vector[k]            # potential readings
}
latent { log_sigma: field[n] ~ normal(-2, 1) }
law sigma = exp(log_sigma)
law c = 2 ./ (1 ./ sigma[a] + 1 ./ sigma[b])          # face conductances (harmonic means)
law K = sparse(to_vector([a, b, a, b]), to_vector([a, b, b, a]), to_vector([c, c, -c, -c]), n, n)
      + sparse(top, top, 2 * sigma[top], n, n)
law u = solve(K, f)
modality ert { v ~ normal(u[at], 0.01) }
"#;

fn data() -> String {
    let cell = |i: usize, j: usize| i * NZ + j + 1;
    let (mut a, mut b) = (vec![], vec![]);
    for i in 0..NX {
        for j in 0..NZ {
            if i + 1 < NX {
                a.push(cell(i, j));
                b.push(cell(i + 1, j));
            }
            if j + 1 < NZ {
                a.push(cell(i, j));
                b.push(cell(i, j + 1));
            }
        }
    }
    let top: Vec<usize> = (0..NX).map(|i| cell(i, 0)).collect();
    let mut f = vec![0.0; NX * NZ];
    f[cell(30, 0) - 1] = 1.0;
    f[cell(70, 0) - 1] = -1.0;
    let at: Vec<usize> = (10..90).step_by(5).map(|i| cell(i, 0)).collect();
    let list = |v: &[usize]| format!("{v:?}");
    format!(
        r#"{{"n": {}, "nf": {}, "ng": {}, "k": {}, "a": {}, "b": {}, "top": {}, "f": {:?}, "at": {}, "v": {:?}}}"#,
        NX * NZ,
        a.len(),
        top.len(),
        at.len(),
        list(&a),
        list(&b),
        list(&top),
        f,
        list(&at),
        vec![0.0; at.len()]
    )
}

fn main() {
    let out = mmi::check_source(MODEL);
    let model = out.model.expect("the benchmark model checks");
    let (data, _) = mmi::data::load(&model, &data(), "poisson.json").expect("data load");
    let t = Instant::now();
    let compiled =
        mmi::compile(&model, &data, &mmi::passes::Settings::default()).expect("compiles");
    let compile = t.elapsed().as_secs_f64();
    let mut ev = compiled.evaluator();
    let x: Vec<f64> = (0..compiled.dim())
        .map(|i| -2.0 + 0.3 * ((i as f64) * 0.01).sin())
        .collect();
    let mut grad = vec![0.0; x.len()];
    ev.log_density_and_gradient(&x, &mut grad).expect("finite");
    let mut runs = vec![];
    for _ in 0..7 {
        let reps = 10;
        let t = Instant::now();
        for _ in 0..reps {
            ev.log_density_and_gradient(&x, &mut grad).expect("finite");
        }
        runs.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let t = Instant::now();
    for _ in 0..10 {
        ev.log_density(&x).expect("finite");
    }
    let value = t.elapsed().as_secs_f64() / 10.0;
    println!(
        "finite-volume Poisson, {NX} x {NZ} grid ({} latents)",
        compiled.dim()
    );
    println!(
        "compile (lowering, passes, LU ordering): {:.1} ms",
        compile * 1e3
    );
    println!(
        "log density alone:                       {:.2} ms",
        value * 1e3
    );
    println!(
        "log density and gradient (median):       {:.2} ms",
        runs[runs.len() / 2] * 1e3
    );
}
