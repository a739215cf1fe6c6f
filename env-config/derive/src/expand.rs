//! The generated `impl ::appenv_config::Section`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Expr, ExprLit, Ident, Lit, Type};

use crate::model::{Defaults, Field, Input, PerEnv, Role};

/// The `impl Section` for `input`, or the errors (each at the attribute it
/// is about). For a struct with named fields the errors are followed by an
/// impl that only keeps them from being repeated as "`Section` is not
/// implemented" wherever the type is used; other shapes must change anyway.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    match Input::from_derive(input) {
        Ok(model) => generate(&model),
        Err(err) => {
            let errors = err.into_compile_error();
            let named = matches!(
                &input.data,
                syn::Data::Struct(syn::DataStruct {
                    fields: syn::Fields::Named(_),
                    ..
                })
            );
            let fallback = named.then(|| fallback(input));
            quote! { #errors #fallback }
        }
    }
}

fn generate(input: &Input) -> TokenStream {
    // Mixed-site hygiene: user expressions in `default = …` cannot see
    // (or shadow) these two parameters.
    let env = Ident::new("env", Span::mixed_site());
    let reg = Ident::new("reg", Span::mixed_site());
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();

    let defaults = input.fields.iter().map(|field| {
        let member = &field.member;
        let value = default_value(field, &env);
        quote! { #member: #value }
    });
    let uses_env = input.fields.iter().any(|field| match &field.role {
        Role::Section { .. } => true,
        Role::Value(Defaults::TypeDefault) => false,
        Role::Value(Defaults::Fn(_)) => true,
        Role::Value(Defaults::PerEnv(per_env)) => {
            per_env.local.is_some() || per_env.staging.is_some() || per_env.production.is_some()
        }
    });
    let unused_env = (!uses_env).then(|| quote! { let _ = #env; });

    let mut registrations: Vec<TokenStream> = input
        .fields
        .iter()
        .flat_map(|field| registrations(field, &reg))
        .collect();
    registrations.extend(input.rules.iter().map(|rule| {
        let id = &rule.id;
        let check = &rule.check;
        quote_spanned! {check.span()=> #reg.rule(#id, #check); }
    }));
    if registrations.is_empty() {
        registrations.push(quote! { let _ = #reg; });
    }

    quote! {
        #[automatically_derived]
        impl #impl_generics ::appenv_config::Section for #ident #ty_generics #where_clause {
            fn defaults(#env: ::appenv_config::AppEnv) -> Self {
                #unused_env
                Self {
                    #(#defaults,)*
                }
            }

            fn register(#reg: &mut ::appenv_config::Registry<'_, Self>) {
                #(#registrations)*
            }
        }
    }
}

fn default_value(field: &Field, env: &Ident) -> TokenStream {
    let ty = &field.ty;
    match &field.role {
        Role::Section {
            default_fn: Some(path),
        } => quote_spanned! {path.span()=> #path(#env) },
        Role::Section { default_fn: None } => {
            quote_spanned! {ty.span()=> <#ty as ::appenv_config::Section>::defaults(#env) }
        }
        Role::Value(Defaults::TypeDefault) => type_default(ty),
        Role::Value(Defaults::Fn(path)) => quote_spanned! {path.span()=> #path(#env) },
        Role::Value(Defaults::PerEnv(per_env)) => {
            let PerEnv {
                base,
                local,
                staging,
                production,
            } = &**per_env;
            let base = base.as_ref().map_or_else(|| type_default(ty), value);
            if local.is_none() && staging.is_none() && production.is_none() {
                return base;
            }
            let arm = |expr: &Option<Expr>| expr.as_ref().map_or_else(|| base.clone(), value);
            let (local, staging, production) = (arm(local), arm(staging), arm(production));
            quote! {
                match #env {
                    ::appenv_config::AppEnv::Local => #local,
                    ::appenv_config::AppEnv::Staging => #staging,
                    ::appenv_config::AppEnv::Production => #production,
                }
            }
        }
    }
}

fn type_default(ty: &Type) -> TokenStream {
    quote_spanned! {ty.span()=> <#ty as ::core::default::Default>::default() }
}

/// A default expression; a string literal goes through `Into`, so
/// `default = "appenv-rl"` works for a `String` (or a `SecretString`).
fn value(expr: &Expr) -> TokenStream {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(_), ..
        }) => quote_spanned! {expr.span()=> ::core::convert::Into::into(#expr) },
        _ => quote! { #expr },
    }
}

fn registrations(field: &Field, reg: &Ident) -> Vec<TokenStream> {
    let key = &field.key;
    let mut out = Vec::new();
    if let Role::Section { .. } = field.role {
        let ty = &field.ty;
        out.push(quote_spanned! {ty.span()=> #reg.section::<#ty>(#key); });
    }
    for var in &field.aliases {
        out.push(quote! { #reg.alias(#var, #key); });
    }
    for var in &field.inverted {
        out.push(quote! { #reg.alias_inverted(#var, #key); });
    }
    if field.secret {
        out.push(quote! { #reg.secret(#key); });
    }
    if field.database_url {
        out.push(quote! { #reg.database_url(#key); });
    }
    out
}

/// An impl with the struct's shape that is never run: compilation already
/// failed with the errors beside it.
fn fallback(input: &DeriveInput) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics ::appenv_config::Section for #ident #ty_generics #where_clause {
            fn defaults(_: ::appenv_config::AppEnv) -> Self {
                ::core::unreachable!("#[derive(Section)] reported an error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(tokens: TokenStream) -> String {
        derive(&syn::parse2(tokens).expect("valid Rust")).to_string()
    }

    #[test]
    fn fields_and_rules_become_registrations_in_order() {
        let out = expand(quote! {
            #[config(rule(id = "svc.thing", check = check_thing))]
            struct S {
                #[config(section)]
                server: ServerConfig,
                #[config(alias = "API_TOKEN", alias = "TOKEN", secret)]
                token: Option<SecretString>,
                #[config(alias_inverted = "DISABLE_X", default = true)]
                x_enabled: bool,
                #[config(database_url)]
                url: SecretUrl,
            }
        });
        let expected = [
            "reg . section :: < ServerConfig > (\"server\")",
            "reg . alias (\"API_TOKEN\" , \"token\")",
            "reg . alias (\"TOKEN\" , \"token\")",
            "reg . secret (\"token\")",
            "reg . alias_inverted (\"DISABLE_X\" , \"x_enabled\")",
            "reg . database_url (\"url\")",
            "reg . rule (\"svc.thing\" , check_thing)",
        ];
        let mut at = 0;
        for step in expected {
            let found = out[at..]
                .find(step)
                .unwrap_or_else(|| panic!("{step} in {out}"));
            at += found + step.len();
        }
        assert!(out.contains("< ServerConfig as :: appenv_config :: Section > :: defaults (env)"));
    }

    #[test]
    fn per_environment_defaults_fall_back_to_the_base() {
        let out = expand(quote! {
            struct S {
                #[config(default = "0.0.0.0", local = "127.0.0.1")]
                host: String,
                #[config(production = false)]
                debug: bool,
            }
        });
        assert!(
            out.contains(
                "match env { :: appenv_config :: AppEnv :: Local => :: core :: convert :: Into :: into (\"127.0.0.1\") , :: appenv_config :: AppEnv :: Staging => :: core :: convert :: Into :: into (\"0.0.0.0\")"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                ":: appenv_config :: AppEnv :: Staging => < bool as :: core :: default :: Default > :: default () , :: appenv_config :: AppEnv :: Production => false"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_struct_without_declarations_uses_neither_parameter() {
        let out = expand(quote! { struct S { a: u8 } });
        assert!(out.contains("let _ = env ;"), "{out}");
        assert!(out.contains("let _ = reg ;"), "{out}");
    }

    #[test]
    fn attribute_errors_come_with_a_fallback_impl() {
        let out = expand(quote! { struct S { #[config(secrte)] a: u8 } });
        assert!(out.contains("compile_error"), "{out}");
        assert!(
            out.contains("impl :: appenv_config :: Section for S"),
            "{out}"
        );
        // Another shape gets the error alone.
        let out = expand(quote! { enum E { A } });
        assert!(out.contains("compile_error"), "{out}");
        assert!(!out.contains("Section for E"), "{out}");
    }
}
