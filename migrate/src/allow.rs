//! Per-statement allows: `-- appenv:allow <rule-id> <reason>` in a comment
//! directly before a statement accepts that rule's findings on that
//! statement, and nothing else.
//!
//! Only real comments count (the tokenizer tells them apart from string
//! literals, dollar-quoted bodies and quoted identifiers). An allow that
//! names an unknown rule, matches no finding of its statement, lacks a
//! reason, or sits anywhere but directly before a statement is itself a
//! finding that cannot be allowed, so stale allows are caught when the
//! rule or the statement changes.

use crate::lint::{LintFinding, rules};
use crate::split::{Comment, Split};

/// The annotation's prefix inside a comment.
const ALLOW: &str = "appenv:allow";
const LEGACY: &str = "appenv:allow-destructive";

/// A parsed allow.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allow {
    rule: String,
    reason: String,
    line: u64,
}

/// `None` for an ordinary comment; `Some(Err(why))` for a malformed allow.
fn parse(comment: &Comment) -> Option<Result<Allow, String>> {
    let text = comment.text.trim();
    if text.starts_with(LEGACY) {
        return Some(Err(
            "the file-wide `-- appenv:allow-destructive` annotation is gone: put `-- appenv:allow <rule-id> <reason>` directly before each flagged statement".to_owned(),
        ));
    }
    let rest = text.strip_prefix(ALLOW)?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Some(Err(format!(
            "`{}` is not an appenv annotation; write `-- appenv:allow <rule-id> <reason>`",
            text.split_whitespace().next().unwrap_or(text)
        )));
    }
    let mut words = rest.trim().splitn(2, char::is_whitespace);
    let rule = words.next().unwrap_or_default().trim().to_owned();
    let reason = words.next().unwrap_or_default().trim().to_owned();
    if rule.is_empty() || reason.is_empty() {
        return Some(Err(
            "an allow needs a rule id and a reason: `-- appenv:allow <rule-id> <reason>`"
                .to_owned(),
        ));
    }
    Some(Ok(Allow {
        rule,
        reason,
        line: comment.line,
    }))
}

fn invalid(file: &str, line: u64, statement: usize, message: String) -> LintFinding {
    LintFinding::new(
        rules::INVALID_ALLOW,
        file,
        line,
        statement,
        message,
        "fix or remove the annotation",
    )
}

/// Applies the allows of `split` to `findings` (marking them allowed with
/// the reason) and adds a finding for every invalid or stale allow.
pub(crate) fn apply(file: &str, split: &Split, findings: &mut Vec<LintFinding>, known: &[&str]) {
    let mut extra = Vec::new();
    for statement in &split.statements {
        for comment in &statement.inner_comments {
            match parse(comment) {
                None => {}
                Some(Err(why)) => extra.push(invalid(file, comment.line, statement.index, why)),
                Some(Ok(a)) => extra.push(invalid(
                    file,
                    a.line,
                    statement.index,
                    format!(
                        "`appenv:allow {}` sits inside a statement; it counts only in the comments directly before a statement",
                        a.rule
                    ),
                )),
            }
        }
        for comment in &statement.leading_comments {
            let allow = match parse(comment) {
                None => continue,
                Some(Err(why)) => {
                    extra.push(invalid(file, comment.line, statement.index, why));
                    continue;
                }
                Some(Ok(a)) => a,
            };
            if !known.contains(&allow.rule.as_str()) {
                extra.push(invalid(
                    file,
                    allow.line,
                    statement.index,
                    format!(
                        "`appenv:allow {}` names no lint rule (known: {})",
                        allow.rule,
                        known.join(", ")
                    ),
                ));
                continue;
            }
            let mut matched = false;
            for f in findings
                .iter_mut()
                .filter(|f| f.statement == statement.index && f.rule == allow.rule)
            {
                f.allowed = Some(allow.reason.clone());
                matched = true;
            }
            if !matched {
                extra.push(LintFinding::new(
                    rules::STALE_ALLOW,
                    file,
                    allow.line,
                    statement.index,
                    format!(
                        "`appenv:allow {}` matches no finding of the statement at line {}",
                        allow.rule, statement.line
                    ),
                    "remove the annotation (or move it before the statement it is meant for)",
                ));
            }
        }
    }
    for comment in &split.trailing_comments {
        match parse(comment) {
            None => {}
            Some(Err(why)) => extra.push(invalid(file, comment.line, 0, why)),
            Some(Ok(a)) => extra.push(invalid(
                file,
                a.line,
                0,
                format!("`appenv:allow {}` is not followed by a statement", a.rule),
            )),
        }
    }
    findings.extend(extra);
    findings.sort_by_key(|f| (f.line, f.statement));
}
