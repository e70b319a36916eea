//! The generator watches itself and its machine while it runs: a timer
//! probe in its own runtime, its CPU time, and the kernel's view of the
//! machine (CPU pressure, steal, load). Linux's /proc where it exists;
//! elsewhere only what the process can see of itself.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio_util::sync::CancellationToken;

use crate::metrics::watch::{Background, MachineWatch};

const PROBE_EVERY: Duration = Duration::from_millis(2);
/// How long every core is kept busy before the first request to see what
/// share of a CPU a busy thread gets.
const BACKGROUND: Duration = Duration::from_millis(300);

/// The machine's counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    at: Option<Instant>,
    /// Jiffies from /proc/stat's `cpu` line: all, and stolen.
    cpu_total: u64,
    cpu_steal: u64,
    /// PSI's `some total`, µs.
    pressure_micros: Option<u64>,
    process_cpu: Duration,
}

fn counters() -> Counters {
    let (cpu_total, cpu_steal) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| parse_cpu_line(&text))
        .unwrap_or_default();
    Counters {
        at: Some(Instant::now()),
        cpu_total,
        cpu_steal,
        pressure_micros: std::fs::read_to_string("/proc/pressure/cpu")
            .ok()
            .and_then(|text| parse_pressure(&text)),
        process_cpu: process_cpu_time(),
    }
}

fn process_cpu_time() -> Duration {
    let spec = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        spec.tv_sec.max(0) as u64,
        spec.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// (all jiffies, stolen jiffies) from /proc/stat.
fn parse_cpu_line(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already counted in user.
    let total = fields.iter().take(8).sum();
    Some((total, fields.get(7).copied().unwrap_or(0)))
}

/// `some ... total=N` from /proc/pressure/cpu, in µs.
fn parse_pressure(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The machine before the run sends anything: one busy thread per core
/// for [`BACKGROUND`], and the share of a CPU each got. Whatever takes CPUs
/// from them is other work on the machine (other jobs, other guests), not
/// the load or the service answering it, so this is the evidence the gate
/// may excuse a slowdown by. What the run itself measures could be the
/// service's own hunger for CPU.
pub async fn background(interrupt: &CancellationToken) -> Background {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = interrupt.clone();
    let shares = tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            let spinners: Vec<_> = (0..cores)
                .map(|_| scope.spawn(|| spin_share(BACKGROUND, &stop)))
                .collect();
            spinners
                .into_iter()
                .filter_map(|spinner| spinner.join().ok().flatten())
                .collect::<Vec<f64>>()
        })
    })
    .await
    .unwrap_or_default();
    let cpu_share = if shares.is_empty() {
        1.0
    } else {
        shares.iter().sum::<f64>() / shares.len() as f64
    };
    Background {
        cpu_share: cpu_share.clamp(0.0, 1.0),
    }
}

/// The share of wall time a thread busy for `length` ran on a CPU; `None`
/// when cut short before it could say.
fn spin_share(length: Duration, stop: &CancellationToken) -> Option<f64> {
    let thread_cpu = || {
        let spec = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(
            spec.tv_sec.max(0) as u64,
            spec.tv_nsec.clamp(0, 999_999_999) as u32,
        )
    };
    let (started, cpu_at_start) = (Instant::now(), thread_cpu());
    let mut state = 1u64;
    while started.elapsed() < length && !stop.is_cancelled() {
        for _ in 0..256 {
            state = std::hint::black_box(state.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    let wall = started.elapsed();
    (wall >= length / 2)
        .then(|| thread_cpu().saturating_sub(cpu_at_start).as_secs_f64() / wall.as_secs_f64())
}

pub struct Watcher {
    start: Counters,
    stop: CancellationToken,
    probe: tokio::task::JoinHandle<(Histogram<u64>, f64)>,
}

impl Watcher {
    pub fn start() -> Self {
        let stop = CancellationToken::new();
        let probe = tokio::spawn(probe(stop.clone()));
        Self {
            start: counters(),
            stop,
            probe,
        }
    }

    pub async fn finish(self, background: Background) -> MachineWatch {
        let end = counters();
        self.stop.cancel();
        let (lags, load) = self
            .probe
            .await
            .unwrap_or_else(|_| (crate::metrics::new_histogram(), 0.0));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        MachineWatch {
            background: Some(background),
            ..summarize(&self.start, &end, &lags, load, cores)
        }
    }
}

/// A timer that should fire every [`PROBE_EVERY`]: how late it fires is
/// the scheduling delay every user task of this runtime sees too.
async fn probe(stop: CancellationToken) -> (Histogram<u64>, f64) {
    let mut lags = crate::metrics::new_histogram();
    let mut load = load_average().unwrap_or(0.0);
    let mut last_load = Instant::now();
    loop {
        let due = Instant::now() + PROBE_EVERY;
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(due.into()) => {}
        }
        let late = Instant::now().saturating_duration_since(due);
        let micros = late.as_micros().min(u64::MAX as u128) as u64;
        // `record` grows the histogram; `saturating_record` alone would clamp.
        if lags.record(micros).is_err() {
            lags.saturating_record(micros);
        }
        if last_load.elapsed() >= Duration::from_secs(1) {
            load = load.max(load_average().unwrap_or(0.0));
            last_load = Instant::now();
        }
    }
    (lags, load)
}

fn summarize(
    start: &Counters,
    end: &Counters,
    lags: &Histogram<u64>,
    load: f64,
    cores: u32,
) -> MachineWatch {
    let wall = match (start.at, end.at) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let share = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            (part as f64 / whole as f64).clamp(0.0, 1.0)
        }
    };
    let jiffies = end.cpu_total.saturating_sub(start.cpu_total);
    let steal = share(end.cpu_steal.saturating_sub(start.cpu_steal), jiffies);
    let (cpu_pressure, pressure_measured) = match (start.pressure_micros, end.pressure_micros) {
        (Some(a), Some(b)) if wall > 0.0 => (
            (b.saturating_sub(a) as f64 / 1e6 / wall).clamp(0.0, 1.0),
            true,
        ),
        _ => (MachineWatch::pressure_from_load(load, cores), false),
    };
    let ms = |micros: u64| micros as f64 / 1000.0;
    MachineWatch {
        timer_lag_p50_ms: ms(lags.value_at_quantile(0.5)),
        timer_lag_p99_ms: ms(lags.value_at_quantile(0.99)),
        timer_lag_max_ms: ms(lags.max()),
        generator_cores: if wall > 0.0 {
            end.process_cpu
                .saturating_sub(start.process_cpu)
                .as_secs_f64()
                / wall
        } else {
            0.0
        },
        cores,
        cpu_pressure,
        pressure_measured,
        steal,
        load_average: load,
        background: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        let stat = "cpu  100 5 50 800 10 1 2 32 0 0\ncpu0 50 2 25 400 5 0 1 16 0 0\n";
        assert_eq!(parse_cpu_line(stat), Some((1000, 32)));
        let psi = "some avg10=1.50 avg60=0.64 avg300=0.54 total=2750902\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_pressure(psi), Some(2_750_902));
        assert_eq!(parse_cpu_line("garbage"), None);
        assert_eq!(parse_pressure("some avg10=x"), None);
    }

    #[test]
    fn shares_come_from_the_differences() {
        let at = Instant::now();
        let start = Counters {
            at: Some(at),
            cpu_total: 1000,
            cpu_steal: 10,
            pressure_micros: Some(5_000_000),
            process_cpu: Duration::from_secs(1),
        };
        let end = Counters {
            at: Some(at + Duration::from_secs(10)),
            cpu_total: 3000,
            cpu_steal: 110,
            pressure_micros: Some(7_500_000),
            process_cpu: Duration::from_secs(6),
        };
        let mut lags = crate::metrics::new_histogram();
        lags.record(300).unwrap();
        let watch = summarize(&start, &end, &lags, 3.0, 2);
        assert!((watch.steal - 0.05).abs() < 1e-9);
        assert!((watch.cpu_pressure - 0.25).abs() < 1e-9);
        assert!(watch.pressure_measured);
        assert!((watch.generator_cores - 0.5).abs() < 1e-9);
        // Without PSI: 3 runnable tasks on 2 cores, a third of them waiting.
        let end = Counters {
            pressure_micros: None,
            ..end
        };
        let watch = summarize(&start, &end, &lags, 3.0, 2);
        assert!((watch.cpu_pressure - 1.0 / 3.0).abs() < 1e-9 && !watch.pressure_measured);
    }

    #[tokio::test]
    async fn the_probe_measures_a_blocked_runtime() {
        let watcher = Watcher::start();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Holding the only thread: the probe's timer cannot fire on time.
        std::thread::sleep(Duration::from_millis(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let watch = watcher.finish(Background { cpu_share: 1.0 }).await;
        assert!(watch.timer_lag_max_ms >= 20.0, "{watch:?}");
        assert!(watch.generator_cores >= 0.0 && watch.cores >= 1);
    }

    #[tokio::test]
    async fn the_background_is_watched_before_the_run_and_cut_by_an_interrupt() {
        let started = Instant::now();
        let seen = background(&CancellationToken::new()).await;
        assert!(started.elapsed() >= BACKGROUND);
        assert!(seen.cpu_share > 0.0 && seen.cpu_share <= 1.0);
        let interrupt = CancellationToken::new();
        interrupt.cancel();
        let started = Instant::now();
        background(&interrupt).await;
        assert!(started.elapsed() < BACKGROUND);
    }
}
