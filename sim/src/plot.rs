//! A line chart as a standalone SVG file: axes with ticks and units, one coloured line per
//! series (dashed for reference lines such as capacity and limits), and a legend. No
//! dependencies, so the output is the same on every machine.

use std::fmt::Write as _;

pub struct Series {
    pub label: String,
    /// One value per x step (one second); `NaN` leaves a gap.
    pub points: Vec<f64>,
    pub dashed: bool,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 540.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 240.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;
/// Colour-blind-safe palette (Okabe and Ito).
const COLOURS: [&str; 8] =
    ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#E69F00", "#56B4E9", "#F0E442"];

impl Chart {
    pub fn svg(&self) -> String {
        let frame = Frame::fit(&self.series);
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="28" font-size="16" text-anchor="middle">{}</text>"#,
            LEFT + PLOT_W / 2.0,
            escape(&self.title)
        );
        frame.grid(&mut svg);
        self.axes(&mut svg);
        for (index, series) in self.series.iter().enumerate() {
            frame.series(&mut svg, index, series);
        }
        svg.push_str("</svg>\n");
        svg
    }

    /// The axes and their labels.
    fn axes(&self, svg: &mut String) {
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
            TOP + PLOT_H,
            LEFT + PLOT_W,
            TOP + PLOT_H
        );
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="black"/>"#,
            TOP + PLOT_H
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + PLOT_W / 2.0,
            HEIGHT - 16.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            svg,
            r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            TOP + PLOT_H / 2.0,
            escape(&self.y_label)
        );
    }
}

/// The scales of a chart: data ranges, tick steps, and data-to-pixel mapping.
struct Frame {
    x_max: f64,
    x_step: f64,
    y_max: f64,
    y_step: f64,
}

impl Frame {
    /// Room for every value, with a tenth to spare above, on round tick steps.
    fn fit(series: &[Series]) -> Self {
        let x_max = series.iter().map(|s| s.points.len()).max().unwrap_or(1).max(1) as f64;
        let y_top = series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let y_step = nice_step(y_top.max(1e-3) * 1.1 / 5.0);
        let y_max = (y_top * 1.1 / y_step).ceil().max(1.0) * y_step;
        Self { x_max, x_step: nice_step(x_max / 8.0).max(1.0), y_max, y_step }
    }

    fn sx(&self, x: f64) -> f64 {
        LEFT + x / self.x_max * PLOT_W
    }

    fn sy(&self, y: f64) -> f64 {
        TOP + PLOT_H - y / self.y_max * PLOT_H
    }

    /// Grid lines, ticks and tick labels.
    fn grid(&self, svg: &mut String) {
        let (x_max, y_max, x_step, y_step) = (self.x_max, self.y_max, self.x_step, self.y_step);
        let mut y = 0.0;
        while y <= y_max + y_step / 2.0 {
            let py = self.sy(y);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/>"##,
                LEFT + PLOT_W
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                py + 4.0,
                tick(y)
            );
            y += y_step;
        }
        let mut x = 0.0;
        while x <= x_max + 1e-9 {
            let px = self.sx(x);
            let _ = writeln!(
                svg,
                r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/>"##,
                TOP + PLOT_H
            );
            let _ = writeln!(
                svg,
                r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                TOP + PLOT_H + 18.0,
                tick(x)
            );
            x += x_step;
        }
    }

    /// One series as a step line, and its legend entry.
    fn series(&self, svg: &mut String, index: usize, series: &Series) {
        let colour = COLOURS[index % COLOURS.len()];
        let dash = if series.dashed { r#" stroke-dasharray="6 4""# } else { "" };
        let mut path = String::new();
        let mut pen_down = false;
        for (i, value) in series.points.iter().enumerate() {
            if !value.is_finite() {
                pen_down = false;
                continue;
            }
            // Each value covers its second: draw it as a step from i to i+1.
            let (x0, x1, py) = (self.sx(i as f64), self.sx(i as f64 + 1.0), self.sy(*value));
            let _ = write!(
                path,
                "{}{x0:.1},{py:.1} L{x1:.1},{py:.1} ",
                if pen_down { "L" } else { "M" }
            );
            pen_down = true;
        }
        let _ = writeln!(
            svg,
            r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
            path.trim_end()
        );
        let ly = TOP + 10.0 + index as f64 * 22.0;
        let lx = WIDTH - RIGHT + 16.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"{dash}/>"#,
            lx + 28.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}">{}</text>"#,
            lx + 36.0,
            ly + 4.0,
            escape(&series.label)
        );
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power)
}

fn tick(value: f64) -> String {
    if value == value.round() {
        format!("{value:.0}")
    } else {
        format!("{value:.3}").trim_end_matches('0').to_owned()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_numbers() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(0.012), 0.02);
    }

    #[test]
    fn a_chart_has_axes_a_legend_and_one_path_per_series() {
        let chart = Chart {
            title: "t".into(),
            x_label: "time (s)".into(),
            y_label: "rate (Mbit/s)".into(),
            series: vec![
                Series {
                    label: "a <job>".into(),
                    points: vec![1.0, 2.0, f64::NAN, 1.5],
                    dashed: false,
                },
                Series { label: "capacity".into(), points: vec![3.0; 4], dashed: true },
            ],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains("time (s)") && svg.contains("rate (Mbit/s)"));
        assert!(svg.contains("a &lt;job&gt;"), "labels are escaped");
        assert!(svg.contains("stroke-dasharray"), "reference lines are dashed");
    }
}
