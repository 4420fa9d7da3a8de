//! Scanner configuration: extra rules, disabled rules, path globs, allow regexes and a
//! gitleaks rule file, and the assembly of a [`Scanner`] from them.

use std::path::PathBuf;

use regex::bytes::RegexBuilder;

use super::allow::Allowlist;
use super::glob::PathGlobs;
use super::prefilter::Prefilter;
use super::rule::{self, Rule};
use super::{gitleaks, ScanError, Scanner};

/// Scanner settings; they deserialize from a TOML (or JSON) table such as
/// `disabled_rules = ["jwt"]`, `allow_paths = ["fixtures/**"]`, `[[rules]] id = "..."`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    /// Extra rules; one with a built-in id replaces the built-in rule.
    pub rules: Vec<RuleSpec>,
    /// Ids of rules to turn off.
    pub disabled_rules: Vec<String>,
    /// Globs of paths never scanned (`*`, `?`, `**`, `\` escapes; a glob without `/` matches
    /// file names).
    pub allow_paths: Vec<String>,
    /// A match whose secret text matches one of these regexes is dropped.
    pub allow_regexes: Vec<String>,
    /// A gitleaks TOML rule file whose rules are loaded as extra rules (one with a built-in
    /// id replaces it); rules whose regex this crate's engine cannot compile are skipped and
    /// listed by [`Scanner::rejected_rules`].
    pub gitleaks_config: Option<PathBuf>,
}

/// An extra rule.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSpec {
    /// Identifier reported in findings.
    pub id: String,
    /// Regex (Rust `regex` syntax) that matches the secret or its context.
    pub regex: String,
    /// Words (case-insensitive) that must occur near a match; without keywords the regex
    /// searches every file in full.
    pub keywords: Vec<String>,
    /// Minimum Shannon entropy of the secret, in bits per character.
    pub entropy: Option<f64>,
    /// Capture group holding the secret; by default the first group that took part, or the
    /// whole match when the regex has no group.
    pub secret_group: Option<usize>,
}

/// Builds a scanner from the built-in rules and `config`.
pub(crate) fn build(config: &ScanConfig) -> Result<Scanner, ScanError> {
    let mut rules = rule::builtin_rules();
    for spec in &config.rules {
        upsert(&mut rules, compile_spec(spec)?);
    }
    let mut allow = Allowlist::default();
    let mut rejected = Vec::new();
    if let Some(path) = &config.gitleaks_config {
        let loaded = gitleaks::load(path)?;
        for rule in loaded.rules {
            upsert(&mut rules, rule);
        }
        allow.gitleaks = loaded.allowlists;
        rejected = loaded.rejected;
    }
    for id in &config.disabled_rules {
        let before = rules.len();
        rules.retain(|rule| &rule.id != id);
        if rules.len() == before && !rejected.contains(id) {
            return Err(ScanError::UnknownRule { id: id.clone() });
        }
    }
    allow.globs = PathGlobs::new(&config.allow_paths)
        .map_err(|(glob, reason)| ScanError::InvalidGlob { glob, reason })?;
    for (index, pattern) in config.allow_regexes.iter().enumerate() {
        let regex = regex::Regex::new(pattern)
            .map_err(|source| ScanError::InvalidAllowRegex { index, source })?;
        allow.regexes.push(regex);
    }
    let prefilter = Prefilter::new(&rules).map_err(|source| ScanError::Prefilter { source })?;
    Ok(Scanner {
        rules,
        prefilter,
        allow,
        rejected,
    })
}

/// Replaces the rule with the same id, or appends the rule.
pub(crate) fn upsert(rules: &mut Vec<Rule>, rule: Rule) {
    match rules.iter_mut().find(|r| r.id == rule.id) {
        Some(slot) => *slot = rule,
        None => rules.push(rule),
    }
}

/// Compiles a configured rule.
fn compile_spec(spec: &RuleSpec) -> Result<Rule, ScanError> {
    let invalid = |reason: &str| ScanError::InvalidRuleSpec {
        id: spec.id.clone(),
        reason: reason.to_string(),
    };
    if spec.id.trim().is_empty() {
        return Err(invalid("the id is empty"));
    }
    if spec.regex.is_empty() {
        return Err(invalid("the regex is empty"));
    }
    if spec.entropy.is_some_and(|e| !e.is_finite() || e < 0.0) {
        return Err(invalid(
            "entropy must be a finite number of bits, 0 or more",
        ));
    }
    let regex = RegexBuilder::new(&spec.regex)
        .multi_line(true)
        .build()
        .map_err(|source| ScanError::InvalidRule {
            id: spec.id.clone(),
            source,
        })?;
    if spec.secret_group.is_some_and(|g| g >= regex.captures_len()) {
        return Err(invalid(
            "secret_group names a capture group the regex does not have",
        ));
    }
    let keywords = spec
        .keywords
        .iter()
        .filter(|k| !k.is_empty())
        .map(|k| k.to_ascii_lowercase())
        .collect();
    let mut rule = Rule::new(&spec.id, Some(regex), keywords);
    rule.entropy = spec.entropy;
    if spec.secret_group.is_some() {
        rule.secret_group = spec.secret_group;
    }
    rule.check = super::checks::plain;
    Ok(rule)
}
