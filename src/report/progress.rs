//! Progress bars while sampling, one per chain on standard error (the CLI and the REPL share them).

use crate::infer::sample::SampleSettings;

/// One bar per chain counting warm-up and draws; none when `show` is false.
pub fn chain_bars(s: &SampleSettings, show: bool) -> Vec<indicatif::ProgressBar> {
    if !show {
        return vec![];
    }
    let multi = indicatif::MultiProgress::new();
    let style =
        indicatif::ProgressStyle::with_template("chain {prefix} [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
    (0..s.chains)
        .map(|c| {
            let b = multi.add(indicatif::ProgressBar::new((s.warmup + s.draws) as u64));
            b.set_style(style.clone());
            b.set_prefix(format!("{}", c + 1));
            b
        })
        .collect()
}
