//! Progress of a long provisioning: a bar on a terminal (indicatif), plain lines otherwise.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Reporter;

/// Steps of a provisioning, numbered as they start, with the compile's own count.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    report: Reporter,
    started: Instant,
    steps: usize,
    step: usize,
    /// The last tenth of the compile reported as a plain line.
    last_tenth: u64,
}

impl Progress {
    /// `terminal`: draw a bar on stderr; otherwise one line per step (none with `-q`).
    pub(crate) fn new(report: Reporter, terminal: bool, steps: usize) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            report,
            started: Instant::now(),
            steps,
            step: 0,
            last_tenth: 0,
        }
    }

    /// Starts the next step.
    pub(crate) fn step(&mut self, what: &str) {
        self.step += 1;
        let prefix = format!("[{}/{}]", self.step, self.steps.max(self.step));
        match &self.bar {
            Some(bar) => {
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(prefix);
                bar.set_message(what.to_owned());
            }
            None => self.report.status(&format!(
                "engine {prefix} {what} ({} elapsed)",
                elapsed(self.started.elapsed())
            )),
        }
    }

    /// The compile has done `done` of `total` build edges.
    pub(crate) fn compiled(&mut self, done: u64, total: u64) {
        match &self.bar {
            Some(bar) => {
                if bar.length() != Some(total) {
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {prefix} {msg} [{bar:30}] {pos}/{len}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
            None => {
                let tenth = done * 10 / total.max(1);
                if tenth > self.last_tenth {
                    self.last_tenth = tenth;
                    self.report.status(&format!(
                        "engine: compiled {done}/{total} ({}%, {} elapsed)",
                        done * 100 / total.max(1),
                        elapsed(self.started.elapsed())
                    ));
                }
            }
        }
    }

    /// Removes the bar; returns the time since the start.
    pub(crate) fn finish(self) -> Duration {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.started.elapsed()
    }
}

/// `12m 5s`: whole seconds.
pub(crate) fn elapsed(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
