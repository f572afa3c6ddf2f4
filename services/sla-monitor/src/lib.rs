//! SLA monitor: records the facts each event carries and computes every deadline of a report as
//! a pure function of those facts, the city calendar and the policy (so a replay in any order
//! gives the same result), recomputing open deadlines when the calendar or policy changes, and
//! serves them.

#[doc(hidden)]
pub mod alerts;
mod api;
mod calendars;
mod compliance;
pub mod config;
#[doc(hidden)]
pub mod engine;
#[doc(hidden)]
pub mod entities;
mod facts;
mod handler;
mod ledger;
#[doc(hidden)]
pub mod migration;

use std::future::Future;
use std::sync::Arc;

use lapor_events::consumer::ConsumerSpec;
use lapor_events::{Runtime, subjects};
use lapor_proto::sla::v1::sla_service_server::SlaServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;

/// Name of the gRPC service, for health checks.
pub const GRPC_SERVICE: &str = "lapor.sla.v1.SlaService";

/// Durable consumers, one per subject deadlines depend on.
pub const SUBSCRIPTIONS: [(&str, &str); 12] = [
    ("sla-report-submitted", subjects::REPORT_SUBMITTED),
    ("sla-report-verified", subjects::REPORT_VERIFIED),
    ("sla-report-put-on-hold", subjects::REPORT_PUT_ON_HOLD),
    ("sla-report-hold-completed", subjects::REPORT_HOLD_COMPLETED),
    ("sla-report-not-authorized", subjects::REPORT_NOT_AUTHORIZED),
    ("sla-report-archived", subjects::REPORT_ARCHIVED),
    ("sla-report-dispatched", subjects::REPORT_DISPATCHED),
    ("sla-case-followed-up", subjects::CASE_FOLLOWED_UP),
    ("sla-case-info-requested", subjects::CASE_INFO_REQUESTED),
    ("sla-case-replied", subjects::CASE_REPLIED),
    ("sla-case-transfer-requested", subjects::CASE_TRANSFER_REQUESTED),
    ("sla-case-closed", subjects::CASE_CLOSED),
];

/// A built SLA monitor, ready to run.
pub struct Service {
    rt: Runtime,
    listener: TcpListener,
    config: Config,
    alerts: Arc<alerts::Alerts>,
}

/// Runs the due-deadline sweep on demand (tests and operations) at a given instant.
#[derive(Clone)]
pub struct Sweeper {
    alerts: Arc<alerts::Alerts>,
    db: sea_orm::DatabaseConnection,
}

/// What one sweep raised: (warnings, breaches, escalations).
pub type Swept = (usize, usize, usize);

impl Sweeper {
    /// One sweep as if the time were `now`.
    pub async fn sweep_at(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Swept> {
        let s = self.alerts.sweep(&self.db, now).await?;
        Ok((s.warnings, s.breaches, s.escalations))
    }
}

impl Service {
    /// Validates the calendar, connects, migrates, brings the stored deadlines to the settings in
    /// force, and starts consuming.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        lapor_domain::Calendar::from_spec(&config.calendar)?;
        let mut rt =
            Runtime::start_with::<migration::Migrator>(&config.common, "sla-monitor", &["ledger"]).await?;
        let now = chrono::Utc::now();
        // The calendar is data: the configuration file seeds the first version only.
        let spec = match calendars::current(&rt.db).await? {
            Some(v) => calendars::spec_of(&v)?,
            None => {
                let txn = lapor_platform::db::begin_write(&rt.db).await?;
                calendars::append(
                    &txn,
                    &rt.bus,
                    &config.calendar,
                    "seeded from the configuration file",
                    "configuration",
                    now,
                )
                .await?;
                txn.commit().await?;
                rt.relay_waker().notify_one();
                config.calendar.clone()
            }
        };
        let engine = Arc::new(engine::Live::new(engine::Engine::new(
            spec,
            config.policy.clone(),
        )?));
        engine
            .get()
            .adopt_settings(&rt.db, &config.recompute, now, None)
            .await?;
        let alerts = Arc::new(alerts::Alerts {
            config: Arc::new(config.clone()),
            live: engine.clone(),
            bus: rt.bus.clone(),
            relay_wake: rt.relay_waker(),
        });
        let handler = Arc::new(handler::DeadlineRecorder {
            engine: engine.clone(),
            alerts: alerts.clone(),
        });
        for (durable, suffix) in SUBSCRIPTIONS {
            rt.spawn_consumer(
                ConsumerSpec {
                    durable: durable.into(),
                    filter_suffix: suffix,
                },
                handler.clone(),
            );
        }
        if !config.common.telemetry.otlp_endpoint.is_empty() {
            let (db, seen) = (rt.db.clone(), std::sync::Arc::new(std::sync::Mutex::default()));
            rt.spawn_every(
                std::time::Duration::from_millis(config.common.telemetry.metrics_interval_ms.max(100)),
                "deadline gauges",
                move || {
                    let (db, seen) = (db.clone(), seen.clone());
                    async move { Ok(alerts::sample_deadline_gauges(&db, chrono::Utc::now(), &seen).await?) }
                },
            );
        }
        // 0: sweeps only on demand (tests, or an external scheduler); otherwise one at start
        // (catching up after downtime) and one every interval.
        if config.alerts.sweep_interval_secs > 0 {
            let (sweeper, db) = (alerts.clone(), rt.db.clone());
            rt.spawn_every(
                std::time::Duration::from_secs(config.alerts.sweep_interval_secs),
                "sla sweep",
                move || {
                    let (sweeper, db) = (sweeper.clone(), db.clone());
                    async move { Ok(sweeper.sweep(&db, chrono::Utc::now()).await.map(|_| ())?) }
                },
            );
        }
        if config.ledger.export_interval_secs > 0 {
            let store = lapor_platform::blobs::open(&config.ledger.export_store, "ledger.export_store")?;
            let (db, key) = (rt.db.clone(), config.ledger.checkpoint_key.clone());
            rt.spawn_every(
                std::time::Duration::from_secs(config.ledger.export_interval_secs),
                "ledger checkpoint export",
                move || {
                    let (db, key, store) = (db.clone(), key.clone(), store.clone());
                    async move {
                        ledger::export(&db, &key, store.as_ref(), chrono::Utc::now())
                            .await
                            .map(|_| ())
                    }
                },
            );
        }
        Ok(Self {
            rt,
            listener,
            config,
            alerts,
        })
    }

    /// A handle that sweeps on demand.
    pub fn sweeper(&self) -> Sweeper {
        Sweeper {
            alerts: self.alerts.clone(),
            db: self.rt.db.clone(),
        }
    }

    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains and stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self {
            rt,
            listener,
            config,
            alerts,
        } = self;
        let auth = lapor_platform::Authenticator::new(&config.common.auth);
        let routes = tonic::service::Routes::new(InterceptedService::new(
            SlaServiceServer::new(api::Api {
                db: rt.db.clone(),
                config: alerts.config.clone(),
                live: alerts.live.clone(),
                bus: alerts.bus.clone(),
                relay_wake: alerts.relay_wake.clone(),
            }),
            move |r| auth.intercept(r),
        ));
        rt.serve(routes, &[GRPC_SERVICE], &config.common, listener, shutdown)
            .await
    }
}
