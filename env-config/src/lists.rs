//! Serde helper for list settings that come from TOML arrays and from one
//! comma-separated variable alike.

use serde::{Deserialize, Deserializer};

/// Deserializes a list of strings, or one comma-separated string
/// (`RATE_LIMIT_ALLOW="10.0.0.0/8, key:ops"`): each item is trimmed and empty
/// items are dropped
/// (`#[serde(deserialize_with = "appenv_config::deserialize_string_list")]`).
///
/// # Errors
/// The deserializer's error for a value that is neither a string nor a list
/// of strings.
pub fn deserialize_string_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    let items = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Many(items) => items,
        OneOrMany::One(s) => s.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}
