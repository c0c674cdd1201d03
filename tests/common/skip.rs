//! What a test does when an external tool it needs is missing: it fails, unless the person
//! running the suite said skipping is fine (`BITCRAPS_TEST_ALLOW_SKIP=1`). An allowed skip is
//! written straight to the terminal and to a skip log, never only into libtest's capture
//! (which hides the output of passing tests), so a green run cannot hide a skipped one.

use std::io::Write;
use std::process::Command;

/// The variable that allows skipping a test whose tool is missing.
pub const ALLOW_SKIP: &str = "BITCRAPS_TEST_ALLOW_SKIP";

/// Where allowed skips are appended; `.ci/run` points it at a file it prints at the end.
pub const SKIP_LOG: &str = "BITCRAPS_TEST_SKIP_LOG";

/// Whether the environment allows skipping (`BITCRAPS_TEST_ALLOW_SKIP=1`).
pub fn skipping_allowed() -> bool {
    std::env::var(ALLOW_SKIP).is_ok_and(|v| v.trim() == "1")
}

/// The skip log: `$BITCRAPS_TEST_SKIP_LOG`, else a file in cargo's target tmp directory.
pub fn skip_log_path() -> std::path::PathBuf {
    match std::env::var_os(SKIP_LOG) {
        Some(p) if !p.is_empty() => p.into(),
        _ => std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.log"),
    }
}

/// Decides the fate of a test that needs `what`, which is missing: panics (the test fails)
/// naming what is missing and how to get it, unless skipping is allowed; then records the
/// skip where a human sees it and returns `true` (the caller returns early).
pub fn skip_for_missing(what: &str, how_to_get_it: &str) -> bool {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    if !skipping_allowed() {
        panic!("{test}: {what} is required and missing ({how_to_get_it}; `bash .ci/run` installs it). Set {ALLOW_SKIP}=1 to skip such tests instead.");
    }
    let line = format!("SKIPPED {test}: {what} is missing ({how_to_get_it})\n");
    // Straight to the file descriptor: `eprintln!` would land in libtest's capture, which is
    // only shown for failing tests.
    let _ = std::io::stderr().write_all(line.as_bytes());
    let path = skip_log_path();
    let logged = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = logged {
        let _ = writeln!(std::io::stderr(), "(could not append to the skip log {}: {e})", path.display());
    }
    true
}

/// Whether the command `tool` is missing from `PATH`: the test fails, unless skipping is
/// allowed, in which case the skip is recorded and the caller should return.
pub fn tool_missing(tool: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    !found && skip_for_missing(&format!("the `{tool}` command"), "see .ci/run for the package")
}

/// Whether `python3` cannot import `module`: like [`tool_missing`].
pub fn python_module_missing(module: &str) -> bool {
    let found =
        Command::new("python3").args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success());
    !found && skip_for_missing(&format!("the Python module `{module}`"), "python3 -m pip install it")
}
