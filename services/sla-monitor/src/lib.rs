//! SLA monitor: records every deadline a report is subject to, computed in working days on the
//! city calendar from the events alone (so a replay gives the same result), and serves them.
//! Consumes `ReportSubmitted` and `ReportDispatched`.

mod api;
pub mod config;
mod entities;
mod handler;
mod migration;

use std::future::Future;
use std::sync::Arc;

use lapor_domain::Calendar;
use lapor_events::consumer::ConsumerSpec;
use lapor_events::{Runtime, subjects};
use lapor_proto::sla::v1::sla_service_server::SlaServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;

/// Name of the gRPC service, for health checks.
pub const GRPC_SERVICE: &str = "lapor.sla.v1.SlaService";
/// Durable consumer of submitted reports.
pub const CONSUMER_SUBMITTED: &str = "sla-report-submitted";
/// Durable consumer of dispatched reports.
pub const CONSUMER_DISPATCHED: &str = "sla-report-dispatched";
/// Durable consumer of OPD follow-ups (the first one meets the first-follow-up deadline).
pub const CONSUMER_FOLLOWED_UP: &str = "sla-case-followed-up";
/// Durable consumer of holds (the verification clock pauses).
pub const CONSUMER_PUT_ON_HOLD: &str = "sla-report-put-on-hold";
/// Durable consumer of completed holds (the verification clock resumes).
pub const CONSUMER_HOLD_COMPLETED: &str = "sla-report-hold-completed";
/// Durable consumer of the OPD's questions to the reporter (stop the OPD's clock).
pub const CONSUMER_INFO_REQUESTED: &str = "sla-case-info-requested";
/// Durable consumer of replies (an answer restarts the OPD's clock).
pub const CONSUMER_REPLIED: &str = "sla-case-replied";

/// A built SLA monitor, ready to run.
pub struct Service {
    rt: Runtime,
    listener: TcpListener,
    config: Config,
}

impl Service {
    /// Validates the calendar, connects, migrates and starts consuming.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let calendar = Calendar::from_spec(&config.calendar)?;
        let mut rt = Runtime::start::<migration::Migrator>(&config.common, "sla-monitor").await?;
        let handler = Arc::new(handler::DeadlineRecorder {
            calendar,
            policy: config.policy.clone(),
        });
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_SUBMITTED.into(),
                filter_suffix: subjects::REPORT_SUBMITTED,
            },
            handler.clone(),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_DISPATCHED.into(),
                filter_suffix: subjects::REPORT_DISPATCHED,
            },
            handler.clone(),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_PUT_ON_HOLD.into(),
                filter_suffix: subjects::REPORT_PUT_ON_HOLD,
            },
            handler.clone(),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_HOLD_COMPLETED.into(),
                filter_suffix: subjects::REPORT_HOLD_COMPLETED,
            },
            handler.clone(),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_FOLLOWED_UP.into(),
                filter_suffix: subjects::CASE_FOLLOWED_UP,
            },
            handler.clone(),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_INFO_REQUESTED.into(),
                filter_suffix: subjects::CASE_INFO_REQUESTED,
            },
            handler.clone(),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_REPLIED.into(),
                filter_suffix: subjects::CASE_REPLIED,
            },
            handler,
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
            SlaServiceServer::new(api::Api {
                db: rt.db.clone(),
                calendar: Calendar::from_spec(&config.calendar)?,
            }),
            move |r| auth.intercept(r),
        ));
        rt.serve(routes, &[GRPC_SERVICE], &config.common, listener, shutdown)
            .await
    }
}
