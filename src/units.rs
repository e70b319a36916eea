//! Units as swarmgate reads and writes them: durations in human form, and
//! the precision of Locust's millisecond columns.

use std::time::Duration;

/// Durations are written the way humans write them: `30s`, `2m`, `1m30s`,
/// `250ms`; a bare number means seconds, as in Locust.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let invalid =
        || format!("invalid duration `{text}`: expected a time such as 30s, 2m, 1m30s or 250ms");
    let duration = match trimmed.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            crate::bounds::seconds(seconds).ok_or_else(|| crate::bounds::too_long(text))?
        }
        // humantime refuses what overflows a Duration, so it is too long, not malformed.
        _ => humantime::parse_duration(trimmed).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => crate::bounds::too_long(text),
            _ => invalid(),
        })?,
    };
    if duration > crate::bounds::MAX_DURATION {
        return Err(crate::bounds::too_long(text));
    }
    Ok(duration)
}

/// The width of the bucket Locust rounds a response time into, in ms: its
/// CSVs' millisecond columns are that precise and no more.
pub fn locust_bucket_step(ms: f64) -> f64 {
    if ms < 100.0 {
        1.0
    } else if ms < 1000.0 {
        10.0
    } else if ms < 10000.0 {
        100.0
    } else {
        1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_human_units_and_bare_seconds() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0.3"), Ok(Duration::from_millis(300)));
        assert!(parse_duration("soon").unwrap_err().contains("30s"));
        assert!(parse_duration("-1").is_err());
        for huge in [
            "1e20",
            "18446744073709551616",
            "1e19",
            "31days",
            "99999999999999999999s",
        ] {
            assert!(
                parse_duration(huge).unwrap_err().contains("30 days"),
                "{huge}"
            );
        }
    }

    #[test]
    fn locust_buckets_widen_with_the_value() {
        assert_eq!(locust_bucket_step(99.0), 1.0);
        assert_eq!(locust_bucket_step(100.0), 10.0);
        assert_eq!(locust_bucket_step(5000.0), 100.0);
        assert_eq!(locust_bucket_step(20000.0), 1000.0);
    }
}
