//! One latent's density under the prior alone, under each modality alone, and under all of them:
//! what each data source says about it, and whether they agree (curves that do not overlap are
//! sources in conflict).

use super::{color, err, style, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

/// A density curve on a grid, with its legend.
#[derive(Debug, Clone)]
pub struct Curve {
    pub label: String,
    pub x: Vec<f64>,
    pub density: Vec<f64>,
    /// Dashed curves (the prior) stand behind the solid ones.
    pub dashed: bool,
    /// The mean and sd of the draws the curve estimates.
    pub mean: f64,
    pub sd: f64,
}

/// Curves whose peaks differ by more than this factor are each scaled to a peak of 1, so that a wide
/// curve (a weak source) is not flattened against the axis by a sharp one.
pub const PEAK_RATIO: f64 = 20.0;

fn peak(c: &Curve) -> f64 {
    c.density.iter().fold(0.0f64, |a, b| a.max(*b))
}

/// Whether the figure scales each curve to its peak.
pub fn scaled(curves: &[Curve]) -> bool {
    let peaks: Vec<f64> = curves.iter().map(peak).filter(|p| *p > 0.0).collect();
    let hi = peaks.iter().copied().fold(0.0f64, f64::max);
    let lo = peaks.iter().copied().fold(f64::INFINITY, f64::min);
    hi > PEAK_RATIO * lo
}

pub struct CompareFigure {
    pub title: String,
    pub axis: String,
    pub curves: Vec<Curve>,
    /// Lines of small print under the title (combinations that determine nothing, the method).
    pub notes: Vec<String>,
}

impl Figure for CompareFigure {
    fn size(&self) -> (u32, u32) {
        (900, 480 + 20 * self.notes.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let body = area.titled(&self.title, style(22.0)).map_err(err)?;
        let (notes_area, plot_area) = body.split_vertically(20 * self.notes.len() as u32 + 4);
        for (i, n) in self.notes.iter().enumerate() {
            notes_area
                .draw_text(n, &style(13.0), (70, 20 * i as i32))
                .map_err(err)?;
        }
        let (lo, hi) = self
            .curves
            .iter()
            .flat_map(|c| c.x.iter())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(*x), b.max(*x))
            });
        let (lo, hi) = if lo < hi { (lo, hi) } else { (0.0, 1.0) };
        let scale = scaled(&self.curves);
        let factor = |c: &Curve| {
            if scale {
                1.0 / peak(c).max(1e-300)
            } else {
                1.0
            }
        };
        let top = if scale {
            1.08
        } else {
            self.curves.iter().map(peak).fold(0.0f64, f64::max) * 1.08
        };
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(lo..hi, 0.0..top.max(1e-300))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.axis)
            .y_desc(if scale {
                "density (each curve scaled to its peak)"
            } else {
                "density"
            })
            .label_style(style(14.0))
            .axis_desc_style(style(16.0))
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        for (k, c) in self.curves.iter().enumerate() {
            let colour = if c.dashed {
                BLACK.mix(0.6).to_rgba()
            } else {
                color(k).to_rgba()
            };
            let f = factor(c);
            let points: Vec<(f64, f64)> =
                c.x.iter()
                    .copied()
                    .zip(c.density.iter().map(|d| d * f))
                    .collect();
            let style_line = colour.stroke_width(2);
            let anno = if c.dashed {
                chart
                    .draw_series(DashedLineSeries::new(points, 8, 6, style_line))
                    .map_err(err)?
            } else {
                chart
                    .draw_series(LineSeries::new(points, style_line))
                    .map_err(err)?
            };
            anno.label(c.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
            });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(style(14.0))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}
