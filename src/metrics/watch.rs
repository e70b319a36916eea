//! How the load generator and its machine fared during a run: a run on a
//! busy machine measures the machine as much as the service, and the gate
//! must know.

use serde::{Deserialize, Serialize};

/// What the engine's probes saw; every field is over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineWatch {
    /// How late a timer of the generator's own runtime fired, in ms: the
    /// delay the generator adds to every response it waits for.
    pub timer_lag_p50_ms: f64,
    pub timer_lag_p99_ms: f64,
    pub timer_lag_max_ms: f64,
    /// CPU the generator used, in cores (1.0 is one core, busy all the time).
    pub generator_cores: f64,
    pub cores: u32,
    /// Share of the time some runnable task waited for a CPU (Linux PSI), or
    /// an estimate from the load average where PSI is missing.
    pub cpu_pressure: f64,
    /// Whether `cpu_pressure` is PSI's (true) or the load average's.
    pub pressure_measured: bool,
    /// Share of CPU time the hypervisor gave to other guests.
    pub steal: f64,
    /// The highest one-minute load average seen.
    pub load_average: f64,
    /// The machine just before the first request; `None` in files from
    /// before it was watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Background>,
}

/// The machine before the run's load: what other work was doing to it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Background {
    /// The share of a CPU a busy thread on each core got (1.0: all of it).
    pub cpu_share: f64,
}

impl Background {
    /// How much slower CPU work ran for the machine's other work.
    pub fn slowdown(&self) -> f64 {
        1.0 / self.cpu_share.clamp(0.1, 1.0)
    }
}

impl MachineWatch {
    /// Whether these numbers could have come from a run (they are read back
    /// from baselines).
    pub fn check(&self) -> Result<(), String> {
        for (what, value, max) in [
            ("timer_lag_p50_ms", self.timer_lag_p50_ms, 3.6e9),
            ("timer_lag_p99_ms", self.timer_lag_p99_ms, 3.6e9),
            ("timer_lag_max_ms", self.timer_lag_max_ms, 3.6e9),
            ("generator_cores", self.generator_cores, 1e5),
            ("cpu_pressure", self.cpu_pressure, 1.0),
            ("steal", self.steal, 1.0),
            ("load_average", self.load_average, 1e6),
        ]
        .into_iter()
        .chain(
            self.background
                .iter()
                .flat_map(|b| [("background.cpu_share", b.cpu_share, 1.0)]),
        ) {
            if !(value.is_finite() && (0.0..=max).contains(&value)) {
                return Err(format!(
                    "machine.{what} is {value}: expected a number from 0 to {max}"
                ));
            }
        }
        Ok(())
    }

    /// One line for people: the report's and the verdict's.
    pub fn describe(&self) -> String {
        let percent = |share: f64| format!("{:.1}%", share * 100.0);
        let mut text = format!(
            "generator timer lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; generator CPU {:.2} of {} cores; CPU pressure {} ({}), steal {}, load average {:.2}",
            self.timer_lag_p50_ms,
            self.timer_lag_p99_ms,
            self.timer_lag_max_ms,
            self.generator_cores,
            self.cores,
            percent(self.cpu_pressure),
            if self.pressure_measured { "PSI" } else { "from the load average" },
            percent(self.steal),
            self.load_average
        );
        if let Some(background) = self.background {
            text.push_str(&format!(
                "; before the load a busy thread got {} of a CPU",
                percent(background.cpu_share)
            ));
        }
        text
    }

    /// The share of time a runnable task waits, from a load average:
    /// with `load` runnable tasks on `cores`, all but `cores` of them wait.
    pub fn pressure_from_load(load: f64, cores: u32) -> f64 {
        let cores = f64::from(cores.max(1));
        if load <= cores {
            0.0
        } else {
            1.0 - cores / load
        }
    }
}
