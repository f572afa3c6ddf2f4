//! Intake: accepts citizens' reports over gRPC, keeps reporter identity encrypted in its own
//! store, and publishes `ReportSubmitted` (without identity) through its outbox.

mod api;
pub mod config;
mod entities;
mod error;
mod holds;
mod identity;
mod migration;
mod token;
mod writer;

use std::future::Future;

use lapor_events::Runtime;
use lapor_proto::intake::v1::intake_service_server::IntakeServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;
pub use identity::IdentityCipher;

/// Durable consumers that keep the reporter's view of each report (status, hold, duplicate link).
pub const REPORTER_VIEW_SUBSCRIPTIONS: [(&str, &str); 7] = [
    (
        "intake-case-followed-up",
        lapor_events::subjects::CASE_FOLLOWED_UP,
    ),
    (
        "intake-report-put-on-hold",
        lapor_events::subjects::REPORT_PUT_ON_HOLD,
    ),
    ("intake-report-archived", lapor_events::subjects::REPORT_ARCHIVED),
    (
        "intake-report-dispatched",
        lapor_events::subjects::REPORT_DISPATCHED,
    ),
    (
        "intake-report-not-authorized",
        lapor_events::subjects::REPORT_NOT_AUTHORIZED,
    ),
    (
        "intake-case-transfer-requested",
        lapor_events::subjects::CASE_TRANSFER_REQUESTED,
    ),
    ("intake-case-closed", lapor_events::subjects::CASE_CLOSED),
];

/// Name of the gRPC service, for health checks.
pub const GRPC_SERVICE: &str = "lapor.intake.v1.IntakeService";

/// A built intake service, ready to run.
pub struct Service {
    rt: Runtime,
    listener: TcpListener,
    config: Config,
    api: api::Api,
}

impl Service {
    /// Connects its database and the bus, applies migrations, and binds nothing new: the caller
    /// passes the listener (port 0 in tests).
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let mut rt = Runtime::start::<migration::Migrator>(&config.common, "intake").await?;
        let view = std::sync::Arc::new(holds::ReporterView);
        for (durable, suffix) in REPORTER_VIEW_SUBSCRIPTIONS {
            rt.spawn_consumer(
                lapor_events::ConsumerSpec {
                    durable: durable.into(),
                    filter_suffix: suffix,
                },
                view.clone(),
            );
        }
        let api = api::Api::new(&config, rt.db.clone(), rt.bus.clone(), rt.relay_waker())?;
        Ok(Self {
            rt,
            listener,
            config,
            api,
        })
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
            api,
        } = self;
        let auth = lapor_platform::Authenticator::new(&config.common.auth);
        let routes = tonic::service::Routes::new(InterceptedService::new(
            IntakeServiceServer::new(api).max_decoding_message_size(config.max_request_bytes),
            move |r| auth.intercept(r),
        ));
        rt.serve(routes, &[GRPC_SERVICE], &config.common, listener, shutdown)
            .await
    }
}
