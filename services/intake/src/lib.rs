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

use std::future::Future;

use lapor_events::Runtime;
use lapor_proto::intake::v1::intake_service_server::IntakeServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;
pub use identity::IdentityCipher;

/// Durable consumer of reports put on hold (so the reporter can complete them).
pub const CONSUMER_PUT_ON_HOLD: &str = "intake-report-put-on-hold";
/// Durable consumer of archived reports (a duplicate's reporter follows the original).
pub const CONSUMER_ARCHIVED: &str = "intake-report-archived";

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
        rt.spawn_consumer(
            lapor_events::ConsumerSpec {
                durable: CONSUMER_PUT_ON_HOLD.into(),
                filter_suffix: lapor_events::subjects::REPORT_PUT_ON_HOLD,
            },
            std::sync::Arc::new(holds::HoldHandler),
        );
        rt.spawn_consumer(
            lapor_events::ConsumerSpec {
                durable: CONSUMER_ARCHIVED.into(),
                filter_suffix: lapor_events::subjects::REPORT_ARCHIVED,
            },
            std::sync::Arc::new(holds::HoldHandler),
        );
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
        rt.serve(routes, GRPC_SERVICE, &config.common, listener, shutdown)
            .await
    }
}
