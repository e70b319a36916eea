//! What the sockets saw, run-wide: bytes each way, how long each new
//! connection took to open (TCP and TLS), and how long each response took
//! to start once its request was sent (k6's `http_req_connecting` plus
//! `http_req_tls_handshaking`, and `http_req_waiting`). Two histograms and
//! four counters whatever the run's length or number of endpoints.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// One request on the wire.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wire {
    /// Opening the connection it went on, when it opened one.
    pub connect: Option<Duration>,
    /// From the request's last byte written to the response's first read.
    pub first_byte: Option<Duration>,
    pub sent: u64,
    pub received: u64,
}

#[derive(Debug, Clone)]
pub struct WireStats {
    pub requests: u64,
    /// Microseconds.
    pub connect: Histogram<u64>,
    /// Microseconds.
    pub first_byte: Histogram<u64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl Default for WireStats {
    fn default() -> Self {
        Self {
            requests: 0,
            connect: super::new_histogram(),
            first_byte: super::new_histogram(),
            bytes_sent: 0,
            bytes_received: 0,
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Grows the histogram as needed; past what it can ever hold, clamps.
fn record(histogram: &mut Histogram<u64>, micros: u64) {
    if histogram.record(micros).is_err() {
        histogram.saturating_record(micros);
    }
}

impl WireStats {
    pub fn record(&mut self, wire: &Wire) {
        self.requests += 1;
        self.bytes_sent += wire.sent;
        self.bytes_received += wire.received;
        if let Some(connect) = wire.connect {
            record(&mut self.connect, micros(connect));
        }
        if let Some(first_byte) = wire.first_byte {
            record(&mut self.first_byte, micros(first_byte));
        }
    }

    pub fn merge(&mut self, other: &WireStats) {
        self.requests += other.requests;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.connect
            .add(&other.connect)
            .expect("auto-resizing histograms always merge");
        self.first_byte
            .add(&other.first_byte)
            .expect("auto-resizing histograms always merge");
    }

    pub fn summary(&self) -> Option<WireSummary> {
        (self.requests > 0).then(|| WireSummary {
            requests: self.requests,
            connections: self.connect.len(),
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            connect_ms: Spread::of(&self.connect),
            first_byte_ms: Spread::of(&self.first_byte),
        })
    }
}

/// The wire in summary.json and the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireSummary {
    /// Responses read (a redirect followed is two); failed exchanges are
    /// not in these figures.
    pub requests: u64,
    /// Connections opened: once per user with keep-alive, again after the
    /// server closed one.
    pub connections: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub connect_ms: Option<Spread>,
    pub first_byte_ms: Option<Spread>,
}

/// A duration's distribution, ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    fn of(histogram: &Histogram<u64>) -> Option<Self> {
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        (!histogram.is_empty()).then(|| Self {
            p50: ms(0.5),
            p95: ms(0.95),
            p99: ms(0.99),
            max: histogram.max() as f64 / 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_add_up_and_only_new_connections_are_timed() {
        let mut stats = WireStats::default();
        for i in 0..100u64 {
            stats.record(&Wire {
                connect: (i % 50 == 0).then(|| Duration::from_millis(3)),
                first_byte: Some(Duration::from_micros(1000 + 10 * i)),
                sent: 120,
                received: 480,
            });
        }
        let mut other = WireStats::default();
        other.record(&Wire {
            connect: None,
            first_byte: None,
            sent: 1,
            received: 0,
        });
        stats.merge(&other);
        let summary = stats.summary().unwrap();
        assert_eq!((summary.requests, summary.connections), (101, 2));
        assert_eq!(
            (summary.bytes_sent, summary.bytes_received),
            (12_001, 48_000)
        );
        let first_byte = summary.first_byte_ms.unwrap();
        assert!((first_byte.p50 - 1.49).abs() < 0.02, "{first_byte:?}");
        assert!((summary.connect_ms.unwrap().max - 3.0).abs() < 0.05);
        assert_eq!(WireStats::default().summary(), None);
    }
}
