//! `--metric laplace` fixes the metric to the Laplace covariance at the mode for the whole run, so the
//! chains must start where that metric fits: at draws of the Laplace approximation.

mod common;

use mmi::infer::sample::{column_names, sample, MetricKind, SampleSettings};
use std::sync::atomic::AtomicBool;

/// A location with a heavy-tailed likelihood of scale 0.001, 500 000 scales from the origin. A chain
/// started on (-2, 2), as the diagonal metric's chains are, sees an almost flat likelihood there and
/// moves about 0.001 per leapfrog step under the Laplace metric: it never reaches the posterior
/// (before the chains started at Laplace draws, every chain stayed within 100 of the origin).
#[test]
fn laplace_metric_chains_start_at_the_posterior() {
    let source = "data { y: real }\n\
                  latent {\n  mu: real ~ normal(0, 1000)\n  tau: real > 0 ~ lognormal(0, 1)\n}\n\
                  modality obs { y ~ student_t(3, mu, 0.001) }\n\
                  combine product\n";
    let model = common::compile(source, r#"{"y": 500}"#, &Default::default());
    let settings = SampleSettings {
        warmup: 200,
        draws: 200,
        metric: MetricKind::Laplace,
        ..Default::default()
    };
    let chains = sample(&model, &settings, &AtomicBool::new(false), &|_, _| {}).unwrap();
    let names = column_names(&model);
    let mu = names.iter().position(|n| n == "mu").unwrap();
    let divergent = names.iter().position(|n| n == "divergent__").unwrap();
    for (c, chain) in chains.iter().enumerate() {
        assert_eq!(chain.rows.len(), 200);
        for row in &chain.rows {
            // The posterior is a t with 3 degrees of freedom and scale 0.001 (the prior is flat on
            // this scale): a draw 1 away, 1000 scales, has probability about 1e-9.
            assert!((row[mu] - 500.0).abs() < 1.0, "chain {c}: mu = {}", row[mu]);
            assert_eq!(row[divergent], 0.0, "chain {c}");
        }
    }
}
