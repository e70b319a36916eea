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
