//! The run's timeline, as the report draws it: one point a second (a row of
//! `stats_history.csv`), merged with its neighbours as the run grows so that
//! at most [`MAX_POINTS`] are kept however long it runs. The points come
//! from the same cells whether the run is writing them or `report DIR` is
//! reading them back, so both draw the same chart.

use std::path::Path;

use crate::InvalidInput;

/// Charts of an hour's run stay small.
pub const MAX_POINTS: usize = 900;
/// Year 5138: past any real clock, far from overflowing any sum of seconds.
pub(super) const MAX_UNIX_TIMESTAMP: f64 = 1e11;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelinePoint {
    /// Seconds since the start.
    pub at: f64,
    pub users: f64,
    pub requests_per_second: f64,
    pub failures_per_second: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One row's cells, as written: numbers, or empty or `N/A`.
pub struct Cells<'a> {
    pub timestamp: &'a str,
    pub users: &'a str,
    pub requests_per_second: &'a str,
    pub failures_per_second: &'a str,
    pub p50: &'a str,
    pub p95: &'a str,
    pub p99: &'a str,
}

/// The timeline so far, bounded.
#[derive(Debug)]
pub struct Timeline {
    points: Vec<TimelinePoint>,
    /// Seconds each kept point stands for: doubles each time the points fill up.
    group: usize,
    /// Seconds not yet a whole group.
    pending: Vec<TimelinePoint>,
    origin: Option<f64>,
    previous: f64,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            points: Vec::new(),
            group: 1,
            pending: Vec::new(),
            origin: None,
            previous: f64::NEG_INFINITY,
        }
    }
}

impl Timeline {
    /// Adds a row; a value that could not come from a run (a timestamp
    /// outside 1970..5138 or going back, a negative or non-finite number, a
    /// timeline longer than 30 days) is refused, saying which.
    pub fn push(&mut self, cells: &Cells) -> Result<(), String> {
        let number = |text: &str, name: &str| -> Result<Option<f64>, String> {
            match text {
                "" | "N/A" => Ok(None),
                text => match text.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                    _ => Err(format!(
                        "{name} `{}` is not a number ≥ 0",
                        crate::text::one_line(text)
                    )),
                },
            }
        };
        let timestamp = number(cells.timestamp, "Timestamp")?.unwrap_or(0.0);
        if timestamp > MAX_UNIX_TIMESTAMP || timestamp < self.previous {
            return Err(format!(
                "Timestamp {timestamp} is not a Unix time in seconds after the row before it"
            ));
        }
        self.previous = timestamp;
        let origin = *self.origin.get_or_insert(timestamp);
        if timestamp - origin > crate::bounds::MAX_DURATION.as_secs_f64() {
            return Err("the timeline is longer than 30 days".into());
        }
        self.pending.push(TimelinePoint {
            at: timestamp - origin,
            users: number(cells.users, "User Count")?.unwrap_or(0.0),
            requests_per_second: number(cells.requests_per_second, "Requests/s")?.unwrap_or(0.0),
            failures_per_second: number(cells.failures_per_second, "Failures/s")?.unwrap_or(0.0),
            p50: number(cells.p50, "50%")?,
            p95: number(cells.p95, "95%")?,
            p99: number(cells.p99, "99%")?,
        });
        if self.pending.len() == self.group {
            self.points.push(merge(&self.pending));
            self.pending.clear();
            if self.points.len() == MAX_POINTS {
                self.points = self.points.chunks(2).map(merge).collect();
                self.group *= 2;
            }
        }
        Ok(())
    }

    pub fn into_points(mut self) -> Vec<TimelinePoint> {
        if !self.pending.is_empty() {
            self.points.push(merge(&self.pending));
        }
        self.points
    }
}

/// Neighbouring seconds as one point: rates and users averaged, the worst
/// percentile of each kept, so that a spike stays visible.
fn merge(chunk: &[TimelinePoint]) -> TimelinePoint {
    let n = chunk.len() as f64;
    let worst = |f: fn(&TimelinePoint) -> Option<f64>| chunk.iter().filter_map(f).reduce(f64::max);
    TimelinePoint {
        at: chunk[0].at,
        users: chunk.iter().map(|p| p.users).sum::<f64>() / n,
        requests_per_second: chunk.iter().map(|p| p.requests_per_second).sum::<f64>() / n,
        failures_per_second: chunk.iter().map(|p| p.failures_per_second).sum::<f64>() / n,
        p50: worst(|p| p.p50),
        p95: worst(|p| p.p95),
        p99: worst(|p| p.p99),
    }
}

/// Reads `stats_history.csv` back into the timeline, refusing by line what
/// [`Timeline::push`] refuses.
pub fn read(path: &Path) -> anyhow::Result<Vec<TimelinePoint>> {
    let bytes = crate::bounds::read_file(path, crate::bounds::MAX_DATA_FILE)
        .map_err(|e| InvalidInput(format!("cannot read {}: {e}", path.display())))?;
    let mut reader = csv::Reader::from_reader(&bytes[..]);
    let bad = |line: u64, what: String| InvalidInput(format!("{}:{line}: {what}", path.display()));
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(1, format!("not a stats history CSV: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(1, format!("no column {name}")))
    };
    let columns = [
        column("Timestamp")?,
        column("User Count")?,
        column("Requests/s")?,
        column("Failures/s")?,
        column("50%")?,
        column("95%")?,
        column("99%")?,
    ];
    let mut timeline = Timeline::default();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, format!("not a stats history row: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let [timestamp, users, rps, fps, p50, p95, p99] =
            columns.map(|i| record.get(i).unwrap_or(""));
        timeline
            .push(&Cells {
                timestamp,
                users,
                requests_per_second: rps,
                failures_per_second: fps,
                p50,
                p95,
                p99,
            })
            .map_err(|what| bad(line, what))?;
    }
    Ok(timeline.into_points())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(timeline: &mut Timeline, s: u64, p95: f64) {
        let (timestamp, p95) = ((1_700_000_000 + s).to_string(), p95.to_string());
        timeline
            .push(&Cells {
                timestamp: &timestamp,
                users: "1",
                requests_per_second: "2.000000",
                failures_per_second: "0.000000",
                p50: "1",
                p95: &p95,
                p99: "N/A",
            })
            .unwrap();
    }

    #[test]
    fn long_timelines_stay_small_and_keep_their_spikes() {
        let mut timeline = Timeline::default();
        for s in 0..36_000 {
            second(&mut timeline, s, if s == 12_345 { 900.0 } else { 2.0 });
        }
        let points = timeline.into_points();
        assert!(points.len() <= MAX_POINTS && points.len() > MAX_POINTS / 4);
        assert!(points.iter().any(|p| p.p95 == Some(900.0)));
        assert!(points
            .iter()
            .all(|p| p.requests_per_second == 2.0 && p.p99.is_none()));
        assert_eq!(points[0].at, 0.0);
        assert!(points.windows(2).all(|w| w[0].at < w[1].at));
    }

    #[test]
    fn short_timelines_are_kept_whole() {
        let mut timeline = Timeline::default();
        for s in 0..10 {
            second(&mut timeline, s, s as f64);
        }
        let points = timeline.into_points();
        assert_eq!(points.len(), 10);
        assert_eq!(points[9].at, 9.0);
        assert_eq!(points[9].p95, Some(9.0));
    }

    #[test]
    fn rows_no_run_could_write_are_refused() {
        let mut timeline = Timeline::default();
        second(&mut timeline, 5, 1.0);
        let cells = |timestamp: &'static str, users: &'static str| Cells {
            timestamp,
            users,
            requests_per_second: "1",
            failures_per_second: "0",
            p50: "1",
            p95: "1",
            p99: "1",
        };
        assert!(timeline
            .push(&cells("1e20", "1"))
            .unwrap_err()
            .contains("Unix time"));
        assert!(timeline
            .push(&cells("1", "1"))
            .unwrap_err()
            .contains("after the row before"));
        assert!(timeline
            .push(&cells("1700000006", "NaN"))
            .unwrap_err()
            .contains("User Count"));
        assert!(timeline
            .push(&cells("1800000000", "1"))
            .unwrap_err()
            .contains("30 days"));
    }
}
