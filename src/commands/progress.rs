//! Live progress while the swarm runs: a line redrawn in place on a terminal,
//! and a plain line every few seconds in a CI log.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::engine::{Observer, Tick};
use crate::results::HistoryWriter;

const LOG_EVERY_SECS: u64 = 5;

pub struct RunObserver {
    history: HistoryWriter,
    duration: Duration,
    target_users: u64,
    mode: Mode,
}

#[derive(PartialEq)]
enum Mode {
    Quiet,
    Terminal,
    Log,
}

impl RunObserver {
    pub fn new(history: HistoryWriter, duration: Duration, target_users: u64, quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Log
        };
        Self {
            history,
            duration,
            target_users,
            mode,
        }
    }

    /// Leaves the terminal line so that the summary starts on its own.
    /// Ends the progress line; the timeline of the run's ticks.
    pub fn finish(self) -> Vec<crate::results::timeline::TimelinePoint> {
        if self.mode == Mode::Terminal {
            crate::errln!("");
        }
        self.history.into_timeline()
    }

    fn line(&self, tick: &Tick) -> String {
        let total = &tick.interval.total;
        let failed = if total.requests > 0 {
            total.failures as f64 / total.requests as f64 * 100.0
        } else {
            0.0
        };
        let rate = if tick.interval_secs > 0.0 {
            tick.interval.current.requests as f64 / tick.interval_secs
        } else {
            0.0
        };
        format!(
            "{:>4}s/{}s  users {}/{}  requests {}  failures {} ({failed:.1}%)  {rate:.0} req/s",
            tick.elapsed.as_secs(),
            self.duration.as_secs(),
            tick.users,
            self.target_users,
            total.requests,
            total.failures,
        )
    }
}

impl Observer for RunObserver {
    fn notice(&mut self, message: &str) {
        crate::errln!("warning: {message}");
    }

    fn tick(&mut self, tick: &Tick) -> anyhow::Result<()> {
        self.history.append(tick)?;
        match self.mode {
            Mode::Quiet => {}
            Mode::Terminal => {
                eprint!("\r\x1b[2K{}", self.line(tick));
                let _ = std::io::stderr().flush();
            }
            Mode::Log
                if tick.elapsed.as_secs().is_multiple_of(LOG_EVERY_SECS)
                    && tick.elapsed.as_secs() > 0 =>
            {
                crate::errln!("{}", self.line(tick));
            }
            Mode::Log => {}
        }
        Ok(())
    }
}
