//! Routing: the operator's queue, the OPD registry and the routing rules. Consumes
//! `ReportSubmitted`; publishes `ReportDispatched` when a rule or an operator dispatches.

mod api;
pub mod config;
mod decisions;
pub mod duplicates;
pub mod entities;
mod error;
pub mod migration;
mod rule_store;
pub mod rules;

pub use decisions::{
    Desk, DuplicateScanRow, duplicate_scan, duplicate_scan_batch, lock_neighbourhoods, scan_neighbours,
};

use std::future::Future;
use std::sync::Arc;

use lapor_domain::Calendar;
use lapor_events::consumer::ConsumerSpec;
use lapor_events::{Runtime, subjects};
use lapor_proto::routing::v1::routing_service_server::RoutingServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;

/// Name of the gRPC service, for health checks.
pub const GRPC_SERVICE: &str = "lapor.routing.v1.RoutingService";
/// Durable consumer of submitted reports.
pub const CONSUMER_SUBMITTED: &str = "routing-report-submitted";
/// Durable consumer of reporters' completions of held reports.
pub const CONSUMER_HOLD_COMPLETED: &str = "routing-report-hold-completed";
/// Durable consumer of OPDs' transfer requests.
pub const CONSUMER_TRANSFERS: &str = "routing-case-transfer-requested";

/// How often a replica re-reads the calendar version another replica stored.
const CALENDAR_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// A built routing service, ready to run.
pub struct Service {
    rt: Runtime,
    listener: TcpListener,
    config: Config,
    api: api::Api,
}

impl Service {
    /// Validates configuration, connects, migrates and starts consuming.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        Calendar::from_spec(&config.calendar)?;
        let mut rt = Runtime::start::<migration::Migrator>(&config.common, "routing").await?;
        let calendar = rt
            .follow_calendar("routing", &config.calendar, CALENDAR_REFRESH)
            .await?;
        let seeded = rule_store::seed(&rt.db, &config)
            .await
            .map_err(|e| anyhow::anyhow!("routing rules: {e}"))?;
        if seeded > 0 {
            tracing::info!(rules = seeded, "routing rules seeded from configuration");
        }
        let desk = Arc::new(decisions::Desk {
            config: config.clone(),
            calendar,
            bus: rt.bus.clone(),
        });
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_SUBMITTED.into(),
                filter_suffix: subjects::REPORT_SUBMITTED,
            },
            Arc::new(decisions::SubmittedHandler(desk.clone())),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_TRANSFERS.into(),
                filter_suffix: subjects::CASE_TRANSFER_REQUESTED,
            },
            Arc::new(decisions::TransferHandler(desk.clone())),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_HOLD_COMPLETED.into(),
                filter_suffix: subjects::REPORT_HOLD_COMPLETED,
            },
            Arc::new(decisions::HoldCompletedHandler(desk.clone())),
        );
        let intake = tonic::transport::Endpoint::from_shared(config.intake_url.clone())
            .map_err(|e| anyhow::anyhow!("intake_url: {e}"))?
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(10))
            .connect_lazy();
        let api = api::Api {
            intake: lapor_proto::intake::v1::intake_service_client::IntakeServiceClient::new(intake),
            db: rt.db.clone(),
            desk,
            relay_wake: rt.relay_waker(),
        };
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
            RoutingServiceServer::new(api),
            move |r| auth.intercept(r),
        ));
        rt.serve(routes, &[GRPC_SERVICE], &config.common, listener, shutdown)
            .await
    }
}
