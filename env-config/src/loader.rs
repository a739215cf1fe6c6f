//! loader
/// Loader.
#[derive(Debug)]
pub struct Loader;
/// Loaded.
#[derive(Debug)]
pub struct Loaded;
