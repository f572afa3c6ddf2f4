//! What our instrumentation costs one request, in three set-ups (one per process, because the
//! subscriber is process-wide): `none` (no subscriber: the code as if uninstrumented), `off`
//! (what a service runs with `telemetry.otlp_endpoint` empty: JSON logs, no OpenTelemetry) and
//! `on` (export of every span and metric to an OTLP collector in this process, batch exporter).
//!
//! One "request" is what an RPC that writes an event does to telemetry: the server span with the
//! caller's trace context, the report ids recorded, the duration metric, the trace context read
//! for the outbox row, and three database spans. The same run measures a PostgreSQL round trip
//! (`SELECT 1`), the unit that tells whether a cost is measurable next to a request's real work.
//!
//! `cargo run --release -p lapor-platform --example telemetry_cost -- off` prints one JSON line.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::time::{Duration, Instant};

use lapor_platform::config::TelemetryConfig;
use lapor_platform::{metrics, server, telemetry};
use sea_orm::{ConnectionTrait, Database};

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn one_request(i: u64) -> bool {
    let span = server::rpc_span("/lapor.intake.v1.IntakeService/SubmitReport", Some(CALLER));
    let _in = span.enter();
    telemetry::record_report(i, Some("LPR-BTG-0000"));
    let mut traced = false;
    for op in ["INSERT", "INSERT", "INSERT"] {
        let db = tracing::info_span!(target: "sea_orm", "sea_orm.execute", db.system = "postgresql", db.operation = op);
        let _db = db.enter();
        traced |= telemetry::current_traceparent().is_some();
    }
    metrics::get().rpc_duration.record(
        0.001,
        &[
            metrics::attr("rpc.system", "grpc"),
            metrics::attr("rpc.service", "lapor.intake.v1.IntakeService"),
            metrics::attr("rpc.method", "SubmitReport"),
            metrics::attr("rpc.grpc.status_code", 0),
        ],
    );
    traced
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "off".into());
    let requests: u64 = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let collector = lapor_testkit::otlp::start().await;
    let _guard = match mode.as_str() {
        "none" => None,
        "off" => Some(telemetry::init(
            "telemetry-cost",
            &TelemetryConfig {
                log_format: "json".into(),
                ..TelemetryConfig::default()
            },
        )?),
        "on" => Some(telemetry::init(
            "telemetry-cost",
            &TelemetryConfig {
                otlp_endpoint: collector.endpoint.clone(),
                log_format: "json".into(),
                span_queue_size: 65_536,
                span_export_delay_ms: 200,
                ..TelemetryConfig::default()
            },
        )?),
        other => anyhow::bail!("mode must be none, off or on, not {other:?}"),
    };

    // Same run: a PostgreSQL round trip.
    let url = std::env::var("LAPOR_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut opts = sea_orm::ConnectOptions::new(url);
    opts.sqlx_logging(false);
    let db = Database::connect(opts).await?;
    let n_pg = 2000u32;
    for _ in 0..100 {
        db.execute_unprepared("SELECT 1").await?;
    }
    let t = Instant::now();
    for _ in 0..n_pg {
        db.execute_unprepared("SELECT 1").await?;
    }
    let pg_ns = t.elapsed().as_nanos() as f64 / f64::from(n_pg);

    let work = tokio::task::spawn_blocking(move || {
        for i in 0..requests / 10 {
            std::hint::black_box(one_request(i));
        }
        let t = Instant::now();
        let mut traced = 0u64;
        for i in 0..requests {
            traced += u64::from(std::hint::black_box(one_request(i)));
        }
        (t.elapsed(), traced)
    });
    let (elapsed, traced): (Duration, u64) = work.await?;
    let ns = elapsed.as_nanos() as f64 / requests as f64;
    let exported = if mode == "on" {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        collector.spans().len()
    } else {
        0
    };
    println!(
        "{}",
        serde_json::json!({
            "bench": "telemetry_cost",
            "mode": mode,
            "requests": requests,
            "ns_per_request": ns.round(),
            "traced_requests": traced,
            "spans_exported_so_far": exported,
            "pg_select1_roundtrip_ns": pg_ns.round(),
            "ratio_to_pg_roundtrip": (ns / pg_ns * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}
