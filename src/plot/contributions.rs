//! The per-modality contribution report as bar charts: for each latent (or each large latent as a
//! whole), the share of its prior variance each modality removes alone, and the share it removes on
//! top of all the others. A modality whose bars are near zero tells nothing about that latent; one
//! whose "alone" bar is high but "on top" bar is low repeats what the others already say.

use super::{color, err, style, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One panel: a value (a fraction; drawn as a percentage) per row and modality, `None` where the
/// report has no number (an undetermined fit, an unreliable reweighting).
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub values: Vec<Vec<Option<f64>>>,
    /// Why some bars are missing.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Contributions {
    pub title: String,
    pub rows: Vec<String>,
    pub modalities: Vec<String>,
    pub panels: Vec<Panel>,
}

impl Figure for Contributions {
    fn size(&self) -> (u32, u32) {
        let width = (160 + 90 * self.rows.len() * self.modalities.len().max(1)).clamp(700, 1800);
        (width as u32, 60 + 330 * self.panels.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let body = area.titled(&self.title, style(22.0)).map_err(err)?;
        let areas = body.split_evenly((self.panels.len().max(1), 1));
        for (p, a) in self.panels.iter().zip(&areas) {
            self.draw_panel(p, a)?;
        }
        Ok(())
    }
}

impl Contributions {
    fn draw_panel<DB: DrawingBackend>(
        &self,
        p: &Panel,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let k = self.modalities.len().max(1);
        // A "removed" share below -100% (a modality that multiplies the variance, which happens when
        // reweighted draws are poor) would crush every other bar: such bars are cut at -100%.
        let clipped = p.values.iter().flatten().flatten().any(|v| *v < -1.0);
        let percents = p
            .values
            .iter()
            .flatten()
            .flatten()
            .map(|v| 100.0 * v.max(-1.0));
        let lo = percents.clone().fold(0.0f64, f64::min);
        let hi = percents.fold(100.0f64, f64::max);
        let n = self.rows.len();
        let (notes_area, area) = area.split_vertically(if p.notes.is_empty() {
            0
        } else {
            36 + 18 * p.notes.len() as u32
        });
        for (i, note) in p.notes.iter().enumerate() {
            notes_area
                .draw_text(note, &style(13.0), (80, 36 + 18 * i as i32))
                .map_err(err)?;
        }
        let area = &area;
        let mut chart = ChartBuilder::on(area)
            .caption(
                if clipped {
                    format!("{} (bars cut at -100%)", p.title)
                } else {
                    p.title.clone()
                },
                style(17.0),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            // Headroom above the bars for the legend.
            .build_cartesian_2d(0f64..n as f64, lo..hi * 1.5)
            .map_err(err)?;
        let rows = self.rows.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(1) * 2 + 1)
            .x_label_formatter(&move |x| {
                // Labels sit at the middle of each group of bars.
                let i = (x - 0.5).round();
                if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < rows.len() {
                    rows[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .y_desc("variance removed (%)")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE)
            .label_style(style(13.0))
            .axis_desc_style(style(15.0))
            .draw()
            .map_err(err)?;
        let width = 0.8 / k as f64;
        for (m, name) in self.modalities.iter().enumerate() {
            let c = color(m);
            let bars = (0..n).filter_map(|r| {
                let v = p.values.get(r)?.get(m).copied().flatten()?;
                let x0 = r as f64 + 0.1 + width * m as f64;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.92, 100.0 * v.max(-1.0))],
                    c.filled(),
                ))
            });
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
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
}
