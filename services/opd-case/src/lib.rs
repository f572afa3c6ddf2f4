//! OPD cases: opens a case for each dispatched report and serves the OPD's side (CaseService),
//! the reporter's side (ReporterCaseService) and the public feed (PublicFeedService). Closes
//! unanswered cases after the reply window (auto-close). Consumes `ReportDispatched` and
//! `ReportSubmitted` (for the reporter's token hash); publishes every case event.

mod api;
pub mod attachments;
mod autoclose;
pub mod config;
mod core;
mod entities;
mod error;
mod handler;
#[doc(hidden)]
pub mod migration;
mod public;
mod reporter;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lapor_domain::Calendar;
use lapor_events::consumer::ConsumerSpec;
use lapor_events::{Runtime, subjects};
use lapor_proto::cases::v1::case_service_server::CaseServiceServer;
use lapor_proto::cases::v1::public_feed_service_server::PublicFeedServiceServer;
use lapor_proto::cases::v1::reporter_case_service_server::ReporterCaseServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;
pub use core::{Clock, system_clock};

/// Name of the officers' gRPC service, for health checks.
pub const GRPC_SERVICE: &str = "lapor.cases.v1.CaseService";
/// Name of the reporters' gRPC service.
pub const GRPC_REPORTER_SERVICE: &str = "lapor.cases.v1.ReporterCaseService";
/// Name of the public feed's gRPC service.
pub const GRPC_PUBLIC_SERVICE: &str = "lapor.cases.v1.PublicFeedService";
/// Durable consumer of dispatched reports.
pub const CONSUMER_DISPATCHED: &str = "opd-case-report-dispatched";
/// Durable consumer of submitted reports (reporter credentials).
pub const CONSUMER_SUBMITTED: &str = "opd-case-report-submitted";

/// How often a replica re-reads the calendar version another replica stored.
const CALENDAR_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// A built opd-case service, ready to run.
pub struct Service {
    rt: Runtime,
    listener: TcpListener,
    config: Config,
    core: Arc<core::Core>,
}

impl Service {
    /// Connects, migrates and starts consuming and sweeping, on the system clock.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        Self::build_with_clock(config, listener, system_clock()).await
    }

    /// Like [`Service::build`], reading the time from `clock` (tests set it to exact instants).
    pub async fn build_with_clock(
        config: Config,
        listener: TcpListener,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        Calendar::from_spec(&config.calendar).map_err(|e| anyhow::anyhow!("calendar: {e}"))?;
        let blobs = attachments::open(&config.attachments.store)?;
        let mut rt = Runtime::start::<migration::Migrator>(&config.common, "opd-case").await?;
        let calendar = rt
            .follow_calendar("opd-case", &config.calendar, CALENDAR_REFRESH)
            .await?;
        let core = Arc::new(core::Core {
            db: rt.db.clone(),
            bus: rt.bus.clone(),
            relay_wake: rt.relay_waker(),
            calendar,
            policy: config.policy.clone(),
            clock,
            blobs,
            attachments: config.attachments.clone(),
        });
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_DISPATCHED.into(),
                filter_suffix: subjects::REPORT_DISPATCHED,
            },
            Arc::new(handler::DispatchedHandler { core: core.clone() }),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_SUBMITTED.into(),
                filter_suffix: subjects::REPORT_SUBMITTED,
            },
            Arc::new(handler::CredentialHandler),
        );
        let interval = Duration::from_secs(config.auto_close_interval_secs.max(1));
        let sweeper = core.clone();
        rt.spawn_every(interval, "auto-close sweep", move || {
            let core = sweeper.clone();
            async move {
                let n = autoclose::sweep(&core).await?;
                if n > 0 {
                    tracing::info!(closed = n, "auto-close sweep");
                }
                Ok(())
            }
        });
        Ok(Self {
            rt,
            listener,
            config,
            core,
        })
    }

    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that runs one auto-close sweep now (tests and operations), returning how many
    /// cases it closed.
    pub fn auto_closer(&self) -> AutoCloser {
        AutoCloser(self.core.clone())
    }

    /// Serves until `shutdown` completes, then drains and stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self {
            rt,
            listener,
            config,
            core,
        } = self;
        let auth = lapor_platform::Authenticator::new(&config.common.auth);
        let (a1, a2, a3) = (auth.clone(), auth.clone(), auth);
        let routes = tonic::service::Routes::new(InterceptedService::new(
            CaseServiceServer::new(api::Api { core: core.clone() }),
            move |r| a1.intercept(r),
        ))
        .add_service(InterceptedService::new(
            ReporterCaseServiceServer::new(reporter::ReporterApi { core: core.clone() }),
            move |r| a2.intercept(r),
        ))
        .add_service(InterceptedService::new(
            PublicFeedServiceServer::new(public::PublicApi { core }),
            move |r| a3.intercept(r),
        ));
        rt.serve(
            routes,
            &[GRPC_SERVICE, GRPC_REPORTER_SERVICE, GRPC_PUBLIC_SERVICE],
            &config.common,
            listener,
            shutdown,
        )
        .await
    }
}

/// Runs auto-close sweeps on demand.
#[derive(Clone)]
pub struct AutoCloser(Arc<core::Core>);

impl AutoCloser {
    /// One sweep at the service clock's now.
    pub async fn sweep(&self) -> anyhow::Result<usize> {
        autoclose::sweep(&self.0).await.map_err(Into::into)
    }
}
