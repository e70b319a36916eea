//! Numbers as the verdict writes them: milliseconds, percentages, points.

pub fn format_percentile(percent: f64) -> String {
    trim_number(percent)
}

pub(crate) fn trim_number(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Three significant digits: 0.432, 12.1, 1530.
pub fn significant(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let digits = (2 - value.abs().log10().floor() as i32).max(0) as usize;
    format!("{value:.digits$}")
}

pub fn ms(value: f64) -> String {
    format!("{} ms", significant(value))
}

pub(crate) fn percent_text(fraction: f64) -> String {
    format!("{}%", trim_number(fraction * 100.0))
}

/// `+24%`, `-3.5%`, `+∞`; from doubling on a ratio, `×4.6`, which reads
/// better than `+360%`.
pub fn percent_change(change: f64) -> String {
    if change.is_infinite() {
        return if change > 0.0 {
            "+∞".into()
        } else {
            "-∞".into()
        };
    }
    if change >= 1.0 {
        return format!("×{}", significant(1.0 + change));
    }
    let percent = change * 100.0;
    if percent.abs() >= 10.0 {
        format!("{percent:+.0}%")
    } else {
        format!("{percent:+.1}%")
    }
}

pub(crate) fn percent_value(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

/// A difference of fractions in percentage points: `+2.6 pp`.
pub(crate) fn points(difference: f64) -> String {
    format!("{:+.1} pp", difference * 100.0)
}

pub(crate) fn seconds_text(secs: f64) -> String {
    if secs < 120.0 {
        format!("{:.0} s", secs.ceil())
    } else if secs < 7200.0 {
        format!("{:.0} min", (secs / 60.0).ceil())
    } else {
        format!("{:.0} h", (secs / 3600.0).ceil())
    }
}

/// A factor as a change: `×2.4`, or `-18%` for one below 1.
pub(crate) fn ratio_text(factor: f64) -> String {
    if factor >= 1.0 {
        format!("×{}", trim_number((factor * 100.0).round() / 100.0))
    } else {
        percent_change(factor - 1.0)
    }
}

/// Says when requests were far from independent, and so the interval wider
/// than their count alone would make it.
pub(crate) fn dependence_note((baseline, current): (f64, f64)) -> String {
    if baseline.max(current) < 1.5 {
        return String::new();
    }
    format!(
        "; requests correlated in time, each run counts as {} and {} of its requests",
        fraction_text(baseline),
        fraction_text(current)
    )
}

fn fraction_text(effect: f64) -> String {
    if effect < 1.05 {
        "all".into()
    } else {
        format!("1/{}", trim_number((effect * 10.0).round() / 10.0))
    }
}
