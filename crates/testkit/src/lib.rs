//! Test fixtures: each test gets its own PostgreSQL database and its own NATS subject prefix
//! (hence its own stream), both removed when the fixture is dropped, even after a panic.
//! `TEST_DATABASE_URL` (an admin URL) and `TEST_NATS_URL` override the loopback defaults.

use std::time::Duration;

use lapor_platform::Role;
use lapor_platform::config::{CommonConfig, DatabaseConfig, NatsConfig};
use sea_orm::{ConnectionTrait, Database};

/// Admin URL used to create and drop test databases.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// NATS URL for tests.
pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn with_db(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => format!("{url}/{db}"),
    }
}

fn role_of(db_name: &str) -> String {
    format!("{db_name}_svc")
}

/// A fresh database and NATS prefix for one test.
pub struct TestEnv {
    /// Database name.
    pub db_name: String,
    /// URL of the fresh database.
    pub db_url: String,
    /// NATS URL.
    pub nats_url: String,
    /// Unique subject prefix (the stream is `<PREFIX>_EVENTS`).
    pub prefix: String,
}

impl TestEnv {
    /// Creates the database and chooses the prefix.
    pub async fn new() -> anyhow::Result<Self> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("lapor_t_{}", &id[..12]);
        let admin = Database::connect(admin_url()).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{db_name}\""))
            .await?;
        admin.close().await?;
        Ok(Self {
            db_url: with_db(&admin_url(), &db_name),
            db_name,
            nats_url: nats_url(),
            prefix: format!("t{}", &id[..12]),
        })
    }

    /// Settings for a service whose tables live in `schema` of the test database.
    pub fn common(&self, schema: &str) -> CommonConfig {
        CommonConfig {
            grpc_addr: "127.0.0.1:0".into(),
            database: DatabaseConfig {
                url: self.db_url.clone(),
                schema: schema.into(),
                max_connections: 4,
                migration_url: String::new(),
                ..DatabaseConfig::default()
            },
            nats: NatsConfig {
                url: self.nats_url.clone(),
                prefix: self.prefix.clone(),
                max_age_days: 1,
                max_deliver: 5,
                ack_wait_secs: 5,
                relay_poll_ms: 200,
                stream_replicas: 1,
                ..NatsConfig::default()
            },
            drain_ms: 0,
            shutdown_grace_secs: 5,
            ..CommonConfig::default()
        }
    }

    /// Creates a login role of this test (no privileges beyond PUBLIC's; dropped with the test
    /// database) and returns the test database's URL for it.
    pub async fn login_role(&self) -> anyhow::Result<String> {
        let role = role_of(&self.db_name);
        let admin = Database::connect(admin_url()).await?;
        admin
            .execute_unprepared(&format!("CREATE ROLE \"{role}\" LOGIN"))
            .await?;
        admin.close().await?;
        let (scheme, rest) = self
            .db_url
            .split_once("://")
            .ok_or_else(|| anyhow::anyhow!("no scheme in {}", self.db_url))?;
        let host = rest.split_once('@').map_or(rest, |(_, h)| h);
        Ok(format!("{scheme}://{role}@{host}"))
    }

    /// A scratch directory of this test (blob stores, files), removed when the test ends.
    pub fn scratch_dir(&self) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("lapor-scratch-{}", self.prefix))
    }

    /// Mints a bearer token for the default development keys.
    pub fn token(&self, subject: &str, role: Role, opd: Option<&str>) -> String {
        lapor_platform::auth::mint(&CommonConfig::default().auth, subject, role, opd, 3600)
            .unwrap_or_else(|e| panic!("minting a test token: {e}"))
    }

    /// Stream name of this test's events.
    pub fn stream_name(&self) -> String {
        format!("{}_EVENTS", self.prefix.to_uppercase())
    }

    /// Connects to NATS.
    pub async fn nats(&self) -> anyhow::Result<async_nats::Client> {
        Ok(async_nats::connect(self.nats_url.as_str()).await?)
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let db = self.db_name.clone();
        let stream = self.stream_name();
        let nats = self.nats_url.clone();
        // Async clean-up on a thread of its own, so it also runs while a test panics.
        let _ = std::fs::remove_dir_all(self.scratch_dir());
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(client) = async_nats::connect(nats.as_str()).await {
                    let js = async_nats::jetstream::new(client);
                    let _ = js.delete_stream(&stream).await;
                }
                if let Ok(admin) = Database::connect(admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                        .await;
                    let _ = admin
                        .execute_unprepared(&format!("DROP ROLE IF EXISTS \"{}\"", role_of(&db)))
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wraps a message in a request carrying `authorization: Bearer <token>`.
pub fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        req.metadata_mut().insert("authorization", v);
    }
    req
}

/// A service running in-process on port 0, stopped through [`Spawned::stop`].
pub struct Spawned {
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A shutdown future for a spawned service.
pub type Shutdown = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Spawned {
    /// Runs `run(shutdown)` (a service's `run_until`) on a task.
    pub fn start<F, Fut>(addr: std::net::SocketAddr, run: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async move {
            let _ = rx.await;
        })));
        Self {
            addr: format!("http://{addr}"),
            stop,
            task,
        }
    }

    /// A client channel to the service.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Channel::from_shared(self.addr.clone())
            .unwrap_or_else(|e| panic!("{e}"))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.addr))
    }

    /// Signals shutdown and waits for a clean exit.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(20), self.task).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("service did not stop cleanly: {other:?}"),
        }
    }
}

impl TestEnv {
    /// Publishes raw bytes on `<prefix>.<suffix>` with a `Nats-Msg-Id`, as a relay would.
    pub async fn publish(&self, suffix: &str, msg_id: &str, payload: Vec<u8>) {
        let js = async_nats::jetstream::new(self.nats().await.unwrap_or_else(|e| panic!("{e}")));
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", msg_id);
        js.publish_with_headers(format!("{}.{suffix}", self.prefix), h, payload.into())
            .await
            .unwrap_or_else(|e| panic!("publish: {e}"))
            .await
            .unwrap_or_else(|e| panic!("publish ack: {e}"));
    }

    /// The most rows of `table` (schema-qualified, in this test's database) that one statement
    /// wrote: rows sharing a transaction id and a command id. Shows a batch written at once.
    pub async fn most_rows_of_one_statement(&self, table: &str) -> i64 {
        let db = Database::connect(&self.db_url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let n = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT coalesce(max(n), 0) AS n FROM \
                     (SELECT count(*) AS n FROM {table} GROUP BY xmin::text, cmin::text) t"
                ),
            ))
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"))
            .and_then(|r| r.try_get::<i64>("", "n").ok())
            .unwrap_or_default();
        let _ = db.close().await;
        n
    }

    /// Returns the payloads of every message in the stream on `<prefix>.<suffix>`, in order.
    pub async fn messages_on(&self, suffix: &str) -> Vec<Vec<u8>> {
        let js = async_nats::jetstream::new(self.nats().await.unwrap_or_else(|e| panic!("{e}")));
        let Ok(mut stream) = js.get_stream(self.stream_name()).await else {
            return Vec::new();
        };
        let last = stream.info().await.map(|i| i.state.last_sequence).unwrap_or(0);
        let subject = format!("{}.{suffix}", self.prefix);
        let mut out = Vec::new();
        for seq in 1..=last {
            if let Ok(m) = stream.get_raw_message(seq).await
                && m.subject.as_str() == subject
            {
                out.push(m.payload.to_vec());
            }
        }
        out
    }
}

/// Installs (once per process) a subscriber that gives every span an OpenTelemetry context
/// without exporting anything, so tests can follow W3C trace context across gRPC, the outbox and
/// NATS. Returns the trace id of a `traceparent` header for convenience.
pub fn install_trace_context() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = provider.tracer("lapor-tests");
        let _ = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .try_init();
    });
}

/// The trace id part of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(1)
}

pub mod otlp;

/// An SMTP sink for tests: speaks enough ESMTP for a client to deliver, answers the first
/// `fail_first` MAIL commands with a transient `451`, and keeps every accepted mail.
pub mod smtp {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// An accepted mail.
    #[derive(Debug, Clone)]
    pub struct Mail {
        /// Envelope sender.
        pub from: String,
        /// Envelope recipients.
        pub to: Vec<String>,
        /// Headers and body as sent (dot-stuffing undone).
        pub data: String,
    }

    impl Mail {
        /// The body, quoted-printable decoded when the mail says it is encoded so.
        pub fn text(&self) -> String {
            let (head, body) = self.data.split_once("\n\n").unwrap_or(("", &self.data));
            if !head
                .to_ascii_lowercase()
                .contains("content-transfer-encoding: quoted-printable")
            {
                return body.to_owned();
            }
            let joined = body.replace("=\n", "");
            let b = joined.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'='
                    && let Some(v) = joined
                        .get(i + 1..i + 3)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(b[i]);
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        }
    }

    /// A running sink.
    #[derive(Clone)]
    pub struct Sink {
        /// Port on 127.0.0.1.
        pub port: u16,
        /// Accepted mails.
        pub mails: Arc<Mutex<Vec<Mail>>>,
        /// MAIL commands seen (accepted or not).
        pub attempts: Arc<AtomicUsize>,
    }

    impl Sink {
        /// The accepted mails so far.
        pub fn mails(&self) -> Vec<Mail> {
            self.mails
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        }
    }

    fn addr(arg: &str) -> String {
        arg.split_once(':')
            .map_or(arg, |(_, a)| a)
            .trim()
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// Starts a sink.
    pub async fn start(fail_first: usize) -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("smtp sink: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let sink = Sink {
            port,
            mails: Arc::new(Mutex::new(Vec::new())),
            attempts: Arc::new(AtomicUsize::new(0)),
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                    let (mut from, mut to) = (String::new(), Vec::new());
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("MAIL FROM") {
                            if s.attempts.fetch_add(1, Ordering::SeqCst) < fail_first {
                                b"451 4.3.0 try again later\r\n"
                            } else {
                                from = addr(&line);
                                to.clear();
                                b"250 OK\r\n"
                            }
                        } else if upper.starts_with("RCPT TO") {
                            to.push(addr(&line));
                            b"250 OK\r\n"
                        } else if upper == "DATA" {
                            let _ = w.write_all(b"354 end with .\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                                data.push('\n');
                            }
                            s.mails
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(Mail {
                                    from: from.clone(),
                                    to: to.clone(),
                                    data,
                                });
                            b"250 OK queued\r\n"
                        } else if upper == "QUIT" {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"250 OK\r\n"
                        };
                        if w.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        sink
    }
}

/// An HTTP receiver for tests (webhooks, SMS gateways).
pub mod http {
    /// One request a webhook receiver got.
    pub struct Received {
        /// When it arrived.
        pub at: std::time::Instant,
        /// Headers, names in lowercase.
        pub headers: std::collections::HashMap<String, String>,
        /// Body.
        pub body: Vec<u8>,
    }

    /// A webhook receiver over plain HTTP/1.1: answers the first `fail` requests with `status`, then
    /// 200, and records every request.
    pub async fn receiver(
        fail: usize,
        status: u16,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("receiver: {e}"));
        let url = format!(
            "http://{}/hook",
            listener.local_addr().unwrap_or_else(|e| panic!("receiver: {e}"))
        );
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Received>::new()));
        let log = got.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let headers: std::collections::HashMap<String, String> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let n = {
                        let mut g = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        g.push(Received {
                            at: std::time::Instant::now(),
                            headers,
                            body: buf[head_end..].to_vec(),
                        });
                        g.len()
                    };
                    let code = if n <= fail { status } else { 200 };
                    let reply =
                        format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        (url, got)
    }
}

/// The plan of `EXPLAIN (ANALYZE, FORMAT JSON) <sql>` on PostgreSQL, for tests that check which
/// index serves a query and how many rows it reads. `sql` has no parameters (a statement prepared
/// with `PREPARE` is explained as `EXECUTE name(values)`).
pub async fn explain_analyze(db: &impl sea_orm::ConnectionTrait, sql: &str) -> sea_orm::JsonValue {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"),
        ))
        .await;
    match row.map(|r| r.map(|r| r.try_get_by_index::<sea_orm::JsonValue>(0))) {
        Ok(Some(Ok(plan))) => plan,
        other => panic!("EXPLAIN {sql}: {other:?}"),
    }
}
