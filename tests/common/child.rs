//! One test of the current test binary run again in a child process, with an environment of
//! its own: the way to test what `init()` reads from the (process-global) environment.

use std::process::Command;

/// Set in the child to the name of the test it runs.
const CHILD: &str = "BITCRAPS_TEST_CHILD";

/// Whether this process is the child [`run_in_child`] started for `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|v| v == test)
}

/// Runs `test` alone in a child process whose `OTEL_*` and `BITCRAPS_*` variables are exactly
/// `env` (the test-control ones, `BITCRAPS_TEST_*`, pass through unless `env` sets them), and
/// returns its exit status and its stdout and stderr. With `capture`, libtest captures the
/// test's output as usual (shown only if it fails).
pub fn child_output(test: &str, env: &[(&str, &str)], capture: bool) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    // `--include-ignored`: a test marked as a known bug still runs when asked for by name.
    cmd.args([test, "--exact", "--include-ignored", "--test-threads=1"]);
    if !capture {
        cmd.arg("--nocapture");
    }
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if (k.starts_with("OTEL_") || k.starts_with("BITCRAPS_")) && !k.starts_with("BITCRAPS_TEST_") {
            cmd.env_remove(&*k);
        }
    }
    cmd.envs(env.iter().copied()).env(CHILD, test);
    let out = cmd.output().expect("run the test binary again");
    (out.status, format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// [`child_output`] without capture, failing unless the child ran that one test and it
/// passed. Returns the child's output.
pub fn run_in_child(test: &str, env: &[(&str, &str)]) -> String {
    let (status, text) = child_output(test, env, false);
    // A name that matches no test would "pass" with zero tests run.
    assert!(status.success() && text.contains("1 passed"), "{test} in a child process with {env:?}:\n{text}");
    text
}
