//! An OTLP/gRPC collector inside the test: the trace and metrics services of the OpenTelemetry
//! protocol on a loopback port, keeping what it receives for assertions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use tokio_stream::wrappers::TcpListenerStream;

/// One received span, flattened.
#[derive(Debug, Clone)]
pub struct Span {
    /// `service.name` of the exporting process.
    pub service: String,
    /// Trace id, lowercase hex.
    pub trace_id: String,
    /// Span id, lowercase hex.
    pub span_id: String,
    /// Parent span id, lowercase hex; empty for a root.
    pub parent_span_id: String,
    /// Span name.
    pub name: String,
    /// Kind (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    /// Attributes, values rendered as text.
    pub attributes: BTreeMap<String, String>,
    /// Status code (0 unset, 1 ok, 2 error).
    pub status: i32,
}

/// One received metric data point, flattened.
#[derive(Debug, Clone)]
pub struct Point {
    /// `service.name` of the exporting process.
    pub service: String,
    /// Metric name.
    pub metric: String,
    /// Point attributes, values rendered as text.
    pub attributes: BTreeMap<String, String>,
    /// The value: a gauge's or sum's number, a histogram's count.
    pub value: f64,
}

/// What the collector received.
#[derive(Debug, Default)]
pub struct Received {
    /// Every span.
    pub spans: Vec<Span>,
    /// Every metric data point.
    pub points: Vec<Point>,
}

/// A running collector.
#[derive(Clone)]
pub struct Collector {
    /// `http://127.0.0.1:<port>`, the OTLP endpoint to configure.
    pub endpoint: String,
    received: Arc<Mutex<Received>>,
}

impl Collector {
    /// A copy of the spans received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.received.lock().map(|r| r.spans.clone()).unwrap_or_default()
    }

    /// A copy of the metric points received so far.
    pub fn points(&self) -> Vec<Point> {
        self.received.lock().map(|r| r.points.clone()).unwrap_or_default()
    }
}

/// Starts a collector on a free loopback port; it runs until the test's runtime ends.
pub async fn start() -> Collector {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("otlp bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("otlp addr: {e}"));
    let received = Arc::new(Mutex::new(Received::default()));
    let sink = Sink(received.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(sink.clone()))
            .add_service(MetricsServiceServer::new(sink))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    Collector {
        endpoint: format!("http://{addr}"),
        received,
    }
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Received>>);

fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn service_of(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .map(|r| attrs(&r.attributes))
        .and_then(|a| a.get("service.name").cloned())
        .unwrap_or_default()
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut got = Vec::new();
        for rs in request.into_inner().resource_spans {
            let service = service_of(rs.resource.as_ref());
            for ss in rs.scope_spans {
                for s in ss.spans {
                    got.push(Span {
                        service: service.clone(),
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent_span_id: hex(&s.parent_span_id),
                        name: s.name,
                        kind: s.kind,
                        attributes: attrs(&s.attributes),
                        status: s.status.map(|st| st.code).unwrap_or_default(),
                    });
                }
            }
        }
        if let Ok(mut r) = self.0.lock() {
            r.spans.extend(got);
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
        let number = |v: Option<Value>| match v {
            Some(Value::AsDouble(d)) => d,
            Some(Value::AsInt(i)) => i as f64,
            None => 0.0,
        };
        let mut got = Vec::new();
        for rm in request.into_inner().resource_metrics {
            let service = service_of(rm.resource.as_ref());
            for sm in rm.scope_metrics {
                for m in sm.metrics {
                    let mut push = |a: &[KeyValue], value: f64| {
                        got.push(Point {
                            service: service.clone(),
                            metric: m.name.clone(),
                            attributes: attrs(a),
                            value,
                        });
                    };
                    match &m.data {
                        Some(Data::Gauge(g)) => {
                            for p in &g.data_points {
                                push(&p.attributes, number(p.value));
                            }
                        }
                        Some(Data::Sum(s)) => {
                            for p in &s.data_points {
                                push(&p.attributes, number(p.value));
                            }
                        }
                        Some(Data::Histogram(h)) => {
                            for p in &h.data_points {
                                push(&p.attributes, p.count as f64);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Ok(mut r) = self.0.lock() {
            r.points.extend(got);
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}
