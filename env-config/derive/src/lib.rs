//! `#[derive(Section)]` for [appenv-config](https://docs.rs/appenv-config):
//! a configuration section's per-environment defaults, variable aliases,
//! secrets, database URLs and policy rules declared on its fields.
//!
//! Use it through `appenv_config::Section` (the `derive` feature, on by
//! default), not through this crate: the generated code names
//! `::appenv_config` items, and the two crates are released together. The
//! guide with a running example is in the appenv-config crate docs
//! ("Deriving `Section`"); the attribute reference is on [`Section`](macro@Section).
//!
//! Minimum supported Rust version: 1.95.

mod case;
mod expand;
mod model;

/// Derives `appenv_config::Section` for a struct with named fields.
///
/// `defaults(env)` builds every field from its attributes, and
/// `register(reg)` declares each field's sub-section, aliases, secret and
/// database URL under the key serde reads it from (the field name after
/// `#[serde(rename = …)]` and the struct's `#[serde(rename_all = …)]`),
/// then each rule, in the order they are written.
///
/// # Field attributes: `#[config(…)]`
///
/// | attribute | generated |
/// |---|---|
/// | (none) | default `Default::default()` |
/// | `section` | the field's type is a `Section`: default `T::defaults(env)`, `reg.section::<T>("field")` |
/// | `default = expr` | default `expr` in every environment |
/// | `local = expr`, `staging = expr`, `production = expr` | the default in that environment; the others use `default` (or `Default::default()` without one) |
/// | `default_fn = path` | default `path(env)`, a `fn(AppEnv) -> T`; on a `section` field, it replaces `T::defaults(env)` |
/// | `secret` | `reg.secret("field")`: required, long and no placeholder in production; redacted everywhere |
/// | `database_url` | `reg.database_url("field")`: the `database.*` rules; password redacted |
/// | `alias = "VAR"` (repeatable) | `reg.alias("VAR", "field")` |
/// | `alias_inverted = "VAR"` (repeatable) | `reg.alias_inverted("VAR", "field")`, for a `bool` whose variable means the opposite (`DISABLE_X`) |
///
/// A string literal default goes through `Into`, so `default = "x"` works
/// for a `String`; any other expression must have the field's type. A
/// default is evaluated only in the environment it is for.
///
/// Sub-sections are marked explicitly with `section`: a derive cannot see
/// whether a type implements `Section`, and a plain value field of a
/// section type would silently lose the section's aliases and rules. A
/// `#[serde(flatten)]` section registers its keys at the parent's level
/// (serde buffers flattened values, so variables set only its string keys).
///
/// # Struct attributes
///
/// `#[config(rule(id = "service.thing", check = path))]` (repeatable) adds
/// `reg.rule("service.thing", path)`: `path` is a
/// `fn(&mut Check<'_>, &Self) -> Result<(), Error>` (or a closure), and the
/// id is the stable name users waive the rule by (`policy.allow`); it may
/// also be the path of a `&'static str` constant.
///
/// # Refused at compile time
///
/// Each with a message at the offending attribute: unknown keys (with the
/// closest known one), a repeated key, `section` with `default`/`local`/
/// `staging`/`production`/`secret`/`database_url`/`alias`/`alias_inverted`,
/// `default_fn` with `default`/`local`/`staging`/`production`, a `default`
/// that no environment uses, an alias that is not a string literal or not
/// a variable name, a variable used as two aliases, a rule without an id
/// or a check, a literal rule id that is not lowercase and dotted, a
/// repeated rule id, key attributes on a `#[serde(skip)]` or (non-section)
/// `#[serde(flatten)]` field, and enums, unions, tuple and unit structs.
#[proc_macro_derive(Section, attributes(config))]
pub fn derive_section(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
