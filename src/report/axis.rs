//! A chart's axes: their scales, where the ticks go and what they say, and
//! the padded bounds of the data on them.

#[derive(Clone, Default)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
    /// Counts (users, runs): no tick between two whole numbers.
    pub whole: bool,
    /// Ticks named rather than numbered (a run's commit), at these values;
    /// at most [`MAX_NAMED_TICKS`] of them are shown, evenly picked.
    pub names: Vec<(f64, String)>,
}

/// Named ticks beyond this would overlap on the chart's width.
pub(super) const MAX_NAMED_TICKS: usize = 8;

#[derive(Clone, Copy, PartialEq, Default)]
pub enum Scale {
    #[default]
    Linear,
    Log,
    /// Percentiles as "nines": 50%, 90%, 99%, 99.9% equally spaced.
    Nines,
}

impl Scale {
    pub(super) fn transform(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log => v.max(1e-3).log10(),
            Scale::Nines => -(1.0 - v.min(0.9999)).log10(),
        }
    }
}

/// A point's coordinate in a tooltip: its name on a named axis, else the
/// number to three significant digits.
pub(super) fn point_value(v: f64, axis: &Axis) -> String {
    if let Some((_, name)) = axis.names.iter().find(|(at, _)| (*at - v).abs() < 1e-9) {
        return name.clone();
    }
    match axis.scale {
        Scale::Nines => tick_label(v, Scale::Nines),
        _ => crate::gate::significant(v),
    }
}

/// Tick values for an axis spanning `low..high`.
pub(super) fn ticks(low: f64, high: f64, scale: Scale) -> Vec<f64> {
    match scale {
        Scale::Nines => [0.5, 0.9, 0.99, 0.999, 0.9999]
            .into_iter()
            .filter(|q| *q >= low - 1e-9 && *q <= high + 1e-9)
            .collect(),
        Scale::Log => {
            let mut ticks = Vec::new();
            let mut decade = 10f64.powi(low.max(1e-3).log10().floor() as i32);
            while decade <= high * 1.0001 {
                for m in [1.0, 2.0, 5.0] {
                    let v = decade * m;
                    if v >= low * 0.9999 && v <= high * 1.0001 {
                        ticks.push(v);
                    }
                }
                decade *= 10.0;
            }
            ticks
        }
        Scale::Linear => {
            let span = (high - low).max(1e-9);
            let raw = span / 5.0;
            let magnitude = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|m| m * magnitude)
                .find(|s| *s >= raw)
                .unwrap_or(magnitude * 10.0);
            // Counted, not accumulated: far from zero `v += step` may not
            // move `v` at all, and the loop would never end.
            let first = (low / step).ceil();
            (0..=10)
                .map(|i| (first + i as f64) * step)
                .take_while(|v| *v <= high + step * 1e-9)
                .collect()
        }
    }
}

#[cfg(test)]
#[test]
fn ticks_end_for_any_finite_span() {
    assert_eq!(
        ticks(0.0, 10.0, Scale::Linear),
        [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    );
    for (low, high) in [
        (1e20, 1e20 + 1.0),
        (0.0, 1e300),
        (-1e308, 1e308),
        (1e-300, 2e-300),
    ] {
        assert!(ticks(low, high, Scale::Linear).len() <= 11, "{low}..{high}");
        assert!(ticks(low.abs(), high.abs(), Scale::Log).len() <= 2000);
    }
}

/// An axis's ticks between `low` and `high`, with their labels: its names
/// when it has them, else round numbers (whole ones on a count).
pub(super) fn axis_ticks(axis: &Axis, low: f64, high: f64) -> Vec<(f64, String)> {
    if !axis.names.is_empty() {
        let within: Vec<&(f64, String)> = axis
            .names
            .iter()
            .filter(|(v, _)| *v >= low - 1e-9 && *v <= high + 1e-9)
            .collect();
        let every = within.len().div_ceil(MAX_NAMED_TICKS).max(1);
        return within
            .into_iter()
            .step_by(every)
            .map(|(v, name)| (*v, name.clone()))
            .collect();
    }
    ticks(low, high, axis.scale)
        .into_iter()
        .filter(|v| !axis.whole || v.fract() == 0.0)
        .map(|v| (v, tick_label(v, axis.scale)))
        .collect()
}

pub(super) fn tick_label(v: f64, scale: Scale) -> String {
    match scale {
        Scale::Nines => {
            let percent = v * 100.0;
            format!(
                "{}%",
                format!("{percent:.2}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
            )
        }
        _ if v.abs() >= 100.0 || v == v.round() => format!("{v:.0}"),
        _ if v.abs() >= 1.0 => format!("{v:.1}"),
        _ => format!("{}", (v * 1000.0).round() / 1000.0),
    }
}

/// Bounds of the data on an axis, padded for a readable chart.
pub(super) fn bounds(
    values: impl Iterator<Item = f64>,
    scale: Scale,
    from_zero: bool,
) -> (f64, f64) {
    let (mut low, mut high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    match scale {
        Scale::Linear => {
            if from_zero {
                low = low.min(0.0);
            }
            if high <= low {
                high = low + 1.0;
            }
            let step = ticks(low, high, Scale::Linear)
                .windows(2)
                .map(|w| w[1] - w[0])
                .next()
                .unwrap_or(1.0);
            (low, (high / step).ceil() * step)
        }
        Scale::Log => {
            let low = 10f64.powi(low.max(1e-3).log10().floor() as i32);
            let high = 10f64.powi(high.max(low * 10.0).log10().ceil() as i32);
            (low, high)
        }
        Scale::Nines => (0.5, high.max(0.99)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_numbers() {
        assert_eq!(
            ticks(0.0, 10.0, Scale::Linear),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        let labels: Vec<String> = ticks(0.0, 0.9, Scale::Linear)
            .iter()
            .map(|t| tick_label(*t, Scale::Linear))
            .collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8"]);
        assert_eq!(
            ticks(1.0, 100.0, Scale::Log),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        assert_eq!(tick_label(0.999, Scale::Nines), "99.9%");
    }
}
