//! SVG plots with `plotters` (SVG backend only, no system font dependency): throughput bars
//! and latency-by-percentile curves.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::report::{format_quantity, Report};
use crate::scenario::Better;

const SERVER_A_COLOR: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
const SERVER_B_COLOR: RGBColor = RGBColor(0x1b, 0x9e, 0x77);

/// Horizontal bars, one pair per throughput scenario, log-scaled because message rates span
/// four orders of magnitude between 16 B and 64 KiB payloads.
pub fn throughput_bars(report: &Report, path: &Path) -> Result<()> {
    let rows: Vec<_> = report
        .scenarios
        .iter()
        .filter(|scenario| scenario.scenario.better == Better::Higher)
        .collect();
    let values = rows
        .iter()
        .flat_map(|row| [row.a.max, row.b.max, row.a.min, row.b.min])
        .flatten()
        .filter(|value| *value > 0.0);
    let (low, high) = values.fold((f64::INFINITY, 0.0f64), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    let (low, high) = if low.is_finite() {
        (low / 2.0, high * 2.0)
    } else {
        (1.0, 10.0)
    };
    let row_count = rows.len().max(1);
    let height = 120 + 34 * row_count as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let labels: Vec<String> = rows.iter().map(|row| row.scenario.title.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Throughput: {} (A) vs {} (B), median with min-max",
                report.servers.a.label, report.servers.b.label
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(300)
        .build_cartesian_2d((low..high).log_scale(), -0.5f64..(row_count as f64 - 0.5))
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(row_count)
        .y_label_formatter(&|value| {
            let index = value.round();
            if (value - index).abs() < 0.01 && index >= 0.0 && index < row_count as f64 {
                // Rows are drawn top-down, coordinates grow bottom-up.
                labels
                    .get(row_count - 1 - index as usize)
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc("per second (log scale)")
        .x_label_formatter(&|value| format_quantity(*value))
        .draw()
        .map_err(plot_error)?;
    for (index, row) in rows.iter().enumerate() {
        // Row 0 at the top reads like the Markdown table.
        let center = (row_count - 1 - index) as f64;
        for (side, color, offset) in [
            (&row.a, SERVER_A_COLOR, 0.2),
            (&row.b, SERVER_B_COLOR, -0.2),
        ] {
            let y = center + offset;
            let (Some(median), Some(min), Some(max)) = (side.median, side.min, side.max) else {
                // A missing bar must say why rather than look like a zero.
                chart
                    .draw_series(std::iter::once(Text::new(
                        side.status.to_string(),
                        (low * 1.1, y + 0.15),
                        ("sans-serif", 12).into_font().color(&color),
                    )))
                    .map_err(plot_error)?;
                continue;
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(low, y - 0.18), (median, y + 0.18)],
                    color.filled(),
                )))
                .map_err(plot_error)?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(min, y), (max, y)],
                    BLACK.stroke_width(2),
                )))
                .map_err(plot_error)?;
        }
    }
    for (label, color) in [
        (format!("A: {}", report.servers.a.label), SERVER_A_COLOR),
        (format!("B: {}", report.servers.b.label), SERVER_B_COLOR),
    ] {
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(plot_error)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// One plotted line: legend label, color, dashed or not, and (x, y) points.
type Curve = (String, RGBColor, bool, Vec<(f64, f64)>);

/// Latency by percentile for every latency scenario and server. The x axis is
/// `-log10(1 - p)`, so 90%, 99%, 99.9% and 99.99% are evenly spaced and the tail is visible.
pub fn latency_curves(report: &Report, path: &Path) -> Result<()> {
    let mut curves: Vec<Curve> = Vec::new();
    for scenario in report
        .scenarios
        .iter()
        .filter(|s| s.scenario.better == Better::Lower)
    {
        for (side, label, color, dashed) in [
            (&scenario.a, &report.servers.a.label, SERVER_A_COLOR, false),
            (&scenario.b, &report.servers.b.label, SERVER_B_COLOR, true),
        ] {
            if let Some(curve) = &side.latency_percentiles_us {
                let points: Vec<(f64, f64)> = curve
                    .iter()
                    .filter(|(percentile, _)| *percentile < 100.0)
                    .map(|(percentile, micros)| (nines(*percentile), micros.max(1.0)))
                    .collect();
                let id = &scenario.scenario.id;
                let rate = id.split_once('/').map(|(_, rate)| rate).unwrap_or(id);
                curves.push((format!("{label} @ {rate}"), color, dashed, points));
            }
        }
    }
    let high = curves
        .iter()
        .flat_map(|(_, _, _, points)| points.iter().map(|(_, micros)| *micros))
        .fold(10.0f64, f64::max);
    let low = curves
        .iter()
        .flat_map(|(_, _, _, points)| points.iter().map(|(_, micros)| *micros))
        .fold(high, f64::min);
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Request/reply latency by percentile (open loop)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..4.2f64, ((low / 2.0).max(1.0)..high * 2.0).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        // Ask for a label every 0.1 and print only the ones at a percentile mark.
        .x_labels(43)
        .x_label_formatter(&|value| percentile_label(*value))
        .x_desc("percentile")
        .y_desc("latency, µs (log scale)")
        .draw()
        .map_err(plot_error)?;
    let shades = [1.0, 0.75, 0.5, 0.3];
    for (index, (label, color, dashed, points)) in curves.into_iter().enumerate() {
        let shade = shades[(index / 2) % shades.len()];
        let style = color.mix(shade).stroke_width(if dashed { 1 } else { 2 });
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(plot_error)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|point| Circle::new(point, 3, style.filled())),
            )
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn nines(percentile: f64) -> f64 {
    -(1.0 - percentile / 100.0).max(1e-6).log10()
}

fn percentile_label(nines: f64) -> String {
    const MARKS: [f64; 6] = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99];
    MARKS
        .iter()
        .find(|mark| (self::nines(**mark) - nines).abs() < 0.02)
        .map(|mark| format!("{mark}%"))
        .unwrap_or_default()
}

fn plot_error<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow!("plotting: {error:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_spaces_the_nines_evenly() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert_eq!(percentile_label(nines(99.9)), "99.9%");
        assert_eq!(percentile_label(0.3), "50%");
        assert_eq!(percentile_label(1.5), "");
    }
}
