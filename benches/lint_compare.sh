#!/usr/bin/env bash
# Runs appenv-migrate's PostgreSQL lint and squawk's linter alone (the
# squawk-linter crate with its default rules, what squawk's CLI runs) on the
# labelled corpus in migrate/tests/lint_corpus/postgres and prints the
# comparison table recorded in BENCHMARKS.md. Exits non-zero when squawk
# flags a dangerous file appenv does not.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p appenv-benches --bin lint-compare
