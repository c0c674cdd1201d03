//! The monitoring reference's alerting snippets (examples/alerting_seed.rs) compile against
//! this crate and run: the system starts on the init reader and the custom rule fires.

#[path = "../examples/alerting_seed.rs"]
mod seed;

#[test]
fn the_seed_snippets_compile_and_run() {
    if let Err(e) = seed::main() {
        panic!("examples/alerting_seed.rs failed: {e}");
    }
}
