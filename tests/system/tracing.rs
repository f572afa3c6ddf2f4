//! W3C trace context crosses gRPC metadata, the outbox and NATS headers: one trace per report.

use std::time::Duration;

use lapor_platform::Role;
use lapor_proto::common::v1::ReportKind;
use lapor_system_tests::{System, authed, eventually};

use crate::submission;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_trace_continues_through_every_hop() {
    lapor_testkit::install_trace_context();
    let sys = System::start().await;
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let token = sys.token(Role::Reporter, None);
    let mut req = authed(
        submission("trace-1", ReportKind::Pengaduan as i32, "infrastruktur.jalan"),
        &token,
    );
    req.metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let accepted = sys.intake().await.submit_report(req).await.unwrap().into_inner();

    // Operations find the trace from the tracking id the reporter quotes.
    let found = sys
        .intake()
        .await
        .get_trace(authed(
            lapor_proto::intake::v1::GetTraceRequest {
                tracking_id: accepted.tracking_id.clone(),
            },
            &sys.token(Role::Operator, None),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (found.trace_id.as_str(), found.report_id.as_str()),
        (trace_id.as_str(), accepted.report_id.as_str())
    );
    let denied = sys
        .intake()
        .await
        .get_trace(authed(
            lapor_proto::intake::v1::GetTraceRequest {
                tracking_id: accepted.tracking_id.clone(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "not for reporters");

    // Each hop stores the trace context with the event it writes; the next hop continues it.
    for (hop, table, event) in [
        ("intake", "intake.outbox", "ReportSubmitted"),
        ("routing", "routing.outbox", "ReportDispatched"),
        ("opd-case", "opd_case.outbox", "CaseOpened"),
    ] {
        let stored = eventually(&format!("{hop}'s {event}"), Duration::from_secs(30), || async {
            sys.sql(&format!(
                "SELECT coalesce(traceparent, '') FROM {table} WHERE event_type = '{event}' \
                 AND payload LIKE '%' || convert_to('{}', 'UTF8') || '%'",
                accepted.report_id
            ))
            .await
            .into_iter()
            .next()
        })
        .await;
        assert_eq!(
            lapor_testkit::trace_id_of(&stored),
            Some(trace_id.as_str()),
            "{hop}: {stored:?}"
        );
    }
    // The relay sends it as a NATS header.
    let messages = eventually("three events relayed", Duration::from_secs(30), || async {
        let m = sys.report_messages().await;
        (m.len() == 3).then_some(m)
    })
    .await;
    let mut seen = 0;
    for m in messages {
        let tp = m
            .headers
            .get("traceparent")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        assert_eq!(
            lapor_testkit::trace_id_of(&tp),
            Some(trace_id.as_str()),
            "message {}",
            m.sequence
        );
        seen += 1;
    }
    assert_eq!(seen, 3);
    sys.stop().await;
}
