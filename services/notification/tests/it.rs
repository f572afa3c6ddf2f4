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
    let report_id = s.event.report_id().unwrap().to_string();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_alerts_reach_the_opd_and_escalations_the_named_officials() {
    use lapor_domain::events::{DeadlineRef, Envelope, Event, SlaBreached, SlaEscalated, SlaWarning};
    let env = TestEnv::new().await.unwrap();
    let cfg = Config {
        common: env.common("notification"),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    let svc = Spawned::start(addr, |stop| svc.run_until(stop));
    let report = lapor_domain::ReportId::from_uuid(uuid::Uuid::now_v7());
    let deadline = DeadlineRef {
        report_id: report,
        step: lapor_domain::Step::FirstFollowUp,
        span: 1,
        opd_id: Some("dlh".parse().unwrap()),
        due_at: Utc::now(),
    };
    let env_of = |event| Envelope {
        id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: Utc::now(),
        event,
    };
    let events = [
        (
            subjects::SLA_WARNING,
            env_of(Event::SlaWarning(SlaWarning {
                deadline: deadline.clone(),
                warned_at: Utc::now(),
            })),
        ),
        (
            subjects::SLA_BREACHED,
            env_of(Event::SlaBreached(SlaBreached {
                deadline: deadline.clone(),
                detected_at: Utc::now(),
                officials: vec!["pj-dlh".into(), "kepala-dlh".into()],
                ledger_seq: 1,
            })),
        ),
        (
            subjects::SLA_ESCALATED,
            env_of(Event::SlaEscalated(SlaEscalated {
                deadline,
                level: 3,
                position: "sekda".into(),
                officials: vec!["sekda".into()],
                overdue_working_days: 7,
                escalated_at: Utc::now(),
            })),
        ),
    ];
    for (i, (suffix, e)) in events.iter().enumerate() {
        env.publish(suffix, &format!("e{i}"), codec::encode(e)).await;
        env.publish(suffix, &format!("e{i}-again"), codec::encode(e))
            .await;
    }
    let op = env.token("op", Role::Operator, None);
    let c = NotificationServiceClient::new(svc.channel().await);
    let msgs = eventually("three messages", Duration::from_secs(20), || {
        let mut c = c.clone();
        let (op, report_id) = (op.clone(), report.to_string());
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
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(msgs.len(), 3);
    let msgs = c
        .clone()
        .list_messages(authed(
            pn::ListMessagesRequest {
                report_id: report.to_string(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .messages;
    let mut who: Vec<(String, String, String)> = msgs
        .iter()
        .map(|m| {
            (
                m.template.clone(),
                m.recipient_kind.clone(),
                m.recipient_ref.clone(),
            )
        })
        .collect();
    who.sort();
    let want = [
        ("sla_breached", "opd", "dlh"),
        ("sla_escalated", "official", "sekda"),
        ("sla_warning", "opd", "dlh"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(who, want, "one message each, duplicates sent nothing");
    let body = |t: &str| msgs.iter().find(|m| m.template == t).unwrap().body.clone();
    assert!(
        body("sla_breached").contains("melewati tenggat tindak lanjut pertama"),
        "{}",
        body("sla_breached")
    );
    assert!(
        body("sla_escalated").contains("7 hari kerja"),
        "{}",
        body("sla_escalated")
    );
    svc.stop().await;
}
