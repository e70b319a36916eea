//! The open model: iterations are started on a fixed schedule, whatever the
//! server does, by whichever user of the pool is free.
//!
//! A closed model (each user loops) slows down with a slow server, so a stall
//! shows as fewer requests, not as latency: coordinated omission. Here each
//! iteration has a due time, its latency counts from then, and a generator
//! that cannot keep up says so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

use crate::scenario::shape::Curve;

/// An iteration picked up later than this counts as late.
const LATE: Duration = Duration::from_millis(10);

pub struct Schedule {
    due: Mutex<mpsc::Receiver<Instant>>,
    started: AtomicU64,
    late: AtomicU64,
    max_lag_micros: AtomicU64,
    dropped: AtomicU64,
}

/// How well the schedule was kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleReport {
    /// The highest rate asked for, in iterations per second.
    pub peak_rate: f64,
    pub started: u64,
    /// Started more than 10 ms after their due time.
    pub late: u64,
    pub max_lag: Duration,
    /// Not started at all: every user was busy and the backlog was full.
    pub dropped: u64,
}

impl ScheduleReport {
    /// A sentence for the user when the schedule was not kept.
    pub fn shortfall(&self) -> Option<String> {
        (self.late > 0 || self.dropped > 0).then(|| {
            format!(
                "the open model fell behind its schedule (up to {}/s): {} of {} iterations started more than {} ms late (at worst {:.0} ms) and {} were dropped; \
                 too few users for the server's latency, or the load generator is CPU-bound: raise users or lower arrival_rate",
                self.peak_rate,
                self.late,
                self.started + self.dropped,
                LATE.as_millis(),
                self.max_lag.as_secs_f64() * 1000.0,
                self.dropped
            )
        })
    }
}

impl Schedule {
    /// A schedule whose backlog holds `backlog` iterations that no user has
    /// picked up yet, and the sender the dispatcher fills it with.
    pub fn new(backlog: usize) -> (Self, mpsc::Sender<Instant>) {
        let (sender, receiver) = mpsc::channel(backlog.max(1));
        let schedule = Self {
            due: Mutex::new(receiver),
            started: AtomicU64::new(0),
            late: AtomicU64::new(0),
            max_lag_micros: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        };
        (schedule, sender)
    }

    /// The due time of the next iteration, waiting for it; `None` when the
    /// schedule has ended.
    pub async fn next(&self) -> Option<Instant> {
        let due = self.due.lock().await.recv().await?;
        let lag = due.elapsed();
        self.started.fetch_add(1, Ordering::Relaxed);
        if lag > LATE {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
        self.max_lag_micros
            .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
        Some(due)
    }

    pub fn report(&self, peak_rate: f64) -> ScheduleReport {
        ScheduleReport {
            peak_rate,
            started: self.started.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            max_lag: Duration::from_micros(self.max_lag_micros.load(Ordering::Relaxed)),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Issues due times from `start` until `end` at the rate the curve gives
/// (`1/rate` apart when it is constant).
pub async fn dispatch(
    rate: &Curve,
    start: Instant,
    end: Instant,
    sender: mpsc::Sender<Instant>,
    schedule: &Schedule,
    stopping: CancellationToken,
) {
    for i in 0u64.. {
        let Some(offset) = rate.time_of(i as f64) else {
            break;
        };
        let due = start + Duration::from_secs_f64(offset);
        if due >= end {
            break;
        }
        tokio::select! {
            _ = stopping.cancelled() => break,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
        }
        match sender.try_send(due) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                schedule.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn due_times_are_evenly_spaced_and_lateness_is_counted() {
        let (schedule, sender) = Schedule::new(100);
        let start = Instant::now();
        dispatch(
            &Curve::constant(10.0),
            start,
            start + Duration::from_millis(1000),
            sender,
            &schedule,
            CancellationToken::new(),
        )
        .await;
        let mut due = Vec::new();
        while let Some(d) = schedule.next().await {
            due.push(d.duration_since(start));
        }
        assert_eq!(due.len(), 10);
        assert_eq!(due[3], Duration::from_millis(300));
        // Nothing was picked up until the last was issued, at 900 ms: the
        // first nine are late by 100 ms or more; the last is late only if
        // a busy machine held this test up for 10 ms.
        let report = schedule.report(10.0);
        assert_eq!((report.started, report.dropped), (10, 0));
        assert!((9..=10).contains(&report.late), "{report:?}");
        assert!(
            report.max_lag >= Duration::from_millis(850),
            "{:?}",
            report.max_lag
        );
        assert!(report.shortfall().unwrap().contains("9 of 10 iterations"));
    }

    #[tokio::test]
    async fn a_full_backlog_drops_iterations() {
        let (schedule, sender) = Schedule::new(2);
        let start = Instant::now();
        dispatch(
            &Curve::constant(100.0),
            start,
            start + Duration::from_millis(100),
            sender,
            &schedule,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(schedule.report(100.0).dropped, 8);
    }
}
