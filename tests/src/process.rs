//! The five services as processes of their own binaries (as they run in production), with their
//! log lines captured: for the telemetry and shutdown tests, where one process per service
//! matters (a `service.name` per process, signals, exit codes).
//!
//! The binaries are the ones `cargo test --workspace` (`make test`) builds next to the test
//! executable; run `cargo build --workspace --bins` first when running this suite alone.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapor_platform::config::TelemetryConfig;
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{Handle, Running, SERVICES, System};

/// Every captured output line: (service, line).
pub type Lines = Arc<Mutex<Vec<(&'static str, String)>>>;

/// A running service process.
pub struct Child {
    inner: tokio::process::Child,
}

impl Child {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.inner.id().unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success(), "kill -TERM {}", self.pid());
    }

    /// Waits at most `within` for the process to end; its exit code, or `None` when it had to be
    /// killed (or died of a signal).
    pub async fn wait(&mut self, within: Duration) -> Option<i32> {
        match tokio::time::timeout(within, self.inner.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => {
                let _ = self.inner.kill().await;
                None
            }
        }
    }

    /// SIGTERM, then [`Child::wait`].
    pub async fn terminate(&mut self, within: Duration) -> Option<i32> {
        self.sigterm();
        self.wait(within).await
    }
}

/// The binary of service `name` (`lapor-<name>`), built next to the test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current exe: {e}"));
    // target/<profile>/deps/system-<hash> -> target/<profile>/lapor-<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("no target directory above {}", exe.display()));
    let bin = dir.join(format!("lapor-{name}"));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test builds it)",
        bin.display()
    );
    bin
}

fn free_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr().unwrap_or_else(|e| panic!("addr: {e}"))
}

fn capture<R>(name: &'static str, out: R, lines: Lines)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(out).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if let Ok(mut l) = lines.lock() {
                l.push((name, line));
            }
        }
    });
}

impl System {
    /// Starts all five services as processes of their binaries, each with `telemetry`, the
    /// Bontang seed calendar and the test's database and NATS prefix; returns once every one
    /// answers SERVING on grpc.health.v1.
    pub async fn start_processes(telemetry: TelemetryConfig) -> Self {
        Self::start_processes_with(ProcessOptions {
            telemetry,
            ..ProcessOptions::default()
        })
        .await
    }

    /// [`System::start_processes`] with the shutdown timings of `options` too.
    pub async fn start_processes_with(options: ProcessOptions) -> Self {
        let mut sys = Self::empty(crate::seed_calendar()).await;
        sys.process_options = Some(options);
        for s in SERVICES {
            sys.spawn_process(s).await;
        }
        sys
    }

    /// Starts service `name` as a process; again on the same port when it ran before.
    pub async fn spawn_process(&mut self, name: &'static str) {
        let addr = *self.ports.entry(name).or_insert_with(free_port);
        let mut cfg = self.config_for(name);
        let common = cfg.common_mut();
        common.grpc_addr = addr.to_string();
        if let Some(o) = &self.process_options {
            common.telemetry = o.telemetry.clone();
            common.drain_ms = o.drain_ms;
            common.shutdown_grace_secs = o.shutdown_grace_secs;
        }
        let dir = self.env.scratch_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, cfg.to_toml()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut child = tokio::process::Command::new(binary(name))
            .arg(&file)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        if let Some(out) = child.stdout.take() {
            capture(name, out, self.lines.clone());
        }
        if let Some(err) = child.stderr.take() {
            capture(name, err, self.lines.clone());
        }
        let mut child = Child { inner: child };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if serving(&format!("http://{addr}")).await {
                break;
            }
            if let Ok(Some(status)) = child.inner.try_wait() {
                panic!("{name} exited at start ({status}): {:?}", self.lines_of(name));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not SERVING within 60 s: {:?}",
                self.lines_of(name)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.running.retain(|r| r.name != name);
        self.running.push(Running {
            name,
            addr,
            handle: Handle::Process(child),
        });
    }

    /// Takes a running service process out of the system (to signal and wait for it).
    pub fn take_process(&mut self, name: &str) -> Child {
        let pos = self
            .running
            .iter()
            .position(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} is not running"));
        match self.running.remove(pos).handle {
            Handle::Process(c) => c,
            Handle::Task { .. } => panic!("{name} runs in-process"),
        }
    }

    /// Every line the service processes wrote so far: (service, line).
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The lines one service wrote so far.
    pub fn lines_of(&self, name: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, l)| l)
            .collect()
    }
}

/// How the service processes run.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// Telemetry of every process.
    pub telemetry: TelemetryConfig,
    /// `drain_ms`: how long health says NOT_SERVING before the listener closes.
    pub drain_ms: u64,
    /// `shutdown_grace_secs`: the bound on in-flight work after the drain.
    pub shutdown_grace_secs: u64,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        Self {
            telemetry: TelemetryConfig {
                log_format: "json".into(),
                ..TelemetryConfig::default()
            },
            drain_ms: 300,
            shutdown_grace_secs: 20,
        }
    }
}

/// Whether the server at `endpoint` answers SERVING for the whole server.
pub async fn serving(endpoint: &str) -> bool {
    health(endpoint).await == Some(ServingStatus::Serving)
}

/// The whole server's health status at `endpoint`, or `None` when it does not answer.
pub async fn health(endpoint: &str) -> Option<ServingStatus> {
    let channel = tonic::transport::Channel::from_shared(endpoint.to_owned())
        .ok()?
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .ok()?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(answer.into_inner().status).ok()
}

/// Default telemetry for process tests: JSON logs, export to `endpoint` quickly.
pub fn telemetry_to(endpoint: &str) -> TelemetryConfig {
    TelemetryConfig {
        otlp_endpoint: endpoint.to_owned(),
        log_format: "json".into(),
        log_filter: "info".into(),
        sample_ratio: 1.0,
        span_export_delay_ms: 200,
        span_queue_size: 65_536,
        metrics_interval_ms: 500,
        export_timeout_ms: 5000,
    }
}
