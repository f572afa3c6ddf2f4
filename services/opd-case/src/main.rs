//! The opd-case binary: loads configuration, starts telemetry, serves until SIGTERM.

use lapor_opd_case::{Config, Service};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let file = std::env::args().nth(1).map(std::path::PathBuf::from);
    let config: Config = lapor_platform::config::load("opd-case", &Config::default(), file.as_deref())?;
    let _telemetry = lapor_platform::telemetry::init("opd-case", &config.common.telemetry)?;
    let listener = tokio::net::TcpListener::bind(&config.common.grpc_addr).await?;
    let service = Service::build(config, listener).await?;
    tracing::info!(addr = %service.local_addr()?, "opd-case listening");
    service
        .run_until(lapor_platform::shutdown::shutdown_signal())
        .await
}
