//! Text fallbacks of every plot, for the terminal when no file is asked for: sparklines of traces,
//! histograms of draws, shaded character maps of fields, bars of contributions.

use super::compare::CompareFigure;
use super::contributions::Contributions;
use super::field::FieldFigure;
use super::trace::Series;
use std::fmt::Write;

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Shades from low to high for character maps.
const SHADES: [char; 10] = [' ', '.', ':', '-', '=', '+', '*', '#', '%', '@'];

/// `values` as a sparkline of at most `width` characters (means of equal runs of values).
pub fn sparkline(values: &[f64], width: usize) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() || width == 0 {
        return String::new();
    }
    let n = finite.len();
    let w = width.min(n);
    let means: Vec<f64> = (0..w)
        .map(|k| {
            let (a, b) = (k * n / w, ((k + 1) * n / w).max(k * n / w + 1));
            finite[a..b].iter().sum::<f64>() / (b - a) as f64
        })
        .collect();
    let lo = means.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    means
        .iter()
        .map(|v| {
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            BLOCKS[((t * 7.0).round() as usize).min(7)]
        })
        .collect()
}

/// A number in at most 10 characters.
pub fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// One sparkline per chain and quantity, with the chain's range.
pub fn traces(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        writeln!(out, "{}", s.axis).unwrap();
        for (k, c) in s.chains.iter().enumerate() {
            let lo = c.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            writeln!(
                out,
                "  chain {:<2} {}  [{}, {}]",
                k + 1,
                sparkline(c, 60),
                num(lo),
                num(hi)
            )
            .unwrap();
        }
    }
    out
}

/// A histogram of all chains' draws of each quantity, one bar per bin.
pub fn histograms(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        let all: Vec<f64> = s
            .chains
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        writeln!(out, "{} ({} draws)", s.axis, all.len()).unwrap();
        out.push_str(&histogram(&all, 12, 40));
    }
    out
}

/// A histogram of `values` in `bins` bins, bars at most `width` characters long.
pub fn histogram(values: &[f64], bins: usize, width: usize) -> String {
    let mut out = String::new();
    if values.is_empty() {
        return out;
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let bins = if hi > lo { bins } else { 1 };
    let mut counts = vec![0usize; bins];
    for v in values {
        let b = if hi > lo {
            (((v - lo) / (hi - lo)) * bins as f64) as usize
        } else {
            0
        };
        counts[b.min(bins - 1)] += 1;
    }
    let most = *counts.iter().max().unwrap_or(&1);
    for (b, c) in counts.iter().enumerate() {
        let from = lo + (hi - lo) * b as f64 / bins as f64;
        let len = (c * width).div_ceil(most.max(1));
        writeln!(out, "  {:>11} | {:<width$} {c}", num(from), "█".repeat(len)).unwrap();
    }
    out
}

/// Character maps of a field's panels (first axis across, second axis up, as the image is drawn).
pub fn field(f: &FieldFigure) -> String {
    let mut out = String::new();
    writeln!(out, "{}", f.title).unwrap();
    // At most 60 columns and 30 lines: every k-th cell.
    let step_x = f.rows.div_ceil(60).max(1);
    let step_y = f.cols.div_ceil(30).max(1);
    for m in &f.maps {
        let lo = m
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        let hi = m
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        writeln!(
            out,
            "{} ({}; ' ' = {}, '@' = {}; {} across, {} up)",
            m.title,
            m.value_label,
            num(lo),
            num(hi),
            f.x_label,
            f.y_label
        )
        .unwrap();
        for j in (0..f.cols).rev().step_by(step_y) {
            let line: String = (0..f.rows)
                .step_by(step_x)
                .map(|i| {
                    let v = m.values[i * f.cols + j];
                    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                    if t.is_finite() {
                        SHADES[((t * 9.0).round() as usize).min(9)]
                    } else {
                        '?'
                    }
                })
                .collect();
            writeln!(out, "  |{line}|").unwrap();
        }
    }
    out
}

/// One bar per row and modality, 100% being 25 characters.
pub fn contributions(c: &Contributions) -> String {
    let mut out = String::new();
    writeln!(out, "{}", c.title).unwrap();
    let w = c.rows.iter().map(|r| r.len()).max().unwrap_or(4);
    let mw = c.modalities.iter().map(|m| m.len()).max().unwrap_or(4);
    for p in &c.panels {
        writeln!(out, "{}", p.title).unwrap();
        for n in &p.notes {
            writeln!(out, "  ({n})").unwrap();
        }
        for (r, row) in c.rows.iter().enumerate() {
            for (m, name) in c.modalities.iter().enumerate() {
                let label = if m == 0 { row.as_str() } else { "" };
                match p.values.get(r).and_then(|v| v.get(m)).copied().flatten() {
                    Some(v) => {
                        let len = (v.clamp(0.0, 1.0) * 25.0).round() as usize;
                        writeln!(
                            out,
                            "  {label:w$}  {name:mw$} {:<25} {:>5.0}%",
                            "█".repeat(len),
                            100.0 * v
                        )
                        .unwrap();
                    }
                    None => writeln!(out, "  {label:w$}  {name:mw$} {:<25}     -", "").unwrap(),
                }
            }
        }
    }
    out
}

/// Each curve's mean, sd and shape (a sparkline of its density on the common grid).
pub fn compare(f: &CompareFigure) -> String {
    let mut out = String::new();
    writeln!(out, "{}", f.title).unwrap();
    for n in &f.notes {
        writeln!(out, "  {n}").unwrap();
    }
    let w = f.curves.iter().map(|c| c.label.len()).max().unwrap_or(5);
    if let (Some(lo), Some(hi)) = (
        f.curves
            .iter()
            .filter_map(|c| c.x.first())
            .copied()
            .reduce(f64::min),
        f.curves
            .iter()
            .filter_map(|c| c.x.last())
            .copied()
            .reduce(f64::max),
    ) {
        writeln!(
            out,
            "  {:w$}  density over {} from {} to {}",
            "",
            f.axis,
            num(lo),
            num(hi)
        )
        .unwrap();
    }
    for c in &f.curves {
        writeln!(
            out,
            "  {:w$}  {}  mean {} sd {}",
            c.label,
            sparkline(&c.density, 50),
            num(c.mean),
            num(c.sd)
        )
        .unwrap();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_span_the_blocks() {
        assert_eq!(
            sparkline(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 8),
            "▁▂▃▄▅▆▇█"
        );
        // Averaged down to the width.
        assert_eq!(sparkline(&[0.0, 0.0, 7.0, 7.0], 2), "▁█");
    }

    #[test]
    fn histogram_counts_every_value() {
        let h = histogram(&[1.0, 1.0, 2.0, 3.0], 2, 10);
        let counts: Vec<usize> = h
            .lines()
            .map(|l| l.split_whitespace().last().unwrap().parse().unwrap())
            .collect();
        assert_eq!(counts, vec![2, 2]);
    }
}
