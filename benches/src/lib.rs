//! Shared helpers of the appenv benchmarks: each bench measures an appenv
//! crate and the peer a user would pick instead in the same criterion group;
//! see `BENCHMARKS.md` at the workspace root for the numbers.
//!
//! Sinks discard everything they are given (console output, spans,
//! metrics), so a bench measures the cost of producing telemetry, not of
//! writing it somewhere.
//!
//! ```
//! // Under `cargo test --benches` (or `cargo bench -- --test`) every bench
//! // runs once, with small inputs.
//! let _short = appenv_benches::short_run();
//! ```

mod http;
mod lint_corpus;
mod migrations;
mod mode;
mod rss;
mod services;
mod sink;

pub use http::{BareService, bare_service, client_ips, request_from, run_requests};
pub use lint_corpus::{CorpusFile, postgres_corpus, squawk_alone};
pub use migrations::{MIGRATION_COUNT, small_migrations};
pub use mode::short_run;
pub use rss::resident_mb;
pub use services::{Service, service_url, unreachable};
pub use sink::{DiscardMetrics, DiscardSpans};
