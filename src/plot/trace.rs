//! Trace plots: each quantity's draws against the iteration, one line per chain, one panel per
//! quantity. Chains that agree overlap as a "hairy caterpillar"; one that wanders off shows at a glance.

use super::{color, err, padded_range, style, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One quantity's draws per chain.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// The axis label (name and unit).
    pub axis: String,
    pub chains: Vec<Vec<f64>>,
}

pub struct TraceFigure {
    pub title: String,
    pub series: Vec<Series>,
}

pub const PANEL_HEIGHT: u32 = 260;

impl Figure for TraceFigure {
    fn size(&self) -> (u32, u32) {
        (1000, 60 + PANEL_HEIGHT * self.series.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let body = area.titled(&self.title, style(22.0)).map_err(err)?;
        let panels = body.split_evenly((self.series.len().max(1), 1));
        for (s, panel) in self.series.iter().zip(&panels) {
            draw_panel(s, panel)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(s: &Series, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
    let n = s.chains.iter().map(|c| c.len()).max().unwrap_or(0).max(2);
    let (lo, hi) = padded_range(s.chains.iter().flatten().copied());
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .x_label_area_size(42)
        .y_label_area_size(80)
        .build_cartesian_2d(1f64..n as f64, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("iteration after warm-up")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc(&s.axis)
        .label_style(style(14.0))
        .axis_desc_style(style(16.0))
        .light_line_style(WHITE)
        .draw()
        .map_err(err)?;
    for (k, chain) in s.chains.iter().enumerate() {
        let c = color(k);
        chart
            .draw_series(LineSeries::new(
                chain.iter().enumerate().map(|(i, v)| ((i + 1) as f64, *v)),
                c.stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("chain {}", k + 1))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(style(13.0))
        .draw()
        .map_err(err)?;
    Ok(())
}
