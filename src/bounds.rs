//! The largest and smallest numbers swarmgate accepts, checked where each
//! number enters (scenario, flags, files, servers), so that no later sum,
//! cast or `Instant +` can overflow or allocate without bound.

use std::time::Duration;

/// The longest duration anywhere (runs, waits, timeouts, stages, floors):
/// 30 days is past any load test, and far from `Instant`'s or `Duration`'s
/// overflow when added to now.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Users in one run: each holds a socket and a few KiB, and 1,000,000 is
/// already past what one machine's open-file limit allows.
pub const MAX_USERS: u64 = 1_000_000;

/// Users started, or iterations due, per second: slower than one in
/// `MAX_DURATION` would never happen within a run.
pub const MAX_RATE: f64 = 1_000_000.0;
pub const MIN_RATE: f64 = 1.0 / (MAX_DURATION.as_secs() as f64);

/// The largest request count read from any file: 10^15 is a million
/// requests a second for thirty years, and far from overflowing a sum.
pub const MAX_COUNT: u64 = 1_000_000_000_000_000;

/// Values one `for_each` loop may run over.
pub const MAX_LOOP_VALUES: u64 = 1_000_000;

/// The largest file of each kind swarmgate reads: far past any real one,
/// and small enough that reading `/dev/zero` by mistake ends at once.
pub const MAX_TEXT_FILE: u64 = 16 << 20; // scenario, rules, CA, summary.json
pub const MAX_DATA_FILE: u64 = 512 << 20; // stats CSVs, histograms.json, history

/// Reads a whole file, refusing one larger than `limit` bytes without
/// reading past it (a FIFO or `/dev/zero` ends too).
pub fn read_file(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {} MiB swarmgate reads", limit >> 20),
        ));
    }
    Ok(bytes)
}

/// [`read_file`] for text: invalid UTF-8 is an error naming the byte offset.
pub fn read_text(path: &std::path::Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read_file(path, limit)?).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// A duration from seconds, refused past [`MAX_DURATION`] instead of
/// panicking in `Duration::from_secs_f64`.
pub fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0 && value <= MAX_DURATION.as_secs_f64())
        .then(|| Duration::from_secs_f64(value))
}

/// A rate checked against [`MIN_RATE`]..=[`MAX_RATE`]; `what` names it in the error.
pub fn rate(value: f64, what: &str) -> Result<f64, String> {
    if value.is_finite() && (MIN_RATE..=MAX_RATE).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{what} must be between {MIN_RATE:.1e} (one in 30 days) and {MAX_RATE:.0} per second, got {}",
            readable(value)
        ))
    }
}

/// A number as a message shows it: `1e-300`, not three hundred zeros.
pub fn readable(value: f64) -> String {
    if value == 0.0 || (1e-4..1e15).contains(&value.abs()) {
        value.to_string()
    } else {
        format!("{value:e}")
    }
}

/// What the error says about a too-long duration.
pub fn too_long(text: &str) -> String {
    format!("duration `{text}` is longer than the limit of 30 days")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_absurd_numbers_briefly() {
        assert_eq!(readable(2.5), "2.5");
        assert_eq!(readable(1e-300), "1e-300");
        assert_eq!(readable(-1e20), "-1e20");
        assert!(rate(1e-300, "spawn_rate")
            .unwrap_err()
            .ends_with("got 1e-300"));
    }

    #[test]
    fn seconds_refuse_what_would_overflow() {
        assert_eq!(seconds(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(seconds(1e20), None);
        assert_eq!(seconds(f64::NAN), None);
        assert_eq!(seconds(-1.0), None);
        assert_eq!(seconds(MAX_DURATION.as_secs_f64()), Some(MAX_DURATION));
    }

    #[test]
    fn rates_are_kept_in_range() {
        assert!(rate(10.0, "spawn_rate").is_ok());
        assert!(rate(1e-300, "spawn_rate")
            .unwrap_err()
            .contains("spawn_rate"));
        assert!(rate(1e19, "arrival_rate").is_err());
        assert!(rate(f64::INFINITY, "x").is_err());
    }

    #[test]
    fn reading_a_file_stops_at_its_limit() {
        let error = read_file(std::path::Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            error.to_string().contains("larger than the 1 MiB"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"ab\xff").unwrap();
        assert_eq!(read_file(&file, 3).unwrap(), b"ab\xff");
        assert!(read_file(&file, 2).is_err());
        assert!(read_text(&file, 3)
            .unwrap_err()
            .to_string()
            .contains("byte 2"));
    }
}
