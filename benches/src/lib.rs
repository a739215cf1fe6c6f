//! Benchmarks of the appenv crates against the peers a user would pick
//! instead; see `BENCHMARKS.md`.
