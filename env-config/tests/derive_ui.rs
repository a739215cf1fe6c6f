//! Compile-time behaviour of `#[derive(Section)]`: the pass cases build and
//! run from a crate that names only `appenv_config` (and serde), and every
//! misuse fails with the message in the matching `.stderr`, pointing at the
//! offending attribute. Regenerate after an intended change with
//! `TRYBUILD=overwrite cargo test -p appenv-config --test derive_ui` and
//! review the diff.

#[test]
fn derive_section_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/derive/pass/*.rs");
    cases.compile_fail("tests/ui/derive/fail/*.rs");
}
