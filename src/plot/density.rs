//! Marginal posterior densities: a kernel density estimate of each quantity's draws, one curve per
//! chain (chains that agree give curves that coincide), one panel per quantity.

use super::kde::{grid, kde};
use super::trace::{Series, PANEL_HEIGHT};
use super::{color, err, padded_range, style, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct DensityFigure {
    pub title: String,
    pub series: Vec<Series>,
}

/// Points of each density curve.
const POINTS: usize = 200;

/// Each chain's density on a common grid over the range of all chains' draws.
pub fn chain_densities(s: &Series) -> (Vec<f64>, Vec<Vec<f64>>) {
    let (lo, hi) = padded_range(s.chains.iter().flatten().copied());
    let g = grid(lo, hi, POINTS);
    let d = s.chains.iter().map(|c| kde(c, None, &g)).collect();
    (g, d)
}

impl Figure for DensityFigure {
    fn size(&self) -> (u32, u32) {
        (900, 60 + PANEL_HEIGHT * self.series.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let body = area.titled(&self.title, style(22.0)).map_err(err)?;
        let panels = body.split_evenly((self.series.len().max(1), 1));
        for (s, panel) in self.series.iter().zip(&panels) {
            let (g, dens) = chain_densities(s);
            let top = dens.iter().flatten().fold(0.0f64, |a, b| a.max(*b)) * 1.08;
            let mut chart = ChartBuilder::on(panel)
                .margin(8)
                .x_label_area_size(42)
                .y_label_area_size(80)
                .build_cartesian_2d(g[0]..g[g.len() - 1], 0.0..top.max(1e-300))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(&s.axis)
                .y_desc("density")
                .label_style(style(14.0))
                .axis_desc_style(style(16.0))
                .light_line_style(WHITE)
                .draw()
                .map_err(err)?;
            for (k, d) in dens.iter().enumerate() {
                let c = color(k);
                chart
                    .draw_series(LineSeries::new(
                        g.iter().zip(d).map(|(x, y)| (*x, *y)),
                        c.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(format!("chain {}", k + 1))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(style(13.0))
                .draw()
                .map_err(err)?;
        }
        Ok(())
    }
}
