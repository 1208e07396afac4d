//! What happened during a call, as data: the engine emits each event into the sink and
//! the transcript; the command line renders them to stderr (`Event::line`, the same lines
//! as ever), MCP puts them into the `delegate` reply, `--json` into its document.

use serde::Serialize;

/// One thing that happened during a call, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The prompt cannot fit the local model's window: the automatic route goes to the API.
    RoutedToApi {
        /// Why (the size against the window).
        reason: String,
    },
    /// A context section was dropped to fit the local model's window.
    ContextDropped {
        /// The section's label.
        section: String,
        /// The window it had to fit.
        num_ctx_max: u64,
    },
    /// An attempt is sent.
    AttemptStarted {
        /// `local`, `api` or `codex`.
        route: String,
        /// The endpoint's name.
        endpoint: String,
        /// The model asked for.
        model: String,
        /// 1 for the plan's first attempt, 2 for its first fallback, ...
        #[serde(skip)]
        number: usize,
        /// The attempt as status lines name it.
        #[serde(skip)]
        attempt: String,
    },
    /// The server answered 429 with a wait that fits: the same attempt is sent again.
    RetryAfter429 {
        /// The endpoint's name.
        endpoint: String,
        /// Seconds waited.
        wait_secs: f64,
        /// The attempt as status lines name it.
        #[serde(skip)]
        attempt: String,
    },
    /// The answer was a refusal: asked again once as "Generate code for: …".
    RefusalRetried {
        /// The endpoint's name.
        endpoint: String,
        /// The attempt as status lines name it.
        #[serde(skip)]
        attempt: String,
    },
    /// An attempt failed before any text was kept: the next one is tried.
    Fallback {
        /// The endpoint that failed.
        from: String,
        /// The endpoint tried next.
        to: String,
        /// Why it failed.
        reason: String,
        /// The next attempt as status lines name it.
        #[serde(skip)]
        next: String,
    },
    /// The answer stopped at the model's token limit.
    Truncated {
        /// The endpoint that answered.
        endpoint: String,
    },
    /// A `--check` round ended.
    CheckRound {
        /// 1 for the first answer, 2 and on for repairs.
        round: u32,
        /// Whether the check passed.
        passed: bool,
    },
    /// Files were written into the project.
    FilesWritten {
        /// Paths relative to the project root.
        files: Vec<String>,
    },
}

/// How the command line shows an event on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `codex-wrap: ...`
    Status(String),
    /// `codex-wrap: warning: ...`
    Warning(String),
}

impl Event {
    /// The stderr line the command line shows for this event, if it shows one.
    pub fn line(&self) -> Option<Line> {
        match self {
            Event::RoutedToApi { reason } => {
                Some(Line::Status(format!("{reason}: routing to api")))
            }
            Event::ContextDropped {
                section,
                num_ctx_max,
            } => Some(Line::Warning(format!(
                "dropped context '{section}' to fit num_ctx_max {num_ctx_max}"
            ))),
            Event::RetryAfter429 {
                attempt, wait_secs, ..
            } => Some(Line::Status(format!(
                "{attempt}: rate limited, retrying in {wait_secs:.1}s as the server asks"
            ))),
            Event::RefusalRetried { attempt, .. } => Some(Line::Status(format!(
                "{attempt} answered with a refusal; asking again as \"Generate code for: …\""
            ))),
            Event::Fallback { next, reason, .. } => Some(Line::Status(format!(
                "falling back to {next} after: {reason}"
            ))),
            Event::Truncated { .. } => Some(Line::Warning(
                "the answer was cut at the model's token limit".to_owned(),
            )),
            Event::AttemptStarted { .. }
            | Event::CheckRound { .. }
            | Event::FilesWritten { .. } => None,
        }
    }

    /// A short line for a progress report: the command line's line where it shows one,
    /// else a plain sentence ("attempt 1 on local (ollama m)", "check round 2 failed",
    /// "wrote 2 files: a.py, b.py").
    pub fn message(&self) -> String {
        if let Some(Line::Status(line) | Line::Warning(line)) = self.line() {
            return line;
        }
        match self {
            Event::AttemptStarted {
                number, attempt, ..
            } => format!("attempt {number} on {attempt}"),
            Event::CheckRound { round, passed } => format!(
                "check round {round} {}",
                if *passed { "passed" } else { "failed" }
            ),
            Event::FilesWritten { files } => {
                const NAMED: usize = 3;
                let mut names = files
                    .iter()
                    .take(NAMED)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if files.len() > NAMED {
                    names.push_str(&format!(" and {} more", files.len() - NAMED));
                }
                match files.len() {
                    0 => "wrote no files".to_owned(),
                    1 => format!("wrote 1 file: {names}"),
                    n => format!("wrote {n} files: {names}"),
                }
            }
            // Every other event has a line; a new one without: its type.
            _ => serde_json::to_value(self)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}

/// The summary a face reports next to the answer: whether it was cut at the token limit,
/// the first fallback (the preferred endpoint and why it failed), and every event.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Whether the answer stopped at the model's token limit.
    pub truncated: bool,
    /// `null`, or the endpoint that failed first and why, when a fallback answered.
    pub fallback: Option<FallbackSummary>,
    /// Every event, in order.
    pub events: Vec<Event>,
}

/// The first fallback of a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FallbackSummary {
    /// The endpoint that failed.
    pub from: String,
    /// Why.
    pub reason: String,
}

impl Summary {
    /// The summary of these events.
    pub fn of(events: Vec<Event>) -> Summary {
        Summary {
            truncated: events.iter().any(|e| matches!(e, Event::Truncated { .. })),
            fallback: events.iter().find_map(|e| match e {
                Event::Fallback { from, reason, .. } => Some(FallbackSummary {
                    from: from.clone(),
                    reason: reason.clone(),
                }),
                _ => None,
            }),
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_typed_and_render_todays_lines() {
        let e = Event::Fallback {
            from: "ollama".into(),
            to: "gemini".into(),
            reason: "local (ollama m): connection refused".into(),
            next: "api (gemini g)".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"type": "fallback", "from": "ollama", "to": "gemini",
                "reason": "local (ollama m): connection refused"})
        );
        assert_eq!(
            e.line(),
            Some(Line::Status(
                "falling back to api (gemini g) after: local (ollama m): connection refused".into()
            ))
        );
        let s = Summary::of(vec![
            e,
            Event::Truncated {
                endpoint: "gemini".into(),
            },
        ]);
        assert!(s.truncated);
        assert_eq!(s.fallback.unwrap().from, "ollama");
    }

    #[test]
    fn every_event_has_a_short_message_the_cli_line_where_there_is_one() {
        let attempt = Event::AttemptStarted {
            route: "local".into(),
            endpoint: "ollama".into(),
            model: "m".into(),
            number: 2,
            attempt: "local (ollama m)".into(),
        };
        assert_eq!(attempt.message(), "attempt 2 on local (ollama m)");
        let dropped = Event::ContextDropped {
            section: "README.md".into(),
            num_ctx_max: 8192,
        };
        assert_eq!(
            dropped.message(),
            "dropped context 'README.md' to fit num_ctx_max 8192"
        );
        let round = |passed| Event::CheckRound { round: 2, passed };
        assert_eq!(round(false).message(), "check round 2 failed");
        assert_eq!(round(true).message(), "check round 2 passed");
        let wrote = |n: usize| Event::FilesWritten {
            files: (0..n).map(|i| format!("f{i}.py")).collect(),
        };
        assert_eq!(wrote(1).message(), "wrote 1 file: f0.py");
        assert_eq!(wrote(2).message(), "wrote 2 files: f0.py, f1.py");
        assert_eq!(
            wrote(5).message(),
            "wrote 5 files: f0.py, f1.py, f2.py and 2 more"
        );
        assert_eq!(wrote(0).message(), "wrote no files");
    }
}
