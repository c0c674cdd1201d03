//! The e-mail channel against a real SMTP server on loopback: Python's `aiosmtpd` (PyPI;
//! `.ci/run` installs it) storing into a Maildir, the received message parsed by Python's
//! own `email` package. Skipped locally when aiosmtpd is missing, a failure under CI.

mod notify_support;

use bitcraps_otel::alerting::channels::{DeliveryOptions, EmailNotifier, SmtpSecurity};
use bitcraps_otel::alerting::Notifier;
use notify_support::{firing, resolved};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Smtpd {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn aiosmtpd_missing() -> bool {
    let ok = Command::new("python3").args(["-c", "import aiosmtpd"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "aiosmtpd is required under CI (.ci/run installs it)");
        eprintln!("skipping: python3 -m aiosmtpd not available (pip install aiosmtpd)");
    }
    !ok
}

/// Starts aiosmtpd through `notify_support/smtpd.py`, which binds port 0 itself and prints
/// the port it got: nothing else can take the port between choosing and binding it.
fn start_smtpd() -> Smtpd {
    let maildir = tempfile::tempdir().expect("tempdir");
    let script = maildir.path().join("smtpd.py");
    std::fs::write(&script, include_str!("notify_support/smtpd.py")).expect("write smtpd.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(maildir.path().join("box"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn aiosmtpd");
    let mut line = String::new();
    let read = child.stdout.take().map(|out| BufReader::new(out).read_line(&mut line));
    let port = line.trim().parse::<u16>().ok();
    let Some(port) = port else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not report its port (read {read:?}: {line:?})");
    };
    Smtpd { child, port, maildir }
}

fn messages(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join("box").join("new")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

async fn wait_messages(dir: &Path, n: usize) -> Vec<PathBuf> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let m = messages(dir);
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    messages(dir)
}

/// The message as Python's `email` package reads it: headers and decoded parts.
fn parse(path: &Path) -> serde_json::Value {
    let script = r#"
import email, email.policy, json, sys
m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
parts = [{"type": p.get_content_type(), "content": p.get_content()} for p in m.walk() if not p.is_multipart()]
print(json.dumps({"subject": m["subject"], "from": m["from"], "to": m["to"], "date": m["date"],
                  "message_id": m["message-id"], "type": m.get_content_type(), "parts": parts}))
"#;
    let out = Command::new("python3").args(["-c", script]).arg(path).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn fast() -> DeliveryOptions {
    DeliveryOptions {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_real_smtp_server_as_multipart_text_and_html() {
    if aiosmtpd_missing() {
        return;
    }
    let smtpd = start_smtpd();
    let mail = EmailNotifier::new(
        "127.0.0.1",
        "BitCraps Alerts <alerts@bitcraps.test>",
        vec!["oncall@bitcraps.test".into(), "ops@bitcraps.test".into()],
    )
    .with_security(SmtpSecurity::Plaintext)
    .with_port(smtpd.port)
    .with_delivery(fast());
    mail.notify(&firing("mail")).await.expect("delivered");
    mail.notify(&resolved("mail")).await.expect("delivered");
    let files = wait_messages(smtpd.maildir.path(), 2).await;
    assert_eq!(files.len(), 2, "both notifications arrived");
    let mut parsed: Vec<serde_json::Value> = files.iter().map(|f| parse(f)).collect();
    parsed.sort_by_key(|m| m["subject"].as_str().map(|s| s.starts_with("[RESOLVED")));
    let m = &parsed[0];
    assert_eq!(m["subject"], "[FIRING:2] High Game Error Rate");
    assert_eq!(m["from"], "BitCraps Alerts <alerts@bitcraps.test>");
    assert_eq!(m["to"], "oncall@bitcraps.test, ops@bitcraps.test");
    assert!(m["date"].as_str().is_some_and(|d| !d.is_empty()), "a Date header");
    assert!(m["message_id"].as_str().is_some_and(|d| d.contains('@')), "a Message-ID header");
    assert_eq!(m["type"], "multipart/alternative");
    let parts = m["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(parts[0]["type"], "text/plain");
    assert_eq!(parts[1]["type"], "text/html");
    let text = parts[0]["content"].as_str().expect("text");
    let html = parts[1]["content"].as_str().expect("html");
    for needle in [
        "FIRING High Game Error Rate (high) value 0.071, threshold > 0.05",
        "FIRING High Game Error Rate (critical) value 0.2",
        "category=gaming",
    ] {
        assert!(text.contains(needle), "text part lacks {needle}:\n{text}");
    }
    assert!(html.contains("<h2>[FIRING:2] High Game Error Rate</h2>"), "{html}");
    assert!(html.contains("<td>critical</td>") && html.contains("<td>0.071</td><td>&gt; 0.05</td>"), "{html}");
    assert_eq!(parsed[1]["subject"], "[RESOLVED:1] High Game Error Rate");
    assert_eq!(mail.stats().delivered, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_insists_on_starttls_and_sends_nothing_in_clear() {
    if aiosmtpd_missing() {
        return;
    }
    let smtpd = start_smtpd(); // offers no STARTTLS
    let mail = EmailNotifier::new("127.0.0.1", "alerts@bitcraps.test", vec!["oncall@bitcraps.test".into()])
        .with_port(smtpd.port)
        .with_credentials("alerts", "MAILPASSWORD")
        .with_delivery(fast());
    mail.notify(&firing("mail")).await.expect_err("no STARTTLS offered: nothing sent");
    assert_eq!(mail.stats().failed, 1, "{:?}", mail.stats());
    assert_eq!(mail.stats().delivered, 0);
    assert!(messages(smtpd.maildir.path()).is_empty(), "nothing may be delivered without TLS");
}
