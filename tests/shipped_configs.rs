//! The shipped Prometheus and Alertmanager files work as the docs say: every `promtool` and
//! `amtool` command in README.md and docs/ runs as written, the Prometheus configuration
//! scrapes the node once and itself on its own port and sends alerts to Alertmanager, and
//! scripts/local-stack.sh brings up a node, Prometheus and Alertmanager on loopback, prints
//! where to look, and stops cleanly.

mod common;

use common::{tool_missing, KillOnDrop};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The port of the first `http://127.0.0.1:PORT` on the banner line that starts with `name`.
fn banner_port(banner: &str, name: &str) -> u16 {
    banner
        .lines()
        .find(|l| l.trim_start().starts_with(name))
        .and_then(|l| l.split("http://127.0.0.1:").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the banner gives {name}'s port:\n{banner}"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Shell lines of the fenced code blocks of a Markdown file (trailing `# comments` removed).
fn shell_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            in_block = !in_block && matches!(lang.trim(), "" | "sh" | "bash" | "shell" | "console");
            continue;
        }
        if in_block {
            let command = trimmed.split(" #").next().unwrap_or("").trim().trim_start_matches("$ ");
            if !command.is_empty() {
                out.push(command.to_string());
            }
        }
    }
    out
}

fn docs() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    for entry in std::fs::read_dir(repo().join("docs")).expect("docs/").flatten() {
        if entry.path().extension().is_some_and(|e| e == "md") {
            files.push(entry.path());
        }
    }
    files
}

#[test]
fn every_promtool_and_amtool_command_in_the_docs_runs_as_written() {
    if tool_missing("promtool") || tool_missing("amtool") {
        return;
    }
    let mut ran = Vec::new();
    for doc in docs() {
        for command in shell_lines(&doc) {
            if !(command.starts_with("promtool ") || command.starts_with("amtool ")) {
                continue;
            }
            // Through a shell, as a reader would paste it (globs included), from the repository root.
            let out = Command::new("sh").arg("-c").arg(&command).current_dir(repo()).output().expect("run sh");
            assert!(
                out.status.success(),
                "{}: `{command}` failed:\n{}{}",
                doc.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran.push(command);
        }
    }
    for expected in ["promtool check config deploy/prometheus.yml", "promtool check rules deploy/prometheus/*.yml"] {
        assert!(ran.iter().any(|c| c == expected), "the docs show `{expected}`; ran {ran:?}");
    }
    assert!(ran.iter().any(|c| c.starts_with("amtool check-config")), "ran {ran:?}");
}

#[test]
fn prometheus_config_scrapes_the_node_once_itself_on_9091_and_alerts_to_alertmanager() {
    let text = std::fs::read_to_string(repo().join("deploy/prometheus.yml")).expect("deploy/prometheus.yml");
    let cfg: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    let jobs = cfg["scrape_configs"].as_sequence().expect("scrape_configs");
    let targets = |job: &serde_yaml::Value| -> Vec<String> {
        job["static_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|s| s["targets"].as_sequence().into_iter().flatten())
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect()
    };
    let on_9090: Vec<&str> = jobs
        .iter()
        .filter(|j| targets(j).iter().any(|t| t.ends_with(":9090")))
        .filter_map(|j| j["job_name"].as_str())
        .collect();
    assert_eq!(on_9090, ["bitcraps"], "only the node's job may scrape port 9090");
    let own = jobs.iter().find(|j| j["job_name"].as_str() == Some("prometheus")).expect("a self-scrape job");
    assert_eq!(targets(own), ["localhost:9091"], "Prometheus scrapes itself on its own port");
    let managers = cfg["alerting"]["alertmanagers"].as_sequence().expect("an alerting: block");
    assert!(managers.iter().flat_map(targets).any(|t| t.ends_with(":9093")), "{managers:?}");
    let rule_files = cfg["rule_files"].as_sequence().expect("rule_files");
    assert_eq!(rule_files.len(), 1);
    assert_eq!(rule_files[0].as_str(), Some("prometheus/*.yml"), "the rules directory, relative to the file");
    // The directory it loads holds rule files only, so a glob over it never meets this file.
    for entry in std::fs::read_dir(repo().join("deploy/prometheus")).expect("deploy/prometheus").flatten() {
        let body = std::fs::read_to_string(entry.path()).expect("read");
        let doc: serde_yaml::Value = serde_yaml::from_str(&body).expect("YAML");
        assert!(doc["groups"].is_sequence(), "{} is a rule file", entry.path().display());
    }
}

/// What the script printed, line by line, read on a thread.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn get_json(url: &str) -> Option<Value> {
    let out = Command::new("curl").args(["-fsS", "--max-time", "5", url]).output().ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn local_stack_script_serves_node_prometheus_and_alertmanager_and_stops_cleanly() {
    if tool_missing("prometheus") || tool_missing("prometheus-alertmanager") || tool_missing("curl") {
        return;
    }
    let mut child = Command::new("bash")
        .arg(repo().join("scripts/local-stack.sh"))
        .args(["--rate", "200", "--seed", "9"])
        .env("BITCRAPS_NODE_BIN", env!("CARGO_BIN_EXE_bitcraps-node"))
        .env("BITCRAPS_STATE_DIR", "off")
        .env("BITCRAPS_STACK_NODE_PORT", "0")
        .env("BITCRAPS_STACK_HEALTH_PORT", "0")
        .env("BITCRAPS_STACK_PROMETHEUS_PORT", "0")
        .env("BITCRAPS_STACK_ALERTMANAGER_PORT", "0")
        .env("BITCRAPS_STACK_SCRAPE_INTERVAL", "1s")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start scripts/local-stack.sh");
    let lines = lines_of(&mut child);
    let mut child = KillOnDrop(child);
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.contains("Watch the node")) {
        match lines.recv_timeout(Duration::from_secs(120)) {
            Ok(l) => printed.push(l),
            Err(_) => panic!("the stack did not come up; it printed:\n{}", printed.join("\n")),
        }
    }
    let banner = printed.join("\n");
    // Every port was 0: each process bound its own, and the banner says which.
    let (node, prom, am) =
        (banner_port(&banner, "node"), banner_port(&banner, "Prometheus"), banner_port(&banner, "Alertmanager"));
    let health = banner
        .lines()
        .find(|l| l.trim_start().starts_with("node"))
        .and_then(|l| l.split("(health: http://127.0.0.1:").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("the banner gives the health port:\n{banner}"));
    assert!([node, health, prom, am].iter().all(|p| *p != 0), "{banner}");
    for url in [
        format!("http://127.0.0.1:{node}/metrics"),
        format!("http://127.0.0.1:{health}/ready"),
        format!("http://127.0.0.1:{prom}/targets"),
        format!("http://127.0.0.1:{am}/"),
    ] {
        assert!(banner.contains(&url), "the banner says where to look ({url}):\n{banner}");
    }
    let data_dir = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("logs"))
        .and_then(|rest| rest.trim().split("/{").next())
        .map(PathBuf::from)
        .expect("the banner names the logs directory");
    assert!(data_dir.is_dir(), "{}", data_dir.display());

    // Prometheus scrapes the node (and itself), loaded the shipped rules, found Alertmanager.
    let start = Instant::now();
    let up = loop {
        let targets = get_json(&format!("http://127.0.0.1:{prom}/api/v1/targets"));
        let health_of = |job: &str| {
            targets.as_ref().and_then(|t| {
                t["data"]["activeTargets"]
                    .as_array()?
                    .iter()
                    .find(|x| x["labels"]["job"] == job)
                    .and_then(|x| x["health"].as_str().map(str::to_string))
            })
        };
        if health_of("bitcraps").as_deref() == Some("up") && health_of("prometheus").as_deref() == Some("up") {
            break targets;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "targets never up: {targets:?}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let jobs: Vec<&str> = up
        .as_ref()
        .and_then(|t| t["data"]["activeTargets"].as_array())
        .map(|a| a.iter().filter_map(|x| x["labels"]["job"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(jobs.iter().filter(|j| **j == "bitcraps").count(), 1, "the node is scraped once: {jobs:?}");
    let rules = get_json(&format!("http://127.0.0.1:{prom}/api/v1/rules")).expect("rules API");
    let groups = rules["data"]["groups"].as_array().map_or(0, Vec::len);
    assert!(groups > 0, "the shipped rules are loaded: {rules}");
    let managers = get_json(&format!("http://127.0.0.1:{prom}/api/v1/alertmanagers")).expect("alertmanagers API");
    let active = managers["data"]["activeAlertmanagers"].as_array().cloned().unwrap_or_default();
    assert!(
        active.iter().any(|m| m["url"].as_str().is_some_and(|u| u.contains(&format!("127.0.0.1:{am}")))),
        "{managers}"
    );
    let status = get_json(&format!("http://127.0.0.1:{am}/api/v2/status")).expect("Alertmanager answers");
    assert!(status["config"]["original"].is_string(), "{status}");

    // SIGTERM to the script stops all three and removes their data.
    let pid = i32::try_from(child.0.id()).expect("pid");
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the script did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("local-stack: stopped")), "{rest:?}");
    for port in [node, health, prom, am] {
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "port {port} still served after stop");
    }
    assert!(!data_dir.exists(), "{} removed", data_dir.display());
}
