//! gRPC server scaffold: health, reflection, listener stream and draining shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub use tonic_health::server::health_reporter;

/// Returns the reflection service over every lapor proto, or `None` when disabled.
pub fn reflection(
    enabled: bool,
    file_descriptor_set: &'static [u8],
) -> Option<
    tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
> {
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

/// Turns a bound listener into the incoming stream tonic serves, with `TCP_NODELAY` on every
/// accepted connection (what tonic does when it binds the address itself; a stream of our own
/// listener would otherwise keep Nagle's algorithm, and a response written in two parts could
/// wait for the client's delayed ACK).
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// A shutdown future for tonic: when `signal` completes, marks every service NOT_SERVING first,
/// waits `drain` so that load balancers stop sending, then lets tonic finish in-flight RPCs.
pub async fn draining(
    signal: impl Future<Output = ()> + Send + 'static,
    health: HealthReporter,
    services: Vec<&'static str>,
    drain: Duration,
) {
    signal.await;
    health.set_service_status("", ServingStatus::NotServing).await;
    for s in services {
        health.set_service_status(s, ServingStatus::NotServing).await;
    }
    tracing::info!("health set to NOT_SERVING, draining");
    tokio::time::sleep(drain).await;
}

/// Marks the named services SERVING.
pub async fn set_serving(health: &HealthReporter, services: &[&'static str]) {
    health.set_service_status("", ServingStatus::Serving).await;
    for s in services {
        health.set_service_status(*s, ServingStatus::Serving).await;
    }
}

/// Serves `routes` (the service's authenticated APIs) plus health and reflection on `listener`
/// until `shutdown` completes; then health turns NOT_SERVING, the listener drains for `drain`,
/// and in-flight RPCs finish.
pub async fn serve(
    routes: tonic::service::Routes,
    grpc_services: Vec<&'static str>,
    common: &crate::config::CommonConfig,
    listener: TcpListener,
    drain: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (health, health_svc) = health_reporter();
    set_serving(&health, &grpc_services).await;
    let mut builder = tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        .concurrency_limit_per_connection(256)
        .trace_fn(request_span)
        .layer(RpcMetricsLayer);
    let mut router = builder.add_routes(routes);
    router = router.add_service(health_svc);
    router = router.add_optional_service(reflection(common.reflection, lapor_proto_descriptor()));
    router
        .serve_with_incoming_shutdown(
            incoming(listener),
            draining(shutdown, health, grpc_services, drain),
        )
        .await
}

/// One server span per RPC, named after the method, continuing the caller's W3C trace context.
/// `rpc.grpc.status_code` is recorded when the answer is known; handlers record the report they
/// act on with [`crate::telemetry::record_report`] and [`crate::telemetry::record_opd`].
fn request_span(req: &http::Request<()>) -> tracing::Span {
    rpc_span(
        req.uri().path(),
        req.headers().get("traceparent").and_then(|v| v.to_str().ok()),
    )
}

/// The server span of one RPC to `path` (`/package.Service/Method`), a child of the caller's
/// `traceparent` when there is one.
pub fn rpc_span(path: &str, traceparent: Option<&str>) -> tracing::Span {
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        lapor.report.id = tracing::field::Empty,
        lapor.tracking_id = tracing::field::Empty,
        lapor.opd.id = tracing::field::Empty,
    );
    crate::telemetry::set_parent(&span, traceparent);
    span
}

static DESCRIPTOR: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();

/// Registers the encoded descriptor set served by reflection (each service calls it with
/// `lapor_proto::FILE_DESCRIPTOR_SET` before serving).
pub fn register_descriptor(fds: &'static [u8]) {
    let _ = DESCRIPTOR.set(fds);
}

fn lapor_proto_descriptor() -> &'static [u8] {
    DESCRIPTOR.get().copied().unwrap_or_default()
}

/// Records `rpc.server.call.duration` for every call, with `rpc.service`, `rpc.method` and
/// `rpc.grpc.status_code` (from the `grpc-status` of a trailers-only answer, else 0: a unary
/// answer with a body succeeded), and the status on the call's span.
#[derive(Debug, Clone, Copy)]
struct RpcMetricsLayer;

impl<S> tower_layer::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
struct RpcMetrics<S> {
    inner: S,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> tower_service::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let path = req.uri().path().trim_start_matches('/').to_owned();
        let started = std::time::Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let code = match &res {
                Ok(r) => r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0),
                Err(_) => tonic::Code::Unknown as i64,
            };
            let span = tracing::Span::current();
            span.record("rpc.grpc.status_code", code);
            if is_server_error(code) {
                span.record("otel.status_code", "ERROR");
            }
            let (service, method) = path.split_once('/').unwrap_or((path.as_str(), ""));
            crate::metrics::get().rpc_duration.record(
                started.elapsed().as_secs_f64(),
                &[
                    crate::metrics::attr("rpc.system", "grpc"),
                    crate::metrics::attr("rpc.service", service.to_owned()),
                    crate::metrics::attr("rpc.method", method.to_owned()),
                    crate::metrics::attr("rpc.grpc.status_code", code),
                ],
            );
            res
        })
    }
}

/// The codes the semantic conventions count as a server's error (the rest are the caller's).
fn is_server_error(code: i64) -> bool {
    use tonic::Code;
    [
        Code::Unknown,
        Code::DeadlineExceeded,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
    ]
    .iter()
    .any(|c| *c as i64 == code)
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = super::incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
