//! models/gravity_ert.mmi: what gravity alone, ERT alone and both together say about porosity and the
//! pore-fluid density.
//!
//! The shipped model's noise scales are latent, and its joint mode is degenerate (the porosity field
//! can fit the 40 ERT readings exactly as sigma_e -> 0: `mmi map` stops at sigma_e ~ 1e-6), so Laplace
//! fits of the shipped model say nothing. These tests fix both noise sds at their true values (a
//! test-only variant with them as data) and compare Laplace approximations with modality weights
//! (gravity only, ERT only, both). The model is not linear, so these are approximations, used for
//! sizes of effects, not for exact values.

mod common;

use std::sync::OnceLock;

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// The model with sigma_g and sigma_e as data set to the truth's values.
fn fixed_noise_model() -> &'static mmi::eval::CompiledModel {
    static M: OnceLock<mmi::eval::CompiledModel> = OnceLock::new();
    M.get_or_init(|| {
        let source = std::fs::read_to_string(format!("{}/models/gravity_ert.mmi", root())).unwrap();
        let mut variant = source.clone();
        for line in [
            "  sigma_g: real > 0                                     # gravity noise (mGal)\n",
            "  sigma_e: real > 0 ~ half_normal(0.2)                  # ERT noise (log units)\n",
            "  sigma_g ~ half_normal(0.05)\n",
        ] {
            assert!(variant.contains(line), "the model changed: {line}");
            variant = variant.replace(line, "");
        }
        let variant = variant.replacen(
            "data {\n",
            "data {\n  sigma_g: real > 0\n  sigma_e: real > 0\n",
            1,
        );
        let truth = truth();
        let mut data: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}/models/gravity_ert.data.json", root())).unwrap(),
        )
        .unwrap();
        data["sigma_g"] = truth["sigma_g"].clone();
        data["sigma_e"] = truth["sigma_e"].clone();
        common::compile(
            &variant,
            &data.to_string(),
            &mmi::passes::Settings::default(),
        )
    })
}

fn truth() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("{}/models/gravity_ert.truth.json", root())).unwrap(),
    )
    .unwrap()
}

/// Laplace summaries under modality weights [gravity, ert]: sd of rho_fluid (kg/m^3), the rms sd of
/// the porosity field's cells (logit scale), the sd of its section mean, and the correlation of that
/// mean with rho_fluid.
struct Summary {
    rho_fluid_sd: f64,
    phi_cell_sd: f64,
    phi_mean_sd: f64,
    corr: f64,
}

fn summary(weights: [f64; 2]) -> Summary {
    let model = fixed_noise_model();
    let mut ev = model.evaluator();
    for (k, w) in weights.iter().enumerate() {
        ev.set_modality_weight(k, *w);
    }
    let t = truth();
    let mut latents = vec![];
    for l in &model.graph.latents {
        let mut v = vec![];
        fn flat(v: &serde_json::Value, out: &mut Vec<f64>) {
            match v {
                serde_json::Value::Array(a) => a.iter().for_each(|x| flat(x, out)),
                x => out.push(x.as_f64().unwrap()),
            }
        }
        flat(&t[&l.name], &mut v);
        latents.push((l.name.clone(), v));
    }
    let x0 = ev.unconstrain(&latents).unwrap();
    let mode = mmi::infer::lbfgs::maximise(&mut ev, &x0, &Default::default())
        .unwrap_or_else(|e| panic!("weights {weights:?}: {e}"))
        .x;
    let lap = mmi::infer::laplace::laplace(&mut ev, &mode).unwrap();
    let (mut rho, mut mean, mut cells) = (vec![], vec![], vec![]);
    for x in lap.draws(4000, 1) {
        let out = ev.constrain(&x).unwrap();
        let get = |n: &str| &out.iter().find(|o| o.name == n).unwrap().values;
        rho.push(get("rho_fluid")[0]);
        let phi = get("phi_logit");
        mean.push(phi.iter().sum::<f64>() / phi.len() as f64);
        cells.push(phi.clone());
    }
    let m = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let cov = |a: &[f64], b: &[f64]| {
        let (ma, mb) = (m(a), m(b));
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - ma) * (y - mb))
            .sum::<f64>()
            / (a.len() - 1) as f64
    };
    let n = cells[0].len();
    let cell_var: f64 = (0..n)
        .map(|i| {
            let c: Vec<f64> = cells.iter().map(|d| d[i]).collect();
            cov(&c, &c)
        })
        .sum::<f64>()
        / n as f64;
    Summary {
        rho_fluid_sd: cov(&rho, &rho).sqrt(),
        phi_cell_sd: cell_var.sqrt(),
        phi_mean_sd: cov(&mean, &mean).sqrt(),
        corr: cov(&rho, &mean) / (cov(&rho, &rho) * cov(&mean, &mean)).sqrt(),
    }
}

/// Gravity alone cannot separate porosity from fluid density: rho_fluid stays near its prior sd
/// (82 kg/m^3 in (700, 1300)), and the section's mean porosity trades off against it (more pores
/// holding a denser fluid weigh the same: bulk density = rho_grain - phi (rho_grain - rho_fluid)). ERT narrows the porosity field. The joint inversion does NOT pin
/// rho_fluid with the shipped survey and priors: ERT fixes log(rho_w) - m log(phi) (porosity only up
/// to the water resistivity and cementation, which have priors of sd 1 and 0.2) in the top three of ten
/// layers, and the grain density (sd ~11 kg/m^3 from the mineral fractions) moves the bulk density
/// as much as rho_fluid's whole prior range times the porosity. This test pins those findings.
#[test]
fn gravity_alone_cannot_separate_porosity_from_fluid_density_nor_can_this_ert_survey() {
    let gravity = summary([1.0, 0.0]);
    let ert = summary([0.0, 1.0]);
    let joint = summary([1.0, 1.0]);
    for (what, s) in [("gravity", &gravity), ("ert", &ert), ("joint", &joint)] {
        eprintln!(
            "{what:8} rho_fluid sd {:6.1}  porosity logit: cell sd {:.3}, mean sd {:.3}, corr(mean, rho_fluid) {:+.2}",
            s.rho_fluid_sd, s.phi_cell_sd, s.phi_mean_sd, s.corr
        );
    }
    // Gravity alone: rho_fluid keeps most of its prior sd, tied to the section's mean porosity.
    assert!(
        gravity.rho_fluid_sd > 0.8 * 82.0,
        "{}",
        gravity.rho_fluid_sd
    );
    assert!(gravity.corr > 0.7, "{}", gravity.corr);
    // Together: the porosity field is narrower than with either survey alone ...
    assert!(joint.phi_cell_sd < gravity.phi_cell_sd && joint.phi_cell_sd < ert.phi_cell_sd);
    // ... but rho_fluid is not resolved: the trade-off with the mean porosity stays (the claim of
    // issue 9 fails for this survey; see the model's comments).
    assert!(joint.rho_fluid_sd > 0.8 * gravity.rho_fluid_sd && joint.corr > 0.7);
}
