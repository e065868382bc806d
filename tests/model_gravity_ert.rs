//! models/gravity_ert.mmi: what gravity alone, ERT alone and both together say about the aquifer's
//! porosity, its pore-water salinity and so the pore-fluid density.
//!
//! The claims are checked on NUTS draws of the shipped model with one modality switched off (its
//! weight 0) or both on, not on Laplace fits: Archie's cementation exponent multiplies the logarithm of
//! 240 porosity cells, so the joint mode sits away from the posterior mass (its m is about 3 posterior
//! sds above the mean) and Laplace sds mislead here.

mod common;

use common::shipped::compile_shipped;
use mmi::infer::sample::{column_names, sample, SampleSettings};
use std::sync::atomic::AtomicBool;

/// Posterior draws of the shipped model with the modalities [gravity, ert] weighted by `weights`.
struct Draws {
    names: Vec<String>,
    rows: Vec<Vec<f64>>,
}

impl Draws {
    fn of(weights: [f64; 2]) -> Draws {
        let model = compile_shipped("gravity_ert", &["gravity", "ert"]);
        let mut graph = model.graph.clone();
        for (modality, w) in graph.modalities.iter_mut().zip(weights) {
            modality.weight = w;
        }
        let model = mmi::eval::CompiledModel::new(graph);
        let settings = SampleSettings {
            warmup: 600,
            draws: 600,
            seed: 7,
            ..Default::default()
        };
        let chains = sample(&model, &settings, &AtomicBool::new(false), &|_, _| {}).unwrap();
        let divergent: f64 = chains
            .iter()
            .flat_map(|c| c.rows.iter().map(|r| r[5]))
            .sum();
        assert_eq!(divergent, 0.0, "weights {weights:?}: divergent transitions");
        Draws {
            names: column_names(&model),
            rows: chains.into_iter().flat_map(|c| c.rows).collect(),
        }
    }

    fn column(&self, name: &str) -> Vec<f64> {
        let i = self.names.iter().position(|n| n == name).unwrap();
        self.rows.iter().map(|r| r[i]).collect()
    }

    fn sd(&self, name: &str) -> f64 {
        let v = self.column(name);
        cov(&v, &v).sqrt()
    }
}

fn cov(a: &[f64], b: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(a), mean(b));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (a.len() - 1) as f64
}

/// The prior sd of the salinity, lognormal(log 30, 0.7): 30 e^(s^2/2) sqrt(e^(s^2) - 1) g/L; its log has
/// sd 0.7.
fn prior_salinity_sd() -> f64 {
    let s2: f64 = 0.7 * 0.7;
    30.0 * (s2 / 2.0).exp() * (s2.exp() - 1.0).sqrt()
}

/// Neither survey alone separates porosity from the pore fluid; together they pin the salinity (and
/// so the pore-fluid density, 0.7 kg/m^3 per g/L).
/// - Gravity sees the bulk density, (1 - phi) rho_grain + phi rho_fluid, and with an unknown datum
///   only its lateral changes: it cannot separate porosity from fluid density, and the fluid's share
///   of the bulk density (phi x a few tens of kg/m^3) is too small for it to see. The salinity keeps
///   its prior spread.
/// - ERT sees log(rho_w) - m log(phi): fewer pores with saltier water look the same, so the log
///   salinity trades off against the mean porosity (correlation near -1). It narrows the salinity
///   only as far as the porosity prior (its mean and its known spread) pins the mean porosity.
/// - Joint: ERT gives the porosity's pattern, gravity its size, and the salinity follows from ERT.
///
/// Measured (seed 7): log-salinity sd 0.675 gravity, 0.198 ERT, 0.060 joint; fluid-density sd 20.2,
/// 7.2 and 2.2 kg/m^3; ERT's correlation -0.96. The thresholds sit well away from these (sds from
/// 2400 draws carry a few percent of Monte Carlo error).
#[test]
fn neither_survey_alone_separates_porosity_from_the_fluid_but_together_they_do() {
    let gravity = Draws::of([1.0, 0.0]);
    let ert = Draws::of([0.0, 1.0]);
    let joint = Draws::of([1.0, 1.0]);
    let prior = prior_salinity_sd();
    for (what, d) in [("gravity", &gravity), ("ert", &ert), ("joint", &joint)] {
        eprintln!(
            "{what:8} salinity sd {:6.2} g/L (prior {prior:.2}), log sd {:.3} (prior 0.7)  rho_fluid \
             sd {:6.2} kg/m^3  mean_phi sd {:.4}  corr(log salinity, mean_phi) {:+.2}",
            d.sd("salinity"),
            log_sd(d),
            d.sd("rho_fluid"),
            d.sd("mean_phi"),
            corr_log_salinity(d),
        );
    }
    // Gravity alone: the salinity and the fluid density keep most of their prior spread.
    assert!(log_sd(&gravity) > 0.8 * 0.7, "{}", log_sd(&gravity));
    assert!(
        gravity.sd("rho_fluid") > 0.8 * 0.7 * prior,
        "{}",
        gravity.sd("rho_fluid")
    );
    // ERT alone: saltier water or fewer pores.
    assert!(
        corr_log_salinity(&ert) < -0.8,
        "{}",
        corr_log_salinity(&ert)
    );
    // Together: the salinity, the fluid density and the mean porosity are pinned, each under half
    // its sd with either survey alone.
    for alone in [&gravity, &ert] {
        assert!(log_sd(&joint) < 0.5 * log_sd(alone), "log salinity");
        for q in ["rho_fluid", "mean_phi"] {
            assert!(
                joint.sd(q) < 0.5 * alone.sd(q),
                "{q}: joint sd {} vs alone {}",
                joint.sd(q),
                alone.sd(q)
            );
        }
    }
}

fn corr_log_salinity(d: &Draws) -> f64 {
    let s: Vec<f64> = d.column("salinity").iter().map(|x| x.ln()).collect();
    let p = d.column("mean_phi");
    cov(&s, &p) / (cov(&s, &s) * cov(&p, &p)).sqrt()
}

fn log_sd(d: &Draws) -> f64 {
    let s: Vec<f64> = d.column("salinity").iter().map(|x| x.ln()).collect();
    cov(&s, &s).sqrt()
}
