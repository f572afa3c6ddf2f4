//! gRPC server scaffold: health, reflection, listener stream and draining shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub use tonic_health::server::health_reporter;

/// Returns the reflection service over every lapor proto, or `None` when disabled.
pub fn reflection(
    enabled: bool,
    file_descriptor_set: &'static [u8],
) -> Option<tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>>
{
    if !enabled {
        return None;
    }
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(file_descriptor_set)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| tracing::warn!(error = %e, "reflection disabled"))
        .ok()
}

/// Turns a bound listener into the incoming stream tonic serves.
pub fn incoming(listener: TcpListener) -> TcpListenerStream {
    TcpListenerStream::new(listener)
}

/// A shutdown future for tonic: when `signal` completes, marks every service NOT_SERVING first,
/// waits `drain` so that load balancers stop sending, then lets tonic finish in-flight RPCs.
pub fn draining(
    signal: impl Future<Output = ()> + Send + 'static,
    health: HealthReporter,
    services: Vec<&'static str>,
    drain: Duration,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        signal.await;
        health.set_service_status("", ServingStatus::NotServing).await;
        for s in services {
            health.set_service_status(s, ServingStatus::NotServing).await;
        }
        tracing::info!("health set to NOT_SERVING, draining");
        tokio::time::sleep(drain).await;
    }
}

/// Marks the named services SERVING.
pub async fn set_serving(health: &HealthReporter, services: &[&'static str]) {
    health.set_service_status("", ServingStatus::Serving).await;
    for s in services {
        health.set_service_status(*s, ServingStatus::Serving).await;
    }
}
