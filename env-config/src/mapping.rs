//! How variables map onto keys: the shapes of the known keys (learned from
//! the serialized defaults), the flat, aliased and `__` names, and the
//! conversion of one source's variables into a layer of the configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Map, Value as Json};

use crate::env::APP_ENV_VAR;
use crate::error::Error;
use crate::loader::CONFIG_DIR_VAR;
use crate::policy::PolicyFinding;
use crate::provenance::{Provenance, Source, flatten};
use crate::section::Schema;
use crate::sources::{self, RawVar};

/// The shapes of the known keys, learned from the serialized defaults.
#[derive(Debug, Default)]
pub(crate) struct Shapes {
    /// Every known dotted key (leaves and tables).
    pub(crate) known: BTreeSet<String>,
    /// Keys whose default is a list: a variable for them is split on commas.
    pub(crate) lists: BTreeSet<String>,
    /// Leaf keys, in order.
    pub(crate) leaves: Vec<String>,
}

impl Shapes {
    pub(crate) fn from_defaults(defaults: &Json) -> Shapes {
        let mut shapes = Shapes::default();
        let mut leaves = Vec::new();
        flatten("", defaults, &mut leaves);
        for (key, value) in leaves {
            let mut parent = key.as_str();
            while let Some(dot) = parent.rfind('.') {
                parent = &parent[..dot];
                shapes.known.insert(parent.to_owned());
            }
            if value.is_array() {
                shapes.lists.insert(key.clone());
            }
            shapes.known.insert(key.clone());
            shapes.leaves.push(key);
        }
        shapes
    }
}

impl Shapes {
    /// For a key (a `__` variable's or a file's) is not a known setting (nor under a known
    /// map or optional table), the closest known key.
    pub(crate) fn unknown<'s>(&'s self, key: &str) -> Option<Option<&'s str>> {
        if self.known.contains(key) {
            return None;
        }
        let mut parent = key;
        while let Some(dot) = parent.rfind('.') {
            parent = &parent[..dot];
            if self.leaves.iter().any(|leaf| leaf == parent) {
                return None;
            }
        }
        let limit = (key.len() / 5).clamp(1, 3);
        let closest = self
            .leaves
            .iter()
            .map(|known| (strsim::damerau_levenshtein(key, known), known))
            .filter(|(d, _)| *d <= limit)
            .min()
            .map(|(_, known)| known.as_str());
        Some(closest)
    }
}

/// How variable names map onto keys.
#[derive(Debug)]
pub(crate) struct Mapping<'a> {
    /// Flat name (without prefix) → (key, inverted).
    flat: BTreeMap<String, (String, bool)>,
    prefix: Option<&'a str>,
}

/// Variables that every shell or platform sets and that must never be
/// taken for a typo of a configuration variable.
const NEVER_SUGGEST: &[&str] = &[
    "HOME", "PATH", "USER", "SHELL", "TERM", "PWD", "OLDPWD", "LANG", "HOSTNAME", "LOGNAME",
    "TMPDIR", "TZ", "MAIL", "EDITOR", "PAGER", "DISPLAY", "SHLVL", "COLUMNS", "LINES",
];

impl<'a> Mapping<'a> {
    pub(crate) fn new(schema: &Schema, shapes: &Shapes, prefix: Option<&'a str>) -> Mapping<'a> {
        let mut flat = BTreeMap::new();
        for key in &shapes.leaves {
            let name = key.replace('.', "_").to_ascii_uppercase();
            flat.entry(name).or_insert_with(|| (key.clone(), false));
        }
        for alias in &schema.aliases {
            flat.insert(alias.var.clone(), (alias.key.clone(), alias.inverted));
        }
        Mapping { flat, prefix }
    }

    /// The name to match, without the prefix; `None` if the prefix is
    /// configured and missing.
    fn strip<'n>(&self, name: &'n str) -> Option<&'n str> {
        match self.prefix {
            None => Some(name),
            Some(prefix) => name.strip_prefix(prefix),
        }
    }

    /// The key `name` sets (`name` already stripped of the prefix).
    fn resolve(&self, name: &str, shapes: &Shapes) -> Option<(String, bool)> {
        if name.contains("__") {
            let key = name
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                .join(".");
            let top = key.split('.').next().unwrap_or_default();
            return shapes.known.contains(top).then_some((key, false));
        }
        self.flat.get(&name.to_ascii_uppercase()).cloned()
    }

    /// How specific a variable name is, for ordering variables of one
    /// source: an alias (0), the full path joined with `_` (1), `__`
    /// nesting (2). Unknown names sort first.
    pub(crate) fn specificity(&self, name: &str, shapes: &Shapes) -> u8 {
        let Some(stripped) = self.strip(name) else {
            return 0;
        };
        let base = match self.resolve(stripped, shapes) {
            Some(_) => stripped,
            None => match stripped.strip_suffix("_FILE") {
                Some(base) if self.resolve(base, shapes).is_some() => base,
                _ => return 0,
            },
        };
        if base.contains("__") {
            return 2;
        }
        match self.flat.get(&base.to_ascii_uppercase()) {
            Some((key, _)) if key.replace('.', "_").eq_ignore_ascii_case(base) => 1,
            _ => 0,
        }
    }

    fn suggest(&self, name: &str) -> Option<&str> {
        if name.len() < 6 || NEVER_SUGGEST.contains(&name) || name.contains("SERVICE_") {
            return None;
        }
        let upper = name.to_ascii_uppercase();
        let limit = (upper.len() / 5).clamp(1, 3);
        self.flat
            .keys()
            .map(|known| (strsim::damerau_levenshtein(&upper, known), known))
            .filter(|(d, _)| *d > 0 && *d <= limit)
            .min()
            .map(|(_, known)| known.as_str())
    }

    /// Turns the variables of one source (a `.env` file, or the process
    /// environment) into two layers, its values and then the secret files
    /// it names, recording provenance. `NAME` and `NAME_FILE` in the same
    /// source conflict; in different sources the higher one wins.
    pub(crate) fn apply(
        &self,
        vars: &[RawVar],
        shapes: &Shapes,
        provenance: &mut Provenance,
        warnings: &mut Vec<PolicyFinding>,
    ) -> Result<(Json, Json), Error> {
        let mut env_tree = Json::Object(Map::new());
        let mut file_tree = Json::Object(Map::new());
        let present: BTreeMap<&str, &Source> =
            vars.iter().map(|v| (v.name.as_str(), &v.source)).collect();
        let mut file_entries = Vec::new();

        // The last variable that set each key, to warn when two names of
        // this source set the same key differently.
        let mut set_by: BTreeMap<String, (String, Json)> = BTreeMap::new();
        for var in vars {
            if var.name == APP_ENV_VAR || var.name == CONFIG_DIR_VAR {
                if matches!(var.source, Source::Dotenv { .. }) {
                    warnings.push(PolicyFinding::warning(
                        "config.process-env-only",
                        "",
                        var.source.clone(),
                        format!(
                            "{} is read only from the process environment; this line is ignored",
                            var.name
                        ),
                        format!("set {} in the process environment", var.name),
                    ));
                }
                continue;
            }
            let Some(name) = self.strip(&var.name) else {
                continue;
            };
            if let Some((key, inverted)) = self.resolve(name, shapes) {
                let value = convert(&var.value, &key, inverted, shapes, &var.source)?;
                if name.contains("__")
                    && let Some(closest) = shapes.unknown(&key)
                {
                    let hint = closest.map_or_else(String::new, |known| {
                        format!(
                            "; did you mean {}{}?",
                            self.prefix.unwrap_or_default(),
                            known.replace('.', "__").to_ascii_uppercase()
                        )
                    });
                    warnings.push(PolicyFinding::warning(
                        "config.unknown-key",
                        &key,
                        var.source.clone(),
                        format!(
                            "variable {} sets `{key}`, which is not a known setting{hint}",
                            var.name
                        ),
                        "remove the variable or correct its name",
                    ));
                }
                if let Some((prev_var, prev_value)) = set_by.get(&key)
                    && *prev_value != value
                {
                    warnings.push(PolicyFinding::warning(
                        "config.name-clash",
                        &key,
                        var.source.clone(),
                        format!(
                            "{prev_var} and {} both set `{key}`; {} wins (the more specific name)",
                            var.name, var.name
                        ),
                        format!("set only one of {prev_var} and {}", var.name),
                    ));
                }
                set_by.insert(key.clone(), (var.name.clone(), value.clone()));
                insert_path(&mut env_tree, &key, value.clone());
                provenance.record(key, var.source.clone(), value);
                continue;
            }
            if let Some(base) = name.strip_suffix("_FILE")
                && let Some((key, inverted)) = self.resolve(base, shapes)
            {
                let full_base = var.name.strip_suffix("_FILE").unwrap_or(base);
                if let Some(value_origin) = present.get(full_base) {
                    return Err(Error::Conflict {
                        var: full_base.to_owned(),
                        value_origin: Box::new((*value_origin).clone()),
                        file_origin: Box::new(var.source.clone()),
                    });
                }
                file_entries.push((full_base.to_owned(), var, key, inverted));
                continue;
            }
            if let Some(suggestion) = self.suggest(name) {
                let prefix = self.prefix.unwrap_or_default();
                warnings.push(PolicyFinding::warning(
                    "config.unknown-variable",
                    "",
                    var.source.clone(),
                    format!(
                        "variable {} is not a known setting; did you mean {prefix}{suggestion}?",
                        var.name
                    ),
                    format!("rename it to {prefix}{suggestion}, or unset it"),
                ));
            }
        }

        for (base, var, key, inverted) in file_entries {
            let path = PathBuf::from(&var.value);
            let contents = sources::read_secret_file(&base, &path)?;
            let source = Source::SecretFile {
                var: var.name.clone(),
                path,
            };
            let value = convert(&contents, &key, inverted, shapes, &source)?;
            // `PORT_FILE` beside `SERVER_PORT`: not the `NAME`/`NAME_FILE`
            // conflict, but one of them is silently unused without this.
            if let Some((other, _)) = set_by.get(&key) {
                warnings.push(PolicyFinding::warning(
                    "config.name-clash",
                    &key,
                    source.clone(),
                    format!(
                        "{} and {other} both set `{key}`; the secret file named by {} wins",
                        var.name, var.name
                    ),
                    format!("set only one of {} and {other}", var.name),
                ));
            }
            insert_path(&mut file_tree, &key, value.clone());
            provenance.record(key, source, value);
        }
        Ok((env_tree, file_tree))
    }

    /// Whether a variable that is not valid UTF-8 would have set something:
    /// `APP_ENV`, `APP_CONFIG_DIR`, a known key, or a `NAME_FILE` for one.
    pub(crate) fn reads(&self, name: &str, shapes: &Shapes) -> bool {
        if name == APP_ENV_VAR || name == CONFIG_DIR_VAR {
            return true;
        }
        let Some(name) = self.strip(name) else {
            return false;
        };
        self.resolve(name, shapes).is_some()
            || name
                .strip_suffix("_FILE")
                .is_some_and(|base| self.resolve(base, shapes).is_some())
    }
}

/// Splits a comma-separated list, trimming items and dropping empty ones.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A variable's value as a configuration value: a string (typed later,
/// leniently), a list for list keys, or an inverted boolean.
pub(crate) fn convert(
    raw: &str,
    key: &str,
    inverted: bool,
    shapes: &Shapes,
    source: &Source,
) -> Result<Json, Error> {
    if inverted {
        let value = parse_bool(raw).ok_or_else(|| Error::Invalid {
            key: key.to_owned(),
            origin: source.clone(),
            message: "expected a boolean (true/false, 1/0, yes/no, on/off)".to_owned(),
        })?;
        return Ok(Json::Bool(!value));
    }
    if shapes.lists.contains(key) {
        return Ok(Json::Array(
            split_list(raw).into_iter().map(Json::String).collect(),
        ));
    }
    Ok(Json::String(raw.to_owned()))
}

fn parse_bool(raw: &str) -> Option<bool> {
    const TRUE: &[&str] = &["true", "yes", "1", "on"];
    const FALSE: &[&str] = &["false", "no", "0", "off"];
    let raw = raw.trim();
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(raw)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(raw)) {
        Some(false)
    } else {
        None
    }
}

/// Inserts `value` at the dotted `key`, creating tables on the way.
pub(crate) fn insert_path(tree: &mut Json, key: &str, value: Json) {
    let mut node = tree;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if !node.is_object() {
            *node = Json::Object(Map::new());
        }
        let Json::Object(map) = node else {
            return;
        };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), value);
            return;
        }
        node = map
            .entry(part.to_owned())
            .or_insert_with(|| Json::Object(Map::new()));
    }
}
