//! Notification's integration suite: messages rendered in Indonesian, one per event and
//! recipient however often the event is delivered.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use lapor_domain::{ReportKind, fixtures};
use lapor_events::{codec, subjects};
use lapor_notification::{Config, Service};
use lapor_platform::Role;
use lapor_proto::notification::v1::{self as pn, notification_service_client::NotificationServiceClient};
use lapor_testkit::{Spawned, TestEnv, authed, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_notifies_each_recipient_once_in_indonesian() {
    let env = TestEnv::new().await.unwrap();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/bontang.toml");
    let mut cfg: Config =
        lapor_platform::config::load("notification", &Config::default(), Some(&seed)).unwrap();
    cfg.common = env.common("notification");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    let svc = Spawned::start(addr, |stop| svc.run_until(stop));

    let s = fixtures::submitted(ReportKind::Pengaduan, "air-minum", Utc::now());
    let d = fixtures::dispatched(&s, "perumda-air-minum", Utc::now());
    let o = fixtures::case_opened(&d, Utc::now());
    for i in 0..2 {
        env.publish(subjects::REPORT_SUBMITTED, &format!("s-{i}"), codec::encode(&s))
            .await;
        env.publish(subjects::CASE_OPENED, &format!("o-{i}"), codec::encode(&o))
            .await;
    }
    let op = env.token("op", Role::Operator, None);
    let mut c = NotificationServiceClient::new(svc.channel().await);
    let report_id = s.event.report_id().to_string();
    let msgs = eventually("three messages", Duration::from_secs(20), || {
        let mut c = c.clone();
        let (op, report_id) = (op.clone(), report_id.clone());
        async move {
            let m = c
                .list_messages(authed(pn::ListMessagesRequest { report_id }, &op))
                .await
                .ok()?
                .into_inner()
                .messages;
            (m.len() >= 3).then_some(m)
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = c
        .list_messages(authed(
            pn::ListMessagesRequest {
                report_id: report_id.clone(),
            },
            &op,
        ))
        .await
        .unwrap();
    assert_eq!(
        again.into_inner().messages.len(),
        3,
        "duplicates sent nothing more"
    );
    let to_opd = msgs.iter().find(|m| m.recipient_kind == "opd").unwrap();
    assert_eq!(to_opd.recipient_ref, "perumda-air-minum");
    assert!(to_opd.body.contains("Mohon tindak lanjut"), "{}", to_opd.body);
    let forwarded = msgs.iter().find(|m| m.template == "case_opened").unwrap();
    assert!(
        forwarded.body.contains("Perumda Tirta Taman"),
        "{}",
        forwarded.body
    );
    assert!(
        msgs.iter()
            .all(|m| m.channel == "inbox" && m.state == "delivered")
    );
    let reporter = env.token("warga", Role::Reporter, None);
    let err = c
        .list_messages(authed(pn::ListMessagesRequest { report_id }, &reporter))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    svc.stop().await;
}
