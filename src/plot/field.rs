//! Maps of a 2-D field (or a slice of a 3-D one): the posterior mean beside the posterior sd, each
//! with its colour bar. Cell (i, j) is drawn at x = i (the field's first axis, left to right) and
//! y = j (its second axis, bottom to top), as f(x, y) is drawn on paper.

use super::{err, style, Figure};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

/// One map: values row-major over `rows x cols` (rows along the first axis).
#[derive(Debug, Clone)]
pub struct Map {
    pub title: String,
    /// The colour bar's label (what the values are, with their unit).
    pub value_label: String,
    pub values: Vec<f64>,
}

pub struct FieldFigure {
    pub title: String,
    pub rows: usize,
    pub cols: usize,
    /// Axis labels: the first axis (x) and the second (y).
    pub x_label: String,
    pub y_label: String,
    pub maps: Vec<Map>,
}

impl Figure for FieldFigure {
    fn size(&self) -> (u32, u32) {
        (560 * self.maps.len().max(1) as u32, 520)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        area.fill(&WHITE).map_err(err)?;
        let body = area.titled(&self.title, style(22.0)).map_err(err)?;
        let panels = body.split_evenly((1, self.maps.len().max(1)));
        for (m, panel) in self.maps.iter().zip(&panels) {
            self.draw_map(m, panel)?;
        }
        Ok(())
    }
}

/// Grid indices are whole numbers: ticks between them stay unlabelled.
fn integer(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{}", v.round())
    } else {
        String::new()
    }
}

/// The finite range of `values`, widened when they are all equal.
fn value_range(values: &[f64]) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.iter().filter(|v| v.is_finite()) {
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        (
            lo - 0.5 * lo.abs().max(1e-12),
            hi + 0.5 * hi.abs().max(1e-12),
        )
    }
}

impl FieldFigure {
    fn draw_map<DB: DrawingBackend>(
        &self,
        m: &Map,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let (lo, hi) = value_range(&m.values);
        let colour = |v: f64| {
            if v.is_finite() {
                ViridisRGB::get_color((v - lo) / (hi - lo))
            } else {
                RGBColor(200, 200, 200)
            }
        };
        let width = area.dim_in_pixel().0;
        let (map_area, bar_area) = area.split_horizontally(width * 4 / 5);
        let mut chart = ChartBuilder::on(&map_area)
            .caption(&m.title, style(17.0))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(
                0.5f64..self.rows as f64 + 0.5,
                0.5f64..self.cols as f64 + 0.5,
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(self.rows.min(12) + 1)
            .y_labels(self.cols.min(12) + 1)
            .x_label_formatter(&integer)
            .y_label_formatter(&integer)
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(style(13.0))
            .axis_desc_style(style(15.0))
            .draw()
            .map_err(err)?;
        chart
            .draw_series((0..self.rows).flat_map(|i| {
                (0..self.cols).map(move |j| {
                    let (x, y) = ((i + 1) as f64, (j + 1) as f64);
                    Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        colour(m.values[i * self.cols + j]).filled(),
                    )
                })
            }))
            .map_err(err)?;
        let steps = 100;
        let mut bar = ChartBuilder::on(&bar_area)
            .margin_top(40)
            .margin_bottom(48)
            .margin_right(8)
            .y_label_area_size(62)
            .build_cartesian_2d(0f64..1.0, lo..hi)
            .map_err(err)?;
        bar.configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_desc(&m.value_label)
            .label_style(style(12.0))
            .axis_desc_style(style(14.0))
            .draw()
            .map_err(err)?;
        bar.draw_series((0..steps).map(|k| {
            let a = lo + (hi - lo) * k as f64 / steps as f64;
            let b = lo + (hi - lo) * (k + 1) as f64 / steps as f64;
            Rectangle::new([(0.0, a), (1.0, b)], colour(0.5 * (a + b)).filled())
        }))
        .map_err(err)?;
        Ok(())
    }
}
