//! The proc macro behind `appenv_migrate::embed_migrations!`: it lists a
//! migration directory at compile time. Use it through appenv-migrate,
//! whose `embed_migrations!` turns the list into `Migrations`; this crate
//! emits only `core` paths, so the service depends on neither refinery nor
//! this crate by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proc_macro::TokenStream;
use quote::quote;
use syn::LitStr;

/// `embed_files!("migrations")` expands to
/// `&[(file_name, sql, Option<undo_sql>), …]` ordered by version, each SQL
/// text an `include_str!` of the file (so editing a file rebuilds the
/// crate). Files are found as refinery finds them: `V{n}__{name}.sql` and
/// `U{n}__{name}.sql` in the directory and its sub-directories, relative to
/// the crate root; `V{n}__{name}.down.sql` beside a migration is its undo
/// script. An undo script without its migration, two files of one version
/// and an unreadable directory are compile errors.
#[proc_macro]
pub fn embed_files(input: TokenStream) -> TokenStream {
    let dir = syn::parse_macro_input!(input as LitStr);
    match files(&dir.value()) {
        Ok(files) => {
            let entries = files.into_iter().map(|f| {
                let name = f.name;
                let sql = f.path.display().to_string();
                let undo = match f.undo {
                    Some(undo) => {
                        let undo = undo.display().to_string();
                        quote!(::core::option::Option::Some(::core::include_str!(#undo)))
                    }
                    None => quote!(::core::option::Option::None),
                };
                quote!((#name, ::core::include_str!(#sql), #undo))
            });
            quote!(&[#(#entries),*]).into()
        }
        Err(message) => syn::Error::new(dir.span(), message)
            .to_compile_error()
            .into(),
    }
}

struct File {
    name: String,
    path: PathBuf,
    undo: Option<PathBuf>,
}

fn files(dir: &str) -> Result<Vec<File>, String> {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or("CARGO_MANIFEST_DIR is not set: build with cargo")?;
    let location = root.join(dir);
    let mut found = Vec::new();
    walk(&location, &mut found).map_err(|err| {
        format!(
            "cannot read the migration directory {}: {err}",
            location.display()
        )
    })?;
    let mut migrations: BTreeMap<u64, File> = BTreeMap::new();
    let mut undo = Vec::new();
    for path in found {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(stem) = name.strip_suffix(".down.sql") {
            if version_of(stem).is_some() {
                undo.push((stem.to_owned(), path));
            }
            continue;
        }
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let Some(version) = version_of(stem) else {
            continue;
        };
        if let Some(other) = migrations.get(&version) {
            return Err(format!(
                "two migrations have version {version}: {} and {}",
                other.path.display(),
                path.display()
            ));
        }
        migrations.insert(
            version,
            File {
                name: name.to_owned(),
                path,
                undo: None,
            },
        );
    }
    for (stem, path) in undo {
        let owner = migrations
            .values_mut()
            .find(|m| m.name.strip_suffix(".sql") == Some(stem.as_str()));
        match owner {
            Some(m) if m.name.starts_with('V') => m.undo = Some(path),
            _ => {
                return Err(format!(
                    "{} is an undo script without its migration {stem}.sql",
                    path.display()
                ));
            }
        }
    }
    Ok(migrations.into_values().collect())
}

/// The version of `V{n}__{name}` or `U{n}__{name}` (refinery's pattern).
fn version_of(stem: &str) -> Option<u64> {
    let rest = stem.strip_prefix('V').or_else(|| stem.strip_prefix('U'))?;
    let (version, name) = rest.split_once("__")?;
    let valid = !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    valid.then(|| version.parse().ok()).flatten()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
