//! Redaction of URLs inside any text, and of header lists.

use std::borrow::Cow;

use crate::secret::REDACTED;
use crate::sensitive::is_sensitive_param;

/// Replaces the password of every `scheme://user:password@host` URL inside
/// `text`, and the value of every secret query parameter
/// ([`crate::is_sensitive_param`]: `password`, `token`, `key`, `sig`,
/// `X-Api-Key`, …), with `[REDACTED]`. Text without either is returned
/// unchanged and unallocated.
///
/// It works on the raw text rather than through a URL parser, so a URL the
/// parser rejects is redacted too (those are exactly the values that end up
/// in error messages), and it errs on the side of hiding: the password is
/// taken to run from the first `:` after `scheme://` to the last `@` on the
/// same line before the next URL, so a password holding spaces, quotes,
/// `@`, `#`, `/`, `?`, `%` or non-ASCII is hidden whole. (A `:` and an `@`
/// that do not belong to a password, as in `http://host:80/ and me@x`,
/// hide the text between them.)
///
/// ```
/// use appenv_config::redact_url;
///
/// assert_eq!(redact_url("mysql://root:pw@db/app"), "mysql://root:[REDACTED]@db/app");
/// assert_eq!(
///     redact_url("postgres://app@db/app?password=pw&sslmode=require"),
///     "postgres://app@db/app?password=[REDACTED]&sslmode=require"
/// );
/// assert_eq!(redact_url("redis://:p w@cache:6379"), "redis://:[REDACTED]@cache:6379");
/// assert_eq!(redact_url("https://h/v1?key=abc&page=2"), "https://h/v1?key=[REDACTED]&page=2");
/// assert_eq!(redact_url("https://example.com/a@b"), "https://example.com/a@b");
/// ```
pub fn redact_url(text: &str) -> Cow<'_, str> {
    // (start, end) byte ranges to replace, in order.
    let mut masks: Vec<(usize, usize)> = Vec::new();
    let mut search = 0usize;
    while let Some(found) = text[search..].find("://") {
        let sep = search + found;
        let auth_start = sep + 3;
        search = auth_start;
        let scheme_start = scheme_start(text, sep);
        if scheme_start == sep {
            continue;
        }
        let line_end = text[auth_start..]
            .find(['\n', '\r'])
            .map_or(text.len(), |i| auth_start + i);
        let bound = next_url_start(text, auth_start, line_end);
        let region = &text[auth_start..bound];
        let rest_start = match region.rfind('@') {
            Some(at) => {
                let at = auth_start + at;
                if let Some(colon) = text[auth_start..at].find(':') {
                    let pw_start = auth_start + colon + 1;
                    if at > pw_start && &text[pw_start..at] != REDACTED {
                        masks.push((pw_start, at));
                    }
                }
                at + 1
            }
            None => auth_start,
        };
        let url_end = text[rest_start..bound]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .map_or(bound, |i| rest_start + i);
        query_masks(text, rest_start, url_end, &mut masks);
        search = search.max(url_end.min(bound));
    }
    if masks.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (start, end) in masks {
        if start < done {
            continue;
        }
        out.push_str(&text[done..start]);
        out.push_str(REDACTED);
        done = end;
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

/// Where the scheme that ends at `sep` (the index of `://`) starts.
fn scheme_start(text: &str, sep: usize) -> usize {
    let bytes = text.as_bytes();
    let mut start = sep;
    while start > 0
        && (bytes[start - 1].is_ascii_alphanumeric() || b"+-.".contains(&bytes[start - 1]))
    {
        start -= 1;
    }
    start
}

/// Where the next URL on the line starts (its scheme after white space, a
/// quote, `(`, `<`, `=` or `,`), or `line_end`.
fn next_url_start(text: &str, from: usize, line_end: usize) -> usize {
    let mut search = from;
    while let Some(found) = text[search..line_end].find("://") {
        let sep = search + found;
        let scheme_start = scheme_start(text, sep);
        let starts_a_url = scheme_start < sep
            && scheme_start > from
            && text[..scheme_start].ends_with(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | '(' | '<' | '=' | ',')
            });
        if starts_a_url {
            return scheme_start;
        }
        search = sep + 3;
    }
    line_end
}

/// Masks the values of secret query parameters in `text[start..end]`.
fn query_masks(text: &str, start: usize, end: usize, masks: &mut Vec<(usize, usize)>) {
    let Some(q) = text[start..end].find('?') else {
        return;
    };
    let query_start = start + q + 1;
    let query_end = text[query_start..end]
        .find('#')
        .map_or(end, |h| query_start + h);
    let mut pos = query_start;
    for pair in text[query_start..query_end].split('&') {
        if let Some(eq) = pair.find('=') {
            let (value_start, value_end) = (pos + eq + 1, pos + pair.len());
            if is_sensitive_param(&pair[..eq])
                && value_end > value_start
                && &text[value_start..value_end] != REDACTED
            {
                masks.push((value_start, value_end));
            }
        }
        pos += pair.len() + 1;
    }
}

/// Masks every value of a `name=value,name=value` header list (the form of
/// `OTEL_EXPORTER_OTLP_HEADERS`), keeping the names. Every value is masked,
/// not only those with a sensitive name: exporters' headers are
/// credentials more often than not (`x-honeycomb-team`,
/// `lightstep-access-token`, `uptrace-dsn`). A piece without `=` belongs to
/// the value before it (an unencoded comma) and is dropped with it.
///
/// ```
/// use appenv_config::redact_header_list;
///
/// assert_eq!(
///     redact_header_list("api-key=abc123,x-honeycomb-team=def"),
///     "api-key=[REDACTED],x-honeycomb-team=[REDACTED]"
/// );
/// ```
pub fn redact_header_list(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for item in text.split(',') {
        match item.split_once('=') {
            Some((name, value)) if value.trim().is_empty() => out.push(format!("{name}={value}")),
            Some((name, _)) => out.push(format!("{name}={REDACTED}")),
            None if out.is_empty() => out.push(item.to_owned()),
            None => {}
        }
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_text_without_urls_borrowed() {
        assert!(matches!(redact_url("plain text"), Cow::Borrowed(_)));
        assert!(matches!(redact_url("https://h/p?page=1"), Cow::Borrowed(_)));
        assert_eq!(
            redact_url("a postgres://u:x@h/db and mysql://r:y@m/db"),
            "a postgres://u:[REDACTED]@h/db and mysql://r:[REDACTED]@m/db"
        );
    }
}
