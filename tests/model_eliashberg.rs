//! models/eliashberg.mmi: the Eliashberg function alpha^2F seen by ARPES, optics and T_c.
//!
//! 1. The shipped data regenerate from the truth, and NUTS (seed 1) covers the truth with its 90%
//!    intervals (at least 85% of the latent elements) without divergences or other warnings.
//! 2. Each probe alone leaves a different part of the spectrum uncertain, and together they pin it
//!    down: Laplace posteriors at the mode, with the other modalities weighted to zero, compared band
//!    by band (the sd of the mean of log alpha^2F over a band of phonon frequencies) and on the two
//!    numbers T_c depends on, lambda and omega_log (their sds by the delta method).
//!
//! The Laplace sds are narrower than the draws' (`mmi sample --report` shows the same bands as the laws
//! band_low/mid/high): at the mode the roughness tau sits at a point, while the draws also average over
//! tau and over the weakly seen high band. Only ratios between probes are claimed, and the draws'
//! report shows the same order (ARPES alone leaves the low band about twice as wide as optics; T_c
//! alone leaves lambda undetermined), though with smaller contrasts in the high band.

mod common;

use common::shipped::{
    compile_shipped, covered, read_json, regenerates, sample_with_truth, vector,
};

#[test]
fn eliashberg_data_come_from_its_truth_and_sampling_recovers_it() {
    let dir = regenerates("eliashberg");
    let (summary, truth) = sample_with_truth("eliashberg", &dir);
    let (mut inside, mut total) = (0, 0);
    for name in ["log_a2F", "tau", "sigma_arpes", "sigma_opt"] {
        let (i, n) = covered(&summary, &truth, name);
        if i < n {
            eprintln!(
                "{name}: {} of {n} elements outside their 90% intervals",
                n - i
            );
        }
        inside += i;
        total += n;
    }
    assert_eq!(total, 43);
    assert!(
        inside as f64 >= 0.85 * total as f64,
        "90% intervals cover {inside} of {total}"
    );
    assert_eq!(
        summary["divergences"].as_u64(),
        Some(0),
        "{}",
        summary["warnings"]
    );
    assert_eq!(
        summary["warnings"].as_array().map_or(0, |w| w.len()),
        0,
        "{}",
        summary["warnings"]
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Posterior sds under the Laplace approximation at the mode, with the modalities (arpes, optics, tc)
/// weighted by `weights`: of the mean of log alpha^2F over each band of grid cells, of lambda and of
/// log omega_log.
struct Spread {
    bands: Vec<f64>,
    lambda: f64,
    log_omega_log: f64,
}

const LATENTS: [&str; 4] = ["log_a2F", "tau", "sigma_arpes", "sigma_opt"];

fn spread(
    model: &mmi::eval::CompiledModel,
    weights: [f64; 3],
    bands: &[std::ops::Range<usize>],
) -> Spread {
    let mut ev = model.evaluator();
    for (k, w) in weights.iter().enumerate() {
        ev.set_modality_weight(k, *w);
    }
    let truth = read_json("models/eliashberg.truth.json");
    let latents: Vec<(String, Vec<f64>)> = LATENTS
        .iter()
        .map(|n| match &truth[n] {
            serde_json::Value::Array(_) => (n.to_string(), vector(&truth[n])),
            x => (n.to_string(), vec![x.as_f64().unwrap()]),
        })
        .collect();
    let x0 = ev.unconstrain(&latents).unwrap();
    let n_w = latents[0].1.len();
    // The centred field's coordinates are its values, first in the latent order.
    assert_eq!(&x0[..n_w], &latents[0].1[..]);
    // The field's cells are strongly coupled by the kernels: a longer memory converges where Stan's 5
    // steps crawl.
    let settings = mmi::infer::lbfgs::LbfgsSettings {
        history: Some(20),
        max_iters: 20_000,
        ..Default::default()
    };
    let mode = mmi::infer::lbfgs::maximise(&mut ev, &x0, &settings)
        .unwrap_or_else(|e| panic!("weights {weights:?}: {e}"))
        .x;
    let lap = mmi::infer::laplace::laplace(&mut ev, &mode).unwrap();
    let d = mode.len();
    let sd = |v: &[f64]| -> f64 {
        let mut s = 0.0;
        for i in 0..v.len() {
            for j in 0..v.len() {
                s += v[i] * lap.covariance[i * d + j] * v[j];
            }
        }
        s.sqrt()
    };
    let bands = bands
        .iter()
        .map(|b| {
            let v: Vec<f64> = (0..n_w)
                .map(|i| {
                    if b.contains(&i) {
                        1.0 / b.len() as f64
                    } else {
                        0.0
                    }
                })
                .collect();
            sd(&v)
        })
        .collect();
    // lambda = 2 dOmega sum a_j / Omega_j and log omega_log = (2 dOmega / lambda) sum ln(Omega_j) a_j /
    // Omega_j, with a = exp(log_a2F): their gradients in log_a2F at the mode, for the delta method.
    let data = read_json("models/eliashberg.data.json");
    let omega = vector(&data["Omega"]);
    let step = data["dOmega"].as_f64().unwrap();
    let dlambda: Vec<f64> = (0..n_w)
        .map(|j| 2.0 * step * mode[j].exp() / omega[j])
        .collect();
    let lambda: f64 = dlambda.iter().sum();
    let log_wlog: f64 = (0..n_w).map(|j| dlambda[j] * omega[j].ln()).sum::<f64>() / lambda;
    let dlog_wlog: Vec<f64> = (0..n_w)
        .map(|j| dlambda[j] / lambda * (omega[j].ln() - log_wlog))
        .collect();
    Spread {
        bands,
        lambda: sd(&dlambda),
        log_omega_log: sd(&dlog_wlog),
    }
}

#[test]
fn each_probe_alone_leaves_a_different_part_of_the_spectrum_uncertain() {
    let model = compile_shipped("eliashberg", &["arpes", "optics", "tc"]);
    // Phonon-frequency bands (cells of the 2 meV grid): below 21 meV (the acoustic peak, below the
    // optical window's start at 15 meV and where ARPES's kernel 2 Omega / omega is weak), 22-60 meV
    // (inside the ARPES window, which ends at 61 meV) and 62-80 meV (above it).
    let bands = [0..10, 10..30, 30..40];
    let [arpes, optics, tc, joint] = [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 1.0, 1.0],
    ]
    .map(|w| spread(&model, w, &bands));
    for (what, s) in [
        ("arpes", &arpes),
        ("optics", &optics),
        ("tc", &tc),
        ("joint", &joint),
    ] {
        eprintln!(
            "{what:8} sd of mean log alpha^2F, low/mid/high: {:.3} {:.3} {:.3}; lambda {:.3}; log omega_log {:.3}",
            s.bands[0], s.bands[1], s.bands[2], s.lambda, s.log_omega_log
        );
    }
    let [low, mid, high] = [0, 1, 2];
    // ARPES sees its window: the band below it is at least twice as uncertain as the one inside.
    assert!(arpes.bands[low] > 2.0 * arpes.bands[mid]);
    // Optics integrates everything below each frequency, the high band with the smallest weight
    // (omega - Omega): the high band is at least twice as uncertain as the low one.
    assert!(optics.bands[high] > 2.0 * optics.bands[low]);
    // Where ARPES is blind optics sees: ARPES leaves the low band at least twice as uncertain as optics
    // does. (The converse is weaker: ARPES's logarithmic kernel reaches above its window, and it pins
    // the high band only somewhat better than optics, so no claim is made there.)
    assert!(arpes.bands[low] > 2.0 * optics.bands[low]);
    // T_c is one number: alone it leaves lambda undetermined (sd above 0.5, against lambda ~ 0.9) and
    // every band wider than the joint posterior by a factor of at least 3.
    assert!(tc.lambda > 0.5, "tc alone: sd of lambda {}", tc.lambda);
    for b in [low, mid, high] {
        assert!(tc.bands[b] > 3.0 * joint.bands[b]);
    }
    // Together they pin it: in every band and for lambda and omega_log the joint sd is below every
    // single probe's, and at least twice below the worst one's.
    for (what, j, alone) in [
        (
            "low band",
            joint.bands[low],
            [arpes.bands[low], optics.bands[low], tc.bands[low]],
        ),
        (
            "mid band",
            joint.bands[mid],
            [arpes.bands[mid], optics.bands[mid], tc.bands[mid]],
        ),
        (
            "high band",
            joint.bands[high],
            [arpes.bands[high], optics.bands[high], tc.bands[high]],
        ),
        (
            "lambda",
            joint.lambda,
            [arpes.lambda, optics.lambda, tc.lambda],
        ),
        (
            "log omega_log",
            joint.log_omega_log,
            [arpes.log_omega_log, optics.log_omega_log, tc.log_omega_log],
        ),
    ] {
        let best = alone.iter().cloned().fold(f64::INFINITY, f64::min);
        let worst = alone.iter().cloned().fold(0.0, f64::max);
        assert!(
            j < best,
            "{what}: joint sd {j} not below every probe's {alone:?}"
        );
        assert!(
            2.0 * j < worst,
            "{what}: joint sd {j}, probes alone {alone:?}"
        );
    }
}
