//! Restart: reports submitted while routing is down are all dispatched exactly once after.

use std::time::Duration;

use futures::StreamExt;

use lapor_proto::common::v1::ReportKind;
use lapor_system_tests::{System, eventually};

use crate::{submission, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_submitted_while_routing_is_down_are_dispatched_once_it_returns() {
    let mut sys = System::start().await;
    sys.stop_service("routing").await;
    for i in 0..50 {
        submit(
            &sys,
            submission(
                &format!("restart-{i}"),
                ReportKind::Pengaduan as i32,
                "infrastruktur.drainase",
            ),
        )
        .await;
    }
    assert_eq!(sys.count("SELECT count(*)::text FROM intake.reports").await, 50);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sys.count("SELECT count(*)::text FROM opd_case.cases").await, 0);

    sys.start_service("routing").await;
    eventually("50 cases", Duration::from_secs(60), || {
        let sys = &sys;
        async move { (sys.count("SELECT count(*)::text FROM opd_case.cases").await == 50).then_some(()) }
    })
    .await;
    // Give redeliveries a chance to show up, then check nothing happened twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sys.count("SELECT count(*)::text FROM routing.queue_reports WHERE status = 'DISPATCHED'")
            .await,
        50
    );
    assert_eq!(
        sys.count("SELECT count(*)::text FROM routing.outbox WHERE event_type = 'ReportDispatched'")
            .await,
        50
    );
    assert_eq!(
        sys.count("SELECT count(DISTINCT report_id)::text FROM opd_case.cases")
            .await,
        50
    );
    assert_eq!(sys.count("SELECT count(*)::text FROM opd_case.cases").await, 50);
    assert_eq!(
        sys.count("SELECT count(*)::text FROM routing.outbox WHERE published_at IS NULL")
            .await,
        0
    );
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_routing_replicas_share_one_durable_consumer_and_dispatch_each_report_once() {
    let mut sys = System::start().await;
    sys.stop_service("routing").await;
    for i in 0..40 {
        submit(
            &sys,
            submission(&format!("replica-{i}"), ReportKind::Aspirasi as i32, "pendidikan"),
        )
        .await;
    }
    sys.start_service("routing").await;
    sys.start_replica("routing").await;
    eventually("40 cases", Duration::from_secs(60), || async {
        (sys.count("SELECT count(*)::text FROM opd_case.cases").await == 40).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sys.count("SELECT count(*)::text FROM routing.outbox WHERE event_type = 'ReportDispatched'")
            .await,
        40
    );
    assert_eq!(
        sys.count(
            "SELECT count(*)::text FROM routing.processed_events WHERE consumer <> 'routing-calendar-changed'"
        )
        .await,
        40
    );
    assert_eq!(sys.count("SELECT count(*)::text FROM opd_case.cases").await, 40);
    // One durable consumer, whatever the number of replicas.
    let js = async_nats::jetstream::new(sys.env.nats().await.unwrap());
    let stream = js.get_stream(sys.env.stream_name()).await.unwrap();
    let mut names = Vec::new();
    let mut consumers = stream.consumer_names();
    while let Some(n) = consumers.next().await {
        names.push(n.unwrap());
    }
    let mut routing: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with("routing-"))
        .collect();
    routing.sort_unstable();
    assert_eq!(
        routing,
        [
            "routing-calendar-changed",
            lapor_routing::CONSUMER_TRANSFERS,
            lapor_routing::CONSUMER_HOLD_COMPLETED,
            lapor_routing::CONSUMER_SUBMITTED
        ],
        "one durable consumer per subscription, shared by both replicas: {names:?}"
    );
    sys.stop().await;
}
