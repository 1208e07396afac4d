//! `codex-wrap stats`: what the run log says about the calls made.
//!
//! Calls and success per route and backend, fallbacks, median time to first token and
//! tokens/s per model, tokens served locally versus sent to the API (the rate-limit relief
//! the tool exists for), the API cost at the prices in profiles.toml, and what the tokens
//! served locally would have cost at the cloud assistant's prices (`[prices.cloud]`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use crate::cli::StatsArgs;
use crate::config::env::Env;
use crate::config::{self, file::PriceConfig};
use crate::error::{Error, ExitStatus};
use crate::output::Output;
use crate::runlog::{self, Record};

use super::table;

/// Calls of one route and backend.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct RouteRow {
    route: String,
    backend: String,
    calls: u64,
    ok: u64,
    success_rate: f64,
}

/// Speed of one model, over the calls it answered.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct ModelRow {
    model: String,
    backend: String,
    answered: u64,
    first_token_ms_p50: Option<f64>,
    tokens_per_sec_p50: Option<f64>,
}

/// Tokens by where they were served.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct Tokens {
    local_in: u64,
    local_out: u64,
    api_in: u64,
    api_out: u64,
    /// Share of all served tokens that stayed local.
    local_share: Option<f64>,
    /// Whether some counts are estimates (the server reported none).
    some_estimated: bool,
}

/// What `--write` kept away from the calling assistant: calls answered into files, and the
/// tokens of those answers (the last round's), which the assistant never had to read.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct Written {
    calls: u64,
    tokens_kept_off: u64,
}

/// `--write --check` tasks and their escalation: how many passed on the local rounds, how
/// many went on on the escalation route, and what the escalated answers cost.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct Escalations {
    /// Checked tasks whose check passed without escalating.
    passed_locally: u64,
    /// Tasks that escalated, and how many of them passed there.
    escalated: u64,
    escalated_passed: u64,
    /// Tokens of the escalated tasks' last answers (the escalation route's).
    escalated_tokens_in: u64,
    escalated_tokens_out: u64,
    /// Those tokens at the `[prices]` of their models.
    escalated_cost: Option<f64>,
}

/// The router's feedback from real use: calls whose route the router chose (not forced by
/// a flag), by that route, and how many of them failed their `--check` in the end or were
/// escalated to the API.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct RouterRow {
    route: String,
    calls: u64,
    /// Calls that ran a check (`--write --check`).
    checked: u64,
    /// Of those, the ones whose check still failed at the end.
    check_failed: u64,
    /// Calls retried on the API after the local rounds failed.
    escalated: u64,
}

/// API cost of one model.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct CostRow {
    model: String,
    tokens_in: u64,
    tokens_out: u64,
    cost: Option<f64>,
}

/// Everything `stats` reports.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Summary {
    log: String,
    since: Option<String>,
    calls: u64,
    ok: u64,
    success_rate: Option<f64>,
    fell_back: u64,
    malformed_lines: usize,
    routes: Vec<RouteRow>,
    models: Vec<ModelRow>,
    tokens: Tokens,
    api_cost: Option<f64>,
    api_cost_by_model: Vec<CostRow>,
    /// The tokens served locally, priced at `[prices.cloud]`.
    local_at_cloud_prices: Option<f64>,
    /// `--write` calls (and MCP `delegate` with `write`): answers that landed in files,
    /// with only a summary returned to the caller.
    written: Written,
    /// Checked write tasks: passed locally, escalated.
    escalations: Escalations,
    /// The last `codex-wrap eval` of each endpoint.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    last_evals: BTreeMap<String, crate::eval::LastEval>,
    /// Calls routed by the router, per route chosen, with their check failures and
    /// escalations: its measured precision on this user's calls.
    router: Vec<RouterRow>,
    /// The last `codex-wrap sync`: its age and outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_sync: Option<LastSyncRow>,
}

/// The last sync, as `stats` reports it.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct LastSyncRow {
    ok: bool,
    text: String,
}

/// Parses `7d`, `24h`, `90m` (a window ending now) or a date / RFC 3339 time.
pub(crate) fn parse_since(value: &str, now: SystemTime) -> Result<SystemTime, Error> {
    let v = value.trim();
    if let Ok(window) = humantime::parse_duration(v) {
        return Ok(now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    let full = if v.len() == 10 {
        format!("{v}T00:00:00Z")
    } else {
        v.to_owned()
    };
    humantime::parse_rfc3339_weak(full.trim_end_matches('Z')).map_err(|_| {
        Error::Usage(format!(
            "--since '{value}': give a window (7d, 24h, 90m) or a date (2026-11-01)"
        ))
    })
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round(part as f64 * 100.0 / whole as f64, 1))
}

/// Calls answered, first-token times and generation speeds of one model.
type Speeds = (u64, Vec<f64>, Vec<f64>);

/// Running totals, one record at a time: the log is never held in memory.
#[derive(Default)]
pub(crate) struct Tally {
    calls: u64,
    ok: u64,
    fell_back: u64,
    routes: BTreeMap<(String, String), (u64, u64)>,
    models: BTreeMap<(String, String), Speeds>,
    tokens: Tokens,
    costs: BTreeMap<String, (u64, u64)>,
    written: Written,
    escalations: Escalations,
    escalated_costs: BTreeMap<String, (u64, u64)>,
    router: BTreeMap<String, RouterRow>,
}

impl Tally {
    /// Counts one call.
    pub(crate) fn add(&mut self, r: Record) {
        self.calls += 1;
        self.ok += u64::from(r.exit == 0);
        let route = r
            .served_by
            .clone()
            .or_else(|| r.attempts.last().map(|a| a.route.clone()))
            .unwrap_or_else(|| r.route.clone());
        let entry = self.routes.entry((route, r.backend.clone())).or_default();
        entry.0 += 1;
        entry.1 += u64::from(r.exit == 0);
        if r.route_by == "router" {
            let row = self
                .router
                .entry(r.route.clone())
                .or_insert_with(|| RouterRow {
                    route: r.route.clone(),
                    ..RouterRow::default()
                });
            row.calls += 1;
            row.checked += u64::from(r.check_failed.is_some());
            row.check_failed += u64::from(r.check_failed == Some(true));
            row.escalated += u64::from(r.escalated);
        }
        let Some(served) = r.served_by.as_deref() else {
            return;
        };
        self.fell_back += u64::from(r.fallbacks > 0);
        if !r.rounds.is_empty() {
            self.written.calls += 1;
            self.written.tokens_kept_off += r.tokens_out;
            let checked = r.rounds.iter().any(|x| x.check_exit.is_some());
            let e = &mut self.escalations;
            if r.escalated {
                e.escalated += 1;
                e.escalated_passed += u64::from(r.exit == 0);
                e.escalated_tokens_in += r.tokens_in;
                e.escalated_tokens_out += r.tokens_out;
                let c = self.escalated_costs.entry(r.model.clone()).or_default();
                c.0 += r.tokens_in;
                c.1 += r.tokens_out;
            } else if checked && r.exit == 0 {
                e.passed_locally += 1;
            }
        }
        let tokens = &mut self.tokens;
        tokens.some_estimated |= r.tokens_estimated;
        if served == "api" {
            tokens.api_in += r.tokens_in;
            tokens.api_out += r.tokens_out;
            let c = self.costs.entry(r.model.clone()).or_default();
            c.0 += r.tokens_in;
            c.1 += r.tokens_out;
        } else {
            tokens.local_in += r.tokens_in;
            tokens.local_out += r.tokens_out;
        }
        // The model the server named as served; the one asked for beside it when it differs.
        let model = match &r.requested_model {
            Some(asked) => format!("{} (asked for {asked})", r.model),
            None => r.model,
        };
        let m = self.models.entry((model, r.backend)).or_default();
        m.0 += 1;
        m.1.extend(r.ttft_ms);
        // A speed over less than a millisecond (older logs recorded them) is no speed.
        m.2.extend(r.tokens_per_sec.filter(|&tps| {
            tps.is_finite()
                && tps > 0.0
                && (r.tokens_out as f64 / tps) >= crate::stream::MIN_SPEED_SECS
        }));
    }
}

/// Turns the totals into the report.
pub(crate) fn summarize(
    log: &Path,
    since: Option<String>,
    tally: Tally,
    malformed: usize,
    prices: &BTreeMap<String, PriceConfig>,
) -> Summary {
    let Tally {
        calls,
        ok,
        fell_back,
        routes,
        models,
        mut tokens,
        costs,
        written,
        mut escalations,
        escalated_costs,
        router,
    } = tally;
    let esc_costs: Vec<f64> = escalated_costs
        .iter()
        .filter_map(|(model, (i, o))| {
            prices
                .get(model)
                .map(|p| (*i as f64 * p.input + *o as f64 * p.output) / 1e6)
        })
        .collect();
    escalations.escalated_cost = (!esc_costs.is_empty()).then(|| round(esc_costs.iter().sum(), 6));
    let local = tokens.local_in + tokens.local_out;
    let all = local + tokens.api_in + tokens.api_out;
    tokens.local_share = rate(local, all);
    let api_cost_by_model: Vec<CostRow> = costs
        .into_iter()
        .map(|(model, (i, o))| CostRow {
            cost: prices
                .get(&model)
                .map(|p| round((i as f64 * p.input + o as f64 * p.output) / 1e6, 6)),
            model,
            tokens_in: i,
            tokens_out: o,
        })
        .collect();
    let priced: Vec<f64> = api_cost_by_model.iter().filter_map(|c| c.cost).collect();
    let local_at_cloud_prices = prices.get("cloud").map(|p| {
        round(
            (tokens.local_in as f64 * p.input + tokens.local_out as f64 * p.output) / 1e6,
            6,
        )
    });
    Summary {
        log: log.display().to_string(),
        since,
        calls,
        ok,
        success_rate: rate(ok, calls),
        fell_back,
        malformed_lines: malformed,
        routes: routes
            .into_iter()
            .map(|((route, backend), (calls, ok))| RouteRow {
                route,
                backend,
                calls,
                ok,
                success_rate: rate(ok, calls).unwrap_or(0.0),
            })
            .collect(),
        models: models
            .into_iter()
            .map(|((model, backend), (answered, ttft, tps))| ModelRow {
                model,
                backend,
                answered,
                first_token_ms_p50: median(ttft).map(|v| round(v, 1)),
                tokens_per_sec_p50: median(tps).map(|v| round(v, 1)),
            })
            .collect(),
        tokens,
        api_cost: (!priced.is_empty()).then(|| round(priced.iter().sum(), 6)),
        api_cost_by_model,
        last_sync: None,
        escalations,
        last_evals: BTreeMap::new(),
        local_at_cloud_prices,
        written,
        router: router.into_values().collect(),
    }
}

/// `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}%"))
}

/// The text report.
pub(crate) fn render(s: &Summary) -> String {
    let mut out = format!("run log: {}\n", s.log);
    let window = s
        .since
        .as_ref()
        .map_or_else(|| "all time".to_owned(), |t| format!("since {t}"));
    out.push_str(&format!(
        "{window}: {} calls, {} answered ({}), {} answered after a fallback",
        s.calls,
        s.ok,
        percent(s.success_rate),
        s.fell_back
    ));
    if s.malformed_lines > 0 {
        let lines = if s.malformed_lines == 1 {
            "line"
        } else {
            "lines"
        };
        out.push_str(&format!(
            "; {} malformed {lines} skipped",
            s.malformed_lines
        ));
    }
    out.push('\n');
    if let Some(sync) = &s.last_sync {
        out.push_str(&format!("{}\n", sync.text));
    }
    for (endpoint, last) in &s.last_evals {
        out.push_str(&format!("last eval on {endpoint}: {}\n", last.line()));
    }
    if s.calls == 0 {
        return out;
    }
    let mut rows = vec![
        ["ROUTE", "BACKEND", "CALLS", "OK", "SUCCESS"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for r in &s.routes {
        rows.push(vec![
            r.route.clone(),
            r.backend.clone(),
            r.calls.to_string(),
            r.ok.to_string(),
            percent(Some(r.success_rate)),
        ]);
    }
    out.push('\n');
    out.push_str(&table(&rows));
    if !s.models.is_empty() {
        let mut rows = vec![
            [
                "MODEL",
                "BACKEND",
                "ANSWERED",
                "FIRST TOKEN p50",
                "TOK/S p50",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for m in &s.models {
            rows.push(vec![
                m.model.clone(),
                m.backend.clone(),
                m.answered.to_string(),
                m.first_token_ms_p50
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms")),
                m.tokens_per_sec_p50
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}")),
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows));
    }
    let t = &s.tokens;
    out.push_str(&format!(
        "\ntokens served locally: {} in + {} out = {} ({} of all tokens)\n",
        thousands(t.local_in),
        thousands(t.local_out),
        thousands(t.local_in + t.local_out),
        percent(t.local_share)
    ));
    out.push_str(&format!(
        "tokens sent to the API: {} in + {} out = {}\n",
        thousands(t.api_in),
        thousands(t.api_out),
        thousands(t.api_in + t.api_out)
    ));
    if t.some_estimated {
        out.push_str("(some counts are estimates: the server reported none)\n");
    }
    if let Some(saved) = s.local_at_cloud_prices {
        out.push_str(&format!(
            "the local tokens at cloud prices ([prices.cloud]): {saved:.4}\n"
        ));
    }
    if s.written.calls > 0 {
        out.push_str(&format!(
            "answers written to files (--write): {} {}, {} tokens the assistant never had to read\n",
            s.written.calls,
            if s.written.calls == 1 { "call" } else { "calls" },
            thousands(s.written.tokens_kept_off)
        ));
    }
    let e = &s.escalations;
    if e.passed_locally + e.escalated > 0 {
        out.push_str(&format!(
            "checked write tasks: {} passed locally, {} needed escalation ({} passed there; their answers: {} tokens in, {} out{})\n",
            e.passed_locally,
            e.escalated,
            e.escalated_passed,
            thousands(e.escalated_tokens_in),
            thousands(e.escalated_tokens_out),
            e.escalated_cost
                .map_or_else(String::new, |c| format!(", cost {c:.4}"))
        ));
    }
    for r in &s.router {
        out.push_str(&format!(
            "router: of {} {} routed {}, {} ran a check, {} failed {}, {} escalated\n",
            r.calls,
            if r.calls == 1 { "call" } else { "calls" },
            r.route,
            r.checked,
            r.check_failed,
            if r.check_failed == 1 {
                "its check"
            } else {
                "their check"
            },
            r.escalated
        ));
    }
    if !s.api_cost_by_model.is_empty() {
        let priced: Vec<String> = s
            .api_cost_by_model
            .iter()
            .map(|c| match c.cost {
                Some(cost) => format!("{} {cost:.4}", c.model),
                None => format!("{} (no price in [prices])", c.model),
            })
            .collect();
        out.push_str(&format!(
            "API cost: {} ({})\n",
            s.api_cost
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.4}")),
            priced.join(", ")
        ));
    }
    out
}

/// `codex-wrap stats`: reads the run log even when logging is now off.
pub(crate) fn stats(args: &StatsArgs, env: &Env, root: &Path) -> anyhow::Result<ExitStatus> {
    let (cfg, _) = config::load(env, root)?;
    let log = &config::log_path(&cfg, env, root);
    let prices = &cfg.prices;
    let json = args.json;
    let cutoff = args
        .since
        .as_deref()
        .map(|s| parse_since(s, SystemTime::now()))
        .transpose()?;
    let file = match std::fs::File::open(log) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {}", log.display())));
        }
    };
    let mut tally = Tally::default();
    let malformed = match file {
        // A record whose time does not parse counts as malformed.
        Some(file) => runlog::read(std::io::BufReader::new(file), |r| {
            let at = humantime::parse_rfc3339_weak(r.ts.trim_end_matches('Z')).ok()?;
            if cutoff.is_none_or(|c| at >= c) {
                tally.add(r);
            }
            Some(())
        })
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot read {}", log.display())))?,
        None => 0,
    };
    let since = cutoff.map(|c| humantime::format_rfc3339_seconds(c).to_string());
    let mut summary = summarize(log, since, tally, malformed, prices);
    if let Ok(engine) = config::engine_settings(&cfg, env)
        && let Some(state) = engine.state.parent()
    {
        summary.last_evals = crate::eval::last_evals(state);
    }
    summary.last_sync = crate::sync::describe(root, Some(log), SystemTime::now())
        .map(|(ok, text)| LastSyncRow { ok, text });
    let doc = if json {
        serde_json::to_string_pretty(&summary)?
    } else {
        render(&summary)
    };
    Output::print_document(&doc)?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_dates() {
        let now = humantime::parse_rfc3339("2026-11-24T12:00:00Z").unwrap();
        let week = parse_since("7d", now).unwrap();
        assert_eq!(
            humantime::format_rfc3339_seconds(week).to_string(),
            "2026-11-17T12:00:00Z"
        );
        let day = parse_since("2026-11-01", now).unwrap();
        assert_eq!(
            humantime::format_rfc3339_seconds(day).to_string(),
            "2026-11-01T00:00:00Z"
        );
        assert!(parse_since("last tuesday", now).is_err());
    }

    #[test]
    fn medians_and_thousands() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
