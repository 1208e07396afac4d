//! `codex-wrap profiles`: each profile, its model and settings, the default, and where each
//! setting came from (built-in, user file, project file, environment, flag).

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::cli::ProfilesArgs;
use crate::config::env::Env;
use crate::config::file::Source;
use crate::config::{self, Overrides, Profile, Settings};
use crate::error::ExitStatus;
use crate::output::Output;

/// One setting, its value and its origin.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Setting {
    key: String,
    value: String,
    source: String,
}

/// The highest layer that sets `path`, or `None`.
fn layer_of(layers: &[(Source, toml::Table)], path: &[&str]) -> Option<String> {
    layers.iter().rev().find_map(|(source, table)| {
        let mut node = table.get(path[0])?;
        for key in &path[1..] {
            node = node.as_table()?.get(*key)?;
        }
        Some(source.describe())
    })
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A profile's settings with their sources: a flag or variable as resolution recorded it
/// (`Settings::origins`), else the highest file layer that sets the key.
fn settings_of(
    p: &Profile,
    layers: &[(Source, toml::Table)],
    settings: &Settings,
    deadline: String,
) -> Vec<Setting> {
    let from = |key: &str, fallback: &str| {
        layer_of(layers, &["profiles", &p.name, key]).unwrap_or_else(|| fallback.to_owned())
    };
    let mut out = Vec::new();
    let mut push = |key: &str, value: String, source: String| {
        out.push(Setting {
            key: key.to_owned(),
            value,
            source,
        });
    };
    let (model, model_source) = match (
        &settings.local_model_override,
        settings.origins.get("model"),
    ) {
        (Some(m), Some(origin)) => (m.clone(), origin.clone()),
        _ => (p.model.clone(), from("model", "default")),
    };
    push("model", model, model_source);
    let timeout_source = match settings.origins.get("timeout") {
        Some(origin) => origin.clone(),
        None => layer_of(layers, &["profiles", &p.name, "timeout"]).unwrap_or_else(|| {
            layer_of(layers, &["timeouts", "deadline"]).map_or_else(
                || "default".to_owned(),
                |l| format!("{l} [timeouts] deadline"),
            )
        }),
    };
    push("timeout", deadline, timeout_source);
    push(
        "keep_alive",
        p.keep_alive
            .as_ref()
            .map_or_else(|| "(Ollama's default, 5m)".to_owned(), show),
        from("keep_alive", "default"),
    );
    push(
        "num_ctx_max",
        p.num_ctx_max.map_or_else(
            || "(the model's context length)".to_owned(),
            |n| n.to_string(),
        ),
        from("num_ctx_max", "default"),
    );
    push(
        "guardrails",
        if p.guardrails { "on" } else { "off" }.to_owned(),
        from("guardrails", "default"),
    );
    if let Some(system) = &p.system {
        let short: String = system.chars().take(60).collect();
        let more = if system.chars().count() > 60 {
            "…"
        } else {
            ""
        };
        push(
            "system",
            format!("{short}{more}"),
            from("system", "default"),
        );
    }
    for (key, value) in &p.options {
        let source = layer_of(layers, &["profiles", &p.name, "options", key])
            .unwrap_or_else(|| "default".to_owned());
        push(&format!("options.{key}"), show(value), source);
    }
    out
}

/// `codex-wrap profiles`.
pub(crate) fn profiles(args: &ProfilesArgs, env: &Env, root: &Path) -> anyhow::Result<ExitStatus> {
    let layers = config::layers(env, root)?;
    let overrides = Overrides {
        profile: args.profile.clone(),
        model: args.model.clone(),
        timeout: args.timeout.map(|t| t.0),
        ..Overrides::default()
    };
    let settings = config::resolve(&overrides, env, root)?;
    let default_source = settings.origins.get("profile").cloned().unwrap_or_else(|| {
        layer_of(&layers, &["default_profile"]).unwrap_or_else(|| "default".to_owned())
    });
    let in_use = &settings.profile.name;
    let listed: Vec<(&Profile, Vec<Setting>)> = settings
        .profiles
        .values()
        .map(|p| {
            let deadline = format!("{}s", settings.deadline(p).as_secs_f64());
            (p, settings_of(p, &layers, &settings, deadline))
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
            "layers": layers.iter().map(|(s, _)| s.describe()).collect::<Vec<_>>(),
            "profiles": profiles,
        })
        .to_string()
    } else {
        let mut text = format!("default profile: {in_use} ({default_source})\n");
        text.push_str(&format!(
            "layers: {}\n",
            layers
                .iter()
                .map(|(s, _)| s.describe())
                .collect::<Vec<_>>()
                .join(" < ")
        ));
        for (p, s) in &listed {
            let mark = if &p.name == in_use { "  [default]" } else { "" };
            text.push_str(&format!("\n{} — {}{mark}\n", p.name, p.description));
            let rows: Vec<Vec<String>> = s
                .iter()
                .map(|s| vec![format!("  {}", s.key), s.value.clone(), s.source.clone()])
                .collect();
            text.push_str(&super::table(&rows));
        }
        text
    };
    Output::print_document(&doc)?;
    Ok(ExitStatus::Success)
}
