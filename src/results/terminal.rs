//! The end-of-run summary in Locust's layout: request statistics, response
//! time percentiles, and the error report.

use std::fmt::Write;

use super::locust::{LocustRow, PyNumber, PERCENTILE_HEADERS};
use crate::engine::RunResult;
use crate::metrics::EndpointStats;

const TYPE_WIDTH: usize = 8;

/// Renders the summary for a terminal of `name_width` + 80 columns, as Locust
/// sizes its tables.
pub fn render(run: &RunResult, name_width: usize) -> String {
    let mut out = String::new();
    requests_table(&mut out, run, name_width);
    out.push('\n');
    percentiles_table(&mut out, run, name_width);
    if !run.stats.errors.is_empty() {
        out.push('\n');
        error_report(&mut out, run, name_width);
    }
    out
}

/// Locust's name column: terminal width less 80, at most 80, and here never
/// so narrow that names vanish.
pub fn name_width() -> usize {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return 80;
    }
    let columns =
        rustix::termios::tcgetwinsize(std::io::stdout()).map_or(160, |size| size.ws_col as usize);
    columns.saturating_sub(80).clamp(24, 80)
}

fn requests_table(out: &mut String, run: &RunResult, name_width: usize) {
    let column = name_width - TYPE_WIDTH + 4;
    let _ = writeln!(
        out,
        "{:<TYPE_WIDTH$} {:<column$} {:>7} {:>12} |{:>7} {:>7} {:>7}{:>7} | {:>7} {:>11}",
        "Type", "Name", "# reqs", "# fails", "Avg", "Min", "Max", "Med", "req/s", "failures/s"
    );
    let separator = [
        "-".repeat(TYPE_WIDTH),
        "-".repeat(column),
        "-".repeat(7),
        "-".repeat(13),
        "-".repeat(7),
        "-".repeat(7),
        "-".repeat(7),
        "-".repeat(7),
        "-".repeat(8),
        "-".repeat(11),
    ]
    .join("|");
    let _ = writeln!(out, "{separator}");
    let seconds = run.measured.as_secs_f64();
    for (key, stats) in &run.stats.endpoints {
        request_row(
            out,
            &format!("{} ", key.method),
            &key.name,
            stats,
            seconds,
            column,
        );
    }
    let _ = writeln!(out, "{separator}");
    request_row(out, "", "Aggregated", &run.stats.total, seconds, column);
}

fn request_row(
    out: &mut String,
    method: &str,
    name: &str,
    stats: &EndpointStats,
    seconds: f64,
    column: usize,
) {
    // One row per line, whatever a captured name holds.
    let name = crate::text::one_line(name);
    let row = LocustRow::of(stats);
    let ratio = if stats.requests > 0 {
        stats.failures as f64 / stats.requests as f64 * 100.0
    } else {
        0.0
    };
    let rate = |n: u64| {
        if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        }
    };
    let truncate = |n: PyNumber| match n {
        PyNumber::Int(n) => n,
        PyNumber::Float(x) => x as u64,
    };
    let _ = writeln!(
        out,
        "{method:<TYPE_WIDTH$} {name:<column$} {:>7} {:>12} |{:>7} {:>7} {:>7}{:>7} | {:>7.2} {:>11.2}",
        stats.requests,
        format!("{}({ratio:.2}%)", stats.failures),
        truncate(row.average),
        truncate(row.min),
        truncate(row.max),
        truncate(row.median),
        rate(stats.requests),
        rate(stats.failures),
    );
}

fn percentiles_table(out: &mut String, run: &RunResult, name_width: usize) {
    let _ = writeln!(out, "Response time percentiles (approximated)");
    let _ = write!(
        out,
        "{:<TYPE_WIDTH$} {:<name_width$} {:>8}",
        "Type", "Name", PERCENTILE_HEADERS[0]
    );
    for header in PERCENTILE_HEADERS[1..].iter().chain(["# reqs"].iter()) {
        let _ = write!(out, " {header:>6}");
    }
    out.push('\n');
    let mut separator = format!(
        "{}|{}|{}|",
        "-".repeat(TYPE_WIDTH),
        "-".repeat(name_width),
        "-".repeat(8)
    );
    separator.push_str(&vec!["-".repeat(6); PERCENTILE_HEADERS.len()].join("|"));
    let _ = writeln!(out, "{separator}");
    for (key, stats) in &run.stats.endpoints {
        percentile_row(out, key.method.as_str(), &key.name, stats, name_width);
    }
    let _ = writeln!(out, "{separator}");
    percentile_row(out, "", "Aggregated", &run.stats.total, name_width);
}

fn percentile_row(
    out: &mut String,
    method: &str,
    name: &str,
    stats: &EndpointStats,
    name_width: usize,
) {
    let name = crate::text::one_line(name);
    let Some(values) = LocustRow::of(stats)
        .percentiles
        .filter(|_| stats.timed() > 0)
    else {
        return;
    };
    let _ = write!(
        out,
        "{method:<TYPE_WIDTH$} {name:<name_width$} {:>8}",
        values[0]
    );
    for value in values[1..].iter().chain([stats.requests].iter()) {
        let _ = write!(out, " {value:>6}");
    }
    out.push('\n');
}

fn error_report(out: &mut String, run: &RunResult, name_width: usize) {
    let _ = writeln!(out, "Error report");
    let _ = writeln!(out, "{:<18} {:<100}", "# occurrences", "Error");
    let separator = format!("{}|{}", "-".repeat(18), "-".repeat(80 + name_width - 19));
    let _ = writeln!(out, "{separator}");
    for error in &run.stats.errors {
        let _ = writeln!(
            out,
            "{:<18} {:<100}",
            error.occurrences,
            crate::text::one_line(&format!(
                "{} {}: {}",
                error.method, error.name, error.message
            ))
        );
    }
    let _ = writeln!(out, "{separator}");
    // Locust ends its error report with an empty line.
    out.push('\n');
}
