//! Charts as inline SVG, drawn here rather than by a script from a CDN, so
//! that the report opens offline and reads with JavaScript off. Series are
//! told apart by dash pattern as well as colour, so a greyscale print works.

use std::fmt::Write;

use super::axis::{axis_ticks, bounds, point_value, tick_label, ticks, Axis, Scale};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;

/// Distinct in colour and in grey: dark solid, mid dashed, light dotted.
pub const STYLES: [Style; 3] = [
    Style {
        colour: "#1f4e9c",
        dash: "",
    },
    Style {
        colour: "#d97a00",
        dash: "7 4",
    },
    Style {
        colour: "#5f8f3a",
        dash: "2 3",
    },
];

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: &'static str,
    pub dash: &'static str,
}

pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
}

/// Series of more points than this get no tooltip per point.
const MAX_POINT_TIPS: usize = 64;

/// XML-escapes text placed in the SVG: endpoint names come from the system
/// under test.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A line chart; each series a polyline, with a legend, and each point's
/// value on hover where the points are few.
pub fn line_chart(title: &str, x: &Axis, y: &Axis, series: &[Series]) -> String {
    chart_of_lines(title, x, y, series, true, &[])
}

/// A place on a chart's x axis worth a line of its own: a change point.
pub struct Mark {
    pub at: f64,
    /// What happened there, on hover.
    pub label: String,
}

/// A line chart with vertical marks (change points), each telling what it
/// marks on hover.
pub fn line_chart_marked(
    title: &str,
    x: &Axis,
    y: &Axis,
    series: &[Series],
    marks: &[Mark],
) -> String {
    chart_of_lines(title, x, y, series, true, marks)
}

/// A line chart without tooltips per point: for small multiples, which
/// would otherwise double the report's size.
pub fn small_line_chart(title: &str, x: &Axis, y: &Axis, series: &[Series]) -> String {
    chart_of_lines(title, x, y, series, false, &[])
}

fn chart_of_lines(
    title: &str,
    x: &Axis,
    y: &Axis,
    series: &[Series],
    tips: bool,
    marks: &[Mark],
) -> String {
    let (x_low, x_high) = bounds(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
        x.scale,
        false,
    );
    let (y_low, y_high) = bounds(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        y.scale,
        true,
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |v: f64| {
        let (a, b) = (x.scale.transform(x_low), x.scale.transform(x_high));
        LEFT + (x.scale.transform(v) - a) / (b - a).max(1e-9) * plot_w
    };
    let py = |v: f64| {
        let (a, b) = (y.scale.transform(y_low), y.scale.transform(y_high));
        TOP + plot_h - (y.scale.transform(v) - a) / (b - a).max(1e-9) * plot_h
    };
    let mut svg = open(title);
    axes(
        &mut svg,
        x,
        y,
        &axis_ticks(x, x_low, x_high),
        &axis_ticks(y, y_low, y_high),
        &px,
        &py,
    );
    for mark in marks {
        let at = px(mark.at);
        let _ = write!(
            svg,
            r##"<line class="change-point" x1="{at:.1}" x2="{at:.1}" y1="{TOP:.1}" y2="{:.1}" stroke="#b03a2e" stroke-width="2" stroke-dasharray="2 3"><title>{}</title></line>"##,
            TOP + plot_h,
            escape(&mark.label)
        );
    }
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        let mut path = String::new();
        for (i, (vx, vy)) in s.points.iter().enumerate() {
            let _ = write!(
                path,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                px(*vx),
                py(*vy)
            );
        }
        let _ = write!(
            svg,
            r#"<path class="series" d="{path}" fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{}"><title>{}</title></path>"#,
            s.style.colour,
            s.style.dash,
            escape(&s.label)
        );
        // Hovering a point tells its value, where the points are few
        // enough to tell apart (and the file stays small).
        if tips && s.points.len() <= MAX_POINT_TIPS {
            for (vx, vy) in &s.points {
                let _ = write!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{}" fill-opacity="0"><title>{}: {} at {}</title></circle>"#,
                    px(*vx),
                    py(*vy),
                    s.style.colour,
                    escape(&s.label),
                    point_value(*vy, y),
                    point_value(*vx, x)
                );
            }
        }
    }
    legend(
        &mut svg,
        Swatch::Line,
        series.iter().map(|s| (s.label.as_str(), s.style)),
    );
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars: one group per category, one bar per series.
pub fn bar_chart(
    title: &str,
    unit: &str,
    categories: &[String],
    series: &[(String, Vec<Option<f64>>, Style)],
) -> String {
    let row_h = 10.0 * series.len() as f64 + 10.0;
    let label_w = 260.0;
    let height = TOP + BOTTOM + row_h * categories.len() as f64;
    let high = series
        .iter()
        .flat_map(|(_, v, _)| v.iter().flatten().copied())
        .fold(0.0f64, f64::max);
    let (_, high) = bounds([0.0, high].into_iter(), Scale::Linear, true);
    let plot_w = WIDTH - label_w - RIGHT;
    let px = |v: f64| label_w + v / high.max(1e-9) * plot_w;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}"><title>{}</title>"#,
        escape(title)
    );
    for tick in ticks(0.0, high, Scale::Linear) {
        let x = px(tick);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
            height - BOTTOM,
            height - BOTTOM + 14.0,
            tick_label(tick, Scale::Linear)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
        label_w + plot_w / 2.0,
        height - 8.0,
        escape(unit)
    );
    for (i, category) in categories.iter().enumerate() {
        let y = TOP + i as f64 * row_h;
        let shown: String = if category.chars().count() > 40 {
            format!("{}…", category.chars().take(39).collect::<String>())
        } else {
            category.clone()
        };
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}<title>{}</title></text>"#,
            label_w - 6.0,
            y + row_h / 2.0 + 3.0,
            escape(&shown),
            escape(category)
        );
        for (j, (label, values, style)) in series.iter().enumerate() {
            if let Some(v) = values.get(i).copied().flatten() {
                let pattern = bar_opacity(*style);
                let _ = write!(
                    svg,
                    r#"<rect class="bar" x="{label_w}" y="{:.1}" width="{:.1}" height="8" fill="{}"{pattern} stroke="{}"><title>{}: {} {}</title></rect>"#,
                    y + 5.0 + j as f64 * 10.0,
                    (px(v) - label_w).max(0.5),
                    style.colour,
                    style.colour,
                    escape(label),
                    tick_label(v, Scale::Linear),
                    escape(unit)
                );
            }
        }
    }
    legend(
        &mut svg,
        Swatch::Bar,
        series.iter().map(|(l, _, s)| (l.as_str(), *s)),
    );
    svg.push_str("</svg>");
    svg
}

/// Bars cannot be dashed: a series that a line would dash is a paler bar.
fn bar_opacity(style: Style) -> &'static str {
    if style.dash.is_empty() {
        ""
    } else {
        r#" fill-opacity="0.45""#
    }
}

/// A small line without axes, for a table cell: the shape of a trend.
pub fn sparkline(label: &str, values: &[Option<f64>]) -> String {
    let (w, h) = (140.0, 28.0);
    let known: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    let (low, high) = known
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, hi), (_, v)| {
            (l.min(*v), hi.max(*v))
        });
    let span = (high - low).max(1e-9);
    let step = w / (values.len().max(2) - 1) as f64;
    let mut path = String::new();
    for (n, (i, v)) in known.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1}",
            if n == 0 { "M" } else { " L" },
            *i as f64 * step,
            h - 3.0 - (v - low) / span * (h - 6.0)
        );
    }
    format!(
        r#"<svg class="sparkline" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><title>{}</title><path class="series" d="{path}" fill="none" stroke="{}" stroke-width="1.5"/></svg>"#,
        escape(label),
        STYLES[0].colour
    )
}

fn open(title: &str) -> String {
    format!(
        r#"<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"><title>{}</title>"#,
        escape(title)
    )
}

fn axes(
    svg: &mut String,
    x: &Axis,
    y: &Axis,
    x_ticks: &[(f64, String)],
    y_ticks: &[(f64, String)],
    px: &dyn Fn(f64) -> f64,
    py: &dyn Fn(f64) -> f64,
) {
    let bottom = HEIGHT - BOTTOM;
    for (t, label) in y_ticks {
        let t = *t;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            py(t),
            WIDTH - RIGHT,
            py(t),
            LEFT - 6.0,
            py(t) + 4.0,
            escape(label)
        );
    }
    for (t, label) in x_ticks {
        let t = *t;
        let _ = write!(
            svg,
            r##"<line x1="{:.1}" y1="{TOP}" x2="{:.1}" y2="{bottom}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
            px(t),
            px(t),
            px(t),
            bottom + 14.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{:.1}" y2="{bottom}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#333"/>"##,
        WIDTH - RIGHT
    );
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 8.0,
        escape(&x.label)
    );
    let _ = write!(
        svg,
        r#"<text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" class="axis">{}</text>"#,
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        escape(&y.label)
    );
}

/// What a legend entry shows: the series' line, or a bar as the bars are drawn.
#[derive(Clone, Copy, PartialEq)]
enum Swatch {
    Line,
    Bar,
}

fn legend<'a>(svg: &mut String, swatch: Swatch, entries: impl Iterator<Item = (&'a str, Style)>) {
    let mut x = LEFT + 10.0;
    for (label, style) in entries {
        if swatch == Swatch::Bar {
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="4" width="22" height="8" fill="{}"{} stroke="{}"/>"#,
                style.colour,
                bar_opacity(style),
                style.colour
            );
        } else {
            let _ = write!(
                svg,
                r#"<line x1="{x:.1}" y1="8" x2="{:.1}" y2="8" stroke="{}" stroke-width="3" stroke-dasharray="{}"/>"#,
                x + 22.0,
                style.colour,
                style.dash
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="12" class="legend">{}</text>"#,
            x + 26.0,
            escape(label)
        );
        x += 40.0 + 7.0 * label.chars().count() as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::axis::MAX_NAMED_TICKS;

    #[test]
    fn few_points_tell_their_values_on_hover() {
        let chart = |n: usize| {
            line_chart(
                "t",
                &Axis::default(),
                &Axis::default(),
                &[Series {
                    label: "p95".into(),
                    points: (0..n).map(|i| (i as f64, 1.5 * i as f64)).collect(),
                    style: STYLES[0],
                }],
            )
        };
        let few = chart(3);
        assert_eq!(few.matches("<circle").count(), 3);
        assert!(few.contains("<title>p95: 3.00 at 2.00</title>"), "{few}");
        assert_eq!(chart(MAX_POINT_TIPS + 1).matches("<circle").count(), 0);
    }

    #[test]
    fn counts_tick_only_whole_numbers_and_names_are_thinned() {
        let runs = Axis {
            whole: true,
            ..Axis::default()
        };
        let shown: Vec<String> = axis_ticks(&runs, 1.0, 2.0)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(shown, ["1", "2"], "no 1.5 run");
        let commits = Axis {
            names: (1..=30).map(|i| (i as f64, format!("c{i}"))).collect(),
            ..Axis::default()
        };
        let named = axis_ticks(&commits, 1.0, 30.0);
        assert!(named.len() <= MAX_NAMED_TICKS && named.len() >= MAX_NAMED_TICKS / 2);
        assert_eq!(named[0], (1.0, "c1".to_owned()));
        let escaped = line_chart(
            "t",
            &Axis {
                names: vec![(1.0, "<b>".into()), (2.0, "c2".into())],
                ..Axis::default()
            },
            &Axis::default(),
            &[Series {
                label: "s".into(),
                points: vec![(1.0, 1.0), (2.0, 2.0)],
                style: STYLES[0],
            }],
        );
        assert!(escaped.contains(">&lt;b&gt;</text>") && escaped.contains(">c2</text>"));
    }

    #[test]
    fn names_are_escaped_in_charts() {
        let svg = line_chart(
            "t",
            &Axis {
                label: "x".into(),
                scale: Scale::Linear,
                ..Axis::default()
            },
            &Axis {
                label: "y".into(),
                scale: Scale::Linear,
                ..Axis::default()
            },
            &[Series {
                label: "<script>alert(1)</script>".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0)],
                style: STYLES[0],
            }],
        );
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        let bars = bar_chart(
            "p95",
            "ms",
            &["<b>x</b>".into()],
            &[("now".into(), vec![Some(3.0)], STYLES[0])],
        );
        assert!(!bars.contains("<b>") && bars.contains("&lt;b&gt;"));
    }
}
