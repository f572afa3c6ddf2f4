//! Logs and traces: `tracing` everywhere, JSON or text logs, OpenTelemetry OTLP export when an
//! endpoint is configured, and W3C trace-context helpers for gRPC metadata and NATS headers.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::TelemetryConfig;

/// Flushes and shuts the trace and metric exporters down when dropped (or on [`TelemetryGuard::shutdown`]).
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    /// Exports what is still buffered and stops the exporters.
    pub fn shutdown(&mut self) {
        if let Some(p) = self.traces.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("telemetry: trace shutdown: {e}");
        }
        if let Some(p) = self.metrics.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("telemetry: metric shutdown: {e}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Installs the global subscriber for a process. Safe to call more than once (tests run several
/// services in one process): later calls keep the first subscriber.
///
/// With `otlp_endpoint` empty nothing is exported and no OpenTelemetry layer is installed: spans
/// are then plain `tracing` spans that the log filter discards, and metric instruments are no-ops.
/// With an endpoint, spans go through a batch processor on its own thread (a full queue drops
/// spans, it never blocks a request) and metrics through a periodic reader.
pub fn init(service: &str, cfg: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt_layer = if cfg.log_format == "json" {
        tracing_subscriber::fmt::layer()
            .event_format(JsonLines)
            .with_writer(std::io::stdout)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_target(true).boxed()
    };
    let mut guard = TelemetryGuard::default();
    let otel_layer = if cfg.otlp_endpoint.is_empty() {
        None
    } else {
        use opentelemetry_otlp::WithExportConfig;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service.to_owned())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(cfg.otlp_endpoint.clone())
            .with_timeout(Duration::from_millis(cfg.export_timeout_ms.max(1)))
            .build()?;
        let batch = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(Duration::from_millis(cfg.span_export_delay_ms.max(1)))
                    .with_max_queue_size(cfg.span_queue_size.max(1))
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(batch)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                cfg.sample_ratio.clamp(0.0, 1.0),
            ))))
            .with_resource(resource.clone())
            .build();
        let tracer = provider.tracer(service.to_owned());
        opentelemetry::global::set_tracer_provider(provider.clone());
        guard.traces = Some(provider);

        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(cfg.otlp_endpoint.clone())
            .with_timeout(Duration::from_millis(cfg.export_timeout_ms.max(1)))
            .build()?;
        let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(metric_exporter)
            .with_interval(Duration::from_millis(cfg.metrics_interval_ms.max(100)))
            .build();
        let meters = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource)
            .build();
        opentelemetry::global::set_meter_provider(meters.clone());
        guard.metrics = Some(meters);
        // A database span outside any other span (the relay's poll, a periodic sweep) would be a
        // one-span trace every few hundred milliseconds: only database work done for a request
        // or an event is exported.
        let only_nested_db = tracing_subscriber::filter::dynamic_filter_fn(|meta, cx| {
            !(meta.is_span() && meta.target().starts_with("sea_orm")) || cx.lookup_current().is_some()
        });
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(only_nested_db),
        )
    };
    // Without export, spans would serve only to name the span in log lines: they are not
    // created at all, so that tracing off costs next to nothing (see `make bench`).
    let exporting = otel_layer.is_some();
    let fmt_layer = fmt_layer.with_filter(tracing_subscriber::filter::filter_fn(move |meta| {
        exporting || !meta.is_span()
    }));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(otel_layer)
        .with(fmt_layer)
        .try_init();
    Ok(guard)
}

/// One JSON object per log line: `timestamp`, `level` (lowercase), `target`, `message`, the
/// event's structured fields, the current span's name, and `trace_id`/`span_id` of the current
/// span when it is traced, so that a log line leads to its trace.
struct JsonLines;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = serde_json::Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().to_lowercase().into());
        line.insert("target".into(), meta.target().into());
        let mut fields = JsonFields(serde_json::Map::new());
        event.record(&mut fields);
        if let Some(m) = fields.0.remove("message") {
            line.insert("message".into(), m);
        }
        if !fields.0.is_empty() {
            line.insert("fields".into(), fields.0.into());
        }
        // The span's id is taken and its registry reference released before the OpenTelemetry
        // context is looked up: that lookup locks the span's extensions.
        let current = ctx.lookup_current().map(|span| (span.id(), span.name()));
        if let Some((id, name)) = current {
            line.insert("span".into(), name.into());
            let cx = tracing::dispatcher::get_default(|d| tracing_opentelemetry::get_otel_context(&id, d));
            if let Some(cx) = cx {
                let sc = cx.span().span_context().clone();
                if sc.is_valid() {
                    line.insert("trace_id".into(), sc.trace_id().to_string().into());
                    line.insert("span_id".into(), sc.span_id().to_string().into());
                }
            }
        }
        let text = serde_json::Value::Object(line).to_string();
        writeln!(writer, "{text}")
    }
}

struct JsonFields(serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for JsonFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
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
    traceparent_of(&tracing::Span::current())
}

/// Returns the W3C `traceparent` of `span`, if it is being traced.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut map = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut MapInjector(&mut map)));
    map.remove("traceparent")
}

/// Makes `span` a child of the remote span named by a W3C `traceparent`.
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent.filter(|s| !s.is_empty() && !span.is_disabled()) else {
        return;
    };
    let map = HashMap::from([("traceparent".to_owned(), tp.to_owned())]);
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&MapExtractor(&map)));
    let _ = span.set_parent(cx);
}

/// Links `span` to `to` (work done once for several traces, such as a consumer batch, names
/// each of them), if `to` is being traced.
pub fn link(span: &tracing::Span, to: &tracing::Span) {
    if span.is_disabled() || to.is_disabled() {
        return;
    }
    let sc = to.context().span().span_context().clone();
    if sc.is_valid() {
        span.add_link(sc);
    }
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

/// Records on the current RPC's span the report it acts on (ids only, never content).
pub fn record_report(report_id: impl std::fmt::Display, tracking_id: Option<&str>) {
    let span = tracing::Span::current();
    span.record("lapor.report.id", tracing::field::display(report_id));
    if let Some(t) = tracking_id {
        span.record("lapor.tracking_id", t);
    }
}

/// Records on the current RPC's span the OPD it acts for.
pub fn record_opd(opd_id: &str) {
    tracing::Span::current().record("lapor.opd.id", opd_id);
}
