//! serde's `rename_all` rules, applied to field names so that the keys the
//! derive registers are the keys serde reads.

/// Applies the `rename_all` rule `rule` to the snake_case field name
/// `field`, as serde does. `None` for a rule serde does not know (serde
/// reports that itself).
pub(crate) fn rename_field(rule: &str, field: &str) -> Option<String> {
    Some(match rule {
        "lowercase" | "snake_case" => field.to_owned(),
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_ascii_uppercase(),
        "PascalCase" => pascal(field),
        "camelCase" => {
            let pascal = pascal(field);
            let mut chars = pascal.chars();
            match chars.next() {
                Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        }
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.to_ascii_uppercase().replace('_', "-"),
        _ => return None,
    })
}

fn pascal(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut capitalize = true;
    for ch in field.chars() {
        if ch == '_' {
            capitalize = true;
        } else if capitalize {
            out.push(ch.to_ascii_uppercase());
            capitalize = false;
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::rename_field;

    #[test]
    fn every_serde_rule_renames_like_serde() {
        let cases = [
            ("lowercase", "max_tracked_keys"),
            ("snake_case", "max_tracked_keys"),
            ("UPPERCASE", "MAX_TRACKED_KEYS"),
            ("SCREAMING_SNAKE_CASE", "MAX_TRACKED_KEYS"),
            ("PascalCase", "MaxTrackedKeys"),
            ("camelCase", "maxTrackedKeys"),
            ("kebab-case", "max-tracked-keys"),
            ("SCREAMING-KEBAB-CASE", "MAX-TRACKED-KEYS"),
        ];
        for (rule, expected) in cases {
            assert_eq!(
                rename_field(rule, "max_tracked_keys").as_deref(),
                Some(expected),
                "{rule}"
            );
        }
        assert_eq!(rename_field("camelCase", "port").as_deref(), Some("port"));
        assert_eq!(rename_field("Title Case", "port"), None);
    }
}
