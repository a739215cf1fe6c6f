//! The `#[config(...)]` and `#[serde(...)]` attributes of a struct, read and
//! checked: what the generated `impl Section` is made from.

use proc_macro2::{Span, TokenTree};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Expr, ExprLit, Fields, Generics, Ident, Lit, LitStr, Path, Token,
    Type,
};

use crate::case;

/// The field attribute keys, in the order error messages list them.
const FIELD_KEYS: &[&str] = &[
    "section",
    "default",
    "local",
    "staging",
    "production",
    "default_fn",
    "secret",
    "database_url",
    "alias",
    "alias_inverted",
];

/// The struct attribute keys.
const STRUCT_KEYS: &[&str] = &["rule"];

/// A struct deriving `Section`.
pub(crate) struct Input {
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    pub(crate) fields: Vec<Field>,
    pub(crate) rules: Vec<Rule>,
}

/// `#[config(rule(id = …, check = …))]`.
pub(crate) struct Rule {
    pub(crate) id: Expr,
    pub(crate) check: Expr,
}

/// One named field.
pub(crate) struct Field {
    pub(crate) member: Ident,
    pub(crate) ty: Type,
    /// The key serde reads the field from (after `rename`/`rename_all`);
    /// empty for a flattened section.
    pub(crate) key: String,
    pub(crate) role: Role,
    pub(crate) secret: bool,
    pub(crate) database_url: bool,
    pub(crate) aliases: Vec<LitStr>,
    pub(crate) inverted: Vec<LitStr>,
}

/// Whether a field is a sub-section or a value.
pub(crate) enum Role {
    /// `#[config(section)]`: defaults from `T::defaults(env)` (or
    /// `default_fn`), registered with `reg.section::<T>(key)`.
    Section { default_fn: Option<Path> },
    /// A plain value.
    Value(Defaults),
}

/// Where a value field's default comes from.
pub(crate) enum Defaults {
    /// `Default::default()`.
    TypeDefault,
    /// `default_fn = path`: `path(env)`.
    Fn(Path),
    /// `default = …` and/or `local`/`staging`/`production = …`.
    PerEnv(Box<PerEnv>),
}

/// The default expressions of one field; `None` falls back to `base`, and
/// `base` to `Default::default()`.
pub(crate) struct PerEnv {
    pub(crate) base: Option<Expr>,
    pub(crate) local: Option<Expr>,
    pub(crate) staging: Option<Expr>,
    pub(crate) production: Option<Expr>,
}

/// Collects every error instead of stopping at the first.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

impl Input {
    /// Reads and checks the struct; every misuse is reported at once, each
    /// at the attribute it is about.
    pub(crate) fn from_derive(input: &DeriveInput) -> syn::Result<Input> {
        let mut errors = Errors::default();
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Some(named),
                Fields::Unnamed(_) => {
                    errors.at(
                        input.ident.span(),
                        format!(
                            "`#[derive(Section)]` needs a struct with named fields, and `{}` is a tuple struct: every field becomes a configuration key named after it",
                            input.ident
                        ),
                    );
                    None
                }
                Fields::Unit => {
                    errors.at(
                        input.ident.span(),
                        format!(
                            "`#[derive(Section)]` needs a struct with named fields, and `{}` is a unit struct: every field becomes a configuration key named after it",
                            input.ident
                        ),
                    );
                    None
                }
            },
            Data::Enum(data) => {
                errors.at(
                    data.enum_token.span,
                    format!(
                        "`#[derive(Section)]` needs a struct with named fields, and `{}` is an enum: a section is a table of keys; implement `Section` by hand for other shapes",
                        input.ident
                    ),
                );
                None
            }
            Data::Union(data) => {
                errors.at(
                    data.union_token.span,
                    format!(
                        "`#[derive(Section)]` needs a struct with named fields, and `{}` is a union",
                        input.ident
                    ),
                );
                None
            }
        };

        let rules = parse_struct_attrs(&input.attrs, &mut errors);
        let rename_all = serde_rename_all(&input.attrs);
        let mut fields = Vec::new();
        if let Some(named) = named {
            for field in &named.named {
                let Some(ident) = &field.ident else { continue };
                fields.push(parse_field(
                    ident,
                    field,
                    rename_all.as_deref(),
                    &mut errors,
                ));
            }
        }
        check_alias_clashes(&fields, &mut errors);
        errors.finish()?;
        Ok(Input {
            ident: input.ident.clone(),
            generics: input.generics.clone(),
            fields,
            rules,
        })
    }
}

/// The raw `#[config(...)]` keys of one field, with where each was written.
#[derive(Default)]
struct FieldAttrs {
    section: Option<Span>,
    default: Option<(Span, Expr)>,
    local: Option<(Span, Expr)>,
    staging: Option<(Span, Expr)>,
    production: Option<(Span, Expr)>,
    default_fn: Option<(Span, Path)>,
    secret: Option<Span>,
    database_url: Option<Span>,
    aliases: Vec<(Span, LitStr)>,
    inverted: Vec<(Span, LitStr)>,
}

fn parse_field(
    ident: &Ident,
    field: &syn::Field,
    rename_all: Option<&str>,
    errors: &mut Errors,
) -> Field {
    let mut attrs = FieldAttrs::default();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("config")) {
        if let Err(err) = attr.parse_nested_meta(|meta| parse_field_key(&meta, &mut attrs)) {
            errors.push(err);
        }
    }
    let serde = serde_field(&field.attrs);
    let name = ident.unraw().to_string();
    let key = serde
        .rename
        .clone()
        .or_else(|| rename_all.and_then(|rule| case::rename_field(rule, &name)))
        .unwrap_or(name);

    let keyed: Vec<(Span, &str)> = [
        attrs.secret.map(|s| (s, "secret")),
        attrs.database_url.map(|s| (s, "database_url")),
    ]
    .into_iter()
    .flatten()
    .chain(attrs.aliases.iter().map(|(s, _)| (*s, "alias")))
    .chain(attrs.inverted.iter().map(|(s, _)| (*s, "alias_inverted")))
    .collect();

    let role = if let Some(section) = attrs.section {
        for (span, what) in [
            (attrs.default.as_ref().map(|d| d.0), "default"),
            (attrs.local.as_ref().map(|d| d.0), "local"),
            (attrs.staging.as_ref().map(|d| d.0), "staging"),
            (attrs.production.as_ref().map(|d| d.0), "production"),
        ] {
            if let Some(span) = span {
                errors.at(
                    span,
                    format!(
                        "`{what}` cannot be combined with `section`: a section field takes its defaults from `Section::defaults(env)` of its type; to adjust them, use `default_fn = path` (a `fn(AppEnv) -> T`)"
                    ),
                );
            }
        }
        for (span, what) in &keyed {
            let message = match *what {
                "secret" | "database_url" => format!(
                    "`{what}` cannot be combined with `section`: mark the keys inside the section's own type with `#[config({what})]`"
                ),
                _ => format!(
                    "`{what}` cannot be used on a `section` field: a section's variables are declared on its own fields (`#[config({what} = \"…\")]` inside the section's type)"
                ),
            };
            errors.at(*span, message);
        }
        if serde.skip {
            errors.at(
                section,
                "a `section` field cannot be `#[serde(skip)]`: its keys could never be set",
            );
        }
        Role::Section {
            default_fn: attrs.default_fn.map(|(_, path)| path),
        }
    } else {
        if serde.flatten || serde.skip {
            let why = if serde.flatten {
                "is `#[serde(flatten)]`, so it has no key of its own (mark a flattened section with `#[config(section)]`)"
            } else {
                "is `#[serde(skip)]`, so no variable can set it"
            };
            for (span, what) in &keyed {
                errors.at(
                    *span,
                    format!("`{what}` cannot be used here: this field {why}"),
                );
            }
        }
        Role::Value(value_defaults(&mut attrs, errors))
    };

    Field {
        member: ident.clone(),
        ty: field.ty.clone(),
        key: if serde.flatten { String::new() } else { key },
        role,
        secret: attrs.secret.is_some(),
        database_url: attrs.database_url.is_some(),
        aliases: attrs.aliases.into_iter().map(|(_, lit)| lit).collect(),
        inverted: attrs.inverted.into_iter().map(|(_, lit)| lit).collect(),
    }
}

fn value_defaults(attrs: &mut FieldAttrs, errors: &mut Errors) -> Defaults {
    if let Some((_, path)) = attrs.default_fn.take() {
        for (span, what) in [
            (attrs.default.as_ref().map(|d| d.0), "default"),
            (attrs.local.as_ref().map(|d| d.0), "local"),
            (attrs.staging.as_ref().map(|d| d.0), "staging"),
            (attrs.production.as_ref().map(|d| d.0), "production"),
        ] {
            if let Some(span) = span {
                errors.at(
                    span,
                    format!(
                        "`{what}` cannot be combined with `default_fn`: the function gives the default for every environment"
                    ),
                );
            }
        }
        return Defaults::Fn(path);
    }
    if let (Some((span, _)), Some(_), Some(_), Some(_)) = (
        &attrs.default,
        &attrs.local,
        &attrs.staging,
        &attrs.production,
    ) {
        errors.at(
            *span,
            "`default` is never used: `local`, `staging` and `production` are all given",
        );
    }
    let take = |slot: &mut Option<(Span, Expr)>| slot.take().map(|(_, expr)| expr);
    let base = take(&mut attrs.default);
    let local = take(&mut attrs.local);
    let staging = take(&mut attrs.staging);
    let production = take(&mut attrs.production);
    if base.is_none() && local.is_none() && staging.is_none() && production.is_none() {
        return Defaults::TypeDefault;
    }
    Defaults::PerEnv(Box::new(PerEnv {
        base,
        local,
        staging,
        production,
    }))
}

fn parse_field_key(meta: &ParseNestedMeta<'_>, attrs: &mut FieldAttrs) -> syn::Result<()> {
    let span = meta.path.span();
    let Some(name) = meta.path.get_ident().map(Ident::to_string) else {
        return Err(meta.error(unknown_field_key("this path")));
    };
    match name.as_str() {
        "section" => flag(meta, &name, &mut attrs.section),
        "secret" => flag(meta, &name, &mut attrs.secret),
        "database_url" => flag(meta, &name, &mut attrs.database_url),
        "default" | "local" | "staging" | "production" => {
            let expr: Expr = meta.value()?.parse()?;
            let slot = match name.as_str() {
                "default" => &mut attrs.default,
                "local" => &mut attrs.local,
                "staging" => &mut attrs.staging,
                _ => &mut attrs.production,
            };
            once(slot, &name, span, (span, expr))
        }
        "default_fn" => {
            let value = meta.value()?;
            let path = if value.peek(LitStr) {
                let lit: LitStr = value.parse()?;
                lit.parse::<Path>()?
            } else {
                value.parse::<Path>().map_err(|err| {
                    syn::Error::new(
                        err.span(),
                        "`default_fn` takes the path of a `fn(AppEnv) -> T`: `default_fn = path::to::function`",
                    )
                })?
            };
            once(&mut attrs.default_fn, &name, span, (span, path))
        }
        "alias" | "alias_inverted" => {
            let lit = variable_name(meta, &name)?;
            let list = if name == "alias" {
                &mut attrs.aliases
            } else {
                &mut attrs.inverted
            };
            list.push((span, lit));
            Ok(())
        }
        "rule" => Err(meta.error(
            "`rule` is a struct attribute: put `#[config(rule(id = \"…\", check = path))]` on the struct",
        )),
        other => Err(meta.error(unknown_field_key(other))),
    }
}

fn unknown_field_key(name: &str) -> String {
    let mut message = format!("unknown `config` field attribute `{name}`");
    if let Some(close) = closest(name, FIELD_KEYS) {
        message.push_str(&format!(" (did you mean `{close}`?)"));
    }
    message.push_str("; expected one of ");
    message.push_str(&list(FIELD_KEYS));
    message
}

fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn flag(meta: &ParseNestedMeta<'_>, name: &str, slot: &mut Option<Span>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!(
            "`{name}` takes no value: write `#[config({name})]`"
        )));
    }
    once(slot, name, meta.path.span(), meta.path.span())
}

fn once<T>(slot: &mut Option<T>, name: &str, span: Span, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("duplicate `{name}`")));
    }
    *slot = Some(value);
    Ok(())
}

/// The string literal of `alias = "…"`, checked to be a variable name.
fn variable_name(meta: &ParseNestedMeta<'_>, name: &str) -> syn::Result<LitStr> {
    let expr: Expr = meta.value()?.parse()?;
    let Expr::Lit(ExprLit {
        lit: Lit::Str(lit), ..
    }) = &expr
    else {
        return Err(syn::Error::new(
            expr.span(),
            format!(
                "`{name}` takes the variable name as a string literal: `{name} = \"API_TOKEN\"`"
            ),
        ));
    };
    let var = lit.value();
    let valid = !var.is_empty()
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{var}` is not a variable name: use ASCII letters, digits and `_`, not starting with a digit"
            ),
        ));
    }
    Ok(lit.clone())
}

fn parse_struct_attrs(attrs: &[Attribute], errors: &mut Errors) -> Vec<Rule> {
    let mut rules = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("config")) {
        let outcome = attr.parse_nested_meta(|meta| {
            let name = meta
                .path
                .get_ident()
                .map(Ident::to_string)
                .unwrap_or_else(|| "this path".to_owned());
            if name == "rule" {
                rules.push(parse_rule(&meta)?);
                return Ok(());
            }
            if FIELD_KEYS.contains(&name.as_str()) {
                return Err(meta.error(format!(
                    "`{name}` is a field attribute: put it on the field it is about"
                )));
            }
            Err(meta.error(format!(
                "unknown `config` struct attribute `{name}`; expected {}: `#[config(rule(id = \"…\", check = path))]`",
                list(STRUCT_KEYS)
            )))
        });
        if let Err(err) = outcome {
            errors.push(err);
        }
    }
    let mut seen: Vec<String> = Vec::new();
    for rule in &rules {
        if let Expr::Lit(ExprLit {
            lit: Lit::Str(id), ..
        }) = &rule.id
        {
            if seen.contains(&id.value()) {
                errors.at(id.span(), format!("duplicate rule id `{}`", id.value()));
            }
            seen.push(id.value());
        }
    }
    rules
}

fn parse_rule(meta: &ParseNestedMeta<'_>) -> syn::Result<Rule> {
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(
            "`rule` takes an id and a check: `#[config(rule(id = \"service.thing\", check = path))]`",
        ));
    }
    let mut id: Option<Expr> = None;
    let mut check: Option<Expr> = None;
    meta.parse_nested_meta(|inner| {
        let span = inner.path.span();
        if inner.path.is_ident("id") {
            let expr: Expr = inner.value()?.parse()?;
            if let Expr::Lit(ExprLit { lit, .. }) = &expr {
                check_rule_id(lit)?;
            }
            once(&mut id, "id", span, expr)
        } else if inner.path.is_ident("check") {
            let expr: Expr = inner.value()?.parse()?;
            once(&mut check, "check", span, expr)
        } else {
            Err(inner.error(
                "unknown `rule` key; expected `id = \"…\"` (the stable rule id) and `check = path` (a `fn(&mut Check<'_>, &Self) -> Result<(), Error>`)",
            ))
        }
    })?;
    match (id, check) {
        (Some(id), Some(check)) => Ok(Rule { id, check }),
        (None, _) => Err(meta.error("`rule` needs `id = \"…\"`, the stable id users waive it by")),
        (_, None) => Err(meta.error(
            "`rule` needs `check = path`, a `fn(&mut Check<'_>, &Self) -> Result<(), Error>`",
        )),
    }
}

/// A literal rule id: a string of lowercase letters, digits, `.`, `-`, `_`.
fn check_rule_id(lit: &Lit) -> syn::Result<()> {
    let Lit::Str(lit) = lit else {
        return Err(syn::Error::new(
            lit.span(),
            "a rule `id` is a string (`id = \"service.thing\"`) or the path of a `&'static str` constant",
        ));
    };
    let id = lit.value();
    let valid = !id.is_empty()
        && !id.starts_with('.')
        && !id.ends_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new(
            lit.span(),
            format!(
                "`{id}` is not a rule id: use lowercase letters, digits, `-` and `_`, in dotted parts (`service.thing`)"
            ),
        ))
    }
}

/// Two fields (or one field twice) declaring the same variable.
fn check_alias_clashes(fields: &[Field], errors: &mut Errors) {
    let mut seen: Vec<(String, &Ident)> = Vec::new();
    for field in fields {
        for lit in field.aliases.iter().chain(&field.inverted) {
            let var = lit.value().to_ascii_uppercase();
            if let Some((_, owner)) = seen.iter().find(|(v, _)| *v == var) {
                errors.at(
                    lit.span(),
                    format!("the variable `{var}` is already an alias of `{owner}`"),
                );
            } else {
                seen.push((var, &field.member));
            }
        }
    }
}

/// The `#[serde(...)]` facts of a field that change its key.
#[derive(Default)]
struct SerdeField {
    rename: Option<String>,
    flatten: bool,
    skip: bool,
}

/// Reads the serde field attributes the keys depend on. Anything serde
/// itself would reject is left for serde to report.
fn serde_field(attrs: &[Attribute]) -> SerdeField {
    let mut out = SerdeField::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                if let Some(name) = deserialize_name(&meta)? {
                    out.rename = Some(name);
                }
            } else if meta.path.is_ident("flatten") {
                out.flatten = true;
            } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_deserializing") {
                out.skip = true;
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        });
    }
    out
}

/// The struct's `#[serde(rename_all = …)]` rule (its deserialize side).
fn serde_rename_all(attrs: &[Attribute]) -> Option<String> {
    let mut out = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                if let Some(rule) = deserialize_name(&meta)? {
                    out = Some(rule);
                }
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        });
    }
    out
}

/// `name = "x"` or `name(serialize = "…", deserialize = "x")`: the
/// deserialize side, which is what the loader reads.
fn deserialize_name(meta: &ParseNestedMeta<'_>) -> syn::Result<Option<String>> {
    if meta.input.peek(Token![=]) {
        let lit: LitStr = meta.value()?.parse()?;
        return Ok(Some(lit.value()));
    }
    let mut found = None;
    meta.parse_nested_meta(|inner| {
        let lit: LitStr = inner.value()?.parse()?;
        if inner.path.is_ident("deserialize") {
            found = Some(lit.value());
        }
        Ok(())
    })?;
    Ok(found)
}

/// Consumes the value of a serde key this derive does not need.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _: TokenTree = meta.input.parse()?;
    }
    Ok(())
}

/// The key within two edits of `name`, for "did you mean".
fn closest<'a>(name: &str, keys: &[&'a str]) -> Option<&'a str> {
    keys.iter()
        .map(|key| (edit_distance(name, key), *key))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Input> {
        Input::from_derive(&syn::parse2(tokens).expect("valid Rust"))
    }

    fn error(tokens: proc_macro2::TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(err) => err
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn keys_follow_serde_renames() {
        let input = parse(quote::quote! {
            #[serde(rename_all = "camelCase")]
            struct S {
                max_connections: u32,
                #[serde(rename = "URL")]
                url: String,
                #[serde(rename(serialize = "out", deserialize = "in"))]
                both: u8,
                r#type: String,
                #[serde(default, with = "x", skip_serializing_if = "f")]
                other_field: u8,
            }
        })
        .unwrap();
        let keys: Vec<_> = input.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["maxConnections", "URL", "in", "type", "otherField"]);
    }

    #[test]
    fn a_flattened_section_registers_at_the_parent_key() {
        let input = parse(quote::quote! {
            struct S { #[serde(flatten)] #[config(section)] inner: Inner }
        })
        .unwrap();
        assert_eq!(input.fields[0].key, "");
        assert!(matches!(input.fields[0].role, Role::Section { .. }));
    }

    #[test]
    fn per_environment_defaults_keep_each_expression() {
        let input = parse(quote::quote! {
            struct S {
                #[config(default = 1, production = 3)]
                a: u8,
                b: u8,
                #[config(default_fn = some::path)]
                c: u8,
            }
        })
        .unwrap();
        match &input.fields[0].role {
            Role::Value(Defaults::PerEnv(per_env))
                if matches!(
                    **per_env,
                    PerEnv {
                        base: Some(_),
                        local: None,
                        staging: None,
                        production: Some(_),
                    }
                ) => {}
            _ => panic!("per-environment defaults expected"),
        }
        assert!(matches!(
            input.fields[1].role,
            Role::Value(Defaults::TypeDefault)
        ));
        assert!(matches!(input.fields[2].role, Role::Value(Defaults::Fn(_))));
    }

    #[test]
    fn every_misuse_is_reported_at_once() {
        let message = error(quote::quote! {
            #[config(secret)]
            struct S {
                #[config(section, default = 1, alias = "X")]
                a: A,
                #[config(defualt = 2)]
                b: u8,
            }
        });
        assert!(
            message.contains("`secret` is a field attribute"),
            "{message}"
        );
        assert!(
            message.contains("`default` cannot be combined with `section`"),
            "{message}"
        );
        assert!(
            message.contains("`alias` cannot be used on a `section` field"),
            "{message}"
        );
        assert!(message.contains("(did you mean `default`?)"), "{message}");
    }

    #[test]
    fn aliases_are_variable_names_used_once() {
        let message = error(quote::quote! {
            struct S {
                #[config(alias = "PORT")]
                a: u16,
                #[config(alias = "port", alias_inverted = "NO-PORT")]
                b: u16,
            }
        });
        assert!(
            message.contains("the variable `PORT` is already an alias of `a`"),
            "{message}"
        );
        assert!(
            message.contains("`NO-PORT` is not a variable name"),
            "{message}"
        );
    }

    #[test]
    fn rules_need_an_id_and_a_check() {
        let message = error(quote::quote! {
            #[config(rule(check = f))]
            #[config(rule(id = "Bad Id", check = f))]
            #[config(rule(id = "a.b", check = f), rule(id = "a.b", check = g))]
            struct S { a: u8 }
        });
        assert!(message.contains("`rule` needs `id = \"…\"`"), "{message}");
        assert!(message.contains("`Bad Id` is not a rule id"), "{message}");
        assert!(message.contains("duplicate rule id `a.b`"), "{message}");
    }

    #[test]
    fn an_unused_base_default_and_conflicting_default_fn_are_refused() {
        let message = error(quote::quote! {
            struct S {
                #[config(default = 0, local = 1, staging = 2, production = 3)]
                a: u8,
                #[config(default_fn = f, production = 3)]
                b: u8,
            }
        });
        assert!(message.contains("`default` is never used"), "{message}");
        assert!(
            message.contains("`production` cannot be combined with `default_fn`"),
            "{message}"
        );
    }

    #[test]
    fn close_keys_are_suggested() {
        assert_eq!(closest("defualt", FIELD_KEYS), Some("default"));
        assert_eq!(closest("aliases", FIELD_KEYS), Some("alias"));
        assert_eq!(closest("colour", FIELD_KEYS), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
