//! Resident memory of this process.

/// Resident set size of this process in MiB, from `/proc/self/statm`
/// (Linux); `None` elsewhere.
pub fn resident_mb() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // 4 KiB pages: the page size of every Linux target this runs on.
    Some(pages * 4096.0 / (1024.0 * 1024.0))
}
