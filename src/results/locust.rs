//! Locust's arithmetic and spelling, reproduced exactly so that our CSV files
//! and theirs are interchangeable.
//!
//! Locust keeps response times in rounded buckets (two significant digits),
//! reports percentiles as bucket keys, clamps the median to the exact min and
//! max, and prints numbers the way Python's `str()` does.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::metrics::EndpointStats;

/// The percentile columns Locust 2.x writes, as fractions and as headers.
pub const PERCENTILES: [f64; 11] = [
    0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];
pub const PERCENTILE_HEADERS: [&str; 11] = [
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
];

/// Locust's `bucket_response_time`: whole ms under 100, then the nearest 10,
/// 100 and 1000; Python's `round` sends ties to even.
pub fn bucket(ms: f64) -> u64 {
    let step = crate::units::locust_bucket_step(ms);
    ((ms / step).round_ties_even() * step) as u64
}

/// Response times in Locust's buckets: bucket in ms → count.
pub fn buckets(histogram: &Histogram<u64>) -> BTreeMap<u64, u64> {
    let mut buckets = BTreeMap::new();
    for value in histogram.iter_recorded() {
        let micros = histogram.median_equivalent(value.value_iterated_to());
        *buckets.entry(bucket(micros as f64 / 1000.0)).or_insert(0) += value.count_at_value();
    }
    buckets
}

/// Locust's `calculate_response_time_percentile`, walking down from the top.
pub fn percentile(buckets: &BTreeMap<u64, u64>, count: u64, fraction: f64) -> u64 {
    let wanted = (count as f64 * fraction) as u64;
    let mut processed = 0;
    for (&bucket, &n) in buckets.iter().rev() {
        processed += n;
        if count.saturating_sub(processed) <= wanted {
            return bucket;
        }
    }
    0
}

/// A number as Python prints it: Locust's int-or-float columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PyNumber {
    Int(u64),
    Float(f64),
}

impl std::fmt::Display for PyNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            PyNumber::Int(n) => write!(f, "{n}"),
            PyNumber::Float(x) => f.write_str(&py_float(x)),
        }
    }
}

/// The Locust columns of one stats row, computed once for every format.
#[derive(Debug, Clone, PartialEq)]
pub struct LocustRow {
    pub median: PyNumber,
    pub average: PyNumber,
    pub min: PyNumber,
    pub max: PyNumber,
    pub average_content_length: PyNumber,
    /// `None` when the row has no timed request: Locust writes `N/A`.
    pub percentiles: Option<[u64; 11]>,
}

impl LocustRow {
    pub fn of(stats: &EndpointStats) -> Self {
        let timed = stats.timed();
        let buckets = buckets(&stats.histogram);
        let (min, max) = (stats.min_ms(), stats.max_ms());
        let median = if buckets.is_empty() {
            PyNumber::Int(0)
        } else {
            let median = percentile(&buckets, timed, 0.5);
            if median as f64 > max {
                PyNumber::Float(max)
            } else if (median as f64) < min {
                PyNumber::Float(min)
            } else {
                PyNumber::Int(median)
            }
        };
        Self {
            median,
            average: PyNumber::Float(stats.average_ms()),
            // `min_response_time or 0`: Python prints a missing or zero minimum as 0.
            min: if min == 0.0 {
                PyNumber::Int(0)
            } else {
                PyNumber::Float(min)
            },
            max: if timed == 0 {
                PyNumber::Int(0)
            } else {
                PyNumber::Float(max)
            },
            average_content_length: match stats.requests {
                0 => PyNumber::Int(0),
                _ => PyNumber::Float(stats.average_content_length()),
            },
            percentiles: (stats.requests > 0)
                .then(|| PERCENTILES.map(|p| percentile(&buckets, timed, p))),
        }
    }

    pub fn percentile_cells(&self) -> Vec<String> {
        match &self.percentiles {
            Some(values) => values.iter().map(u64::to_string).collect(),
            None => vec!["N/A".to_owned(); PERCENTILES.len()],
        }
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed
/// notation from 1e-4 up to 1e16 with at least one decimal, else scientific
/// with a signed two-digit exponent.
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("{:e} always has an exponent");
    let exponent: i32 = exponent.parse().expect("integer exponent");
    let sign = if mantissa.starts_with('-') { "-" } else { "" };
    let digits: String = mantissa
        .trim_start_matches('-')
        .chars()
        .filter(|c| *c != '.')
        .collect();
    if !(-4..16).contains(&exponent) {
        let fraction = if digits.len() > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{}{fraction}e{exponent_sign}{:02}",
            &digits[..1],
            exponent.abs()
        );
    }
    if exponent < 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-exponent - 1) as usize));
    }
    let integer_digits = exponent as usize + 1;
    if digits.len() <= integer_digits {
        format!(
            "{sign}{digits}{}.0",
            "0".repeat(integer_digits - digits.len())
        )
    } else {
        format!(
            "{sign}{}.{}",
            &digits[..integer_digits],
            &digits[integer_digits..]
        )
    }
}

/// A text cell (a name, a message) that a spreadsheet would run as a
/// formula gets a leading `'`, as OWASP advises; so does one that already
/// starts with `'`, so that [`read_text_cell`] gives back exactly what was
/// written. Names starting with `/`, as URL paths do, are never touched, so
/// Locust's own files stay byte for byte.
pub fn text_cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// The text [`text_cell`] wrote.
pub fn read_text_cell(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// A reader of a CSV file as Locust or another tool may have rewritten it
/// (a byte-order mark, LF or CRLF), and its header; `what` names the kind
/// of file in the message when there is no header to read.
pub fn csv_reader<'a>(
    bytes: &'a [u8],
    file: &std::path::Path,
    what: &str,
) -> Result<(csv::Reader<&'a [u8]>, Vec<String>), crate::InvalidInput> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| crate::InvalidInput(format!("{}: not {what}: {e}", file.display())))?
        .iter()
        .map(str::to_owned)
        .collect();
    Ok((reader, header))
}

/// Python's csv writer: CRLF line ends, quotes only where needed.
pub fn csv_writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Sample;
    use std::time::Duration;

    #[test]
    fn buckets_round_to_two_significant_digits_with_ties_to_even() {
        assert_eq!(bucket(0.4), 0);
        assert_eq!(bucket(2.5), 2);
        assert_eq!(bucket(3.5), 4);
        assert_eq!(bucket(99.4), 99);
        assert_eq!(bucket(99.5), 100);
        assert_eq!(bucket(147.0), 150);
        assert_eq!(bucket(145.0), 140);
        assert_eq!(bucket(155.0), 160);
        assert_eq!(bucket(3432.0), 3400);
        assert_eq!(bucket(3450.0), 3400);
        assert_eq!(bucket(58760.0), 59000);
        assert_eq!(bucket(12500.0), 12000);
    }

    #[test]
    fn percentiles_walk_down_from_the_top_like_locust() {
        // Ten requests: 1 ms ×5, 2 ms ×4, 90 ms ×1. Expected values are what
        // locust.stats.calculate_response_time_percentile returns for them.
        let buckets = BTreeMap::from([(1, 5), (2, 4), (90, 1)]);
        let got: Vec<u64> = [0.4, 0.5, 0.66, 0.9, 0.95, 1.0]
            .iter()
            .map(|&p| percentile(&buckets, 10, p))
            .collect();
        assert_eq!(got, [1, 2, 2, 90, 90, 90]);
    }

    #[test]
    fn formula_cells_are_neutralised_and_read_back_exactly() {
        for text in [
            "=SUM(1,2)",
            "=cmd|' /C calc'!A0",
            "+1",
            "-1",
            "@x",
            "'quoted",
            "\tx",
        ] {
            let cell = text_cell(text);
            assert!(cell.starts_with('\''), "{cell}");
            assert_eq!(read_text_cell(&cell), text);
        }
        assert_eq!(text_cell("/products/[id]/"), "/products/[id]/");
        assert_eq!(text_cell("Aggregated"), "Aggregated");
    }

    #[test]
    fn python_float_repr() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(12.345), "12.345");
        assert_eq!(py_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(py_float(0.0001), "0.0001");
        assert_eq!(py_float(0.00001), "1e-05");
        assert_eq!(py_float(1.5e-7), "1.5e-07");
        assert_eq!(py_float(123456789.0), "123456789.0");
        assert_eq!(py_float(1e16), "1e+16");
        assert_eq!(py_float(-2.5), "-2.5");
        assert_eq!(py_float(0.0), "0.0");
    }

    #[test]
    fn median_is_clamped_to_the_exact_min_and_max() {
        let mut stats = EndpointStats::default();
        stats.record(&Sample {
            latency: Some(Duration::from_micros(530)),
            content_length: 3,
            failure: None,
        });
        let row = LocustRow::of(&stats);
        // The single sample's bucket is 1 ms, above the exact maximum 0.53 ms.
        assert_eq!(row.median, PyNumber::Float(0.53));
        assert_eq!(row.min, PyNumber::Float(0.53));
        assert_eq!(row.average_content_length.to_string(), "3.0");
    }

    #[test]
    fn a_row_without_requests_has_na_percentiles_and_zeros() {
        let row = LocustRow::of(&EndpointStats::default());
        assert_eq!(row.percentile_cells(), vec!["N/A"; 11]);
        assert_eq!(
            (
                row.median.to_string(),
                row.min.to_string(),
                row.max.to_string()
            ),
            ("0".into(), "0".into(), "0".into())
        );
    }
}
