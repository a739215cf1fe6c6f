//! Policy: rules with stable ids, evaluated per environment after loading,
//! every finding reported at once with the key, the source that set it and
//! a fix.

use std::fmt;

use serde::Serialize;

use crate::env::{AppEnv, Environment};
use crate::provenance::{Provenance, Source};
use crate::section::join_key;

/// How a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Level {
    /// Refused in production, a warning in local and staging (serialized
    /// as `violation`, the word `config check` uses for it).
    #[serde(rename = "violation")]
    RefusedInProduction,
    /// Refused in every environment.
    Deny,
    /// Refused in every environment, and `policy.allow` cannot waive it
    /// (for example debug endpoints in production).
    Forbid,
    /// Always only a warning.
    Warning,
}

/// One finding of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyFinding {
    /// The stable rule id (`secret.too-short`).
    pub rule: &'static str,
    /// The dotted key the finding is about.
    pub key: String,
    /// The source that set the key's effective value (`env JWT_SECRET`,
    /// `config/production.toml:4`, `default`); serialized as that text.
    pub source: Source,
    /// What is wrong. Never contains a secret value.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// How it weighs.
    #[serde(skip)]
    pub level: Level,
}

impl PolicyFinding {
    /// A warning that is not a policy rule's: the loader's own findings
    /// (`config.unknown-variable`, `config.dotenv-ignored`, …), reported
    /// beside the policy's warnings in `check`. `key` is empty when the
    /// finding is about a source rather than a key.
    pub(crate) fn warning(
        rule: &'static str,
        key: &str,
        source: Source,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> PolicyFinding {
        PolicyFinding {
            rule,
            key: key.to_owned(),
            source,
            message: message.into(),
            fix: fix.into(),
            level: Level::Warning,
        }
    }
}

impl fmt::Display for PolicyFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(
                f,
                "[{}] {}: {} Fix: {}",
                self.rule, self.source, self.message, self.fix
            )
        } else {
            write!(
                f,
                "[{}] {} (set by {}): {} Fix: {}",
                self.rule, self.key, self.source, self.message, self.fix
            )
        }
    }
}

/// The outcome of the policy for one environment: what refuses startup,
/// what only warns, and what was waived by name.
///
/// Its JSON form is the stable `check` format:
/// `{"env": "production", "tier": "production", "violations": [{"rule",
/// "key", "source", "message", "fix"}], "warnings": […], "waived": […]}`.
/// `env` is the name `APP_ENV` gave (a tier, or a named environment such as
/// `preview`); `tier` is the tier whose policy applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReport {
    /// The environment's name (`production`, or a named environment).
    pub env: String,
    /// The tier whose policy was evaluated.
    pub tier: AppEnv,
    /// Findings that refuse startup.
    pub violations: Vec<PolicyFinding>,
    /// Findings that only warn.
    pub warnings: Vec<PolicyFinding>,
    /// Findings that would refuse startup but whose rule is waived in
    /// `policy.allow`; logged at startup.
    pub waived: Vec<PolicyFinding>,
}

impl PolicyReport {
    pub(crate) fn classify(
        environment: &Environment,
        findings: Vec<PolicyFinding>,
        allow: &[String],
    ) -> Self {
        let env = environment.tier();
        let mut report = PolicyReport {
            env: environment.name().to_owned(),
            tier: env,
            violations: Vec::new(),
            warnings: Vec::new(),
            waived: Vec::new(),
        };
        for finding in findings {
            let refuses = match finding.level {
                Level::Forbid | Level::Deny => true,
                Level::RefusedInProduction => env.is_production(),
                Level::Warning => false,
            };
            let waivable = finding.level != Level::Forbid;
            if !refuses {
                report.warnings.push(finding);
            } else if waivable && allow.iter().any(|id| id == finding.rule) {
                report.waived.push(finding);
            } else {
                report.violations.push(finding);
            }
        }
        report
    }

    /// `true` when nothing refuses startup.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// The report as the stable JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Display for PolicyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.violations.is_empty() {
            write!(f, "configuration policy for {}: ok", self.env)?;
        } else {
            write!(
                f,
                "configuration refused for {}: {} policy violation(s)",
                self.env,
                self.violations.len()
            )?;
            for v in &self.violations {
                write!(f, "\n  - {v}")?;
            }
        }
        for w in &self.warnings {
            write!(f, "\n  warning: {w}")?;
        }
        for w in &self.waived {
            write!(f, "\n  waived by policy.allow: {w}")?;
        }
        Ok(())
    }
}

/// What a rule reports through. Keys are relative to the section the rule
/// was registered on.
pub struct Check<'a> {
    env: AppEnv,
    rule: &'static str,
    prefixes: Vec<String>,
    provenance: &'a Provenance,
    findings: &'a mut Vec<PolicyFinding>,
}

impl fmt::Debug for Check<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("env", &self.env)
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

impl<'a> Check<'a> {
    pub(crate) fn new(
        env: AppEnv,
        provenance: &'a Provenance,
        findings: &'a mut Vec<PolicyFinding>,
    ) -> Self {
        Check {
            env,
            rule: "",
            prefixes: Vec::new(),
            provenance,
            findings,
        }
    }

    pub(crate) fn set_rule(&mut self, rule: &'static str) {
        self.rule = rule;
    }

    pub(crate) fn enter(&mut self, prefix: &str) {
        self.prefixes.push(prefix.to_owned());
    }

    pub(crate) fn leave(&mut self) {
        self.prefixes.pop();
    }

    /// The environment being checked.
    pub fn env(&self) -> AppEnv {
        self.env
    }

    /// The absolute key of a key relative to the current section.
    pub fn key(&self, key: &str) -> String {
        join_key(self.prefixes.last().map_or("", String::as_str), key)
    }

    /// The source that set `key` (`env PORT`, `default`, …).
    pub fn source(&self, key: &str) -> Source {
        self.provenance.source_of(&self.key(key))
    }

    /// `true` when `key` still has its default value (no file, variable or
    /// override set it).
    pub fn is_default(&self, key: &str) -> bool {
        self.provenance.is_default(&self.key(key))
    }

    fn push(&mut self, level: Level, key: &str, message: String, fix: String) {
        let key = self.key(key);
        let source = self.provenance.source_of(&key);
        self.findings.push(PolicyFinding {
            rule: self.rule,
            key,
            source,
            message,
            fix,
            level,
        });
    }

    /// Refused in production, a warning in local and staging.
    pub fn violation(&mut self, key: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(Level::RefusedInProduction, key, message.into(), fix.into());
    }

    /// Refused in every environment (waivable by id).
    pub fn deny(&mut self, key: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(Level::Deny, key, message.into(), fix.into());
    }

    /// Refused, and no waiver applies.
    pub fn forbid(&mut self, key: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(Level::Forbid, key, message.into(), fix.into());
    }

    /// Only ever a warning.
    pub fn warn(&mut self, key: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(Level::Warning, key, message.into(), fix.into());
    }
}
