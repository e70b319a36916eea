//! What the swarm measured: an exact HdrHistogram per endpoint, counts,
//! failures grouped by message, and a per-second interval for the timeline.
//!
//! Recording happens on every request, so it must be cheap and must not make
//! all users queue on one lock. The recorder is split into shards; each user
//! records into its own shard, so a lock is only ever shared by the few users
//! of one shard and is almost never contended. Memory is bounded by the number
//! of endpoints and distinct error messages, never by run length.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hyper::Method;

pub mod blocks;
pub mod watch;
pub mod wire;
use blocks::{Block, BlockSeries, BlockStats};

/// Distinct error messages kept per shard before the rest are lumped together:
/// a server that puts ids in its error text must not grow our memory.
const MAX_DISTINCT_ERRORS: usize = 1000;
pub const OTHER_ERRORS: &str = "(further distinct errors, not itemized)";

/// Distinct rows one run keeps, each with its histogram (tens of KiB): a
/// templated path without `name` would otherwise make a row per id.
pub const MAX_ENDPOINTS: usize = 1000;
/// Where requests to rows past [`MAX_ENDPOINTS`] are counted.
pub const OTHER_ENDPOINTS: &str = "(further distinct names, over the row limit)";

/// One stats row: Locust's (method, name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointKey {
    pub method: Method,
    pub name: Arc<str>,
}

impl EndpointKey {
    pub fn new(method: Method, name: impl Into<Arc<str>>) -> Self {
        Self {
            method,
            name: name.into(),
        }
    }
}

/// Locust sorts its rows by (name, method).
impl Ord for EndpointKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&*self.name, self.method.as_str()).cmp(&(&*other.name, other.method.as_str()))
    }
}

impl PartialOrd for EndpointKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The outcome of one request.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// `None` when the request failed before it could be timed (a template
    /// that did not render): Locust's "none" requests.
    pub latency: Option<Duration>,
    pub content_length: u64,
    pub failure: Option<&'a str>,
}

/// Counts and the latency histogram of one endpoint, or of all of them.
#[derive(Debug, Clone)]
pub struct EndpointStats {
    /// Response times in microseconds.
    pub histogram: Histogram<u64>,
    pub requests: u64,
    pub failures: u64,
    pub content_bytes: u64,
    /// Exact, unlike the histogram's equivalence ranges.
    pub sum_micros: u64,
    pub min_micros: u64,
    pub max_micros: u64,
}

impl Default for EndpointStats {
    fn default() -> Self {
        Self {
            histogram: new_histogram(),
            requests: 0,
            failures: 0,
            content_bytes: 0,
            sum_micros: 0,
            min_micros: u64::MAX,
            max_micros: 0,
        }
    }
}

/// Three significant digits: exact to the microsecond below 2 ms, within
/// 0.1% above. The histogram grows to the largest value seen, no further.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

impl EndpointStats {
    pub fn record(&mut self, sample: &Sample) {
        self.requests += 1;
        self.failures += u64::from(sample.failure.is_some());
        self.content_bytes += sample.content_length;
        if let Some(latency) = sample.latency {
            let micros = latency.as_micros().min(u64::MAX as u128) as u64;
            // `record` grows the auto-resizing histogram; `saturating_record`
            // alone would clamp to its current, tiny, range.
            if self.histogram.record(micros).is_err() {
                self.histogram.saturating_record(micros);
            }
            self.sum_micros += micros;
            self.min_micros = self.min_micros.min(micros);
            self.max_micros = self.max_micros.max(micros);
        }
    }

    pub fn merge(&mut self, other: &EndpointStats) {
        self.histogram
            .add(&other.histogram)
            .expect("auto-resizing histograms always merge");
        self.requests += other.requests;
        self.failures += other.failures;
        self.content_bytes += other.content_bytes;
        self.sum_micros += other.sum_micros;
        self.min_micros = self.min_micros.min(other.min_micros);
        self.max_micros = self.max_micros.max(other.max_micros);
    }

    /// Requests that were timed.
    pub fn timed(&self) -> u64 {
        self.histogram.len()
    }

    pub fn average_ms(&self) -> f64 {
        match self.timed() {
            0 => 0.0,
            n => self.sum_micros as f64 / n as f64 / 1000.0,
        }
    }

    pub fn min_ms(&self) -> f64 {
        if self.timed() == 0 {
            0.0
        } else {
            self.min_micros as f64 / 1000.0
        }
    }

    pub fn max_ms(&self) -> f64 {
        self.max_micros as f64 / 1000.0
    }

    pub fn average_content_length(&self) -> f64 {
        match self.requests {
            0 => 0.0,
            n => self.content_bytes as f64 / n as f64,
        }
    }
}

/// Failures of one endpoint with one message.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorStats {
    pub method: Method,
    pub name: Arc<str>,
    pub message: String,
    pub occurrences: u64,
    /// Unix seconds.
    pub first_seen: u64,
    pub last_seen: u64,
}

/// A row in a shard: everything since the start, and the current tick.
#[derive(Default)]
struct Row {
    stats: EndpointStats,
    tick: BlockStats,
}

impl Row {
    fn record(&mut self, sample: &Sample) {
        self.stats.record(sample);
        self.tick.record(
            sample
                .latency
                .map(|l| l.as_micros().min(u64::MAX as u128) as u64),
            sample.failure.is_some(),
        );
    }
}

#[derive(Default)]
struct Shard {
    endpoints: HashMap<EndpointKey, Row>,
    total: EndpointStats,
    second: EndpointStats,
    errors: HashMap<(EndpointKey, String), ErrorStats>,
    wire: wire::WireStats,
}

/// Per-second figures of the whole swarm.
#[derive(Debug, Clone)]
pub struct Interval {
    /// What completed in the interval.
    pub current: EndpointStats,
    /// Everything since the start.
    pub total: EndpointStats,
}

/// Everything recorded, merged.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub endpoints: BTreeMap<EndpointKey, EndpointStats>,
    pub total: EndpointStats,
    pub errors: Vec<ErrorStats>,
    /// The run in time blocks, oldest first; empty when not recorded.
    pub blocks: Vec<Block>,
    pub wire: wire::WireStats,
}

impl Snapshot {
    /// Several runs' statistics as one run's: rows and errors added, blocks
    /// one after another.
    pub fn pool(snapshots: Vec<Snapshot>) -> Snapshot {
        let mut pooled = Snapshot::default();
        let mut blocks = Vec::with_capacity(snapshots.len());
        for snapshot in snapshots {
            for (key, stats) in snapshot.endpoints {
                pooled.endpoints.entry(key).or_default().merge(&stats);
            }
            pooled.total.merge(&snapshot.total);
            pooled.wire.merge(&snapshot.wire);
            for error in snapshot.errors {
                add_error(&mut pooled.errors, error);
            }
            blocks.push(snapshot.blocks);
        }
        pooled.blocks = blocks::concatenate(blocks);
        pooled
    }

    /// Every name and message with `secrets` redacted; rows and errors that
    /// become one are merged, so counts stay exact.
    pub fn redact(self, secrets: &crate::text::Secrets) -> Snapshot {
        if secrets.is_empty() {
            return self;
        }
        let mut endpoints: BTreeMap<EndpointKey, EndpointStats> = BTreeMap::new();
        for (key, stats) in self.endpoints {
            let key = EndpointKey::new(key.method, secrets.redact(&key.name));
            match endpoints.get_mut(&key) {
                Some(row) => row.merge(&stats),
                None => {
                    endpoints.insert(key, stats);
                }
            }
        }
        let mut errors: Vec<ErrorStats> = Vec::with_capacity(self.errors.len());
        for mut error in self.errors {
            error.name = secrets.redact(&error.name).into();
            error.message = secrets.redact(&error.message).into_owned();
            add_error(&mut errors, error);
        }
        let blocks = self
            .blocks
            .into_iter()
            .map(|block| Block {
                rows: block
                    .rows
                    .into_iter()
                    .fold(HashMap::new(), |mut rows, (key, stats)| {
                        let key = EndpointKey::new(key.method, secrets.redact(&key.name));
                        rows.entry(key)
                            .or_insert_with(BlockStats::default)
                            .merge(&stats);
                        rows
                    }),
                ..block
            })
            .collect();
        Snapshot {
            endpoints,
            total: self.total,
            errors,
            blocks,
            wire: self.wire,
        }
    }
}

/// Adds `error` to the row of the same endpoint and message, if any.
fn add_error(errors: &mut Vec<ErrorStats>, error: ErrorStats) {
    match errors
        .iter_mut()
        .find(|e| (&e.method, &e.name, &e.message) == (&error.method, &error.name, &error.message))
    {
        Some(seen) => {
            seen.occurrences += error.occurrences;
            seen.first_seen = seen.first_seen.min(error.first_seen);
            seen.last_seen = seen.last_seen.max(error.last_seen);
        }
        None => errors.push(error),
    }
}

pub struct Recorder {
    shards: Box<[Mutex<Shard>]>,
    /// Every row any shard has, consulted only when a shard meets a row new to it.
    rows: Mutex<std::collections::HashSet<EndpointKey>>,
    blocks: Mutex<BlockSeries>,
}

impl Recorder {
    pub fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
            rows: Mutex::default(),
            blocks: Mutex::new(BlockSeries::new()),
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Records one request; false when its row was over [`MAX_ENDPOINTS`]
    /// and it went to [`OTHER_ENDPOINTS`] instead.
    pub fn record(&self, shard: usize, key: &EndpointKey, sample: Sample) -> bool {
        let mut shard = self.lock(shard % self.shards.len());
        let mut lumped = None;
        match shard.endpoints.get_mut(key) {
            Some(row) => row.record(&sample),
            None => {
                let row = if self.admit(key) {
                    key.clone()
                } else {
                    lumped
                        .insert(EndpointKey::new(key.method.clone(), OTHER_ENDPOINTS))
                        .clone()
                };
                shard.endpoints.entry(row).or_default().record(&sample)
            }
        }
        shard.total.record(&sample);
        shard.second.record(&sample);
        if let Some(message) = sample.failure {
            record_error(&mut shard, lumped.as_ref().unwrap_or(key), message);
        }
        lumped.is_none()
    }

    /// Records what one request did on the wire.
    pub fn record_wire(&self, shard: usize, wire: &wire::Wire) {
        self.lock(shard % self.shards.len()).wire.record(wire);
    }

    fn admit(&self, key: &EndpointKey) -> bool {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        rows.contains(key) || rows.len() < MAX_ENDPOINTS && rows.insert(key.clone())
    }

    /// Forgets everything recorded so far but the current second's interval:
    /// the statistics start over, the timeline goes on.
    pub fn reset(&self) {
        for i in 0..self.shards.len() {
            let mut shard = self.lock(i);
            shard.endpoints.clear();
            shard.errors.clear();
            shard.total = EndpointStats::default();
            shard.wire = wire::WireStats::default();
        }
        self.rows.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.series().clear();
    }

    /// Ends a block tick of `secs`: what each shard recorded since the last
    /// one moves into the block series.
    pub fn end_tick(&self, secs: f64) {
        self.collect_tick().end_tick(secs);
    }

    /// Ends a tick and the block it is in, however short.
    pub fn end_block(&self, secs: f64) {
        self.collect_tick().end_block(secs);
    }

    fn collect_tick(&self) -> MutexGuard<'_, BlockSeries> {
        let mut series = self.series();
        for i in 0..self.shards.len() {
            let mut shard = self.lock(i);
            for (key, row) in shard.endpoints.iter_mut() {
                series.add(key, &row.tick);
                row.tick.clear();
            }
        }
        series
    }

    /// Everything, with the blocks: ends the last tick (`secs` long) and
    /// the series.
    pub fn finish(&self, secs: f64) -> Snapshot {
        self.end_tick(secs);
        let mut snapshot = self.snapshot();
        snapshot.blocks = self.series().finish();
        snapshot
    }

    fn series(&self) -> MutexGuard<'_, BlockSeries> {
        self.blocks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes what completed since the last call, and the running total.
    pub fn take_interval(&self) -> Interval {
        let mut interval = Interval {
            current: EndpointStats::default(),
            total: EndpointStats::default(),
        };
        for i in 0..self.shards.len() {
            let mut shard = self.lock(i);
            interval.current.merge(&std::mem::take(&mut shard.second));
            interval.total.merge(&shard.total);
        }
        interval
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let mut errors: BTreeMap<(EndpointKey, String), ErrorStats> = BTreeMap::new();
        for i in 0..self.shards.len() {
            let shard = self.lock(i);
            for (key, row) in &shard.endpoints {
                snapshot
                    .endpoints
                    .entry(key.clone())
                    .or_default()
                    .merge(&row.stats);
            }
            snapshot.total.merge(&shard.total);
            snapshot.wire.merge(&shard.wire);
            for (key, error) in &shard.errors {
                errors
                    .entry(key.clone())
                    .and_modify(|e| {
                        e.occurrences += error.occurrences;
                        e.first_seen = e.first_seen.min(error.first_seen);
                        e.last_seen = e.last_seen.max(error.last_seen);
                    })
                    .or_insert_with(|| error.clone());
            }
        }
        snapshot.errors = errors.into_values().collect();
        snapshot
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding the lock cannot leave counts half-updated in a
        // way that matters more than losing the whole run.
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn record_error(shard: &mut Shard, key: &EndpointKey, message: &str) {
    let now = unix_seconds(SystemTime::now());
    let lookup = (key.clone(), message.to_owned());
    let lookup = if shard.errors.contains_key(&lookup) || shard.errors.len() < MAX_DISTINCT_ERRORS {
        lookup
    } else {
        (key.clone(), OTHER_ERRORS.to_owned())
    };
    let error = shard
        .errors
        .entry(lookup)
        .or_insert_with_key(|(key, message)| ErrorStats {
            method: key.method.clone(),
            name: key.name.clone(),
            message: message.clone(),
            occurrences: 0,
            first_seen: now,
            last_seen: now,
        });
    error.occurrences += 1;
    error.last_seen = now;
}

pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
