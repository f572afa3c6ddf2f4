//! Logs and traces: `tracing` everywhere, JSON or text logs, OpenTelemetry OTLP export when an
//! endpoint is configured, and W3C trace-context helpers for gRPC metadata and NATS headers.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::TelemetryConfig;

/// Flushes and shuts the trace exporter down when dropped.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("telemetry shutdown: {e}");
        }
    }
}

/// Installs the global subscriber for a process. Safe to call more than once (tests run several
/// services in one process): later calls keep the first subscriber.
pub fn init(service: &str, cfg: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt_layer = if cfg.log_format == "json" {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_target(true).boxed()
    };
    let mut guard = TelemetryGuard::default();
    let otel_layer = if cfg.otlp_endpoint.is_empty() {
        None
    } else {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(cfg.otlp_endpoint.clone())
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service.to_owned())
                    .build(),
            )
            .build();
        let tracer = provider.tracer(service.to_owned());
        opentelemetry::global::set_tracer_provider(provider.clone());
        guard.provider = Some(provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init();
    Ok(guard)
}

struct MapInjector<'a>(&'a mut HashMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct MapExtractor<'a>(&'a HashMap<String, String>);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Returns the W3C `traceparent` of the current span, if it is being traced.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut map = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut MapInjector(&mut map)));
    map.remove("traceparent")
}

/// Makes `span` a child of the remote span named by a W3C `traceparent`.
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent.filter(|s| !s.is_empty()) else {
        return;
    };
    let map = HashMap::from([("traceparent".to_owned(), tp.to_owned())]);
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&MapExtractor(&map)));
    let _ = span.set_parent(cx);
}

/// Makes `span` a child of the trace context carried in gRPC metadata, if any.
pub fn set_parent_from_metadata(span: &tracing::Span, md: &tonic::metadata::MetadataMap) {
    set_parent(span, md.get("traceparent").and_then(|v| v.to_str().ok()));
}

/// Adds the current span's W3C `traceparent` to outgoing gRPC metadata, if it is traced.
pub fn inject_into_metadata(md: &mut tonic::metadata::MetadataMap) {
    if let Some(tp) = current_traceparent()
        && let Ok(v) = tp.parse()
    {
        md.insert("traceparent", v);
    }
}
