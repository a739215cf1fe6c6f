//! Reading the file sources: TOML config files (with the line of every
//! key), `.env` files and `NAME_FILE` secret files.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{Error, MAX_SECRET_FILE_BYTES};
use crate::provenance::Source;

/// One variable from the process environment or a `.env` file.
#[derive(Debug, Clone)]
pub(crate) struct RawVar {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) source: Source,
}

/// A parsed TOML file: the tree and every leaf with its line.
#[derive(Debug)]
pub(crate) struct TomlFile {
    pub(crate) tree: Json,
    pub(crate) leaves: Vec<(String, usize, Json)>,
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Reads a TOML file; `Ok(None)` when it does not exist.
pub(crate) fn read_toml(path: &Path) -> Result<Option<TomlFile>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::ReadFile {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse_toml(path, &text).map(Some)
}

pub(crate) fn parse_toml(path: &Path, text: &str) -> Result<TomlFile, Error> {
    let parse_error = |err: toml::de::Error| Error::Parse {
        path: path.to_owned(),
        line: err.span().map_or(1, |span| line_of(text, span.start)),
        message: first_line(err.message()),
    };
    let table = DeTable::parse(text).map_err(parse_error)?;
    let mut leaves = Vec::new();
    let tree = table_to_json(text, "", table.get_ref(), &mut leaves);
    Ok(TomlFile { tree, leaves })
}

/// The first line of a parser message: TOML errors quote the offending
/// source line below it, which may hold a secret.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().to_owned()
}

fn table_to_json(
    text: &str,
    prefix: &str,
    table: &DeTable<'_>,
    leaves: &mut Vec<(String, usize, Json)>,
) -> Json {
    let mut map = Map::new();
    for (key, value) in table {
        let name = key.get_ref().to_string();
        let full = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let json = match value.get_ref() {
            DeValue::Table(inner) => table_to_json(text, &full, inner, leaves),
            _ => {
                let json = value_to_json(value);
                leaves.push((full, line_of(text, key.span().start), json.clone()));
                json
            }
        };
        map.insert(name, json);
    }
    Json::Object(map)
}

fn value_to_json(value: &Spanned<DeValue<'_>>) -> Json {
    match value.get_ref() {
        DeValue::String(s) => Json::String(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            let (digits, negative) = match digits.strip_prefix('-') {
                Some(rest) => (rest.to_owned(), true),
                None => (digits.trim_start_matches('+').to_owned(), false),
            };
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => Json::from(if negative { -n } else { n }),
                Err(_) => Json::String(i.as_str().to_owned()),
            }
        }
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Json::String(f.as_str().to_owned()), Json::Number),
        DeValue::Boolean(b) => Json::Bool(*b),
        DeValue::Datetime(d) => Json::String(d.to_string()),
        DeValue::Array(items) => Json::Array(items.iter().map(value_to_json).collect()),
        DeValue::Table(table) => {
            let mut ignored = Vec::new();
            table_to_json("", "", table, &mut ignored)
        }
    }
}

/// Reads a `.env` file into variables; a missing file yields none.
/// `${NAME}` resolves through `lookup` (the loader's variables and what
/// earlier `.env` files set), then earlier lines of this file.
pub(crate) fn read_dotenv(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<RawVar>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::ReadFile {
                path: path.to_owned(),
                source,
            });
        }
    };
    let entries = crate::dotenv::parse(&text, lookup).map_err(|err| Error::Parse {
        path: path.to_owned(),
        line: err.line,
        message: format!("{} (column {})", err.message, err.column),
    })?;
    Ok(entries
        .into_iter()
        .map(|entry| RawVar {
            source: Source::Dotenv {
                path: path.to_owned(),
                line: entry.line,
                var: entry.name.clone(),
            },
            name: entry.name,
            value: entry.value,
        })
        .collect())
}

/// Reads a `NAME_FILE` secret file of at most [`MAX_SECRET_FILE_BYTES`],
/// trimming one trailing newline (`\n` or `\r\n`).
pub(crate) fn read_secret_file(var: &str, path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let io_error = |source| Error::SecretFile {
        var: var.to_owned(),
        path: PathBuf::from(path),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    // Read one byte past the cap rather than trusting the metadata: a
    // FIFO or a /proc file reports no size.
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(Error::SecretFileTooLarge {
            var: var.to_owned(),
            path: PathBuf::from(path),
            limit: MAX_SECRET_FILE_BYTES,
        });
    }
    let mut text = String::from_utf8(bytes).map_err(|_| Error::NotUnicode {
        var: format!("{var}_FILE ({})", path.display()),
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// The non-empty values of a `.env.example` file: placeholders that must
/// never reach production as real secrets. Unreadable or missing: none.
pub(crate) fn read_placeholders(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    dotenvy::from_read_iter(text.as_bytes())
        .filter_map(Result::ok)
        .map(|(_, value)| value)
        .filter(|value| !value.trim().is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_leaves_carry_lines() {
        let text = "# c\nport = 1\n\n[database]\nurl = \"x\"\nlist = [1, 2]\n";
        let file = parse_toml(Path::new("f.toml"), text).unwrap();
        let mut lines: Vec<_> = file
            .leaves
            .iter()
            .map(|(k, l, _)| (k.as_str(), *l))
            .collect();
        lines.sort_by_key(|(_, line)| *line);
        assert_eq!(
            lines,
            vec![("port", 2), ("database.url", 5), ("database.list", 6)]
        );
        assert_eq!(file.tree["database"]["list"], serde_json::json!([1, 2]));
    }

    #[test]
    fn toml_error_names_line_without_echoing_source() {
        let text = "a = 1\nsecret = \"hunter2\" oops\n";
        let err = parse_toml(Path::new("config/x.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("malformed config/x.toml:2:"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn dotenv_lines_and_parse_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "# x\nA=1\nexport B=\"two\"\n").unwrap();
        let vars = read_dotenv(&path, &|_| None).unwrap();
        assert_eq!(vars.len(), 2);
        assert_eq!(vars[1].value, "two");
        assert!(matches!(&vars[1].source, Source::Dotenv { line: 3, .. }));

        std::fs::write(&path, "A=1\nB='sentinel-unterminated\n").unwrap();
        let err = read_dotenv(&path, &|_| None).unwrap_err().to_string();
        assert!(err.contains(".env:2"), "{err}");
        assert!(!err.contains("sentinel"), "{err}");

        // Blank lines and comments before the bad line do not shift it.
        std::fs::write(&path, "A=1\n\n# note\n\nB='sentinel-unterminated\n").unwrap();
        let err = read_dotenv(&path, &|_| None).unwrap_err().to_string();
        assert!(err.contains(".env:5"), "{err}");
    }

    #[test]
    fn secret_file_trims_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "value\n\n").unwrap();
        assert_eq!(read_secret_file("X", &path).unwrap(), "value\n");
        std::fs::write(&path, "value\r\n").unwrap();
        assert_eq!(read_secret_file("X", &path).unwrap(), "value");
    }
}
