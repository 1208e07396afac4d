//! Resolving the settings of a call: the built-in endpoints, the routes, timeouts, the
//! context slicer's settings and the rest, each value picked from its layers (`pick.rs`)
//! with its origin recorded.

use super::*;
use crate::files::repair::Strategy as RepairStrategy;

/// The built-in `gemini` endpoint's settings, while they are resolved.
#[derive(Debug, Clone)]
struct GeminiSettings {
    /// Base URL without trailing slash.
    base_url: String,
    /// Model name.
    model: String,
    /// The API key, if any.
    key: Option<Secret>,
}

/// The built-in `openai` endpoint's settings, while they are resolved.
#[derive(Debug, Clone)]
struct OpenAiSettings {
    /// Base URL with the version path.
    base_url: String,
    /// Model name, when set.
    model: Option<String>,
    /// The bearer key, if any.
    key: Option<Secret>,
}

/// Resolves the settings from the command line, the environment and the files.
pub fn resolve(overrides: impl Into<Overrides>, env: &Env, root: &Path) -> Result<Settings, Error> {
    let (cfg, sources) = load(env, root)?;
    resolve_from(cfg, sources, &overrides.into(), env, root)
}

/// Resolves from configuration files already loaded (`load`).
pub fn resolve_from(
    cfg: ConfigFile,
    sources: Vec<Source>,
    run: &Overrides,
    env: &Env,
    root: &Path,
) -> Result<Settings, Error> {
    let profiles = cfg
        .profiles
        .iter()
        .map(|(name, p)| Ok((name.clone(), profile(name, p)?)))
        .collect::<Result<BTreeMap<_, _>, Error>>()?;

    let mut pick = Picker {
        env,
        origins: cfg.provenance.clone(),
    };
    for name in profiles.keys() {
        for key in [
            "model",
            "description",
            "timeout",
            "keep_alive",
            "system",
            "guardrails",
            "num_ctx_max",
        ] {
            pick.origins
                .default_unless_set(format!("profiles.{name}.{key}"));
        }
    }
    let name = pick
        .value("profile")
        .flag(run.profile.clone(), "--profile")
        .env(&[names::OLLAMA_PROFILE], pick::text)
        .router(
            run.suggested_profile
                .clone()
                .filter(|p| profiles.contains_key(p)),
        )
        .file_at("default_profile", cfg.default_profile.clone())
        .or("code".to_owned())?;
    let profile_explicit = run.profile.is_some() || env.get(names::OLLAMA_PROFILE).is_some();
    let profile = profiles.get(&name).cloned().ok_or_else(|| {
        let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
        Error::Config(format!(
            "unknown profile '{name}'; known profiles: {}",
            known.join(", ")
        ))
    })?;
    let mode = route_mode(run, env);
    record_mode(&mut pick.origins, run, mode);
    let models = Models::pick(&mut pick, run, mode);
    let built_in = BuiltIn::pick(&mut pick, &cfg, &models)?;
    let timeouts = timeouts(&mut pick, &cfg, run)?;
    let deadline_override = pick
        .value("timeout")
        .flag(run.timeout, "--timeout")
        .env(&[names::TIMEOUT], |var, v| {
            parse_seconds(v).map_err(|e| Error::Config(format!("{var}: {e}")))
        })
        .or_unset()?;
    let mut origins = pick.origins;
    let (ollama_url, gemini, openai) = (built_in.ollama_url, built_in.gemini, built_in.openai);
    let local_model_override = models.local;
    let (api_model_override, codex_model_override) = (models.api, models.codex);
    let endpoints = endpoint_table(&cfg, env, &ollama_url, &gemini, &openai, &mut origins)?;
    let routes = route_table(&cfg, env, &endpoints)?;
    // A password in an endpoint's URL is a secret too: masked wherever the URL is shown.
    for spec in routes.local.iter().chain(&routes.api).chain(&routes.codex) {
        crate::secrets::learn_url(&spec.url);
    }
    for (key, var) in [("local", names::LOCAL_BACKEND), ("api", names::API_BACKEND)] {
        origins.env_or_file(format!("routes.{key}"), env.first_set(&[var]));
    }
    origins.default_unless_set("routes.codex");

    let mut pick = Picker { env, origins };
    let log = log_settings_picked(&cfg, &mut pick, root);
    let pool = pool_settings(&cfg, &mut pick)?;
    let engine = engine_settings_picked(&cfg, &mut pick)?;
    let repair = pick
        .value("files.repair")
        .flag(run.repair, "--repair")
        .file(|| {
            let name = cfg.files.as_ref().and_then(|f| f.repair.as_deref());
            one_of(
                "[files] repair",
                name,
                RepairStrategy::parse,
                RepairStrategy::NAMES,
            )
        })
        .or(RepairStrategy::default())?;
    let mut origins = pick.origins;
    record_read_elsewhere(&mut origins, run, env);
    let context = context_settings(cfg.context.clone().unwrap_or_default(), run, env)?;
    context_origins(&mut origins, run, env);
    let allow_write = cfg
        .files
        .as_ref()
        .and_then(|f| f.allow_write.clone())
        .unwrap_or_default();
    allow_write_set(&allow_write).map_err(Error::Config)?;
    Ok(Settings {
        provenance: origins,
        root: root.to_path_buf(),
        sources,
        mode,
        profile,
        profile_explicit,
        profiles,
        local_model_override,
        directive: cfg.directive.unwrap_or_default(),
        edit_blocks_above: cfg
            .files
            .as_ref()
            .and_then(|f| f.edit_blocks_above)
            .unwrap_or(EDIT_BLOCKS_ABOVE),
        repair,
        api_model: gemini.model,
        timeouts,
        deadline_override,
        fallback: !run.no_fallback && mode == RouteMode::Auto,
        local_disabled: env.flag(names::DISABLE_LOCAL),
        api_disabled: env.flag(names::DISABLE_API),
        context,
        routes,
        pool,
        api_model_override,
        codex_model_override,
        log,
        engine,
        allow_write,
    })
}

/// A setting that names one of a few choices: `parse` it, or a configuration error naming
/// the setting, the value and the choices (`[pool] strategy = 'x': order or spread`).
fn one_of<T>(
    what: &str,
    name: Option<&str>,
    parse: fn(&str) -> Option<T>,
    choices: &str,
) -> Result<Option<T>, Error> {
    name.map(|name| {
        parse(name).ok_or_else(|| Error::Config(format!("{what} = '{name}': {choices}")))
    })
    .transpose()
}

/// Every URL of a comma list must parse: a bad one is a configuration error naming where it
/// came from and the value (its password redacted), not a failed request later.
fn check_urls(what: &str, list: &str) -> Result<(), Error> {
    for url in urls(list) {
        if let Err(e) = reqwest::Url::parse(&url) {
            return Err(Error::Config(format!(
                "{what} = '{}' is not a valid URL ({e}); give e.g. http://localhost:11434",
                crate::http::redact(&url)
            )));
        }
    }
    Ok(())
}

/// The URLs of a comma-separated list (`OLLAMA_URL=http://a:11434,http://b:11434`).
fn urls(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',')
        .map(|u| u.trim().trim_end_matches('/'))
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

/// Records where the values read by their own faces (sync, mcp) came from, and the
/// switches.
fn record_read_elsewhere(origins: &mut Provenance, run: &Overrides, env: &Env) {
    // `sync` reads the rest of [sync] itself; its remote may come from the environment.
    origins.env_or_file("sync.remote", env.first_set(&[names::SYNC_REMOTE]));
    origins.default_unless_set("directive");
    origins.default_unless_set("files.edit_blocks_above");
    // `mcp` reads [mcp] itself (the delegate tool's reply cap and continuation lifetime).
    origins.default_unless_set("mcp.max_reply_tokens");
    origins.default_unless_set("mcp.continuation_ttl_secs");
    if run.no_fallback {
        origins.set("fallback", Origin::Flag("--no-fallback"));
    }
    for (key, var) in [
        ("local_disabled", names::DISABLE_LOCAL),
        ("api_disabled", names::DISABLE_API),
    ] {
        if env.get(var).is_some() {
            origins.set(key, Origin::env(var));
        }
    }
}

/// Records which flag or variable asked for the route.
fn record_mode(origins: &mut Provenance, run: &Overrides, mode: RouteMode) {
    let origin = match (run.local, run.api, run.codex) {
        (true, _, _) => Origin::Flag("--local"),
        (_, true, _) => Origin::Flag("--api"),
        (_, _, true) => Origin::Flag("--codex"),
        _ if mode == RouteMode::Codex => Origin::env(names::FORCE_CODEX),
        _ => Origin::Default,
    };
    origins.set("mode", origin);
}

/// `--model` and `OLLAMA_MODEL`: `--model` replaces the model of the route asked for.
struct Models {
    /// The local route's model (`--model` on it, else `OLLAMA_MODEL`).
    local: Option<String>,
    /// `--model` with `--api`.
    api: Option<String>,
    /// `--model` with `--codex`.
    codex: Option<String>,
}

impl Models {
    fn pick(pick: &mut Picker<'_>, run: &Overrides, mode: RouteMode) -> Models {
        let from_env = pick.env.get(names::OLLAMA_MODEL).map(str::to_owned);
        // Recorded under `model` whichever route the flag is for (as `doctor` shows it).
        let origin = match (&run.model, &from_env) {
            (Some(_), _) => Some(Origin::Flag("--model")),
            (None, Some(_)) => Some(Origin::env(names::OLLAMA_MODEL)),
            (None, None) => None,
        };
        if let Some(origin) = origin {
            pick.origins.set("model", origin);
        }
        let on = |route: RouteMode| run.model.clone().filter(|_| mode == route);
        Models {
            local: match mode {
                RouteMode::Api | RouteMode::Codex => from_env,
                RouteMode::Local | RouteMode::Auto => run.model.clone().or(from_env),
            },
            api: on(RouteMode::Api),
            codex: on(RouteMode::Codex),
        }
    }
}

/// The built-in `ollama`, `gemini` and `openai` endpoints' settings, each URL checked.
struct BuiltIn {
    /// A comma list: one endpoint per URL.
    ollama_url: String,
    gemini: GeminiSettings,
    openai: OpenAiSettings,
}

impl BuiltIn {
    fn pick(pick: &mut Picker<'_>, cfg: &ConfigFile, models: &Models) -> Result<BuiltIn, Error> {
        // The variables may hold a comma list; each entry is read the way Ollama reads
        // OLLAMA_HOST (scheme and port optional).
        let ollama_url = pick
            .value("ollama.url")
            .env(&[names::OLLAMA_URL, names::OLLAMA_HOST], |_, list| {
                Ok(list
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(env::ollama_base_url)
                    .collect::<Vec<_>>()
                    .join(","))
            })
            .file(|| Ok(cfg.ollama.as_ref().and_then(|o| o.url.clone())))
            .or(ollama::DEFAULT_URL.to_owned())?;
        check_urls(&pick.named("ollama.url", "[ollama] url"), &ollama_url)?;

        let file = cfg.gemini.clone().unwrap_or_default();
        let gemini = GeminiSettings {
            model: pick
                .value("gemini.model")
                .flag(models.api.clone(), "--model")
                .env(&[names::GEMINI_MODEL], pick::text)
                .file(|| Ok(file.model.clone()))
                .or(gemini::DEFAULT_MODEL.to_owned())?,
            base_url: pick
                .value("gemini.base_url")
                .env(&[names::GEMINI_BASE_URL], pick::text)
                .file(|| Ok(file.base_url.clone()))
                .or(gemini::DEFAULT_URL.to_owned())?
                .trim_end_matches('/')
                .to_owned(),
            key: pick
                .value("gemini.key")
                .env(gemini::KEY_ENVS, |_, v| Ok(Secret::new(v)))
                .or_unset()?,
        };
        check_urls(
            &pick.named("gemini.base_url", "[gemini] base_url"),
            &gemini.base_url,
        )?;

        let file = cfg.openai.clone().unwrap_or_default();
        let key_env = file.key_env.as_deref().unwrap_or(names::OPENAI_API_KEY);
        let openai = OpenAiSettings {
            model: pick
                .value("openai.model")
                .flag(models.api.clone(), "--model")
                .file(|| Ok(file.model.clone()))
                .or_none()?,
            base_url: pick
                .value("openai.base_url")
                .env(&[names::OPENAI_BASE_URL], pick::text)
                .file(|| Ok(file.base_url.clone()))
                .or(openai::DEFAULT_URL.to_owned())?,
            key: pick
                .value("openai.key")
                .env(&[key_env], |_, v| Ok(Secret::new(v)))
                .or_unset()?,
        };
        check_urls(
            &pick.named("openai.base_url", "[openai] base_url"),
            &openai.base_url,
        )?;
        Ok(BuiltIn {
            ollama_url,
            gemini,
            openai,
        })
    }
}

/// `[timeouts]` under the timeout flags, each a positive number of seconds.
fn timeouts(pick: &mut Picker<'_>, cfg: &ConfigFile, run: &Overrides) -> Result<Timeouts, Error> {
    let t = cfg.timeouts.clone().unwrap_or_default();
    let secs = |v: Option<f64>, what: &str| -> Result<Option<Duration>, Error> {
        v.map(|v| {
            seconds(v).ok_or_else(|| {
                Error::Config(format!(
                    "[timeouts] {what} = {v}: must be a positive number of seconds"
                ))
            })
        })
        .transpose()
    };
    Ok(Timeouts {
        connect: pick
            .value("timeouts.connect")
            .flag(run.connect_timeout, "--connect-timeout")
            .file(|| secs(t.connect, "connect"))
            .or(Duration::from_secs(3))?,
        deadline: pick
            .value("timeouts.deadline")
            .file(|| secs(t.deadline, "deadline"))
            .or(Duration::from_secs(60))?,
        idle: pick
            .value("timeouts.idle")
            .flag(run.idle_timeout, "--idle-timeout")
            .file(|| secs(t.idle, "idle"))
            .or(Duration::from_secs(30))?,
        first_byte: pick
            .value("timeouts.first_byte")
            .flag(run.first_byte_timeout, "--first-byte-timeout")
            .file(|| secs(t.first_byte, "first_byte"))
            .or_none()?,
        retry_cap: pick
            .value("timeouts.retry_cap")
            .file(|| match t.retry_cap {
                Some(v) if v.is_finite() && v >= 0.0 => {
                    Ok(Some(Duration::from_secs_f64(v.min(3600.0))))
                }
                Some(v) => Err(Error::Config(format!(
                    "[timeouts] retry_cap = {v}: must be zero or a positive number of seconds"
                ))),
                None => Ok(None),
            })
            .or(Duration::from_secs(5))?,
    })
}

/// The variable a provider's key is read from when the endpoint names none: the first of
/// its variables that is set, else the last (the name shown when none is).
fn default_key_env(provider: Provider, env: &Env) -> Option<&'static str> {
    let vars = provider.key_envs();
    vars.iter()
        .find(|v| env.get(v).is_some())
        .or(vars.last())
        .copied()
}

/// Every endpoint by name: the built-in `ollama`, `gemini`, `openai` and `codex` (from
/// their sections and variables; a comma list of URLs makes `ollama`, `ollama-2`, ...),
/// then `[endpoints.NAME]`, which may replace a built-in one.
fn endpoint_table(
    cfg: &ConfigFile,
    env: &Env,
    ollama_url: &str,
    gemini: &GeminiSettings,
    openai: &OpenAiSettings,
    origins: &mut Provenance,
) -> Result<BTreeMap<String, Vec<EndpointSpec>>, Error> {
    let group = |name: &str,
                 provider,
                 list: &str,
                 key: Option<Secret>,
                 key_env: Option<&str>|
     -> Vec<EndpointSpec> {
        urls(list)
            .enumerate()
            .map(|(i, url)| EndpointSpec {
                name: if i == 0 {
                    name.to_owned()
                } else {
                    format!("{name}-{}", i + 1)
                },
                provider,
                url,
                command: Vec::new(),
                model: None,
                key: key.clone(),
                key_env: key_env.map(str::to_owned),
            })
            .collect()
    };
    let mut table = BTreeMap::new();
    table.insert(
        "ollama".to_owned(),
        group("ollama", Provider::Ollama, ollama_url, None, None),
    );
    let mut gemini_group = group(
        "gemini",
        Provider::Gemini,
        &gemini.base_url,
        gemini.key.clone(),
        default_key_env(Provider::Gemini, env),
    );
    gemini_group
        .iter_mut()
        .for_each(|e| e.model = Some(gemini.model.clone()));
    table.insert("gemini".to_owned(), gemini_group);
    let openai_env = cfg
        .openai
        .as_ref()
        .and_then(|o| o.key_env.as_deref())
        .unwrap_or(names::OPENAI_API_KEY);
    let mut openai_group = group(
        "openai",
        Provider::OpenAi,
        &openai.base_url,
        openai.key.clone(),
        Some(openai_env),
    );
    openai_group
        .iter_mut()
        .for_each(|e| e.model.clone_from(&openai.model));
    table.insert("openai".to_owned(), openai_group);
    let codex = ["codex", "exec", "-C", "{root}", "-"]
        .map(str::to_owned)
        .to_vec();
    table.insert(
        "codex".to_owned(),
        vec![EndpointSpec {
            name: "codex".to_owned(),
            provider: Provider::Command,
            url: codex.join(" "),
            command: codex,
            model: None,
            key: None,
            key_env: None,
        }],
    );
    for (name, e) in &cfg.endpoints {
        let spec = configured_endpoint(name, e, env, gemini, origins)?;
        table.insert(name.clone(), vec![spec]);
    }
    Ok(table)
}

/// `[endpoints.NAME]`: its provider's defaults where it sets nothing (a Gemini endpoint
/// shares the configured Gemini API's address and model).
fn configured_endpoint(
    name: &str,
    e: &file::EndpointConfig,
    env: &Env,
    gemini: &GeminiSettings,
    origins: &mut Provenance,
) -> Result<EndpointSpec, Error> {
    let what = format!("[endpoints.{name}]");
    let provider = Provider::parse(&e.provider, &format!("{what} provider"))?;
    let command = e.command.clone().unwrap_or_default();
    let url = match provider {
        Provider::Command if command.is_empty() => {
            return Err(Error::Config(format!(
                "{what}: a command endpoint needs `command = [\"program\", \"arg\", ...]`"
            )));
        }
        Provider::Command => command.join(" "),
        // A Gemini endpoint shares the configured Gemini API's address.
        Provider::Gemini => e.url.clone().unwrap_or_else(|| gemini.base_url.clone()),
        _ => e
            .url
            .clone()
            .or_else(|| provider.default_url().map(str::to_owned))
            .unwrap_or_default(),
    };
    let key_env = e
        .key_env
        .clone()
        .or_else(|| default_key_env(provider, env).map(str::to_owned));
    let key = key_env.as_deref().and_then(|v| env.get(v)).map(Secret::new);
    // Recorded by the variable's name, never the key.
    if let Some(var) = key_env.as_deref().filter(|v| env.get(v).is_some()) {
        origins.set(format!("endpoints.{name}.key"), Origin::env(var));
    }
    if e.url.is_none() && provider != Provider::Command {
        origins.default_unless_set(format!("endpoints.{name}.url"));
    }
    let model = match provider {
        Provider::Gemini => e.model.clone().or_else(|| Some(gemini.model.clone())),
        _ => e.model.clone(),
    };
    if provider != Provider::Command {
        check_urls(&format!("{what} url"), &url)?;
    }
    Ok(EndpointSpec {
        name: name.to_owned(),
        provider,
        url: url.trim_end_matches('/').to_owned(),
        command,
        model,
        key,
        key_env,
    })
}

/// The endpoints of each route: `CODEX_WRAP_LOCAL_BACKEND` / `CODEX_WRAP_API_BACKEND` (a
/// name or a comma list) > `[routes]` > `ollama`, `gemini`, `codex`.
fn route_table(
    cfg: &ConfigFile,
    env: &Env,
    endpoints: &BTreeMap<String, Vec<EndpointSpec>>,
) -> Result<Routes, Error> {
    let routes = cfg.routes.clone().unwrap_or_default();
    let pick = |var: Option<&str>,
                key: &str,
                file: Option<&file::RouteList>,
                default: &str,
                wrong: &str| {
        let (names, what) = match (var.and_then(|v| env.get(v)), file) {
            (Some(v), _) => (
                v.split(',')
                    .map(|n| n.trim().to_owned())
                    .collect::<Vec<_>>(),
                var.unwrap_or_default().to_owned(),
            ),
            (None, Some(list)) => (list.names(), format!("[routes] {key}")),
            (None, None) => (vec![default.to_owned()], format!("[routes] {key}")),
        };
        let mut list = Vec::new();
        for name in names.iter().filter(|n| !n.is_empty()) {
            let lower = name.to_ascii_lowercase();
            if lower == wrong && !cfg.endpoints.contains_key(&lower) {
                return Err(Error::Config(format!(
                    "{what} = '{name}': the local route takes ollama or openai, the api route gemini or openai (or endpoints named in [endpoints])"
                )));
            }
            let found = endpoints.get(name).or_else(|| endpoints.get(&lower));
            let Some(group) = found else {
                let known: Vec<&str> = endpoints.keys().map(String::as_str).collect();
                return Err(Error::Config(format!(
                    "{what} = '{name}': no endpoint of that name; known: {}",
                    known.join(", ")
                )));
            };
            list.extend(group.iter().cloned());
        }
        if list.is_empty() {
            return Err(Error::Config(format!(
                "{what}: the route lists no endpoint"
            )));
        }
        Ok(list)
    };
    Ok(Routes {
        local: pick(
            Some(names::LOCAL_BACKEND),
            "local",
            routes.local.as_ref(),
            "ollama",
            "gemini",
        )?,
        api: pick(
            Some(names::API_BACKEND),
            "api",
            routes.api.as_ref(),
            "gemini",
            "ollama",
        )?,
        codex: pick(None, "codex", routes.codex.as_ref(), "codex", "")?,
    })
}

/// `[pool]`, and the health state under `CODEX_WRAP_STATE_DIR`, else
/// `$XDG_STATE_HOME/codex-wrap/` (else `~/.local/state/codex-wrap/`).
fn pool_settings(cfg: &ConfigFile, pick: &mut Picker<'_>) -> Result<PoolSettings, Error> {
    let env = pick.env;
    let pool = cfg.pool.clone().unwrap_or_default();
    let strategy = pick
        .value("pool.strategy")
        .file(|| {
            one_of(
                "[pool] strategy",
                pool.strategy.as_deref(),
                Strategy::parse,
                Strategy::NAMES,
            )
        })
        .or(Strategy::default())?;
    let cooldown = pick
        .value("pool.cooldown")
        .file(|| {
            pool.cooldown
                .map(|v| {
                    (v.is_finite() && (0.0..=86_400.0).contains(&v))
                        .then(|| Duration::from_secs_f64(v))
                        .ok_or_else(|| {
                            Error::Config(format!(
                                "[pool] cooldown = {v}: must be 0 to 86400 seconds"
                            ))
                        })
                })
                .transpose()
        })
        .or(Duration::from_secs(30))?;
    pick.origins.env_or_file(
        "pool.state_file",
        env.first_set(&[names::STATE_DIR, names::XDG_STATE_HOME]),
    );
    let state_dir = match env.get(names::STATE_DIR).filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => env
            .get(names::XDG_STATE_HOME)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".local/state")))
            .map(|d| d.join("codex-wrap")),
    };
    Ok(PoolSettings {
        strategy,
        cooldown,
        state_file: state_dir.map(|d| d.join("health.json")),
    })
}

/// Context files, budgets and the sections named by flag or by the old variables.
fn context_settings(
    cfg: file::ContextConfig,
    run: &Overrides,
    env: &Env,
) -> Result<ContextSettings, Error> {
    let defaults = ContextSettings::default();
    let mut files: Vec<PathBuf> = match cfg.files {
        Some(files) => files.into_iter().map(PathBuf::from).collect(),
        None => defaults.files.clone(),
    };
    if env
        .get(names::INCLUDE_AGENTS)
        .is_some_and(|v| !env::is_truthy(v))
    {
        files.retain(|f| crate::context::label_of(f) != "agents");
    }
    // Flag > per-file variables > CONTEXT_HINTS, as codex_wrap.sh resolved them.
    let named = if let Some(flag) = &run.sections {
        parse_hints(flag)
    } else {
        let mut named = Vec::new();
        let hints = env
            .get(names::CONTEXT_HINTS)
            .map(parse_hints)
            .unwrap_or_default();
        for (label, var) in [
            ("contract", names::CONTRACT_SECTIONS),
            ("agents", names::AGENTS_SECTIONS),
        ] {
            match env.get(var) {
                Some(list) => named.extend(
                    list.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(|n| (label.to_owned(), n.to_owned())),
                ),
                None => named.extend(hints.iter().filter(|(l, _)| l == label).cloned()),
            }
        }
        named.extend(
            hints
                .into_iter()
                .filter(|(l, _)| l != "contract" && l != "agents"),
        );
        named
    };
    let default_lines = cfg
        .summary_lines
        .unwrap_or(crate::context::DEFAULT_SUMMARY_LINES);
    let mut summary_lines = Vec::new();
    for (label, var) in [
        ("contract", names::CONTRACT_SUMMARY_LINES),
        ("agents", names::AGENTS_SUMMARY_LINES),
    ] {
        let lines = match env.get(var) {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| Error::Config(format!("{var}={v}: not a number of lines")))?,
            None => default_lines,
        };
        summary_lines.push((label_alias(label), lines));
    }
    for f in &files {
        let label = crate::context::label_of(f);
        if !summary_lines.iter().any(|(l, _)| *l == label) {
            summary_lines.push((label, default_lines));
        }
    }
    if let Some(v) = cfg.min_score.filter(|v| !v.is_finite() || *v < 0.0) {
        return Err(Error::Config(format!(
            "[context] min_score = {v}: must be zero or a positive number"
        )));
    }
    Ok(ContextSettings {
        files,
        always: cfg.always.unwrap_or_default(),
        named,
        summary_lines,
        local_budget: cfg.local_budget.unwrap_or(defaults.local_budget),
        api_budget: cfg.api_budget.unwrap_or(defaults.api_budget),
        min_score: cfg.min_score.unwrap_or(defaults.min_score),
    })
}

/// Where the context settings came from: the files, except what `--sections` and the
/// old variables (`CONTRACT_SECTIONS`, `CONTEXT_HINTS`, `INCLUDE_AGENTS`, ...) change.
fn context_origins(origins: &mut Provenance, run: &Overrides, env: &Env) {
    for key in [
        "files",
        "always",
        "local_budget",
        "api_budget",
        "min_score",
        "summary_lines",
    ] {
        origins.default_unless_set(format!("context.{key}"));
    }
    if env.get(names::INCLUDE_AGENTS).is_some() {
        origins.set("context.files", Origin::env(names::INCLUDE_AGENTS));
    }
    let sections = if run.sections.is_some() {
        Some(Origin::Flag("--sections"))
    } else {
        env.first_set(&[
            names::CONTRACT_SECTIONS,
            names::AGENTS_SECTIONS,
            names::CONTEXT_HINTS,
        ])
        .map(Origin::env)
    };
    origins.set("context.sections", sections.unwrap_or(Origin::Default));
    for (label, var) in [
        ("contract", names::CONTRACT_SUMMARY_LINES),
        ("agents", names::AGENTS_SUMMARY_LINES),
    ] {
        let origin = match env.first_set(&[var]) {
            Some(var) => Origin::env(var),
            None => origins.of("context.summary_lines").clone(),
        };
        origins.set(format!("context.summary_lines.{label}"), origin);
    }
}
