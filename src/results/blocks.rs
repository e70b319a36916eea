//! The `blocks` of histograms.json: the run in time blocks, per row its
//! counts and a two-digit histogram, for the gate's dependence-aware
//! intervals.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::metrics::blocks::{Block, BlockStats, MAX_BLOCKS, MAX_BLOCK_ROWS};
use crate::metrics::{EndpointKey, Snapshot};

#[derive(Debug, Serialize, Deserialize)]
pub struct BlockRecord {
    pub secs: f64,
    pub aggregated: BlockRow,
    pub rows: Vec<BlockRow>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BlockRow {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub method: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub histogram: String,
}

fn row(key: Option<&EndpointKey>, stats: &BlockStats) -> anyhow::Result<BlockRow> {
    Ok(BlockRow {
        method: key.map(|k| k.method.to_string()).unwrap_or_default(),
        name: key.map(|k| k.name.to_string()).unwrap_or_default(),
        requests: stats.requests,
        failures: stats.failures,
        histogram: super::histograms::encode(&stats.histogram)?,
    })
}

pub fn encode(blocks: &[Block]) -> anyhow::Result<Vec<BlockRecord>> {
    blocks
        .iter()
        .map(|block| {
            let mut keys: Vec<&EndpointKey> = block.rows.keys().collect();
            keys.sort();
            Ok(BlockRecord {
                secs: block.secs,
                aggregated: row(None, &block.total)?,
                rows: keys
                    .into_iter()
                    .map(|k| row(Some(k), &block.rows[k]))
                    .collect::<anyhow::Result<_>>()?,
            })
        })
        .collect()
}

/// Reads the blocks back, checked against the run's totals: no block row
/// the run lacks, no more requests in the blocks than in the run.
pub fn decode(records: &[BlockRecord], run: &Snapshot) -> anyhow::Result<Vec<Block>> {
    anyhow::ensure!(
        records.len() <= MAX_BLOCKS + 1,
        "{} blocks, more than the {MAX_BLOCKS} a run keeps",
        records.len()
    );
    let max_secs = crate::bounds::MAX_DURATION.as_secs_f64();
    let mut sums: HashMap<Option<EndpointKey>, u64> = HashMap::new();
    let mut blocks = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let at = || format!("block {index}");
        anyhow::ensure!(
            record.secs.is_finite() && record.secs > 0.0 && record.secs <= max_secs,
            "{}: secs is {}: expected seconds between 0 and 30 days",
            at(),
            record.secs
        );
        anyhow::ensure!(
            record.rows.len() <= MAX_BLOCK_ROWS,
            "{}: {} rows, more than the {MAX_BLOCK_ROWS} a block keeps",
            at(),
            record.rows.len()
        );
        let total = stats(&record.aggregated, &format!("{} Aggregated", at()))?;
        *sums.entry(None).or_default() += total.requests;
        let mut rows = HashMap::with_capacity(record.rows.len());
        for row in &record.rows {
            let method = row
                .method
                .parse()
                .with_context(|| format!("{}: invalid method `{}`", at(), row.method))?;
            let key = EndpointKey::new(method, Arc::<str>::from(row.name.as_str()));
            anyhow::ensure!(
                run.endpoints.contains_key(&key),
                "{}: the row {} {} is not among the run's endpoints",
                at(),
                row.method,
                row.name
            );
            let stats = stats(row, &format!("{} {} {}", at(), row.method, row.name))?;
            *sums.entry(Some(key.clone())).or_default() += stats.requests;
            anyhow::ensure!(
                rows.insert(key, stats).is_none(),
                "{}: the row {} {} appears twice",
                at(),
                row.method,
                row.name
            );
        }
        blocks.push(Block {
            secs: record.secs,
            rows,
            total,
        });
    }
    for (key, sum) in sums {
        let (name, requests) = match &key {
            Some(key) => (
                format!("{} {}", key.method, key.name),
                run.endpoints[key].requests,
            ),
            None => ("Aggregated".into(), run.total.requests),
        };
        anyhow::ensure!(
            sum <= requests,
            "the blocks of {name} hold {sum} requests, but the row has {requests}"
        );
    }
    Ok(blocks)
}

fn stats(row: &BlockRow, name: &str) -> anyhow::Result<BlockStats> {
    let histogram = super::histograms::decode::<u32>(&row.histogram, name)?;
    anyhow::ensure!(
        row.failures <= row.requests && histogram.len() <= row.requests,
        "{name}: {} failures and {} timed of {} requests",
        row.failures,
        histogram.len(),
        row.requests
    );
    Ok(BlockStats {
        requests: row.requests,
        failures: row.failures,
        histogram,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Recorder, Sample};
    use hyper::Method;
    use std::time::Duration;

    fn recorded() -> Snapshot {
        let recorder = Recorder::new(2);
        let key = EndpointKey::new(Method::GET, "/a");
        for tick in 0..10u64 {
            for i in 0..tick + 1 {
                recorder.record(
                    i as usize,
                    &key,
                    Sample {
                        latency: Some(Duration::from_micros(1000 + 100 * tick)),
                        content_length: 0,
                        failure: (i == 0).then_some("boom"),
                    },
                );
            }
            recorder.end_tick(0.25);
        }
        recorder.finish(0.1)
    }

    #[test]
    fn blocks_read_back_with_their_counts() {
        let snapshot = recorded();
        assert_eq!(snapshot.blocks.len(), 11, "the last, short and empty, too");
        assert_eq!(snapshot.blocks[10].secs, 0.1);
        let records = encode(&snapshot.blocks).unwrap();
        let json = serde_json::to_vec(&records).unwrap();
        let back: Vec<BlockRecord> = serde_json::from_slice(&json).unwrap();
        let blocks = decode(&back, &snapshot).unwrap();
        let key = EndpointKey::new(Method::GET, "/a");
        let requests: Vec<u64> = blocks
            .iter()
            .map(|b| b.rows.get(&key).map_or(0, |r| r.requests))
            .collect();
        assert_eq!(requests, (1..=10).chain([0]).collect::<Vec<u64>>());
        assert!(blocks[..10].iter().all(|b| b.total.failures == 1));
        assert_eq!(blocks[3].rows[&key].histogram.len(), 4);
    }

    #[test]
    fn blocks_that_disagree_with_the_run_are_refused() {
        let snapshot = recorded();
        let mut records = encode(&snapshot.blocks).unwrap();
        records[0].rows[0].requests = 1000;
        let error = decode(&records, &snapshot).unwrap_err().to_string();
        assert!(
            error.contains("hold 1054 requests, but the row has 55"),
            "{error}"
        );
        let mut records = encode(&snapshot.blocks).unwrap();
        records[1].secs = f64::NAN;
        assert!(decode(&records, &snapshot).is_err());
        let mut records = encode(&snapshot.blocks).unwrap();
        records[2].rows[0].name = "/elsewhere".into();
        let error = decode(&records, &snapshot).unwrap_err().to_string();
        assert!(error.contains("not among the run's endpoints"), "{error}");
        let mut records = encode(&snapshot.blocks).unwrap();
        records[2].rows[0].failures = 99;
        assert!(decode(&records, &snapshot).is_err());
    }
}
