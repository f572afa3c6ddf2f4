//! lapor-platform's integration suite: telemetry against a collector that never answers.
//! (Its own test binary: `telemetry::init` installs the process-wide subscriber.)
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Read;
use std::time::Duration;

use lapor_platform::config::TelemetryConfig;
use lapor_platform::{metrics, telemetry};

/// A TCP server that accepts connections and never answers: the worst collector there is.
fn stalled_collector() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.set_read_timeout(Some(Duration::from_millis(1)));
            let _ = conn.read(&mut buf);
            held.push(conn);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_collector_never_blocks_instrumented_work_and_shutdown_is_bounded() {
    let cfg = TelemetryConfig {
        otlp_endpoint: stalled_collector(),
        span_queue_size: 256,
        span_export_delay_ms: 10,
        metrics_interval_ms: 100,
        export_timeout_ms: 1000,
        ..TelemetryConfig::default()
    };
    let mut guard = telemetry::init("stall-test", &cfg).unwrap();

    // Far more spans than the queue holds, while every export hangs: the work finishes (spans
    // beyond the queue are dropped), it does not wait for the exporter.
    let work = tokio::task::spawn_blocking(|| {
        let mut traced = 0;
        for i in 0..50_000u32 {
            let span = tracing::info_span!("grpc", otel.kind = "server", lapor.report.id = i);
            let _in = span.enter();
            metrics::get()
                .rpc_duration
                .record(0.001, &[metrics::attr("rpc.method", "Stall")]);
            if telemetry::current_traceparent().is_some() {
                traced += 1;
            }
        }
        traced
    });
    let traced = tokio::time::timeout(Duration::from_secs(120), work)
        .await
        .expect("instrumented work blocked behind a stalled exporter")
        .unwrap();
    assert_eq!(
        traced, 50_000,
        "every span was sampled and carried a trace context"
    );

    // The flush at shutdown gives up after the export timeout instead of hanging.
    let shutdown = tokio::task::spawn_blocking(move || guard.shutdown());
    tokio::time::timeout(Duration::from_secs(30), shutdown)
        .await
        .expect("telemetry shutdown hung on a stalled collector")
        .unwrap();
}
