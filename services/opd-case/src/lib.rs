//! OPD cases: opens a case for each dispatched report and serves it to the officers of that OPD
//! only. Consumes `ReportDispatched`; publishes `CaseOpened`.

mod api;
pub mod config;
mod entities;
mod error;
mod handler;
mod migration;

use std::future::Future;
use std::sync::Arc;

use lapor_events::consumer::ConsumerSpec;
use lapor_events::{Runtime, subjects};
use lapor_proto::cases::v1::case_service_server::CaseServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;

/// Name of the gRPC service, for health checks.
pub const GRPC_SERVICE: &str = "lapor.cases.v1.CaseService";
/// Durable consumer of dispatched reports.
pub const CONSUMER_DISPATCHED: &str = "opd-case-report-dispatched";

/// A built opd-case service, ready to run.
pub struct Service {
    rt: Runtime,
    listener: TcpListener,
    config: Config,
}

impl Service {
    /// Connects, migrates and starts consuming.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let mut rt = Runtime::start::<migration::Migrator>(&config.common, "opd-case").await?;
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_DISPATCHED.into(),
                filter_suffix: subjects::REPORT_DISPATCHED,
            },
            Arc::new(handler::DispatchedHandler { bus: rt.bus.clone() }),
        );
        Ok(Self { rt, listener, config })
    }

    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains and stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { rt, listener, config } = self;
        let auth = lapor_platform::Authenticator::new(&config.common.auth);
        let routes = tonic::service::Routes::new(InterceptedService::new(
            CaseServiceServer::new(api::Api {
                db: rt.db.clone(),
                bus: rt.bus.clone(),
                relay_wake: rt.relay_waker(),
            }),
            move |r| auth.intercept(r),
        ));
        rt.serve(routes, GRPC_SERVICE, &config.common, listener, shutdown)
            .await
    }
}
