//! The suite's rule for missing tools (tests/common/skip.rs), checked on a tool that cannot
//! exist: the test fails unless `BITCRAPS_TEST_ALLOW_SKIP=1`, and an allowed skip reaches the
//! terminal and the skip log even though libtest hides the output of passing tests.

mod common;

use common::{child_output, is_child, ALLOW_SKIP, SKIP_LOG};

const NO_SUCH_TOOL: &str = "bitcraps-test-no-such-tool";

/// The fixture the other tests run in a child process; on its own it does nothing.
#[test]
fn fixture_needs_a_missing_tool() {
    if !is_child("fixture_needs_a_missing_tool") {
        return;
    }
    if common::tool_missing(NO_SUCH_TOOL) {
        return;
    }
    panic!("{NO_SUCH_TOOL} was found");
}

#[test]
fn a_missing_tool_fails_the_test_by_default() {
    let (status, out) = child_output("fixture_needs_a_missing_tool", &[(ALLOW_SKIP, "0")], true);
    assert!(!status.success(), "{out}");
    assert!(
        out.contains(NO_SUCH_TOOL) && out.contains(ALLOW_SKIP),
        "the failure names the tool and the way out: {out}"
    );
}

#[test]
fn an_allowed_skip_is_shown_and_logged_even_when_output_is_captured() {
    let log = tempfile::NamedTempFile::new().expect("temp file");
    let log_path = log.path().to_string_lossy().into_owned();
    let (status, out) =
        child_output("fixture_needs_a_missing_tool", &[(ALLOW_SKIP, "1"), (SKIP_LOG, log_path.as_str())], true);
    assert!(status.success() && out.contains("1 passed"), "{out}");
    let line = format!("SKIPPED fixture_needs_a_missing_tool: the `{NO_SUCH_TOOL}` command is missing");
    assert!(out.contains(&line), "the skip reached the terminal despite capture: {out}");
    let logged = std::fs::read_to_string(log.path()).expect("skip log");
    assert!(logged.contains(&line), "the skip log has it: {logged}");
}
