//! Full measurement or the short run CI does.

/// Whether this is a short run: criterion's test mode, chosen by `--test`
/// (`cargo bench -- --test`) or by the absence of `--bench` (`cargo test
/// --benches`). The non-criterion benches (memory, Redis throughput) use it
/// to shrink their inputs the same way.
pub fn short_run() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}
