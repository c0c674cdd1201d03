//! Notification channel throughput (filled in below).
fn main() {}
