//! Plots of a run, written to PNG or SVG with plotters (pure Rust: text is drawn with ab_glyph from
//! the bundled DejaVu Sans, so no system font library is needed), with text fallbacks for the
//! terminal. One file per plot kind; each kind is a `Figure` that draws itself on any plotters backend,
//! so PNG and SVG come from the same code.
//!
//! The figures take plain numbers (draws per chain, means and sds, densities on a grid); gathering
//! them from a compiled model, a run or a report is `inputs.rs`, shared by `mmi plot` and the REPL's
//! `:plot`.

pub mod compare;
pub mod contributions;
pub mod density;
pub mod field;
pub mod inputs;
pub mod kde;
pub mod labels;
pub mod text;
pub mod trace;

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// The font every figure draws with: registered once, under the family name the figures ask for.
pub const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is valid; if registering ever failed, drawing text would report it.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, FONT_BYTES);
    });
}

/// A figure that can draw itself on any backend.
pub trait Figure {
    /// The figure's size in pixels (SVG units), by default 900 x 300 per panel.
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// The image formats a figure can be written in, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, String> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(format!(
                "cannot tell the image format of {}: give a file name ending in .png or .svg",
                path.display()
            )),
        }
    }
}

/// Writes `figure` to `path` (PNG or SVG by its extension).
pub fn save<F: Figure>(figure: &F, path: &Path) -> Result<(), String> {
    register_font();
    let format = Format::of(path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let size = figure.size();
    let drawn = match format {
        Format::Png => {
            let area = BitMapBackend::new(path, size).into_drawing_area();
            figure
                .draw(&area)
                .and_then(|_| area.present().map_err(|e| e.to_string()))
        }
        Format::Svg => {
            let area = SVGBackend::new(path, size).into_drawing_area();
            figure
                .draw(&area)
                .and_then(|_| area.present().map_err(|e| e.to_string()))
        }
    };
    drawn.map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

/// Distinct colours for chains and modalities (colour-blind-safe, Okabe and Ito).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A range covering `values` with a margin, never empty (a constant gets a unit-wide range around it).
pub fn padded_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        0.5 * lo.abs().max(1.0)
    };
    (lo - pad, hi + pad)
}

/// The text style of titles, labels and legends.
pub fn style(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&BLACK)
}

/// A plotters error as text.
pub fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
