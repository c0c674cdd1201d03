//! Logging benchmark (filled in below).
fn main() {}
