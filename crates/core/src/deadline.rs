//! The clock of one attempt: the timeouts every attempt gets (`Timeouts`, from the
//! configuration), the three limits they make (`Deadlines`), and `deliver`, the step where
//! a stdout error ends the attempt. Below both `stream` (HTTP attempts) and the `command`
//! provider, which runs its own loop under the same limits.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Failure, FailureKind};
use crate::output::Sink;

/// Timeouts that apply to every attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// TCP/TLS connect.
    pub connect: Duration,
    /// Attempt deadline from the file (a profile's `timeout` and `--timeout` replace it).
    pub deadline: Duration,
    /// Longest silence between chunks once text flows.
    pub idle: Duration,
    /// Longest wait for the first byte; `None` means the attempt deadline.
    pub first_byte: Option<Duration>,
    /// Longest 429 retry hint honoured with one retry.
    pub retry_cap: Duration,
}

/// The three limits of one attempt: the first byte, the silence between chunks once text
/// flows, and the whole attempt. A value, so the rule is tested on tokio's paused clock.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    start: Instant,
    deadline: Instant,
    first_byte: Instant,
    idle: Duration,
    budget: Duration,
    first_byte_wait: Option<Duration>,
}

impl Deadlines {
    /// Limits for an attempt starting at `start` with `budget` for the whole of it.
    pub fn new(start: Instant, budget: Duration, timeouts: &Timeouts) -> Self {
        let deadline = start + budget;
        Deadlines {
            start,
            deadline,
            first_byte: timeouts
                .first_byte
                .map_or(deadline, |d| (start + d).min(deadline)),
            idle: timeouts.idle,
            budget,
            first_byte_wait: timeouts.first_byte,
        }
    }

    /// The same attempt sending again at `now` (the 429 retry): a new first-byte limit,
    /// the same deadline.
    pub fn resend(&self, now: Instant) -> Self {
        Deadlines {
            first_byte: self
                .first_byte_wait
                .map_or(self.deadline, |d| (now + d).min(self.deadline)),
            ..*self
        }
    }

    /// When the attempt started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The end of the whole attempt.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Until when to wait for the next bytes: the first-byte limit until text flows, then
    /// the idle limit counted from the last bytes seen (`last`), never past the deadline.
    pub fn limit(&self, flowing: bool, last: Instant) -> Instant {
        if flowing {
            let recent = Instant::now() - self.idle.min(Duration::from_secs(1));
            (last.max(recent) + self.idle).min(self.deadline)
        } else {
            self.first_byte
        }
    }

    /// What a passed `limit` means: the failure to report, or `None` when bytes arrived
    /// meanwhile (`last` moved) and the wait goes on.
    pub fn on_elapsed(&self, limit: Instant, flowing: bool, last: Instant) -> Option<Failure> {
        if limit >= self.deadline {
            return Some(self.expired("the answer did not finish in time"));
        }
        if !flowing {
            return Some(self.expired("no text from the model in time"));
        }
        if Instant::now() < last + self.idle {
            return None;
        }
        Some(Failure::new(
            FailureKind::Timeout,
            format!("no data for {:.1}s (idle timeout)", self.idle.as_secs_f64()),
        ))
    }

    /// A timeout failure naming the attempt's deadline.
    pub fn expired(&self, what: &str) -> Failure {
        Failure::new(
            FailureKind::Timeout,
            format!("{what} (deadline {})", seconds(self.budget)),
        )
    }
}

/// `60s`, `1.5s`: whole seconds without a fraction, others to the millisecond.
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    match ms % 1000 {
        0 => format!("{}s", ms / 1000),
        _ => format!("{}s", (ms as f64 / 1000.0)),
    }
}

/// Delivers what the sink has queued; a write error ends the attempt.
pub fn deliver(out: &mut dyn Sink) -> Result<(), Failure> {
    out.flush().map_err(|e| {
        Failure::new(
            FailureKind::Protocol,
            format!("cannot write to stdout: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_shown_as_given() {
        assert_eq!(seconds(Duration::from_secs(60)), "60s");
        assert_eq!(seconds(Duration::from_secs_f64(1.5)), "1.5s");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25s");
    }
}
