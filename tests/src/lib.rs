//! Harness for the whole-system suite: all five services in-process, each on port 0 with its own
//! schema in one fresh PostgreSQL database, sharing one fresh NATS stream.

use std::net::SocketAddr;
use std::time::Duration;

use lapor_domain::calendar::CalendarSpec;
use lapor_platform::Role;
use lapor_proto::cases::v1::case_service_client::CaseServiceClient;
use lapor_proto::cases::v1::public_feed_service_client::PublicFeedServiceClient;
use lapor_proto::cases::v1::reporter_case_service_client::ReporterCaseServiceClient;
use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use lapor_proto::notification::v1::notification_service_client::NotificationServiceClient;
use lapor_proto::routing::v1::routing_service_client::RoutingServiceClient;
use lapor_proto::sla::v1::sla_service_client::SlaServiceClient;
use lapor_testkit::TestEnv;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub use lapor_testkit::{authed, eventually};

pub mod process;

/// The five services, in flow order.
pub const SERVICES: [&str; 5] = ["intake", "routing", "opd-case", "notification", "sla-monitor"];
/// Schemas of the services, in the same order.
pub const SCHEMAS: [&str; 5] = ["intake", "routing", "opd_case", "notification", "sla_monitor"];

/// Path of the Bontang seed configuration.
pub fn seed_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/bontang.toml")
}

struct Running {
    name: &'static str,
    addr: SocketAddr,
    handle: Handle,
}

/// How a service runs: a task in the test's process, or a process of its own binary.
enum Handle {
    Task {
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<anyhow::Result<()>>,
    },
    Process(crate::process::Child),
}

/// A service's configuration as the harness builds it (see [`System::config_for`]).
pub enum ServiceConfig {
    /// intake.
    Intake(lapor_intake::Config),
    /// routing.
    Routing(lapor_routing::Config),
    /// opd-case.
    OpdCase(lapor_opd_case::Config),
    /// notification.
    Notification(lapor_notification::Config),
    /// sla-monitor.
    SlaMonitor(Box<lapor_sla_monitor::Config>),
}

impl ServiceConfig {
    /// The settings every service shares.
    pub fn common_mut(&mut self) -> &mut lapor_platform::CommonConfig {
        match self {
            Self::Intake(c) => &mut c.common,
            Self::Routing(c) => &mut c.common,
            Self::OpdCase(c) => &mut c.common,
            Self::Notification(c) => &mut c.common,
            Self::SlaMonitor(c) => &mut c.common,
        }
    }

    /// The configuration as a TOML file the service's binary reads.
    pub fn to_toml(&self) -> String {
        let out = match self {
            Self::Intake(c) => toml::to_string(c),
            Self::Routing(c) => toml::to_string(c),
            Self::OpdCase(c) => toml::to_string(c),
            Self::Notification(c) => toml::to_string(c),
            Self::SlaMonitor(c) => toml::to_string(c.as_ref()),
        };
        out.unwrap_or_else(|e| panic!("config to TOML: {e}"))
    }
}

/// A running system.
pub struct System {
    /// The test's database and NATS prefix.
    pub env: TestEnv,
    /// Calendar given to routing and sla-monitor.
    pub calendar: CalendarSpec,
    running: Vec<Running>,
    db: tokio::sync::OnceCell<DatabaseConnection>,
    sqlite_dir: Option<std::path::PathBuf>,
    /// The SMTP sink notification sends e-mail to, when started with [`System::start_with_email`].
    pub smtp: Option<lapor_testkit::smtp::Sink>,
    /// The SMS gateway and the webhook receiver (URL, requests), when started with
    /// [`System::start_with_channels`].
    pub gateways: Option<Gateways>,
    lines: process::Lines,
    process_options: Option<process::ProcessOptions>,
    ports: std::collections::BTreeMap<&'static str, SocketAddr>,
}

/// Requests received by an HTTP receiver.
pub type Requests = std::sync::Arc<std::sync::Mutex<Vec<lapor_testkit::http::Received>>>;

/// The SMS gateway and webhook receivers of a system test.
pub struct Gateways {
    /// SMS gateway URL and its requests.
    pub sms: (String, Requests),
    /// Webhook URL and its requests.
    pub webhook: (String, Requests),
}

/// API key the test SMS gateway expects.
pub const SMS_API_KEY: &str = "sms-gateway-test-key";
/// Secret of the test webhook.
pub const WEBHOOK_SECRET: &str = "webhook-test-secret-0123456789";

/// The calendar of the seed configuration.
fn seed_calendar() -> CalendarSpec {
    let seed: lapor_sla_monitor::Config = lapor_platform::config::load(
        "sla-monitor",
        &lapor_sla_monitor::Config::default(),
        Some(&seed_file()),
    )
    .unwrap_or_else(|e| panic!("seed config: {e}"));
    seed.calendar
}

impl Drop for System {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl System {
    /// Starts all five services with the Bontang seed calendar.
    pub async fn start() -> Self {
        Self::start_with_calendar(seed_calendar()).await
    }

    /// Starts all five services with `calendar`.
    pub async fn start_with_calendar(calendar: CalendarSpec) -> Self {
        Self::launch_all(calendar, None, None).await
    }

    /// Starts all five services with the seed calendar, notification sending e-mail (to every
    /// recipient kind) to an SMTP sink; OPD mailboxes are `<opd id>@opd.example`.
    pub async fn start_with_email() -> Self {
        let smtp = lapor_testkit::smtp::start(0).await;
        Self::launch_all(seed_calendar(), Some(smtp), None).await
    }

    /// Like [`System::start_with_email`], plus SMS to reporters through a test gateway and a
    /// signed webhook receiving every message to OPDs.
    pub async fn start_with_channels() -> Self {
        let smtp = lapor_testkit::smtp::start(0).await;
        let gateways = Gateways {
            sms: lapor_testkit::http::receiver(0, 200).await,
            webhook: lapor_testkit::http::receiver(0, 200).await,
        };
        Self::launch_all(seed_calendar(), Some(smtp), Some(gateways)).await
    }

    /// A system with nothing running yet: a fresh database and NATS prefix.
    async fn empty(calendar: CalendarSpec) -> Self {
        let env = TestEnv::new().await.unwrap_or_else(|e| panic!("test env: {e}"));
        Self {
            env,
            calendar,
            running: Vec::new(),
            db: tokio::sync::OnceCell::new(),
            sqlite_dir: None,
            smtp: None,
            gateways: None,
            lines: process::Lines::default(),
            process_options: None,
            ports: std::collections::BTreeMap::new(),
        }
    }

    async fn launch_all(
        calendar: CalendarSpec,
        smtp: Option<lapor_testkit::smtp::Sink>,
        gateways: Option<Gateways>,
    ) -> Self {
        let mut sys = Self::empty(calendar).await;
        sys.smtp = smtp;
        sys.gateways = gateways;
        for s in SERVICES {
            sys.start_service(s).await;
        }
        sys
    }

    /// Starts all five services with their state in SQLite files (one per service) in a
    /// temporary folder, as `make run` does; NATS is still the test's own stream.
    pub async fn start_on_sqlite() -> Self {
        let mut sys = Self::empty(CalendarSpec::default()).await;
        sys.sqlite_dir = Some(std::env::temp_dir().join(format!("lapor-system-{}", sys.env.prefix)));
        for s in SERVICES {
            sys.start_service(s).await;
        }
        sys
    }

    fn common(&self, name: &str, schema: &str) -> lapor_platform::CommonConfig {
        let mut c = self.env.common(schema);
        if let Some(dir) = &self.sqlite_dir {
            c.database.url = format!("sqlite://{}/{name}.db?mode=rwc", dir.display());
        }
        c
    }

    /// Starts one more replica of a running service (it shares the durable consumers).
    pub async fn start_replica(&mut self, name: &'static str) {
        self.launch(name, false).await;
    }

    /// Starts one service (again).
    pub async fn start_service(&mut self, name: &'static str) {
        self.launch(name, true).await;
    }

    /// The configuration the harness gives service `name` (the seed configuration, the test's
    /// database schema and NATS prefix, the running intake's address, test channels).
    pub fn config_for(&self, name: &str) -> ServiceConfig {
        let seed = seed_file();
        match name {
            "intake" => ServiceConfig::Intake(lapor_intake::Config {
                common: self.common("intake", "intake"),
                ..Default::default()
            }),
            "routing" => {
                let mut cfg: lapor_routing::Config =
                    lapor_platform::config::load("routing", &lapor_routing::Config::default(), Some(&seed))
                        .unwrap_or_else(|e| panic!("routing config: {e}"));
                cfg.common = self.common("routing", "routing");
                cfg.calendar = self.calendar.clone();
                if let Some(intake) = self.running.iter().find(|r| r.name == "intake") {
                    cfg.intake_url = format!("http://{}", intake.addr);
                }
                ServiceConfig::Routing(cfg)
            }
            "opd-case" => {
                let mut cfg: lapor_opd_case::Config =
                    lapor_platform::config::load("opd-case", &lapor_opd_case::Config::default(), Some(&seed))
                        .unwrap_or_else(|e| panic!("opd-case config: {e}"));
                cfg.common = self.common("opd-case", "opd_case");
                cfg.calendar = self.calendar.clone();
                cfg.attachments.store.path = self.env.scratch_dir().join("attachments").display().to_string();
                ServiceConfig::OpdCase(cfg)
            }
            "notification" => {
                let mut cfg: lapor_notification::Config = lapor_platform::config::load(
                    "notification",
                    &lapor_notification::Config::default(),
                    Some(&seed),
                )
                .unwrap_or_else(|e| panic!("notification config: {e}"));
                cfg.common = self.common("notification", "notification");
                if let Some(intake) = self.running.iter().find(|r| r.name == "intake") {
                    cfg.intake_url = format!("http://{}", intake.addr);
                }
                if let Some(sink) = &self.smtp {
                    cfg.delivery.poll_ms = 50;
                    cfg.email = lapor_notification::config::EmailConfig {
                        enabled: true,
                        host: "127.0.0.1".into(),
                        port: sink.port,
                        tls: "none".into(),
                        from: "LAPOR! Kota Bontang <lapor@bontangkota.go.id>".into(),
                        addresses: cfg
                            .opds
                            .iter()
                            .map(|o| lapor_notification::config::Mailbox {
                                recipient: o.id.clone(),
                                address: format!("{}@opd.example", o.id),
                            })
                            .collect(),
                        ..lapor_notification::config::EmailConfig::default()
                    };
                }
                if let Some(g) = &self.gateways {
                    cfg.sms = lapor_notification::config::SmsConfig {
                        enabled: true,
                        url: g.sms.0.clone(),
                        api_key: SMS_API_KEY.into(),
                        sender: "LAPOR-BTG".into(),
                        ..lapor_notification::config::SmsConfig::default()
                    };
                    cfg.webhooks = vec![lapor_notification::config::WebhookConfig {
                        name: "opd-bus".into(),
                        url: g.webhook.0.clone(),
                        secret: WEBHOOK_SECRET.into(),
                        recipient_kinds: vec!["opd".into()],
                        ..lapor_notification::config::WebhookConfig::default()
                    }];
                }
                ServiceConfig::Notification(cfg)
            }
            "sla-monitor" => {
                let mut cfg: lapor_sla_monitor::Config = lapor_platform::config::load(
                    "sla-monitor",
                    &lapor_sla_monitor::Config::default(),
                    Some(&seed),
                )
                .unwrap_or_else(|e| panic!("sla config: {e}"));
                cfg.common = self.common("sla-monitor", "sla_monitor");
                cfg.calendar = self.calendar.clone();
                cfg.ledger.export_store.path =
                    self.env.scratch_dir().join("checkpoints").display().to_string();
                ServiceConfig::SlaMonitor(Box::new(cfg))
            }
            other => panic!("unknown service {other}"),
        }
    }

    async fn launch(&mut self, name: &'static str, replace: bool) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = match self.config_for(name) {
            ServiceConfig::Intake(cfg) => {
                let s = lapor_intake::Service::build(cfg, listener).await;
                tokio::spawn(s.unwrap_or_else(|e| panic!("intake: {e:#}")).run_until(shutdown))
            }
            ServiceConfig::Routing(cfg) => {
                let s = lapor_routing::Service::build(cfg, listener).await;
                tokio::spawn(s.unwrap_or_else(|e| panic!("routing: {e:#}")).run_until(shutdown))
            }
            ServiceConfig::OpdCase(cfg) => {
                let s = lapor_opd_case::Service::build(cfg, listener).await;
                tokio::spawn(
                    s.unwrap_or_else(|e| panic!("opd-case: {e:#}"))
                        .run_until(shutdown),
                )
            }
            ServiceConfig::Notification(cfg) => {
                let s = lapor_notification::Service::build(cfg, listener).await;
                tokio::spawn(
                    s.unwrap_or_else(|e| panic!("notification: {e:#}"))
                        .run_until(shutdown),
                )
            }
            ServiceConfig::SlaMonitor(cfg) => {
                let s = lapor_sla_monitor::Service::build(*cfg, listener).await;
                tokio::spawn(
                    s.unwrap_or_else(|e| panic!("sla-monitor: {e:#}"))
                        .run_until(shutdown),
                )
            }
        };
        if replace {
            self.running.retain(|r| r.name != name);
        }
        self.running.push(Running {
            name,
            addr,
            handle: Handle::Task { stop: Some(tx), task },
        });
    }

    /// Stops one instance of a service (the first started) gracefully and waits for it.
    pub async fn stop_service(&mut self, name: &'static str) {
        let Some(pos) = self.running.iter().position(|r| r.name == name) else {
            return;
        };
        let r = self.running.remove(pos);
        match r.handle {
            Handle::Task { mut stop, task } => {
                if let Some(tx) = stop.take() {
                    let _ = tx.send(());
                }
                match tokio::time::timeout(Duration::from_secs(20), task).await {
                    Ok(Ok(Ok(()))) => {}
                    other => panic!("{name} did not stop cleanly: {other:?}"),
                }
            }
            Handle::Process(mut child) => {
                let code = child.terminate(Duration::from_secs(20)).await;
                assert_eq!(code, Some(0), "{name} did not exit 0 after SIGTERM");
            }
        }
    }

    /// Stops everything, every replica included (a replica left running outlived the test
    /// environment's deletion of the stream and made the stream again: that of
    /// `two_routing_replicas_share_one_durable_consumer_and_dispatch_each_report_once` was left
    /// behind in NATS).
    pub async fn stop(mut self) {
        for s in SERVICES {
            while self.running.iter().any(|r| r.name == s) {
                self.stop_service(s).await;
            }
        }
        if let Some(db) = self.db.take() {
            let _ = db.close().await;
        }
    }

    fn endpoint(&self, name: &str) -> String {
        let r = self
            .running
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} is not running"));
        format!("http://{}", r.addr)
    }

    async fn channel(&self, name: &str) -> Channel {
        Channel::from_shared(self.endpoint(name))
            .unwrap_or_else(|e| panic!("endpoint: {e}"))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect {name}: {e}"))
    }

    /// The gRPC address of a running service.
    pub fn addr(&self, name: &str) -> String {
        self.endpoint(name)
    }

    /// Intake client.
    pub async fn intake(&self) -> IntakeServiceClient<Channel> {
        IntakeServiceClient::new(self.channel("intake").await)
    }

    /// Routing client.
    pub async fn routing(&self) -> RoutingServiceClient<Channel> {
        RoutingServiceClient::new(self.channel("routing").await)
    }

    /// Case client.
    pub async fn cases(&self) -> CaseServiceClient<Channel> {
        CaseServiceClient::new(self.channel("opd-case").await)
    }

    /// The reporter's case client.
    pub async fn reporter_cases(&self) -> ReporterCaseServiceClient<Channel> {
        ReporterCaseServiceClient::new(self.channel("opd-case").await)
    }

    /// Public feed client.
    pub async fn public_feed(&self) -> PublicFeedServiceClient<Channel> {
        PublicFeedServiceClient::new(self.channel("opd-case").await)
    }

    /// Notification client.
    pub async fn notification(&self) -> NotificationServiceClient<Channel> {
        NotificationServiceClient::new(self.channel("notification").await)
    }

    /// SLA client.
    pub async fn sla(&self) -> SlaServiceClient<Channel> {
        SlaServiceClient::new(self.channel("sla-monitor").await)
    }

    /// A bearer token.
    pub fn token(&self, role: Role, opd: Option<&str>) -> String {
        self.env.token(&format!("test-{}", role.as_str()), role, opd)
    }

    /// Runs a query on the test database and returns the first column of each row as text.
    pub async fn sql(&self, sql: &str) -> Vec<String> {
        let db = self
            .db
            .get_or_init(|| async {
                Database::connect(self.env.db_url.clone())
                    .await
                    .unwrap_or_else(|e| panic!("db: {e}"))
            })
            .await;
        db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .map(|row| {
                row.try_get_by_index::<String>(0)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            })
            .collect()
    }

    /// The messages in the test's stream about reports (every one but the calendar
    /// announcements sla-monitor makes at start), in stream order.
    pub async fn report_messages(&self) -> Vec<async_nats::jetstream::message::StreamMessage> {
        let js = async_nats::jetstream::new(self.env.nats().await.unwrap_or_else(|e| panic!("{e}")));
        let Ok(mut stream) = js.get_stream(self.env.stream_name()).await else {
            return Vec::new();
        };
        let (first, last) = {
            let state = &stream.info().await.unwrap_or_else(|e| panic!("{e}")).state;
            (state.first_sequence, state.last_sequence)
        };
        let mut out = Vec::new();
        for seq in first..=last {
            if let Ok(m) = stream.get_raw_message(seq).await
                && !m.subject.ends_with(lapor_events::subjects::CALENDAR_CHANGED)
            {
                out.push(m);
            }
        }
        out
    }

    /// Counts rows of a query `SELECT count(*)::text ...`.
    pub async fn count(&self, sql: &str) -> u64 {
        self.sql(sql)
            .await
            .first()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}
