//! `codex-wrap profiles`: each profile, its model and settings, the default, and where each
//! setting came from (built-in, user file, project file, environment, flag).

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::cli::ProfilesArgs;
use crate::config::env::Env;
use crate::config::file::Source;
use crate::config::{self, Origin, Overrides, Profile, Settings};
use crate::error::ExitStatus;
use crate::output::Output;

/// One setting, its value and its origin.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Setting {
    key: String,
    value: String,
    source: String,
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A profile's settings with their sources, as resolution recorded them
/// (`Settings::provenance`).
fn settings_of(p: &Profile, settings: &Settings, deadline: String) -> Vec<Setting> {
    let from = |key: &str| {
        settings
            .provenance
            .of(&format!("profiles.{}.{key}", p.name))
            .to_string()
    };
    let mut out = Vec::new();
    let mut push = |key: &str, value: String, source: String| {
        out.push(Setting {
            key: key.to_owned(),
            value,
            source,
        });
    };
    let model = settings
        .local_model_override
        .clone()
        .unwrap_or_else(|| p.model.clone());
    let model_source = settings.model_origin(p).to_string();
    push("model", model, model_source);
    let timeout_source = settings.deadline_origin(p);
    push("timeout", deadline, timeout_source);
    push(
        "keep_alive",
        p.keep_alive
            .as_ref()
            .map_or_else(|| "(Ollama's default, 5m)".to_owned(), show),
        from("keep_alive"),
    );
    push(
        "num_ctx_max",
        p.num_ctx_max.map_or_else(
            || "(the model's context length)".to_owned(),
            |n| n.to_string(),
        ),
        from("num_ctx_max"),
    );
    push(
        "guardrails",
        if p.guardrails { "on" } else { "off" }.to_owned(),
        from("guardrails"),
    );
    if let Some(system) = &p.system {
        let short: String = system.chars().take(60).collect();
        let more = if system.chars().count() > 60 {
            "…"
        } else {
            ""
        };
        push("system", format!("{short}{more}"), from("system"));
    }
    for (key, value) in &p.options {
        let source = from(&format!("options.{key}"));
        push(&format!("options.{key}"), show(value), source);
    }
    out
}

/// `codex-wrap profiles`.
pub(crate) fn profiles(args: &ProfilesArgs, env: &Env, root: &Path) -> anyhow::Result<ExitStatus> {
    let overrides = Overrides {
        profile: args.profile.clone(),
        model: args.model.clone(),
        timeout: args.timeout.map(|t| t.0),
        ..Overrides::default()
    };
    let settings = config::resolve(&overrides, env, root)?;
    let default_source = settings.provenance.of("profile").to_string();
    let layers: Vec<String> = settings.sources.iter().map(Source::describe).collect();
    let in_use = &settings.profile.name;
    let listed: Vec<(&Profile, Vec<Setting>)> = settings
        .profiles
        .values()
        .map(|p| {
            let deadline = format!("{}s", settings.deadline(p).as_secs_f64());
            (p, settings_of(p, &settings, deadline))
        })
        .collect();
    let doc = if args.json {
        let profiles: Vec<_> = listed
            .iter()
            .map(|(p, s)| {
                json!({
                    "name": p.name,
                    "description": p.description,
                    "default": &p.name == in_use,
                    "settings": s,
                })
            })
            .collect();
        json!({
            "default": {"value": in_use, "source": default_source},
            "layers": layers,
            "provenance": settings.provenance,
            "profiles": profiles,
        })
        .to_string()
    } else {
        let mut text = format!("default profile: {in_use} ({default_source})\n");
        text.push_str(&format!("layers: {}\n", layers.join(" < ")));
        for (p, s) in &listed {
            let mark = if &p.name == in_use { "  [default]" } else { "" };
            text.push_str(&format!("\n{} — {}{mark}\n", p.name, p.description));
            let rows: Vec<Vec<String>> = s
                .iter()
                .map(|s| vec![format!("  {}", s.key), s.value.clone(), s.source.clone()])
                .collect();
            text.push_str(&super::table(&rows));
        }
        // Every other value that something above the built-in file set.
        let rows: Vec<Vec<String>> = settings
            .provenance
            .iter()
            .filter(|(key, origin)| {
                !matches!(origin, Origin::Builtin | Origin::Default)
                    && *key != "profile"
                    && !key.starts_with("profiles.")
            })
            .map(|(key, origin)| vec![format!("  {key}"), origin.to_string()])
            .collect();
        if !rows.is_empty() {
            text.push_str(
                "
other settings not from the built-in defaults:
",
            );
            text.push_str(&super::table(&rows));
        }
        text
    };
    Output::print_document(&doc)?;
    Ok(ExitStatus::Success)
}
