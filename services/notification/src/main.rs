//! The notification binary: loads configuration, starts telemetry, serves until SIGTERM.

use lapor_notification::{Config, Service};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let file = std::env::args().nth(1).map(std::path::PathBuf::from);
    let config: Config = lapor_platform::config::load("notification", &Config::default(), file.as_deref())?;
    let _telemetry = lapor_platform::telemetry::init("notification", &config.common.telemetry)?;
    let listener = tokio::net::TcpListener::bind(&config.common.grpc_addr).await?;
    let service = Service::build(config, listener).await?;
    tracing::info!(addr = %service.local_addr()?, "notification listening");
    service
        .run_until(lapor_platform::shutdown::shutdown_signal())
        .await
}
