//! A real Prometheus server as a test fixture: it binds `127.0.0.1:0` itself and the fixture
//! reads the port back from its log, so no other process can take the port in between; its
//! log is kept and shown when a test fails.

use super::{try_http, KillOnDrop, Output, LIVENESS};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

/// A Prometheus server on a loopback port, scraping one target every second, with its storage
/// in a temporary directory; killed (and the directory removed) on drop.
pub struct Prometheus {
    pub addr: SocketAddr,
    pub log: Output,
    _process: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- prometheus log ---\n{}", self.log.tail(100));
        }
    }
}

impl Prometheus {
    /// An instant query: the decoded JSON when Prometheus answers `success`.
    pub fn query(&self, promql: &str) -> Option<serde_json::Value> {
        self.get(&format!("/api/v1/query?query={}", super::encode(promql)))
    }

    /// An instant query evaluated at `time` (Unix seconds).
    pub fn query_at(&self, promql: &str, time: f64) -> Option<serde_json::Value> {
        self.get(&format!("/api/v1/query?query={}&time={time:.3}", super::encode(promql)))
    }

    /// Waits until Prometheus has scraped its target at a time after `t` (Unix seconds, from
    /// [`super::now`]): such a scrape read everything recorded before `t`. Returns that
    /// scrape's timestamp.
    pub fn scraped_after(&self, t: f64) -> f64 {
        // Prometheus may stamp a scrape a few milliseconds after it started (it aligns
        // timestamps to the interval within a tolerance): ask for a clear margin.
        let after = t + 0.05;
        super::wait_for(|| {
            // `timestamp()` of a bare selector is the sample's time (of anything else, the
            // evaluation time); `up` is committed together with the scrape's samples.
            let v = self.query("timestamp(up)")?;
            let ts: f64 = v["data"]["result"][0]["value"][1].as_str()?.parse().ok()?;
            (ts > after).then_some(ts)
        })
        .unwrap_or_else(|| panic!("Prometheus did not scrape its target after {t}; its log:\n{}", self.log.tail(50)))
    }

    /// A GET on the API: the decoded JSON when the status is 200 and the body says `success`.
    pub fn get(&self, path: &str) -> Option<serde_json::Value> {
        let (status, body) = try_http("GET", self.addr, path)?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        (status == 200 && v["status"] == "success").then_some(v)
    }

    /// The `(trace_id, span_id)` labels of the exemplars Prometheus stored for `series` over
    /// the last and next ten minutes; `None` until it answers with at least one.
    pub fn exemplar_ids(&self, series: &str) -> Option<std::collections::BTreeSet<(String, String)>> {
        let now = super::now() as u64;
        let path = format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            super::encode(series),
            now.saturating_sub(600),
            now + 600
        );
        let answer = self.get(&path)?;
        let ids: std::collections::BTreeSet<(String, String)> = answer["data"]
            .as_array()?
            .iter()
            .flat_map(|s| s["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| {
                let labels = &e["labels"];
                Some((labels["trace_id"].as_str()?.to_string(), labels["span_id"].as_str()?.to_string()))
            })
            .collect();
        (!ids.is_empty()).then_some(ids)
    }
}

/// The port of a `msg="Listening on" address=127.0.0.1:PORT` log line.
fn listening_on(line: &str) -> Option<SocketAddr> {
    if !line.contains("msg=\"Listening on\"") {
        return None;
    }
    line.split_whitespace().find_map(|w| w.strip_prefix("address=")).and_then(|a| a.parse().ok())
}

/// Starts Prometheus scraping `target` every second as job `bitcraps`, and waits until it
/// says which port it bound.
pub fn start_prometheus(target: SocketAddr) -> Prometheus {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: bitcraps\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("write config");
    let mut child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg("--web.listen-address=127.0.0.1:0")
        // Exemplars are stored only with this flag (scraped from OpenMetrics, which Prometheus
        // asks for first); harmless for the tests that do not look at them.
        .arg("--enable-feature=exemplar-storage")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start prometheus");
    let log = Output::new(1);
    log.drain(child.stderr.take().expect("stderr"));
    let process = KillOnDrop(child);
    log.wait_until(LIVENESS, |lines| lines.iter().any(|l| listening_on(l).is_some()));
    let addr = log.lines().iter().find_map(|l| listening_on(l));
    match addr {
        Some(addr) => Prometheus { addr, log, _process: process, _dir: dir },
        None => panic!("prometheus did not say where it listens; its log:\n{}", log.tail(100)),
    }
}
