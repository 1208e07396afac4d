//! The router: a prompt in, a decision out — route, confidence, the rules that fired, and a
//! suggested profile. Pure and local: no model is asked.
//!
//! Rules are regular expressions from `[router.rules]` in profiles.toml. They are parsed
//! when the router is built (a rule that does not parse is a config error); for each
//! request, the rules its words can fire (the prefilter) are compiled, together with the
//! layer patterns, into one lazy DFA that reports every pattern matching the request in a
//! single scan. Structural signals (project paths, pasted logs, diffs, layers named) are
//! computed beside them.

mod docs;
mod kind;
mod layers;
mod literals;
mod mask;
mod prefilter;
mod signals;

pub use docs::Headings;

use std::collections::BTreeMap;

use std::sync::{Mutex, OnceLock};

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::{Input, MatchKind, PatternSet};
use regex_syntax::hir::Hir;
use serde::{Deserialize, Serialize};

use crate::error::Error;
pub use kind::Route;

/// Which route a rule votes for: `local` or `api`.
pub type Side = Route;

/// `[router.rules.NAME]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// `api` or `local`.
    pub side: Option<Side>,
    /// How much it moves the score (its sign comes from `side`); 0 switches it off.
    pub weight: Option<f64>,
    /// The regular expression (case-insensitive; `\b` is an ASCII word boundary).
    pub pattern: Option<String>,
    /// `fast` or `code`: the rule votes for that profile.
    pub profile: Option<String>,
    /// Strength of the profile vote (default: the rule's weight).
    pub profile_weight: Option<f64>,
    /// The rule names the project's docs as the authority: a short question it fires on
    /// is answered from them (api, fast profile).
    pub docs: Option<bool>,
}

/// `[router.signals]`: weights of the structural signals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    /// Per relative project path beyond the first.
    pub paths: f64,
    /// A pasted log or trace of at least `long_log_lines` lines.
    pub long_log: f64,
    /// Minimum lines for `long_log`.
    pub long_log_lines: usize,
    /// A pasted diff touching two or more files.
    pub multi_file_diff: f64,
    /// Pasted code with a small ask.
    pub pasted_code: f64,
    /// At least `layers_min` distinct layers named.
    pub layers: f64,
    /// Minimum layers for `layers`.
    pub layers_min: usize,
    /// Profile vote of pasted material (negative: towards `code`).
    pub pasted_profile: f64,
    /// At least `deliverables_min` deliverables enumerated (a list or bullet lines).
    pub deliverables: f64,
    /// Minimum items for `deliverables`.
    pub deliverables_min: usize,
    /// A folder or glob with a quantity over it (`every test in app/Models/`, `src/**/*.ts`).
    pub folder_scope: f64,
    /// A request of at least `long_request_words` words (pasted material not counted).
    pub long_request: f64,
    /// Minimum words for `long_request`.
    pub long_request_words: usize,
    /// The request's words cover a section heading of the project's docs.
    pub docs_heading: f64,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        SignalsConfig {
            paths: 2.0,
            long_log: 3.0,
            long_log_lines: 12,
            multi_file_diff: 3.0,
            pasted_code: -1.0,
            layers: 2.5,
            layers_min: 3,
            pasted_profile: -2.5,
            deliverables: 0.0,
            deliverables_min: 4,
            folder_scope: 0.0,
            long_request: 0.0,
            long_request_words: 40,
            docs_heading: 3.0,
        }
    }
}

/// `[router]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// Score at or above which the route is `api`.
    pub threshold: Option<f64>,
    /// Added to every score: positive moves borderline prompts to the API, negative to the
    /// local model.
    pub bias: Option<f64>,
    /// Confidence slope: the confidence is `1 / (1 + e^(-scale × |score − threshold|))`.
    pub scale: Option<f64>,
    /// Structural signal weights.
    #[serde(default)]
    pub signals: Option<SignalsConfig>,
    /// Named rules.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleConfig>,
}

/// Suggested profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProfileVote {
    None,
    Fast,
    Code,
}

struct Rule {
    name: String,
    weight: f64,
    profile: ProfileVote,
    profile_weight: f64,
    docs: bool,
}

/// A lazy DFA over some of the patterns.
struct Compiled {
    /// The patterns it holds (ascending): DFA pattern `i` is pattern `ids[i]`.
    ids: Vec<u32>,
    dfa: DFA,
    cache: Cache,
}

/// The router.
pub struct Router {
    /// Every pattern as compiled (`literals::prepare`): the rules in order, then the
    /// layer patterns.
    prepared: Vec<String>,
    /// Each pattern parsed: at build for a rule not built in (to report it), else when a
    /// request first makes it a candidate.
    hirs: Vec<OnceLock<Option<Hir>>>,
    /// Each pattern's required literals.
    literals: Vec<prefilter::Literals>,
    /// The last automaton built: a later request whose candidates it holds reuses it (a
    /// face calls `decide` once per router; tests and benchmarks call it many times).
    compiled: Mutex<Option<Compiled>>,
    rules: Vec<Rule>,
    threshold: f64,
    bias: f64,
    scale: f64,
    signals: SignalsConfig,
    headings: Headings,
}

/// The router's decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// `local` or `api`.
    pub route: Route,
    /// How sure, 0.5..1: in held-out tests, about this share of decisions made with this
    /// confidence agree with the rubric.
    pub confidence: f64,
    /// Suggested profile: `fast` or `code`.
    pub profile: &'static str,
    /// Rules and signals that fired, with their signed weights, the weightiest first.
    pub rules: Vec<String>,
    /// The summed score (api positive).
    pub score: f64,
}

impl Decision {
    /// The route as the streaming layer knows it.
    pub fn route(&self) -> Route {
        self.route
    }
}

impl Router {
    /// Compiles the rules of a `[router]` table; a rule that does not compile, or lacks a
    /// side or pattern, is a config error naming it.
    pub fn from_table(table: Option<&toml::Table>) -> Result<Router, Error> {
        let config = match table {
            Some(t) => RouterConfig::deserialize(toml::Value::Table(t.clone()))
                .map_err(|e| Error::Config(format!("[router]: {}", e.message())))?,
            None => RouterConfig::default(),
        };
        Self::new(&config)
    }

    /// Compiles a router from its configuration.
    pub fn new(config: &RouterConfig) -> Result<Router, Error> {
        let mut patterns = Vec::new();
        let mut rules = Vec::new();
        for (name, rule) in &config.rules {
            let weight = rule.weight.unwrap_or(1.0);
            let (Some(side), Some(pattern)) = (rule.side, rule.pattern.as_deref()) else {
                return Err(Error::Config(format!(
                    "router rule '{name}' needs both `side` and `pattern`"
                )));
            };
            let pattern = pattern.to_owned();
            let profile = match rule.profile.as_deref() {
                None => ProfileVote::None,
                Some("fast") => ProfileVote::Fast,
                Some("code") => ProfileVote::Code,
                Some(other) => {
                    return Err(Error::Config(format!(
                        "router rule '{name}': profile must be \"fast\" or \"code\", not \"{other}\""
                    )));
                }
            };
            let signed = match side {
                Side::Api => weight,
                Side::Local => -weight,
                Side::Codex => {
                    return Err(Error::Config(format!(
                        "router rule '{name}': side is local or api"
                    )));
                }
            };
            patterns.push(pattern);
            rules.push(Rule {
                name: name.clone(),
                weight: signed,
                profile,
                profile_weight: rule.profile_weight.unwrap_or(weight).abs(),
                docs: rule.docs.unwrap_or(false),
            });
        }
        patterns.extend(signals::LAYER_PATTERNS.iter().map(|p| (*p).to_owned()));
        let (mut prepared, mut hirs, mut literals) = (Vec::new(), Vec::new(), Vec::new());
        for (i, pattern) in patterns.iter().enumerate() {
            let text = literals::prepare(pattern);
            let hir = OnceLock::new();
            // A built-in pattern is known to parse, and its literals are known.
            let found = match prefilter::Literals::builtin(&text) {
                Some(found) => found,
                None => {
                    let parsed = literals::parse(&text).map_err(|e| {
                        let name = rules.get(i).map_or("?", |r| r.name.as_str());
                        let detail = e.to_string();
                        let last = detail.lines().last().unwrap_or("").trim().to_owned();
                        Error::Config(format!("router rule '{name}' does not compile: {last}"))
                    })?;
                    let found = literals::required(&parsed)
                        .map_or(prefilter::Literals::Any, prefilter::Literals::Owned);
                    let _ = hir.set(Some(parsed));
                    found
                }
            };
            prepared.push(text);
            hirs.push(hir);
            literals.push(found);
        }
        Ok(Router {
            prepared,
            hirs,
            literals,
            compiled: Mutex::new(None),
            rules,
            threshold: config.threshold.unwrap_or(1.0),
            bias: config.bias.unwrap_or(0.0),
            scale: config.scale.unwrap_or(1.0),
            signals: config.signals.clone().unwrap_or_default(),
            headings: Headings::default(),
        })
    }

    /// Lets the router see the section headings of the project's docs (`files` under
    /// `root`): a request that covers one is about something the project specifies.
    pub fn with_docs(mut self, root: &std::path::Path, files: &[std::path::PathBuf]) -> Router {
        if self.signals.docs_heading != 0.0 {
            self.headings = Headings::load(root, files);
        }
        self
    }

    /// Like [`Router::with_docs`], from docs already parsed.
    pub fn with_headings(mut self, headings: Headings) -> Router {
        self.headings = headings;
        self
    }

    /// Every pattern (rule or layer) that matches somewhere in `text`, in ascending order.
    fn matches(&self, text: &[u8]) -> Vec<usize> {
        let wanted = prefilter::candidates(&self.literals, text);
        if wanted.is_empty() {
            return Vec::new();
        }
        let mut compiled = self
            .compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let reusable = compiled
            .as_ref()
            .is_some_and(|c| is_subset(&wanted, &c.ids));
        if !reusable {
            // Past half of all patterns, compile them all: later requests reuse it.
            let ids = if wanted.len() * 2 > self.prepared.len() {
                (0..self.prepared.len() as u32).collect()
            } else {
                wanted
            };
            *compiled = Some(self.compile_some(ids));
        }
        let Some(Compiled { ids, dfa, cache }) = compiled.as_mut() else {
            return Vec::new();
        };
        let mut set = PatternSet::new(dfa.pattern_len());
        // With no cache-clear limit set, the lazy DFA never gives up; an error would only
        // mean no rule fired.
        let _ = dfa.try_which_overlapping_matches(cache, &Input::new(text), &mut set);
        set.iter().map(|p| ids[p.as_usize()] as usize).collect()
    }

    /// The pattern `id` parsed (once), or `None`, with a warning naming it, when it does
    /// not parse.
    fn hir(&self, id: u32) -> Option<&Hir> {
        self.hirs[id as usize]
            .get_or_init(|| {
                literals::parse(&self.prepared[id as usize])
                    .map_err(|e| self.left_out(id, &e.to_string()))
                    .ok()
            })
            .as_ref()
    }

    fn left_out(&self, id: u32, why: &str) {
        let name = self.rules.get(id as usize).map_or("?", |r| &r.name);
        let why = why.lines().last().unwrap_or("").trim();
        tracing::warn!("router rule '{name}' left out: {why}");
    }

    /// A lazy DFA over the patterns `ids`. Only a size limit can stop it; then the patterns
    /// that do not compile alone are left out, each named in a warning.
    fn compile_some(&self, ids: Vec<u32>) -> Compiled {
        let ids: Vec<u32> = ids
            .into_iter()
            .filter(|&id| self.hir(id).is_some())
            .collect();
        let hirs = |ids: &[u32]| -> Vec<&Hir> { ids.iter().filter_map(|&i| self.hir(i)).collect() };
        let (ids, dfa) = match compile(&hirs(&ids)) {
            Ok(dfa) => (ids, dfa),
            Err(_) => {
                let mut kept = Vec::new();
                for &id in &ids {
                    match compile(&hirs(&[id])) {
                        Ok(_) => kept.push(id),
                        Err(e) => self.left_out(id, &e.to_string()),
                    }
                }
                let dfa = compile(&hirs(&kept))
                    .or_else(|_| compile(&[]))
                    .expect("an empty pattern set compiles");
                (kept, dfa)
            }
        };
        Compiled {
            cache: dfa.create_cache(),
            ids,
            dfa,
        }
    }

    /// Classifies a prompt.
    pub fn decide(&self, prompt: &str) -> Decision {
        let parts = mask::split(prompt);
        let mut score = 0.0;
        let mut fired = Vec::new();
        // Profile votes: positive for fast, negative for code.
        let mut fast_score = 0.0;
        let mut docs = false;
        let matched = self.matches(parts.request.to_ascii_lowercase().as_bytes());
        let layers = matched.iter().filter(|&&p| p >= self.rules.len()).count();
        for &pid in &matched {
            let Some(rule) = self.rules.get(pid) else {
                continue;
            };
            if rule.weight == 0.0 {
                continue;
            }
            score += rule.weight;
            fired.push((rule.name.clone(), rule.weight));
            docs |= rule.docs;
            match rule.profile {
                ProfileVote::Fast => fast_score += rule.profile_weight,
                ProfileVote::Code => fast_score -= rule.profile_weight,
                ProfileVote::None => {}
            }
        }
        if self.signals.docs_heading != 0.0
            && let Some(title) = self.headings.matching(&parts.request)
        {
            score += self.signals.docs_heading;
            fired.push((format!("docs-heading[{title}]"), self.signals.docs_heading));
            docs = true;
        }
        let found = signals::measure(&parts, &self.signals, layers);
        for (name, weight) in found.weighted(&self.signals) {
            score += weight;
            fired.push((name.to_owned(), weight));
        }
        if self.bias != 0.0 {
            score += self.bias;
            fired.push(("bias".to_owned(), self.bias));
        }
        let is_api = score >= self.threshold;
        let margin = (score - self.threshold).abs();
        let confidence = 1.0 / (1.0 + (-self.scale * margin).exp());
        // Under the API, `fast` is a short question answered from the project's docs.
        // Locally the votes decide: a concept or a one-liner votes fast, a unit of code
        // votes code, and pasted material votes code (sample input for a regex is
        // outweighed by the regex rule itself).
        if !parts.pasted.is_empty() {
            fast_score += self.signals.pasted_profile;
        }
        let profile = if is_api {
            if docs && parts.pasted.is_empty() && signals::is_short_question(&parts.request) {
                "fast"
            } else {
                "code"
            }
        } else if fast_score > 0.0 {
            "fast"
        } else {
            "code"
        };
        Decision {
            route: if is_api { Route::Api } else { Route::Local },
            confidence: (confidence * 100.0).round() / 100.0,
            profile,
            rules: {
                fired.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
                fired
                    .into_iter()
                    .map(|(name, w)| format!("{name}({w:+})"))
                    .collect()
            },
            score: (score * 100.0).round() / 100.0,
        }
    }
}

/// Compiles parsed patterns into one lazy DFA that reports all matching patterns.
fn compile(hirs: &[&Hir]) -> Result<DFA, Box<dyn std::error::Error>> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .which_captures(thompson::WhichCaptures::None)
                .shrink(false),
        )
        .build_many_from_hir(hirs)?;
    Ok(DFA::builder()
        .configure(DFA::config().match_kind(MatchKind::All))
        .build_from_nfa(nfa)?)
}

/// Whether every id of `small` is in `big` (both ascending).
fn is_subset(small: &[u32], big: &[u32]) -> bool {
    let mut big = big.iter();
    small.iter().all(|id| big.any(|b| b == id))
}

#[cfg(test)]
mod tests;
