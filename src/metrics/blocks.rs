//! The run cut into time blocks: per row and block, its counts and a coarse
//! latency histogram. Requests of one run are not independent (a saturated
//! server makes each latency like the next, failures come in bursts), and
//! the spread between blocks is what tells the gate how much they are not.
//!
//! Memory stays flat with run length: there are never more than
//! [`MAX_BLOCKS`] blocks; when they fill up, neighbours are merged and the
//! block length doubles.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::EndpointKey;

/// The shortest block: the engine closes a tick this often.
pub const TICK: Duration = Duration::from_millis(250);
/// Blocks kept at most (and the shutdown's); between half of it and all of
/// it once the run is long.
pub const MAX_BLOCKS: usize = 32;
/// Rows whose blocks are kept (Aggregated always is): each costs up to
/// [`MAX_BLOCKS`] small histograms.
pub const MAX_BLOCK_ROWS: usize = 200;

/// One row in one block.
#[derive(Debug, Clone)]
pub struct BlockStats {
    pub requests: u64,
    pub failures: u64,
    /// Response times in microseconds, two significant digits: enough to
    /// count how many fall below a quantile, at a twentieth of the memory.
    pub histogram: Histogram<u32>,
}

impl Default for BlockStats {
    fn default() -> Self {
        Self {
            requests: 0,
            failures: 0,
            histogram: Histogram::new(2).expect("2 significant digits is a valid precision"),
        }
    }
}

impl BlockStats {
    pub fn record(&mut self, latency_micros: Option<u64>, failed: bool) {
        self.requests += 1;
        self.failures += u64::from(failed);
        if let Some(micros) = latency_micros {
            if self.histogram.record(micros).is_err() {
                self.histogram.saturating_record(micros);
            }
        }
    }

    pub fn merge(&mut self, other: &BlockStats) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.histogram
            .add(&other.histogram)
            .expect("auto-resizing histograms always merge");
    }

    pub fn clear(&mut self) {
        self.requests = 0;
        self.failures = 0;
        self.histogram.reset();
    }

    pub fn is_empty(&self) -> bool {
        self.requests == 0
    }
}

/// One closed block of the run.
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub secs: f64,
    pub rows: HashMap<EndpointKey, BlockStats>,
    pub total: BlockStats,
}

/// Runs' blocks one after another, neighbours merged until at most
/// [`MAX_BLOCKS`] are left (the shutdown block of the last stays its own).
pub fn concatenate(runs: impl IntoIterator<Item = Vec<Block>>) -> Vec<Block> {
    let mut blocks: Vec<Block> = runs.into_iter().flatten().collect();
    while blocks.len() > MAX_BLOCKS {
        let mut merged = Vec::with_capacity(blocks.len() / 2 + 1);
        let mut pending = blocks.into_iter();
        while let Some(mut first) = pending.next() {
            if let Some(second) = pending.next() {
                first.absorb(second);
            }
            merged.push(first);
        }
        blocks = merged;
    }
    blocks
}

impl Block {
    fn absorb(&mut self, other: Block) {
        self.secs += other.secs;
        self.total.merge(&other.total);
        for (key, stats) in other.rows {
            match self.rows.get_mut(&key) {
                Some(mine) => mine.merge(&stats),
                None => {
                    self.rows.insert(key, stats);
                }
            }
        }
    }
}

/// The blocks of a run so far, and the one being filled.
#[derive(Debug, Default)]
pub struct BlockSeries {
    closed: Vec<Block>,
    open: Block,
    /// Ticks in the open block, and how many make a block now.
    open_ticks: u32,
    ticks_per_block: u32,
    tracked: HashSet<EndpointKey>,
}

impl BlockSeries {
    pub fn new() -> Self {
        Self {
            ticks_per_block: 1,
            ..Self::default()
        }
    }

    /// Adds a shard's part of the current tick.
    pub fn add(&mut self, key: &EndpointKey, stats: &BlockStats) {
        if stats.is_empty() {
            return;
        }
        self.open.total.merge(stats);
        if let Some(row) = self.open.rows.get_mut(key) {
            row.merge(stats);
        } else if self.tracks(key) {
            self.open.rows.insert(key.clone(), stats.clone());
        }
    }

    /// The first [`MAX_BLOCK_ROWS`] rows seen are tracked, for the whole run.
    fn tracks(&mut self, key: &EndpointKey) -> bool {
        self.tracked.contains(key)
            || self.tracked.len() < MAX_BLOCK_ROWS && self.tracked.insert(key.clone())
    }

    /// Ends a tick of `secs`; closes the open block when it is long enough.
    /// When all blocks are taken, neighbours merge instead and the open
    /// block, now half as long as a block, goes on.
    pub fn end_tick(&mut self, secs: f64) {
        self.open.secs += secs;
        self.open_ticks += 1;
        if self.open_ticks < self.ticks_per_block {
            return;
        }
        if self.closed.len() < MAX_BLOCKS {
            self.close_open();
            return;
        }
        let mut merged = Vec::with_capacity(MAX_BLOCKS / 2);
        let mut blocks = std::mem::take(&mut self.closed).into_iter();
        while let Some(mut first) = blocks.next() {
            if let Some(second) = blocks.next() {
                first.absorb(second);
            }
            merged.push(first);
        }
        self.closed = merged;
        self.ticks_per_block *= 2;
    }

    /// Ends a tick and its block, however short: the next part of the run
    /// (the shutdown) is different in kind.
    pub fn end_block(&mut self, secs: f64) {
        self.open.secs += secs;
        self.open_ticks += 1;
        self.close_open();
    }

    fn close_open(&mut self) {
        if self.open_ticks == 0 {
            return;
        }
        self.closed.push(std::mem::take(&mut self.open));
        self.open_ticks = 0;
    }

    /// Every block, the last one possibly shorter; the series is left empty.
    pub fn finish(&mut self) -> Vec<Block> {
        self.close_open();
        let blocks = std::mem::take(&mut self.closed);
        *self = Self::new();
        blocks
    }

    pub fn clear(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;

    fn stats(requests: u64) -> BlockStats {
        let mut stats = BlockStats::default();
        for i in 0..requests {
            stats.record(Some(1000 + i), i % 10 == 0);
        }
        stats
    }

    #[test]
    fn blocks_stay_few_and_counts_exact_however_long_the_run() {
        let key = EndpointKey::new(Method::GET, "/a");
        let mut series = BlockSeries::new();
        let ticks = 1000;
        for _ in 0..ticks {
            series.add(&key, &stats(3));
            series.end_tick(0.25);
        }
        let blocks = series.finish();
        assert!(
            (MAX_BLOCKS / 2..=MAX_BLOCKS + 1).contains(&blocks.len()),
            "{}",
            blocks.len()
        );
        let requests: u64 = blocks.iter().map(|b| b.rows[&key].requests).sum();
        assert_eq!(requests, 3 * ticks);
        let secs: f64 = blocks.iter().map(|b| b.secs).sum();
        assert!((secs - 250.0).abs() < 1e-6);
        // All full blocks are equally long; only the last may be shorter.
        let full = blocks[0].secs;
        assert!(blocks[..blocks.len() - 1].iter().all(|b| b.secs == full));
    }

    #[test]
    fn rows_past_the_limit_count_in_the_total_only() {
        let mut series = BlockSeries::new();
        for i in 0..MAX_BLOCK_ROWS + 5 {
            series.add(&EndpointKey::new(Method::GET, format!("/{i}")), &stats(1));
        }
        series.end_tick(0.25);
        let blocks = series.finish();
        assert_eq!(blocks[0].rows.len(), MAX_BLOCK_ROWS);
        assert_eq!(blocks[0].total.requests, MAX_BLOCK_ROWS as u64 + 5);
    }
}
