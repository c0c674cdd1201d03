//! `--mesh N`: the other N-1 nodes of a loopback mesh, started as child processes of this
//! one, each with its own node id, mesh port and metrics and health ports, and stopped with it.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a child has to say where its mesh listens.
const ANNOUNCE_LIMIT: Duration = Duration::from_secs(60);

/// What every child is started with, besides its own id, ports and peers.
pub struct ChildTemplate {
    /// Options passed on unchanged (`--rate`, `--duration`, `--no-alerting`...).
    pub args: Vec<String>,
    /// The simulation seed of the parent, if any; child `i` gets `seed + i`.
    pub seed: Option<u64>,
    /// The parent's configured Prometheus address; child `i` gets port + i (0 stays 0).
    pub prometheus: Option<SocketAddr>,
    /// The parent's configured health address, likewise.
    pub health: Option<SocketAddr>,
    /// The log format children write in (`json` or `pretty`).
    pub log_format: &'static str,
    /// Prefix children's lines with their node id (readable output).
    pub prefix_lines: bool,
}

/// The running children. Dropping it stops them (SIGTERM, then SIGKILL after a grace period).
pub struct Children {
    children: Vec<(String, Child)>,
}

/// Starts `count` nodes, named `{base}-2` onward. Each dials the parent's mesh address and
/// every child before it; the earlier nodes learn it from its hello and dial back, so the
/// nodes form a full mesh. Returns once every child announced its mesh address.
pub fn start(count: u16, base: &str, parent: SocketAddr, template: &ChildTemplate) -> Result<Children, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program to start the mesh: {e}"))?;
    let mut started = Children { children: Vec::new() };
    let mut peers = vec![parent];
    for i in 1..=count {
        let id = format!("{base}-{}", i + 1);
        let mut cmd = Command::new(&exe);
        let list: Vec<String> = peers.iter().map(ToString::to_string).collect();
        cmd.args(["--listen", "127.0.0.1:0", "--peers", &list.join(","), "--node-id", &id])
            .args(&template.args)
            .env("BITCRAPS_NODE_ID", &id)
            .env("BITCRAPS_LOG_FORMAT", template.log_format)
            .env_remove("BITCRAPS_MESH_LISTEN")
            .env_remove("BITCRAPS_MESH_PEERS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(seed) = template.seed {
            cmd.args(["--seed", &seed.wrapping_add(i as u64).to_string()]);
        }
        if let Some(addr) = template.prometheus {
            cmd.args(["--prometheus-addr", &shifted(addr, i).to_string()]);
        }
        if let Some(addr) = template.health {
            cmd.env("BITCRAPS_HEALTH_ADDR", shifted(addr, i).to_string());
        }
        // A process group of its own: a ctrl-c on the terminal reaches this node only, which
        // then stops the children once (a second signal would make them skip their flush).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| format!("cannot start mesh node {id}: {e}"))?;
        let stdout = child.stdout.take();
        started.children.push((id.clone(), child));
        let Some(stdout) = stdout else { return Err(format!("mesh node {id} has no output")) };
        let addr = relay(stdout, &id, template.prefix_lines)?;
        tracing::info!(node = %id, mesh = %addr, "mesh node {id} started, listening on tcp://{addr}");
        peers.push(addr);
    }
    Ok(started)
}

/// `addr` with its port moved up by `i` (port 0 stays 0: the OS picks).
fn shifted(addr: SocketAddr, i: u16) -> SocketAddr {
    let port = if addr.port() == 0 { 0 } else { addr.port().saturating_add(i) };
    SocketAddr::new(addr.ip(), port)
}

/// Copies the child's lines to our stdout on a thread of their own, and returns the mesh
/// address the child announces.
fn relay(stdout: std::process::ChildStdout, id: &str, prefix: bool) -> Result<SocketAddr, String> {
    let (tx, rx) = mpsc::channel();
    let prefix = if prefix { format!("[{id}] ") } else { String::new() };
    std::thread::spawn(move || {
        let mut announced = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !announced {
                if let Some(addr) = mesh_address(&line) {
                    announced = true;
                    let _ = tx.send(addr);
                }
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{prefix}{line}");
        }
    });
    let deadline = Instant::now() + ANNOUNCE_LIMIT;
    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .map_err(|_| format!("mesh node {id} did not say where it listens within {ANNOUNCE_LIMIT:?}"))
}

/// The address in a "peer mesh listening on tcp://ADDR" line.
fn mesh_address(line: &str) -> Option<SocketAddr> {
    if !line.contains("peer mesh listening on") {
        return None;
    }
    let rest = line.split("tcp://").nth(1)?;
    let end =
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Linux: the child gets SIGTERM if this process dies, even without a chance to stop it.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent. The signal is
    // tied to the thread that forks: the caller runs on the main thread, which lives as long
    // as the process.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

impl Children {
    /// Asks every child to stop (SIGTERM: they drain and flush as this node does).
    pub fn terminate(&self) {
        #[cfg(unix)]
        for (_, child) in &self.children {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) on the pid of a child this process has not reaped.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
    }

    /// Waits until every child has exited, killing the ones still running after `grace`.
    pub fn wait(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        for (id, child) in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        tracing::info!(node = %id, %status, "mesh node {id} stopped");
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                    _ => {
                        tracing::warn!(node = %id, "mesh node {id} did not stop in time; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        self.children.clear();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mesh_address_is_read_from_json_and_readable_lines() {
        let json = r#"{"level":"INFO","fields":{"message":"peer mesh listening on tcp://127.0.0.1:40123","addr":"127.0.0.1:40123"}}"#;
        assert_eq!(mesh_address(json), Some("127.0.0.1:40123".parse().expect("addr")));
        assert_eq!(
            mesh_address("INFO peer mesh listening on tcp://[::1]:7001 addr=[::1]:7001"),
            Some("[::1]:7001".parse().expect("addr"))
        );
        assert_eq!(mesh_address("connected to tcp://127.0.0.1:1"), None);
        assert_eq!(shifted("0.0.0.0:9090".parse().expect("addr"), 2).port(), 9092);
        assert_eq!(shifted("127.0.0.1:0".parse().expect("addr"), 2).port(), 0);
    }
}
