//! The metric instruments of every service, defined once. They are created from the global meter
//! provider on first use: with an OTLP endpoint configured ([`crate::telemetry::init`] runs
//! before anything records) they export; without one they are no-ops that cost a branch.
//!
//! Names follow the OpenTelemetry semantic conventions where one exists (`rpc.server.*`,
//! `messaging.*`); lapor's own are under `lapor.`. The service is the resource's `service.name`,
//! never an attribute.

use std::sync::LazyLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram};

/// Bucket boundaries in seconds for request and processing durations (1 ms to 10 s).
const SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every instrument.
pub struct Metrics {
    /// `rpc.server.call.duration` (s): one record per RPC; its count by `rpc.grpc.status_code`
    /// gives the rate and the errors per method.
    pub rpc_duration: Histogram<f64>,
    /// `messaging.process.duration` (s): one record per delivered event, by consumer and outcome.
    pub process_duration: Histogram<f64>,
    /// `lapor.consumer.redeliveries`: deliveries of an event after its first.
    pub redeliveries: Counter<u64>,
    /// `lapor.consumer.dead_letters`: events set aside in `dead_letters`.
    pub dead_letters: Counter<u64>,
    /// `lapor.consumer.pending`: messages of the durable consumer not yet delivered.
    pub consumer_pending: Gauge<u64>,
    /// `lapor.consumer.ack_pending`: delivered, not yet acknowledged.
    pub consumer_ack_pending: Gauge<u64>,
    /// `lapor.outbox.backlog`: outbox rows not yet published.
    pub outbox_backlog: Gauge<u64>,
    /// `lapor.outbox.relay.lag` (s): from the commit that wrote a row to JetStream's ack.
    pub relay_lag: Histogram<f64>,
    /// `messaging.client.sent.messages`: events the relay published.
    pub published: Counter<u64>,
    /// `lapor.sla.deadlines.open`: open deadlines per OPD (sla-monitor).
    pub deadlines_open: Gauge<u64>,
    /// `lapor.sla.deadlines.overdue`: open deadlines past due per OPD (sla-monitor).
    pub deadlines_overdue: Gauge<u64>,
    /// `lapor.notification.deliveries`: delivery attempts by channel and outcome (notification).
    pub deliveries: Counter<u64>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let m = opentelemetry::global::meter("lapor");
    Metrics {
        rpc_duration: m
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_description("Duration of gRPC calls served")
            .with_boundaries(SECONDS.to_vec())
            .build(),
        process_duration: m
            .f64_histogram("messaging.process.duration")
            .with_unit("s")
            .with_description("Duration of applying one delivered event")
            .with_boundaries(SECONDS.to_vec())
            .build(),
        redeliveries: m
            .u64_counter("lapor.consumer.redeliveries")
            .with_description("Deliveries of an event after its first")
            .build(),
        dead_letters: m
            .u64_counter("lapor.consumer.dead_letters")
            .with_description("Events set aside in dead_letters")
            .build(),
        consumer_pending: m
            .u64_gauge("lapor.consumer.pending")
            .with_description("Messages of the durable consumer not yet delivered")
            .build(),
        consumer_ack_pending: m
            .u64_gauge("lapor.consumer.ack_pending")
            .with_description("Messages delivered and not yet acknowledged")
            .build(),
        outbox_backlog: m
            .u64_gauge("lapor.outbox.backlog")
            .with_description("Outbox rows not yet published")
            .build(),
        relay_lag: m
            .f64_histogram("lapor.outbox.relay.lag")
            .with_unit("s")
            .with_description("Time from writing an outbox row to JetStream's acknowledgement")
            .with_boundaries(SECONDS.to_vec())
            .build(),
        published: m
            .u64_counter("messaging.client.sent.messages")
            .with_description("Events published by the outbox relay")
            .build(),
        deadlines_open: m
            .u64_gauge("lapor.sla.deadlines.open")
            .with_description("Open follow-up and verification deadlines per OPD")
            .build(),
        deadlines_overdue: m
            .u64_gauge("lapor.sla.deadlines.overdue")
            .with_description("Open deadlines past their due time per OPD")
            .build(),
        deliveries: m
            .u64_counter("lapor.notification.deliveries")
            .with_description("Notification delivery attempts by channel and outcome")
            .build(),
    }
});

/// The instruments.
pub fn get() -> &'static Metrics {
    &METRICS
}

/// A string attribute.
pub fn attr(key: &'static str, value: impl Into<opentelemetry::Value>) -> KeyValue {
    KeyValue::new(key, value)
}
