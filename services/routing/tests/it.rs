//! Routing's integration suite: the real service against its own PostgreSQL schema and a NATS
//! stream of its own, fed with events as intake would publish them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use lapor_domain::ReportKind;
use lapor_domain::events::Event;
use lapor_domain::fixtures;
use lapor_events::{codec, subjects};
use lapor_platform::Role;
use lapor_proto::routing::v1::{self as pr, routing_service_client::RoutingServiceClient};
use lapor_routing::{Config, Service};
use lapor_testkit::{Spawned, TestEnv, authed, eventually};

async fn start(env: &TestEnv) -> Spawned {
    start_with(env, |_| {}).await
}

/// [`start`] with settings changed from the seed's.
async fn start_with(env: &TestEnv, change: impl FnOnce(&mut Config)) -> Spawned {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/bontang.toml");
    let mut cfg: Config = lapor_platform::config::load("routing", &Config::default(), Some(&seed)).unwrap();
    cfg.common = env.common("routing");
    change(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    Spawned::start(addr, |stop| svc.run_until(stop))
}

async fn dispatched(env: &TestEnv, n: usize) -> Vec<lapor_domain::events::ReportDispatched> {
    eventually(
        &format!("{n} ReportDispatched"),
        Duration::from_secs(20),
        || async {
            let all: Vec<_> = env
                .messages_on(subjects::REPORT_DISPATCHED)
                .await
                .iter()
                .filter_map(|p| match codec::decode(p).ok()?.event {
                    Event::ReportDispatched(d) => Some(d),
                    _ => None,
                })
                .collect();
            (all.len() >= n).then_some(all)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_dispatches_once_however_often_the_event_is_delivered() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let e = fixtures::submitted(ReportKind::Pengaduan, "infrastruktur.penerangan", Utc::now());
    for i in 0..3 {
        env.publish(
            subjects::REPORT_SUBMITTED,
            &format!("{}-{i}", e.id),
            codec::encode(&e),
        )
        .await;
    }
    // The same report under another event id (a producer that submitted it twice): stored once.
    let mut again = e.clone();
    again.id = lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7());
    env.publish(subjects::REPORT_SUBMITTED, "resubmitted", codec::encode(&again))
        .await;
    let d = dispatched(&env, 1).await;
    // The most specific rule wins: street lighting goes to Dishub, not to Dinas PUPR.
    assert_eq!(d[0].opd_id.as_str(), "dishub");
    assert_eq!(d[0].rule_id.as_deref(), Some("r-penerangan"));
    assert_eq!(d[0].report_id, e.event.report_id().unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(dispatched(&env, 1).await.len(), 1, "dispatched exactly once");
    // ... and the second submission was taken as already done, not failed (and retried).
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&env.db_url).await.unwrap();
    let applied = format!(
        "SELECT count(*) AS n FROM routing.processed_events WHERE event_id = '{}'",
        again.id
    );
    eventually(
        "the second submission applied",
        Duration::from_secs(10),
        || async {
            let n: i64 = db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    applied.clone(),
                ))
                .await
                .ok()??
                .try_get("", "n")
                .ok()?;
            (n == 1).then_some(())
        },
    )
    .await;
    db.close().await.unwrap();
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_for_operators_and_validates_its_paging() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let e = fixtures::submitted(ReportKind::Aspirasi, "kesehatan.puskesmas", Utc::now());
    let queued = fixtures::submitted(ReportKind::Aspirasi, "", Utc::now());
    env.publish(subjects::REPORT_SUBMITTED, "a", codec::encode(&e))
        .await;
    env.publish(subjects::REPORT_SUBMITTED, "b", codec::encode(&queued))
        .await;
    let op = env.token("op", Role::Operator, None);
    let mut c = RoutingServiceClient::new(svc.channel().await);
    let items = eventually("one queued", Duration::from_secs(20), || {
        let mut c = c.clone();
        let op = op.clone();
        async move {
            let r = c
                .list_queue(authed(pr::ListQueueRequest::default(), &op))
                .await
                .ok()?
                .into_inner();
            (r.items.len() == 1).then_some(r.items)
        }
    })
    .await;
    assert_eq!(items[0].report_id, queued.event.report_id().unwrap().to_string());
    assert_eq!(
        items[0].status,
        lapor_proto::common::v1::ReportStatus::Submitted as i32
    );
    assert!(items[0].verification_due_at.is_some());
    for role in [Role::Reporter, Role::OpdOfficer, Role::Auditor, Role::Service] {
        let t = env.token("x", role, Some("dinkes"));
        let err = c
            .list_queue(authed(pr::ListQueueRequest::default(), &t))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "{role:?}");
    }
    let err = c
        .list_queue(authed(
            pr::ListQueueRequest {
                page_size: 500,
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&err), ["page_size"]);
    let err = c
        .list_queue(authed(
            pr::ListQueueRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&err), ["page_token"]);
    let opds = c
        .list_opds(authed(pr::ListOpdsRequest {}, &op))
        .await
        .unwrap()
        .into_inner()
        .opds;
    assert!(opds.len() >= 10 && opds.iter().any(|o| o.opd_id == "disdukcapil"));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_event_is_dead_lettered_and_the_next_one_still_flows() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    env.publish(
        subjects::REPORT_SUBMITTED,
        "poison",
        b"\x08\x96\x01garbage".to_vec(),
    )
    .await;
    let good = fixtures::submitted(ReportKind::PermintaanInformasi, "informasi-publik", Utc::now());
    env.publish(subjects::REPORT_SUBMITTED, "good", codec::encode(&good))
        .await;
    let d = dispatched(&env, 1).await;
    assert_eq!(d[0].opd_id.as_str(), "diskominfo");
    let db = sea_orm::Database::connect(env.db_url.clone()).await.unwrap();
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT msg_id || ' ' || reason FROM routing.dead_letters".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let text: String = row.try_get_by_index(0).unwrap();
    assert!(text.starts_with("poison "), "{text}");
    db.close().await.unwrap();
    svc.stop().await;
}

/// Publishes a report with no category (so it waits in the queue) and returns its id once queued.
async fn queued(
    env: &TestEnv,
    c: &mut RoutingServiceClient<tonic::transport::Channel>,
    kind: ReportKind,
) -> String {
    let e = fixtures::submitted(kind, "", Utc::now());
    env.publish(subjects::REPORT_SUBMITTED, &e.id.to_string(), codec::encode(&e))
        .await;
    let id = e.event.report_id().unwrap().to_string();
    let op = env.token("op", Role::Operator, None);
    eventually("queued", Duration::from_secs(20), || {
        let mut c = c.clone();
        let (op, id) = (op.clone(), id.clone());
        async move {
            c.get_report(authed(pr::GetReportRequest { report_id: id }, &op))
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
    id
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Verify,
    Hold,
    NotAuthorized,
    Archive,
    Dispatch,
}

const ACTS: [Act; 5] = [
    Act::Verify,
    Act::Hold,
    Act::NotAuthorized,
    Act::Archive,
    Act::Dispatch,
];

async fn act(
    c: &mut RoutingServiceClient<tonic::transport::Channel>,
    token: &str,
    id: &str,
    a: Act,
) -> Result<(), tonic::Status> {
    let id = id.to_owned();
    match a {
        Act::Verify => c
            .verify_report(authed(
                pr::VerifyReportRequest {
                    report_id: id,
                    kind: lapor_proto::common::v1::ReportKind::Pengaduan as i32,
                    needs_examination: true,
                    category_id: "infrastruktur.jalan".into(),
                    anonim: true,
                    rahasia: false,
                    title: "Jalan rusak di Jl. Pattimura".into(),
                },
                token,
            ))
            .await
            .map(|_| ()),
        Act::Hold => c
            .hold_report(authed(
                pr::HoldReportRequest {
                    report_id: id,
                    reason: "Lokasi belum jelas".into(),
                },
                token,
            ))
            .await
            .map(|_| ()),
        Act::NotAuthorized => c
            .declare_not_authorized(authed(
                pr::DeclareNotAuthorizedRequest {
                    report_id: id,
                    reason: "Kewenangan Pemprov Kaltim".into(),
                },
                token,
            ))
            .await
            .map(|_| ()),
        Act::Archive => c
            .archive_report(authed(
                pr::ArchiveReportRequest {
                    report_id: id,
                    reason_code: "terlalu-umum".into(),
                    note: String::new(),
                },
                token,
            ))
            .await
            .map(|_| ()),
        Act::Dispatch => c
            .dispatch(authed(
                pr::DispatchRequest {
                    report_id: id,
                    opd_id: "dinas-pupr".into(),
                },
                token,
            ))
            .await
            .map(|_| ()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_transition_and_every_illegal_one_through_the_rpcs() {
    use tonic::Code;
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let op = env.token("op-1", Role::Operator, None);
    let mut c = RoutingServiceClient::new(svc.channel().await);
    let mut ok = std::collections::BTreeMap::<&str, usize>::new();

    // From Belum Terverifikasi every decision is allowed.
    for a in ACTS {
        let id = queued(&env, &mut c, ReportKind::Pengaduan).await;
        act(&mut c, &op, &id, a)
            .await
            .unwrap_or_else(|e| panic!("{a:?} from SUBMITTED: {e:?}"));
        *ok.entry(format!("{a:?}").leak()).or_default() += 1;
        // Verification keeps it in the queue and may be repeated.
        if matches!(a, Act::Verify) {
            act(&mut c, &op, &id, a).await.unwrap();
            *ok.entry("Verify").or_default() += 1;
        }
    }
    // From each other state: (state reached by, allowed next decisions).
    let cases: [(Act, &[Act]); 4] = [
        (Act::Hold, &[Act::Archive]),
        (Act::NotAuthorized, &[]),
        (Act::Archive, &[]),
        (Act::Dispatch, &[]),
    ];
    for (reach, allowed) in cases {
        for a in ACTS {
            let id = queued(&env, &mut c, ReportKind::Pengaduan).await;
            act(&mut c, &op, &id, reach).await.unwrap();
            *ok.entry(format!("{reach:?}").leak()).or_default() += 1;
            let r = act(&mut c, &op, &id, a).await;
            if allowed
                .iter()
                .any(|x| std::mem::discriminant(x) == std::mem::discriminant(&a))
            {
                r.unwrap_or_else(|e| panic!("{a:?} after {reach:?}: {e:?}"));
                *ok.entry(format!("{a:?}").leak()).or_default() += 1;
            } else {
                let e = r.expect_err(&format!("{a:?} after {reach:?} must be refused"));
                assert_eq!(e.code(), Code::FailedPrecondition, "{a:?} after {reach:?}: {e:?}");
            }
        }
    }
    // Each accepted decision published exactly one event on its subject.
    let count = |s: &'static str| {
        let env = &env;
        async move { env.messages_on(s).await.len() }
    };
    eventually("events relayed", Duration::from_secs(20), || async {
        (count(subjects::REPORT_ARCHIVED).await == ok["Archive"]).then_some(())
    })
    .await;
    assert_eq!(count(subjects::REPORT_VERIFIED).await, ok["Verify"]);
    assert_eq!(count(subjects::REPORT_PUT_ON_HOLD).await, ok["Hold"]);
    assert_eq!(count(subjects::REPORT_NOT_AUTHORIZED).await, ok["NotAuthorized"]);
    assert_eq!(count(subjects::REPORT_DISPATCHED).await, ok["Dispatch"]);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_validate_authorize_and_leave_an_audit_trail() {
    use tonic::Code;
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let op = env.token("op-7", Role::Operator, None);
    let mut c = RoutingServiceClient::new(svc.channel().await);
    let id = queued(&env, &mut c, ReportKind::Aspirasi).await;

    // Only operators decide.
    for (role, opd) in [
        (Role::OpdOfficer, Some("dinkes")),
        (Role::Supervisor, None),
        (Role::Auditor, None),
        (Role::Reporter, None),
    ] {
        let t = env.token("x", role, opd);
        for a in ACTS {
            let e = act(&mut c, &t, &id, a).await.unwrap_err();
            assert_eq!(e.code(), Code::PermissionDenied, "{role:?} {a:?}");
        }
    }
    // Field violations, all at once.
    let bad = pr::VerifyReportRequest {
        report_id: id.clone(),
        kind: lapor_proto::common::v1::ReportKind::Aspirasi as i32,
        needs_examination: true,
        category_id: "infrastruktur.bandara".into(),
        title: "abc".into(),
        ..Default::default()
    };
    let e = c.verify_report(authed(bad, &op)).await.unwrap_err();
    assert_eq!(
        lapor_platform::status::violated_fields(&e),
        ["needs_examination", "category_id", "title"]
    );
    let e = c
        .verify_report(authed(
            pr::VerifyReportRequest {
                report_id: id.clone(),
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        lapor_platform::status::violated_fields(&e),
        ["kind", "category_id"]
    );
    let e = c
        .hold_report(authed(
            pr::HoldReportRequest {
                report_id: id.clone(),
                reason: " ".into(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["reason"]);
    let e = c
        .archive_report(authed(
            pr::ArchiveReportRequest {
                report_id: id.clone(),
                reason_code: "bosan".into(),
                note: String::new(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["reason_code"]);
    let e = c
        .hold_report(authed(
            pr::HoldReportRequest {
                report_id: uuid::Uuid::new_v4().to_string(),
                reason: "x".into(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Verify (rewriting the title and setting anonim), hold, then archive from hold.
    let v = c
        .verify_report(authed(
            pr::VerifyReportRequest {
                report_id: id.clone(),
                kind: lapor_proto::common::v1::ReportKind::Pengaduan as i32,
                needs_examination: true,
                category_id: "kesehatan.puskesmas".into(),
                anonim: true,
                rahasia: true,
                title: "Antrean panjang di Puskesmas Bontang Utara".into(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(v.verified && v.anonim && v.rahasia && v.needs_examination);
    assert_eq!(v.original_title, "Lampu jalan padam");
    assert_eq!(v.category_id, "kesehatan.puskesmas");
    let h = c
        .hold_report(authed(
            pr::HoldReportRequest {
                report_id: id.clone(),
                reason: "Jam kejadian?".into(),
            },
            &op,
        ))
        .await
        .unwrap();
    assert_eq!(h.into_inner().report.unwrap().hold_reason, "Jam kejadian?");
    let a = c
        .archive_report(authed(
            pr::ArchiveReportRequest {
                report_id: id.clone(),
                reason_code: "tidak-dilengkapi".into(),
                note: "tidak dijawab 10 hari".into(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(a.status, lapor_proto::common::v1::ReportStatus::Archived as i32);
    assert_eq!(
        a.close_reason,
        "Tidak dilengkapi pelapor setelah ditunda: tidak dijawab 10 hari"
    );

    // The audit trail: auditors read it, newest first, with actor, role, reason and changes.
    let auditor = env.token("inspektorat", Role::Auditor, None);
    let entries = c
        .list_audit(authed(
            pr::ListAuditRequest {
                report_id: id.clone(),
                ..Default::default()
            },
            &auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["archive", "hold", "verify", "submit"]);
    assert!(
        entries[..3]
            .iter()
            .all(|e| e.actor == "op-7" && e.role == "operator")
    );
    assert_eq!(entries[1].reason, "Jam kejadian?");
    let changes: serde_json::Value = serde_json::from_str(&entries[2].changes_json).unwrap();
    assert_eq!(changes["anonim"], serde_json::json!([false, true]));
    assert_eq!(changes["title"][1], "Antrean panjang di Puskesmas Bontang Utara");
    let reporter = env.token("warga", Role::Reporter, None);
    let e = c
        .list_audit(authed(pr::ListAuditRequest::default(), &reporter))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // GetReport shows the same history oldest first.
    let got = c
        .get_report(authed(
            pr::GetReportRequest {
                report_id: id.clone(),
            },
            &auditor,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.history.len(), 4);
    assert_eq!(got.history[0].action, "submit");
    // The verification event carries the new classification and flags.
    let verified = eventually("ReportVerified", Duration::from_secs(20), || async {
        env.messages_on(subjects::REPORT_VERIFIED)
            .await
            .into_iter()
            .next()
    })
    .await;
    let Event::ReportVerified(ev) = codec::decode(&verified).unwrap().event else {
        panic!()
    };
    assert!(ev.needs_examination && ev.privacy.anonim && ev.privacy.rahasia);
    assert_eq!(ev.verified_by, "op-7");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_filters_by_status_kind_category_age_deadline_and_text() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let op = env.token("op", Role::Operator, None);
    let mut c = RoutingServiceClient::new(svc.channel().await);
    let old = Utc::now() - chrono::Duration::days(20);
    let mk = |kind, cat: &str, title: &str, at| {
        let mut e = fixtures::submitted(kind, cat, at);
        if let Event::ReportSubmitted(s) = &mut e.event {
            s.content.title = title.to_owned();
        }
        e
    };
    // Categories with auto-dispatch off or unknown keep them queued: use "ketertiban".
    let reports = [
        mk(
            ReportKind::Pengaduan,
            "ketertiban",
            "Parkir liar di depan sekolah",
            Utc::now(),
        ),
        mk(ReportKind::Aspirasi, "ketertiban", "Usul patroli malam", old),
        mk(
            ReportKind::Pengaduan,
            "",
            "Pedagang di trotoar Jl. Bhayangkara",
            Utc::now(),
        ),
    ];
    for e in &reports {
        env.publish(subjects::REPORT_SUBMITTED, &e.id.to_string(), codec::encode(e))
            .await;
    }
    let lister = c.clone();
    let list = |req: pr::ListQueueRequest| {
        let mut c = lister.clone();
        let op = op.clone();
        async move {
            let mut ids: Vec<String> = c
                .list_queue(authed(req, &op))
                .await
                .unwrap()
                .into_inner()
                .items
                .into_iter()
                .map(|i| i.title)
                .collect();
            ids.sort();
            ids
        }
    };
    eventually("three queued", Duration::from_secs(20), || async {
        (list(pr::ListQueueRequest::default()).await.len() == 3).then_some(())
    })
    .await;
    let pk = lapor_proto::common::v1::ReportKind::Aspirasi as i32;
    assert_eq!(
        list(pr::ListQueueRequest {
            kind: pk,
            ..Default::default()
        })
        .await,
        ["Usul patroli malam"]
    );
    assert_eq!(
        list(pr::ListQueueRequest {
            category_id: "ketertiban".into(),
            ..Default::default()
        })
        .await,
        ["Parkir liar di depan sekolah", "Usul patroli malam"]
    );
    assert_eq!(
        list(pr::ListQueueRequest {
            query: "TROTOAR".into(),
            ..Default::default()
        })
        .await,
        ["Pedagang di trotoar Jl. Bhayangkara"]
    );
    assert_eq!(
        list(pr::ListQueueRequest {
            query: "100%".into(),
            ..Default::default()
        })
        .await,
        Vec::<String>::new()
    );
    let week_ago = lapor_events::codec::ts(Utc::now() - chrono::Duration::days(7));
    assert_eq!(
        list(pr::ListQueueRequest {
            submitted_before: Some(week_ago),
            ..Default::default()
        })
        .await,
        ["Usul patroli malam"]
    );
    // The 20-day-old report's verification deadline has passed: "time left" below zero.
    assert_eq!(
        list(pr::ListQueueRequest {
            verification_due_before: Some(lapor_events::codec::ts(Utc::now())),
            ..Default::default()
        })
        .await,
        ["Usul patroli malam"]
    );
    // Statuses: hold one, then it leaves the default queue and appears under ON_HOLD.
    let held = reports[2].event.report_id().unwrap().to_string();
    c.hold_report(authed(
        pr::HoldReportRequest {
            report_id: held,
            reason: "Foto?".into(),
        },
        &op,
    ))
    .await
    .unwrap();
    assert_eq!(list(pr::ListQueueRequest::default()).await.len(), 2);
    let on_hold = lapor_proto::common::v1::ReportStatus::OnHold as i32;
    assert_eq!(
        list(pr::ListQueueRequest {
            statuses: vec![on_hold],
            ..Default::default()
        })
        .await,
        ["Pedagang di trotoar Jl. Bhayangkara"]
    );
    let e = c
        .list_queue(authed(
            pr::ListQueueRequest {
                statuses: vec![42],
                kind: 9,
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["statuses", "kind"]);
    svc.stop().await;
}

fn proto_rule(id: &str, opd: &str) -> pr::RoutingRule {
    pr::RoutingRule {
        rule_id: id.into(),
        opd_id: opd.into(),
        enabled: true,
        auto_dispatch: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_versioned_data_and_a_change_never_rewrites_past_dispatches() {
    use tonic::Code;
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let op = env.token("op-rules", Role::Operator, None);
    let mut c = RoutingServiceClient::new(svc.channel().await);

    // Seeded from configuration at version 1.
    let rules = c
        .list_rules(authed(pr::ListRulesRequest {}, &op))
        .await
        .unwrap()
        .into_inner()
        .rules;
    let lights = rules
        .iter()
        .find(|r| r.rule_id == "r-penerangan")
        .unwrap()
        .clone();
    assert_eq!(
        (lights.version, lights.opd_id.as_str(), lights.updated_by.as_str()),
        (1, "dishub", "seed:configuration")
    );

    // Report A goes to Dishub by r-penerangan v1.
    let a = fixtures::submitted(ReportKind::Pengaduan, "infrastruktur.penerangan", Utc::now());
    env.publish(subjects::REPORT_SUBMITTED, "a", codec::encode(&a))
        .await;
    dispatched(&env, 1).await;

    // The rule moves to Dinas PUPR (v2); report B follows the new version.
    let mut changed = lights.clone();
    changed.opd_id = "dinas-pupr".into();
    let saved = c
        .put_rule(authed(
            pr::PutRuleRequest {
                rule: Some(changed.clone()),
                expected_version: 1,
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .rule
        .unwrap();
    assert_eq!((saved.version, saved.updated_by.as_str()), (2, "op-rules"));
    let stale = c
        .put_rule(authed(
            pr::PutRuleRequest {
                rule: Some(changed),
                expected_version: 1,
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition);
    let b = fixtures::submitted(ReportKind::Pengaduan, "infrastruktur.penerangan", Utc::now());
    env.publish(subjects::REPORT_SUBMITTED, "b", codec::encode(&b))
        .await;
    let d = dispatched(&env, 2).await;
    let opd_of = |id| {
        d.iter()
            .find(|x| x.report_id == id)
            .map(|x| x.opd_id.to_string())
            .unwrap()
    };
    assert_eq!(opd_of(a.event.report_id().unwrap()), "dishub");
    assert_eq!(opd_of(b.event.report_id().unwrap()), "dinas-pupr");

    // A's record and explanation keep v1; the live explanation shows v2.
    let explainer = c.clone();
    let explain = |id: String| {
        let mut c = explainer.clone();
        let op = op.clone();
        async move {
            c.explain_routing(authed(pr::ExplainRoutingRequest { report_id: id }, &op))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let ea = explain(a.event.report_id().unwrap().to_string()).await;
    assert_eq!(
        (ea.dispatched_by_rule_id.as_str(), ea.dispatched_by_rule_version),
        ("r-penerangan", 1)
    );
    assert_eq!(
        (ea.rule_id.as_str(), ea.opd_id.as_str()),
        ("r-penerangan", "dinas-pupr")
    );
    assert!(ea.summary.contains("(v2)"), "{}", ea.summary);
    let general = ea.verdicts.iter().find(|v| v.rule_id == "r-jalan").unwrap();
    assert!(
        general.matched,
        "the parent rule matches too, but loses on specificity"
    );
    let health = ea.verdicts.iter().find(|v| v.rule_id == "r-kesehatan").unwrap();
    assert!(
        !health.matched && health.reasons[0].contains("is not kesehatan"),
        "{:?}",
        health.reasons
    );
    let eb = explain(b.event.report_id().unwrap().to_string()).await;
    assert_eq!(eb.dispatched_by_rule_version, 2);

    // Delete: history stays, the rule is gone from the rules in force.
    c.delete_rule(authed(
        pr::DeleteRuleRequest {
            rule_id: "r-penerangan".into(),
            expected_version: 2,
        },
        &op,
    ))
    .await
    .unwrap();
    let got = c
        .get_rule(authed(
            pr::GetRuleRequest {
                rule_id: "r-penerangan".into(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(got.rule.is_none());
    let changes: Vec<(i64, &str)> = got
        .versions
        .iter()
        .map(|v| (v.version, v.change.as_str()))
        .collect();
    assert_eq!(changes, [(1, "created"), (2, "updated"), (3, "deleted")]);
    assert_eq!(got.versions[0].rule.as_ref().unwrap().opd_id, "dishub");
    // Now street lighting falls back to the parent rule.
    assert_eq!(
        explain(a.event.report_id().unwrap().to_string()).await.rule_id,
        "r-jalan"
    );
    let missing = c
        .get_rule(authed(
            pr::GetRuleRequest {
                rule_id: "nope".into(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyword_area_and_polygon_rules_route_through_the_service() {
    use tonic::Code;
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let op = env.token("op", Role::Operator, None);
    let mut c = RoutingServiceClient::new(svc.channel().await);
    let putter = c.clone();
    let put = |rule: pr::RoutingRule| {
        let mut c = putter.clone();
        let op = op.clone();
        async move {
            c.put_rule(authed(
                pr::PutRuleRequest {
                    rule: Some(rule),
                    expected_version: 0,
                },
                &op,
            ))
            .await
        }
    };
    // Floods go to BPBD whatever the category (priority 10).
    put(pr::RoutingRule {
        keywords: vec!["banjir".into()],
        priority: 10,
        ..proto_rule("r-banjir", "bpbd")
    })
    .await
    .unwrap();
    // Complaints inside a box around Bontang Utara go to Satpol PP.
    let area = [(0.13, 117.47), (0.13, 117.51), (0.17, 117.51), (0.17, 117.47)]
        .map(|(latitude, longitude)| pr::GeoPoint { latitude, longitude })
        .to_vec();
    put(pr::RoutingRule {
        category_id: "ketertiban".into(),
        polygon: area,
        priority: 5,
        ..proto_rule("r-utara", "satpol-pp")
    })
    .await
    .unwrap();
    // Kelurahan Berbas Tengah's waste goes to DLH by name.
    put(pr::RoutingRule {
        kelurahan: vec!["berbas tengah".into()],
        category_id: "lingkungan-hidup".into(),
        priority: 5,
        ..proto_rule("r-berbas", "dlh")
    })
    .await
    .unwrap();

    let mk = |cat: &str, body: &str, point: Option<(f64, f64)>, kel: &str| {
        let mut e = fixtures::submitted(ReportKind::Pengaduan, cat, Utc::now());
        if let Event::ReportSubmitted(s) = &mut e.event {
            s.content.body = body.to_owned();
            s.content.location = Some(lapor_domain::content::Location {
                point,
                kelurahan: kel.to_owned(),
                ..Default::default()
            });
        }
        e
    };
    let flood = mk(
        "infrastruktur.drainase",
        "Banjir setinggi lutut di Jl. KS Tubun",
        None,
        "",
    );
    let inside = mk("ketertiban", "Balap liar tiap malam", Some((0.15, 117.49)), "");
    let outside = mk("ketertiban", "Balap liar tiap malam", Some((0.10, 117.49)), "");
    let waste = mk(
        "lingkungan-hidup.sampah",
        "Sampah menumpuk",
        None,
        "Berbas Tengah",
    );
    for (i, e) in [&flood, &inside, &outside, &waste].into_iter().enumerate() {
        env.publish(subjects::REPORT_SUBMITTED, &format!("m{i}"), codec::encode(e))
            .await;
    }
    let d = dispatched(&env, 3).await;
    let opd_of = |e: &lapor_domain::events::Envelope| {
        d.iter()
            .find(|x| x.report_id == e.event.report_id().unwrap())
            .map(|x| x.opd_id.to_string())
    };
    assert_eq!(opd_of(&flood).as_deref(), Some("bpbd"));
    assert_eq!(opd_of(&inside).as_deref(), Some("satpol-pp"));
    assert_eq!(opd_of(&waste).as_deref(), Some("dlh"));
    // Outside the polygon only the seed rule (auto-dispatch off) matches: it waits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(opd_of(&outside), None);
    let why = c
        .explain_routing(authed(
            pr::ExplainRoutingRequest {
                report_id: outside.event.report_id().unwrap().to_string(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(why.rule_id, "r-ketertiban");
    assert!(!why.auto_dispatch);
    let utara = why.verdicts.iter().find(|v| v.rule_id == "r-utara").unwrap();
    assert!(
        !utara.matched
            && utara
                .reasons
                .iter()
                .any(|r| r.contains("outside the rule's area")),
        "{:?}",
        utara.reasons
    );

    // Validation and authorization.
    let e = put(pr::RoutingRule {
        polygon: vec![pr::GeoPoint::default(); 2],
        category_id: "nope".into(),
        ..proto_rule("bad", "dinas-fiktif")
    })
    .await
    .unwrap_err();
    assert_eq!(
        lapor_platform::status::violated_fields(&e),
        ["rule.opd_id", "rule.category_id", "rule.polygon"]
    );
    let e = put(proto_rule("r-banjir", "bpbd")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "creating an existing rule");
    for (role, opd) in [
        (Role::OpdOfficer, Some("bpbd")),
        (Role::Auditor, None),
        (Role::Reporter, None),
    ] {
        let t = env.token("x", role, opd);
        let e = c
            .put_rule(authed(
                pr::PutRuleRequest {
                    rule: Some(proto_rule("x", "bpbd")),
                    expected_version: 0,
                },
                &t,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{role:?}");
    }
    let auditor = env.token("inspektorat", Role::Auditor, None);
    assert!(
        c.list_rules(authed(pr::ListRulesRequest {}, &auditor))
            .await
            .is_ok()
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opd_registry_gives_officers_heads_and_the_escalation_chain() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let officer = env.token("pj", Role::OpdOfficer, Some("dinkes"));
    let mut c = RoutingServiceClient::new(svc.channel().await);
    let opds = c
        .list_opds(authed(pr::ListOpdsRequest {}, &officer))
        .await
        .unwrap()
        .into_inner()
        .opds;
    assert!(opds.len() >= 14, "Bontang's OPDs are seeded");
    assert!(
        opds.iter()
            .all(|o| o.head.is_some() && !o.liaison_officers.is_empty()),
        "every OPD has a head and a liaison"
    );
    let got = c
        .get_opd(authed(
            pr::GetOpdRequest {
                opd_id: "dinkes".into(),
            },
            &officer,
        ))
        .await
        .unwrap()
        .into_inner();
    let chain: Vec<(String, Vec<String>)> = got
        .escalation
        .into_iter()
        .map(|l| (l.level, l.officials.into_iter().map(|o| o.official_id).collect()))
        .collect();
    assert_eq!(
        chain,
        [
            ("liaison".to_owned(), vec!["pj-dinkes".to_owned()]),
            ("head".to_owned(), vec!["kepala-dinkes".to_owned()]),
            ("sekda".to_owned(), vec!["sekda".to_owned()]),
            ("mayor".to_owned(), vec!["walikota".to_owned()]),
        ]
    );
    assert_eq!(got.opd.unwrap().head.unwrap().name, "Kepala Dinas Kesehatan");
    let e = c
        .get_opd(authed(
            pr::GetOpdRequest {
                opd_id: "dinas-fiktif".into(),
            },
            &officer,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_found_in_a_fixture_of_thirty_and_none_from_elsewhere() {
    use std::collections::{BTreeMap, BTreeSet};
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let op = env.token("op", Role::Operator, None);
    let mut c = RoutingServiceClient::new(svc.channel().await);
    let now = Utc::now();
    let base = (0.1336, 117.5005);
    let m = |north_m: f64| (base.0 + north_m / 111_195.0, base.1);
    // Ten known pairs, each in its own category, texts varied, close in time and place (or no point).
    let pairs: [(&str, &str, &str, bool); 10] = [
        (
            "infrastruktur.jalan",
            "Jalan berlubang besar di Jl. Pattimura depan pasar",
            "Jl Pattimura depan pasar berlubang besar, bahaya",
            true,
        ),
        (
            "infrastruktur.drainase",
            "Drainase tersumbat sampah di Jl. KS Tubun",
            "Saluran drainase Jl KS Tubun tersumbat sampah",
            true,
        ),
        (
            "infrastruktur.penerangan",
            "Lampu penerangan jalan padam di Jl. Ahmad Yani",
            "PJU padam sepanjang Jl Ahmad Yani malam hari",
            true,
        ),
        (
            "kesehatan.puskesmas",
            "Antrean Puskesmas Bontang Utara sangat panjang",
            "Puskesmas Bontang Utara antrean sangat panjang sekali",
            false,
        ),
        (
            "kesehatan.rumah-sakit",
            "Ruang IGD RSUD penuh pasien menunggu di lorong",
            "IGD RSUD penuh, pasien menunggu di lorong",
            false,
        ),
        (
            "pendidikan",
            "Atap kelas SDN 005 bocor saat hujan",
            "Kelas SDN 005 bocor ketika hujan turun",
            true,
        ),
        (
            "adminduk.ktp-el",
            "Blangko KTP-el habis di Disdukcapil",
            "Blangko KTP el habis di kantor Disdukcapil",
            false,
        ),
        (
            "perizinan",
            "Pengurusan izin usaha mikro lambat di DPMPTSP",
            "Izin usaha mikro di DPMPTSP sangat lambat",
            false,
        ),
        (
            "lingkungan-hidup.sampah",
            "Sampah menumpuk di TPS Jl. Awang Long",
            "TPS Jl Awang Long sampah menumpuk berhari-hari",
            true,
        ),
        (
            "perhubungan",
            "Lampu lalu lintas simpang Bontang Kuala mati",
            "Traffic light simpang Bontang Kuala mati total",
            true,
        ),
    ];
    let mut reports = Vec::new(); // (label, envelope)
    let mk = |cat: &str, text: &str, point: Option<(f64, f64)>, at| {
        let mut e = fixtures::submitted(ReportKind::Pengaduan, cat, at);
        if let Event::ReportSubmitted(s) = &mut e.event {
            s.content.title = text.to_owned();
            s.content.body = text.to_owned();
            s.content.location = point.map(|p| lapor_domain::content::Location {
                point: Some(p),
                ..Default::default()
            });
        }
        e
    };
    for (i, (cat, a, b, with_point)) in pairs.iter().enumerate() {
        let (pa, pb) = if *with_point {
            (Some(m(0.0)), Some(m(120.0)))
        } else {
            (None, None)
        };
        reports.push((
            format!("pair{i}a"),
            mk(cat, a, pa, now - chrono::Duration::days(2)),
        ));
        reports.push((format!("pair{i}b"), mk(cat, b, pb, now)));
    }
    // Distractors: same text, other category; same text and category but 3 km away; same text,
    // category and place but 60 days earlier; same category, unrelated text.
    for (i, cat) in ["sosial", "ketertiban", "air-minum"].into_iter().enumerate() {
        reports.push((format!("othercat{i}"), mk(cat, pairs[i].1, Some(m(0.0)), now)));
    }
    for (i, p) in pairs.iter().enumerate().take(3) {
        reports.push((format!("far{i}"), mk(p.0, p.1, Some(m(3000.0)), now)));
    }
    for (i, p) in pairs.iter().enumerate().skip(3).take(2) {
        reports.push((
            format!("old{i}"),
            mk(p.0, p.1, None, now - chrono::Duration::days(60)),
        ));
    }
    #[allow(clippy::needless_range_loop)]
    for i in 5..7 {
        reports.push((
            format!("unrelated{i}"),
            mk(
                pairs[i].0,
                "Permohonan salinan dokumen anggaran tahunan",
                None,
                now,
            ),
        ));
    }
    assert_eq!(reports.len(), 30);
    for (label, e) in &reports {
        env.publish(subjects::REPORT_SUBMITTED, label, codec::encode(e))
            .await;
    }
    let label_of: BTreeMap<String, String> = reports
        .iter()
        .map(|(l, e)| (e.event.report_id().unwrap().to_string(), l.clone()))
        .collect();
    let found = |id: String| {
        let mut c = c.clone();
        let (op, label_of) = (op.clone(), label_of.clone());
        async move {
            let r = c
                .get_report(authed(pr::GetReportRequest { report_id: id }, &op))
                .await
                .ok()?
                .into_inner()
                .report?;
            Some(
                r.duplicate_candidates
                    .iter()
                    .map(|d| label_of[&d.report_id].clone())
                    .collect::<BTreeSet<String>>(),
            )
        }
    };
    // Wait until all thirty were received.
    eventually("thirty received", Duration::from_secs(30), || async {
        let mut n = 0;
        for (_, e) in &reports {
            n += usize::from(found(e.event.report_id().unwrap().to_string()).await.is_some());
        }
        (n == 30).then_some(())
    })
    .await;
    for (label, e) in &reports {
        let got = found(e.event.report_id().unwrap().to_string()).await.unwrap();
        let want: BTreeSet<String> = if let Some(rest) = label.strip_prefix("pair") {
            let partner = if rest.ends_with('a') {
                rest.replace('a', "b")
            } else {
                rest.replace('b', "a")
            };
            BTreeSet::from([format!("pair{partner}")])
        } else {
            BTreeSet::new()
        };
        assert_eq!(got, want, "{label}");
    }
    // The queue shows them too, with a reason.
    let items = c
        .list_queue(authed(
            pr::ListQueueRequest {
                statuses: vec![5, 1],
                page_size: 200,
                ..Default::default()
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .items;
    let with = items
        .iter()
        .filter(|i| !i.duplicate_candidates.is_empty())
        .count();
    assert_eq!(with, 20);
    assert!(
        items
            .iter()
            .flat_map(|i| &i.duplicate_candidates)
            .all(|d| !d.reason.is_empty() && d.score > 0.0)
    );

    // MarkDuplicate links the later report to the earlier one; chains and self-links are refused.
    let id = |label: &str| {
        reports
            .iter()
            .find(|(l, _)| l == label)
            .unwrap()
            .1
            .event
            .report_id()
            .unwrap()
            .to_string()
    };
    // The fixture's reports were dispatched by rules; mark among reports still waiting.
    let q1 = queued(&env, &mut c, ReportKind::Aspirasi).await;
    let q2 = queued(&env, &mut c, ReportKind::Aspirasi).await;
    let q3 = queued(&env, &mut c, ReportKind::Aspirasi).await;
    let marked = c
        .mark_duplicate(authed(
            pr::MarkDuplicateRequest {
                report_id: q2.clone(),
                duplicate_of: q1.clone(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!(marked.duplicate_of, q1);
    assert_eq!(
        marked.status,
        lapor_proto::common::v1::ReportStatus::Archived as i32
    );
    let e = c
        .mark_duplicate(authed(
            pr::MarkDuplicateRequest {
                report_id: q3.clone(),
                duplicate_of: q2.clone(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    let e = c
        .mark_duplicate(authed(
            pr::MarkDuplicateRequest {
                report_id: q3.clone(),
                duplicate_of: q3.clone(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["duplicate_of"]);
    let e = c
        .mark_duplicate(authed(
            pr::MarkDuplicateRequest {
                report_id: id("pair0b"),
                duplicate_of: id("pair0a"),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        tonic::Code::FailedPrecondition,
        "a dispatched report cannot be archived as a duplicate"
    );
    let archived = eventually("ReportArchived", Duration::from_secs(20), || async {
        env.messages_on(subjects::REPORT_ARCHIVED)
            .await
            .into_iter()
            .next()
    })
    .await;
    let Event::ReportArchived(a) = codec::decode(&archived).unwrap().event else {
        panic!()
    };
    assert_eq!(a.reason_code, "duplikat");
    assert_eq!(a.duplicate_of.map(|d| d.0.to_string()), Some(q1));
    svc.stop().await;
}

/// m0005 copies the map point of reports stored before it into the new columns (the duplicate
/// scan's bounding box relies on them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_from_before_the_point_columns_get_their_points() {
    use lapor_routing::entities::queue_report;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
    let env = TestEnv::new().await.unwrap();
    let db = migrated(&env, "routing_points").await;
    // Two reports as an older release stored them: location JSON only, one with a map point.
    for (i, point) in [(1u128, Some((0.1337, 117.4917))), (2, None)] {
        let location = lapor_domain::Location {
            text: "Jl. Pattimura".into(),
            point,
            kecamatan: String::new(),
            kelurahan: String::new(),
        };
        let mut row = fixtures_row(uuid::Uuid::from_u128(i)).into_active_model();
        row.location = Set(Some(serde_json::to_value(&location).unwrap()));
        row.insert(&db).await.unwrap();
    }
    assert_eq!(lapor_routing::migration::backfill_points(&db).await.unwrap(), 1);
    let with = queue_report::Entity::find_by_id(uuid::Uuid::from_u128(1))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((with.latitude, with.longitude), (Some(0.1337), Some(117.4917)));
    let without = queue_report::Entity::find_by_id(uuid::Uuid::from_u128(2))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((without.latitude, without.longitude), (None, None));
    assert_eq!(
        lapor_routing::migration::backfill_points(&db).await.unwrap(),
        0,
        "once"
    );
}

/// The duplicate scan of a report with a map point reads index ranges (its bounding box, and the
/// reports without a point), not every report of its category in the window: over 20,000 reports
/// of one category spread over the city it reads only the few near it. The box is read through
/// the latitude cells of m0008's index (the cell an index condition, so that the longitude is a
/// range inside each cell rather than a filter over the box's band of latitude across the city),
/// the reports without a point through its partial index; under the custom plan and the generic
/// plan PostgreSQL switches a prepared statement to (what routing runs under load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_duplicate_scan_reads_the_box_not_the_whole_category() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let env = TestEnv::new().await.unwrap();
    let db = migrated(&env, "routing_box").await;
    // 20,000 reports of one category over Bontang (0.05-0.20 N, 117.40-117.55 E), 1 in 50 without
    // a point, the last 30 days; never analyzed (as in a young database that grew faster than
    // autovacuum analyzes it: where the earlier single query with an OR walked the whole category
    // on this index, under both plans; this test failed with it).
    let insert = |from: u32, to: u32| {
        format!(
            "INSERT INTO queue_reports (report_id, tracking_id, kind, title, body, category_id, \
             anonim, rahasia, reporter_ref, submitted_at, status, verification_due_at, routing_note, \
             needs_examination, version, latitude, longitude) \
             SELECT gen_random_uuid(), 'T' || i, 'PENGADUAN', 'judul ' || i, 'isi laporan ' || i, \
             'infrastruktur.jalan', false, false, gen_random_uuid(), \
             now() - (i || ' minutes')::interval, 'SUBMITTED', now(), '', false, 0, \
             CASE WHEN i % 50 = 0 THEN NULL ELSE 0.05 + (i * 7919 % 15000) / 100000.0 END, \
             CASE WHEN i % 50 = 0 THEN NULL ELSE 117.40 + (i * 104729 % 15000) / 100000.0 END \
             FROM generate_series({from}, {to}) i"
        )
    };
    db.execute_unprepared("ALTER TABLE queue_reports SET (autovacuum_enabled = false)")
        .await
        .unwrap();
    db.execute_unprepared(&insert(1, 20_000)).await.unwrap();
    let mut me = fixtures_row(uuid::Uuid::new_v4());
    (me.latitude, me.longitude) = (Some(0.1337), Some(117.4917));
    let spec = lapor_routing::duplicates::DuplicateSpec::default();
    // Every row the scan touched: what its table and index scans returned or filtered out (not
    // the nodes above them, which pass the same rows on, nor the batch's own list of reports).
    fn rows_read(node: &serde_json::Value) -> u64 {
        let kind = node["Node Type"].as_str().unwrap_or("");
        let own = if kind.ends_with("Scan") && kind != "Function Scan" {
            node["Actual Rows"].as_u64().unwrap_or(0) * node["Actual Loops"].as_u64().unwrap_or(1)
                + node["Rows Removed by Filter"].as_u64().unwrap_or(0)
                + node["Rows Removed by Index Recheck"].as_u64().unwrap_or(0)
        } else {
            0
        };
        own + node["Plans"]
            .as_array()
            .map_or(0, |p| p.iter().map(rows_read).sum())
    }
    // The scans that ran (at least once), as (index, index condition).
    fn scans_run(node: &serde_json::Value, out: &mut Vec<(String, String)>) {
        if node["Actual Loops"].as_u64().unwrap_or(0) > 0
            && let Some(index) = node["Index Name"].as_str()
        {
            let cond = node["Index Cond"].as_str().unwrap_or("").to_owned();
            out.push((index.to_owned(), cond));
        }
        for p in node["Plans"].as_array().into_iter().flatten() {
            scans_run(p, out);
        }
    }
    for (m, mode) in ["force_custom_plan", "force_generic_plan"]
        .into_iter()
        .enumerate()
    {
        let stmt = lapor_routing::duplicate_scan_batch(&spec, &[&me]).unwrap();
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared(&format!("SET LOCAL plan_cache_mode = {mode}"))
            .await
            .unwrap();
        // Named per mode: a prepared statement outlives the transaction, and the pool may hand
        // out the same connection.
        let plan = explain_prepared(&txn, &format!("batch_scan{m}"), &stmt).await;
        txn.rollback().await.unwrap();
        let mut scans = Vec::new();
        scans_run(&plan[0]["Plan"], &mut scans);
        let text = plan.to_string();
        let by = |index: &str| scans.iter().filter(|(i, _)| i == index).collect::<Vec<_>>();
        let cell = by("idx_queue_reports_duplicate_cell");
        assert!(
            cell.len() == 1
                && cell[0]
                    .1
                    .contains("floor((latitude * '100'::double precision)) = c.cell"),
            "{mode}: the box is not read by its cells: {scans:?}\n{text}"
        );
        assert_eq!(
            by("idx_queue_reports_duplicate_nopoint").len(),
            1,
            "{mode}: the reports without a point: {scans:?}\n{text}"
        );
        assert_eq!(scans.len(), 2, "{mode}: {scans:?}");
        // 400 without a point + about 0.5 % of the rest in the box; never the category's 20,000.
        let n = rows_read(&plan[0]["Plan"]);
        assert!(n < 2_000, "{mode}: the scan read {n} rows");
    }
}

/// On PostgreSQL routing reads the neighbours of a delivery batch's reports in one statement
/// (`duplicate_scan_batch`); it reads, for every report, exactly what that report's own queries
/// (`duplicate_scan`, what SQLite runs) read: with and without a map point, without a category,
/// near the window's edges, with the scan's limit cutting in, boxes across latitude cells and one
/// of too many cells, and a report that is itself stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batched_duplicate_scan_reads_what_each_report_s_own_scan_reads() {
    use lapor_routing::duplicates::DuplicateSpec;
    use lapor_routing::entities::queue_report;
    use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
    let env = TestEnv::new().await.unwrap();
    let db = migrated(&env, "routing_batch_scan").await;
    // 3,000 reports in a 2 km square: two categories and every 7th without one; every 10th
    // without a point; one every 30 minutes back over 62 days (so the 30-day window cuts).
    db.execute_unprepared(
        "INSERT INTO queue_reports (report_id, tracking_id, kind, title, body, category_id, \
         anonim, rahasia, reporter_ref, submitted_at, status, verification_due_at, routing_note, \
         needs_examination, version, latitude, longitude) \
         SELECT gen_random_uuid(), 'T' || i, 'PENGADUAN', 'judul ' || i, 'isi laporan ' || i, \
         CASE WHEN i % 7 = 0 THEN NULL WHEN i % 2 = 0 THEN 'infrastruktur.jalan' \
         ELSE 'kesehatan.puskesmas' END, false, false, gen_random_uuid(), \
         now() - (i * 30 || ' minutes')::interval, 'SUBMITTED', now(), '', false, 0, \
         CASE WHEN i % 10 = 0 THEN NULL ELSE 0.10 + (i * 7919 % 2000) / 100000.0 END, \
         CASE WHEN i % 10 = 0 THEN NULL ELSE 117.45 + (i * 104729 % 2000) / 100000.0 END \
         FROM generate_series(1, 3000) i",
    )
    .await
    .unwrap();
    let stored = queue_report::Entity::find()
        .filter(
            queue_report::Column::TrackingId.is_in(
                [
                    "T1", "T2", "T3", "T7", "T10", "T14", "T20", "T70", "T1441", "T1442", "T2990",
                ]
                .map(String::from),
            ),
        )
        .all(&db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 11);
    let fresh = |category: Option<&str>, point: Option<(f64, f64)>, days_ago: i64| {
        let mut row = fixtures_row(uuid::Uuid::new_v4());
        row.category_id = category.map(String::from);
        (row.latitude, row.longitude) = point.unzip();
        row.submitted_at = Utc::now() - chrono::Duration::days(days_ago);
        row
    };
    let mut probes = stored;
    probes.extend([
        fresh(Some("infrastruktur.jalan"), Some((0.11, 117.46)), 0),
        fresh(Some("infrastruktur.jalan"), None, 0),
        fresh(None, Some((0.11, 117.46)), 0),
        fresh(None, None, 0),
        fresh(Some("kesehatan.puskesmas"), Some((0.105, 117.455)), 45),
        fresh(Some("pendidikan"), Some((0.11, 117.46)), 0),
        fresh(Some("kesehatan.puskesmas"), Some((0.5, 118.0)), 0),
    ]);
    let probes: Vec<&queue_report::Model> = probes.iter().collect();
    let specs = [
        DuplicateSpec::default(),
        DuplicateSpec {
            max_scan: 7,
            ..DuplicateSpec::default()
        },
        DuplicateSpec {
            window_days: 2,
            max_distance_m: 150.0,
            ..DuplicateSpec::default()
        },
        // A box of more latitude cells than the statement reads one by one: its band instead.
        DuplicateSpec {
            max_distance_m: 40_000.0,
            ..DuplicateSpec::default()
        },
    ];
    for spec in specs {
        let batched = lapor_routing::scan_neighbours(&db, &spec, &probes).await.unwrap();
        assert_eq!(batched.len(), probes.len());
        let mut nonempty = 0;
        for (probe, got) in probes.iter().zip(&batched) {
            let mut want = Vec::new();
            for q in lapor_routing::duplicate_scan(&spec, probe) {
                want.extend(
                    q.into_model::<lapor_routing::DuplicateScanRow>()
                        .all(&db)
                        .await
                        .unwrap(),
                );
            }
            want.sort_by(|a, b| {
                b.submitted_at
                    .cmp(&a.submitted_at)
                    .then_with(|| a.report_id.cmp(&b.report_id))
            });
            want.truncate(usize::try_from(spec.max_scan).unwrap());
            let ids = |rows: &[lapor_routing::DuplicateScanRow]| {
                rows.iter()
                    .map(|r| r.tracking_id.clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let context = format!("{spec:?}: {} {:?}", probe.tracking_id, probe.category_id);
            assert_eq!(ids(got), ids(&want), "{context}");
            assert_eq!(got, &want, "{context}");
            assert!(got.iter().all(|o| o.report_id != probe.report_id));
            nonempty += usize::from(!got.is_empty());
        }
        // Not an agreement on nothing: most reports have neighbours under each setting.
        assert!(
            nonempty >= 10,
            "{spec:?}: {nonempty} of {} reports found any",
            probes.len()
        );
    }
}

/// The plan (EXPLAIN ANALYZE, JSON) of `stmt` prepared as `name` and executed with its values:
/// prepared as routing's driver prepares it (EXPLAIN of a statement with parameters would plan
/// with the values, never generically).
async fn explain_prepared(
    txn: &sea_orm::DatabaseTransaction,
    name: &str,
    stmt: &sea_orm::Statement,
) -> serde_json::Value {
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
    txn.execute_unprepared(&format!("PREPARE {name} AS {}", stmt.sql))
        .await
        .unwrap();
    let args: Vec<String> = stmt
        .values
        .iter()
        .flat_map(|v| v.0.iter())
        .map(|v| PostgresQueryBuilder.value_to_string(v))
        .collect();
    lapor_testkit::explain_analyze(txn, &format!("EXECUTE {name}({})", args.join(", "))).await
}

/// routing's schema `schema`, migrated, without the service running.
async fn migrated(env: &TestEnv, schema: &str) -> sea_orm::DatabaseConnection {
    let common = env.common(schema);
    lapor_platform::db::connect_and_migrate::<lapor_routing::migration::Migrator>(&common.database)
        .await
        .unwrap()
}

fn fixtures_row(id: uuid::Uuid) -> lapor_routing::entities::queue_report::Model {
    let now = Utc::now();
    lapor_routing::entities::queue_report::Model {
        report_id: id,
        tracking_id: format!("T{}", id.simple()),
        kind: "PENGADUAN".into(),
        title: "Jalan rusak".into(),
        body: "Lubang besar".into(),
        category_id: Some("infrastruktur.jalan".into()),
        incident_date: None,
        location: None,
        anonim: false,
        rahasia: false,
        reporter_ref: uuid::Uuid::new_v4(),
        submitted_at: now,
        status: "SUBMITTED".into(),
        verification_due_at: now,
        routing_note: String::new(),
        opd_id: None,
        dispatched_at: None,
        rule_id: None,
        dispatched_by: None,
        needs_examination: false,
        verified_at: None,
        verified_by: None,
        original_title: None,
        hold_reason: None,
        hold_since: None,
        close_reason: None,
        returned_from_opd: None,
        return_reason: None,
        version: 0,
        rule_version: None,
        duplicate_of: None,
        latitude: None,
        longitude: None,
    }
}

/// Reports that arrive together are stored together (one statement for the batch's reports,
/// one for their history), and give what they gave one by one: a rule's report stored
/// dispatched at version 1 after a `submit` and a `dispatch` entry, announced once; a report
/// for the operator stored submitted; a report delivered under two event ids stored once; and
/// reports alike in the same category found as duplicates of one another, each pair once in
/// each direction (the fixture's reports share their text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_that_arrive_together_are_stored_together() {
    use sea_orm::ConnectionTrait;
    let env = TestEnv::new().await.unwrap();
    // A first start makes the stream and the consumers; the events come while it is stopped.
    start(&env).await.stop().await;
    let mut ruled = std::collections::BTreeSet::new();
    for i in 0..20 {
        let category = if i % 2 == 0 {
            "infrastruktur.penerangan"
        } else {
            "tidak.dikenal"
        };
        let e = fixtures::submitted(ReportKind::Pengaduan, category, Utc::now());
        if i % 2 == 0 {
            ruled.insert(e.event.report_id().unwrap());
        }
        env.publish(subjects::REPORT_SUBMITTED, &format!("s-{i}"), codec::encode(&e))
            .await;
        if i == 6 {
            let mut again = e.clone();
            again.id = lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7());
            env.publish(subjects::REPORT_SUBMITTED, "s-6-again", codec::encode(&again))
                .await;
        }
    }
    let svc = start(&env).await;
    let d = dispatched(&env, 10).await;
    let db = sea_orm::Database::connect(&env.db_url).await.unwrap();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap()
        }
    };
    eventually("all 21 events applied", Duration::from_secs(20), || async {
        (count("SELECT count(*) AS n FROM routing.processed_events").await == 21).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    svc.stop().await;
    let announced: std::collections::BTreeSet<_> = d.iter().map(|d| d.report_id).collect();
    assert_eq!(announced, ruled, "each rule-routed report announced");
    assert_eq!(
        env.messages_on(subjects::REPORT_DISPATCHED).await.len(),
        10,
        "each announced once"
    );
    assert_eq!(count("SELECT count(*) AS n FROM routing.queue_reports").await, 20);
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM routing.queue_reports \
             WHERE status = 'DISPATCHED' AND version = 1 AND opd_id = 'dishub' \
             AND rule_id = 'r-penerangan' AND dispatched_at IS NOT NULL"
        )
        .await,
        10
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM routing.queue_reports WHERE status = 'SUBMITTED' AND version = 0 \
             AND opd_id IS NULL AND routing_note LIKE '%not in the category tree%'"
        )
        .await,
        10
    );
    // Every report's history: `submit` first, then (for a rule's report) `dispatch`.
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM routing.report_history \
             WHERE action = 'submit' AND from_status = '' AND to_status = 'SUBMITTED' AND actor = 'intake'"
        )
        .await,
        20
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM routing.report_history h WHERE action = 'dispatch' \
             AND from_status = 'SUBMITTED' AND to_status = 'DISPATCHED' AND actor = 'rule:r-penerangan' \
             AND h.id > (SELECT s.id FROM routing.report_history s \
                         WHERE s.report_id = h.report_id AND s.action = 'submit')"
        )
        .await,
        10
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM routing.report_history").await,
        30
    );
    // Ten alike in each of two categories: 45 pairs each, each pair one row.
    assert_eq!(
        count("SELECT count(*) AS n FROM routing.duplicate_pairs").await,
        2 * 45
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM routing.duplicate_pairs d JOIN routing.duplicate_pairs r \
             ON r.report_id = d.candidate_id AND r.candidate_id = d.report_id"
        )
        .await,
        0,
        "no pair stored in both directions"
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM routing.duplicate_pairs d \
             JOIN routing.queue_reports a ON a.report_id = d.report_id \
             JOIN routing.queue_reports b ON b.report_id = d.candidate_id \
             WHERE a.category_id IS DISTINCT FROM b.category_id"
        )
        .await,
        0,
        "no pair across categories"
    );
    db.close().await.unwrap();
    for table in ["routing.queue_reports", "routing.report_history"] {
        assert!(
            env.most_rows_of_one_statement(table).await > 1,
            "{table}: no two rows written by one statement"
        );
    }
}

/// Replicas of routing share the consumer, so two look-alike reports can be applied at the same
/// moment in two transactions, each stored and then scanned for before either commits. The
/// neighbourhood locks make the second scan wait until the first transaction has committed, so
/// the pair is stored (before them neither scan saw the other report and the pair was lost).
/// The wait is only for reports one scan could find: not for a far report or one of another
/// category, always for a report without a point in the same category.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_reports_applied_at_once_by_two_replicas_are_still_paired() {
    use lapor_domain::events::ReportSubmitted;
    use lapor_routing::entities::duplicate_pair;
    use sea_orm::{EntityTrait, TransactionTrait};
    let env = TestEnv::new().await.unwrap();
    let db = migrated(&env, "routing").await;
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/bontang.toml");
    let cfg: Config = lapor_platform::config::load("routing", &Config::default(), Some(&seed)).unwrap();
    let calendar = lapor_domain::Calendar::from_spec(&cfg.calendar).unwrap();
    let bus = lapor_events::Bus::connect(&env.common("routing").nats, "routing-lock-test")
        .await
        .unwrap();
    let desk = std::sync::Arc::new(lapor_routing::Desk {
        config: cfg,
        calendar: std::sync::Arc::new(lapor_events::calendar::LiveCalendar::new(0, calendar)),
        bus,
    });
    let report = |category: &str, point: Option<(f64, f64)>| -> ReportSubmitted {
        let e = fixtures::submitted(ReportKind::Pengaduan, category, Utc::now());
        let Event::ReportSubmitted(mut s) = e.event else {
            unreachable!("a ReportSubmitted fixture")
        };
        s.content.location = Some(lapor_domain::Location {
            text: "Jl. Ahmad Yani".into(),
            point,
            ..Default::default()
        });
        s
    };
    // `first` applied in a transaction left open; then `second` in another, committed as soon
    // as it is applied. Whether `second` was still waiting after `patience` (then the first
    // transaction commits and `second` must end). A wait expected is given a short patience, a
    // wait not expected a long one, so that a slow machine cannot make either look wrong.
    let waits = |first: ReportSubmitted, second: ReportSubmitted, patience: Duration| {
        let (db, desk) = (db.clone(), desk.clone());
        async move {
            let t1 = db.begin().await.unwrap();
            desk.receive(&t1, &first).await.unwrap();
            let (db2, desk2) = (db.clone(), desk.clone());
            let mut other = tokio::spawn(async move {
                let t2 = db2.begin().await.unwrap();
                desk2.receive(&t2, &second).await.unwrap();
                t2.commit().await.unwrap();
            });
            let early = tokio::time::timeout(patience, &mut other).await;
            t1.commit().await.unwrap();
            match early {
                Ok(done) => {
                    done.unwrap();
                    false
                }
                Err(_) => {
                    tokio::time::timeout(Duration::from_secs(20), other)
                        .await
                        .expect("the second transaction ends once the first has")
                        .unwrap();
                    true
                }
            }
        }
    };
    let here = (0.1337, 117.4917);
    let a = report("infrastruktur.jalan", Some(here));
    // 44 m north.
    let b = report("infrastruktur.jalan", Some((0.1341, 117.4917)));
    let (wait, no_wait) = (Duration::from_millis(1500), Duration::from_secs(20));
    assert!(
        waits(a.clone(), b.clone(), wait).await,
        "B's scan waits for A's transaction"
    );
    let pairs = duplicate_pair::Entity::find().all(&db).await.unwrap();
    assert_eq!(
        pairs
            .iter()
            .map(|p| (p.report_id, p.candidate_id))
            .collect::<Vec<_>>(),
        vec![(b.report_id.as_uuid(), a.report_id.as_uuid())],
        "the pair found by the second scan"
    );
    // Same category 5 km away, another category at the same place: no wait.
    assert!(
        !waits(
            report("infrastruktur.jalan", Some(here)),
            report("infrastruktur.jalan", Some((0.1787, 117.4917))),
            no_wait
        )
        .await
    );
    assert!(
        !waits(
            report("infrastruktur.jalan", Some(here)),
            report("kesehatan.puskesmas", Some(here)),
            no_wait
        )
        .await
    );
    // Without a point the scan covers the whole category, in both orders.
    assert!(
        waits(
            report("infrastruktur.jalan", Some((0.1787, 117.4917))),
            report("infrastruktur.jalan", None),
            wait
        )
        .await
    );
    assert!(
        waits(
            report("infrastruktur.jalan", None),
            report("infrastruktur.jalan", Some(here)),
            wait
        )
        .await
    );
}

/// A report in a dense place keeps only its `duplicates.max_candidates` best candidates: here
/// the three nearest of seven earlier reports around it (texts unalike, so the score is the
/// place's, 1 - distance / 500 m), best first, one row per pair; the earlier reports it did
/// not choose are in no pair with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_in_a_dense_place_keeps_only_its_best_candidates() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let env = TestEnv::new().await.unwrap();
    let svc = start_with(&env, |c| c.duplicates.max_candidates = 3).await;
    let base = (0.1336, 117.5005);
    // Words of letters from a small xorshift stream: no two reports share a trigram worth counting.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut text = || {
        (0..20)
            .map(|_| {
                (0..7)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        char::from(b'a' + (x % 26) as u8)
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut report = |north_m: f64, at| {
        let mut e = fixtures::submitted(ReportKind::Pengaduan, "lingkungan-hidup.sampah", at);
        if let Event::ReportSubmitted(s) = &mut e.event {
            s.content.title = text();
            s.content.body = text();
            s.content.location = Some(lapor_domain::content::Location {
                point: Some((base.0 + north_m / 111_195.0, base.1)),
                ..Default::default()
            });
        }
        e
    };
    let now = Utc::now();
    let mut earlier = Vec::new(); // (distance from the new report, report id)
    for (i, north_m) in [400.0, 60.0, 300.0, 150.0, 250.0, 100.0, 350.0]
        .into_iter()
        .enumerate()
    {
        let e = report(north_m, now - chrono::Duration::hours(10 - i as i64));
        earlier.push((north_m, e.event.report_id().unwrap()));
        env.publish(subjects::REPORT_SUBMITTED, &format!("old-{i}"), codec::encode(&e))
            .await;
    }
    let db = sea_orm::Database::connect(&env.db_url).await.unwrap();
    let query = |sql: String| {
        let db = db.clone();
        async move {
            db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await
                .unwrap()
        }
    };
    let applied = |what: &'static str, n: usize| {
        let query = &query;
        async move {
            eventually(what, Duration::from_secs(20), || async {
                (query("SELECT event_id FROM routing.processed_events".into())
                    .await
                    .len()
                    == n)
                    .then_some(())
            })
            .await
        }
    };
    applied("the earlier seven applied", 7).await;
    let new = report(0.0, now);
    let new_id = new.event.report_id().unwrap();
    env.publish(subjects::REPORT_SUBMITTED, "new", codec::encode(&new))
        .await;
    applied("the new report applied", 8).await;
    svc.stop().await;
    let mine = query(format!(
        "SELECT candidate_id, score FROM routing.duplicate_pairs WHERE report_id = '{new_id}' \
         ORDER BY score DESC"
    ))
    .await;
    let got: Vec<(uuid::Uuid, f64)> = mine
        .iter()
        .map(|r| {
            (
                r.try_get("", "candidate_id").unwrap(),
                r.try_get("", "score").unwrap(),
            )
        })
        .collect();
    earlier.sort_by(|a, b| a.0.total_cmp(&b.0));
    let want: Vec<uuid::Uuid> = earlier.iter().take(3).map(|(_, id)| id.as_uuid()).collect();
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        want,
        "the three nearest, nearest first"
    );
    for ((_, score), (north_m, _)) in got.iter().zip(&earlier) {
        assert!(
            (score - (1.0 - north_m / 500.0)).abs() < 0.01,
            "{score} for {north_m} m"
        );
    }
    let with_it = query(format!(
        "SELECT CASE WHEN report_id = '{new_id}' THEN candidate_id ELSE report_id END AS other \
         FROM routing.duplicate_pairs WHERE report_id = '{new_id}' OR candidate_id = '{new_id}'"
    ))
    .await;
    let mut back: Vec<uuid::Uuid> = with_it.iter().map(|r| r.try_get("", "other").unwrap()).collect();
    back.sort();
    let mut want_back = want.clone();
    want_back.sort();
    assert_eq!(
        back, want_back,
        "the new report is paired with the chosen three only"
    );
    db.close().await.unwrap();
}

/// m0007 carries every existing duplicate pair over once, whether it was stored in both
/// directions or (from an interrupted write of an older release) in one; on PostgreSQL and
/// SQLite alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_keeps_duplicate_pairs_once() {
    use sea_orm::{ConnectionTrait, Statement};
    use sea_orm_migration::MigratorTrait;
    let env = TestEnv::new().await.unwrap();
    std::fs::create_dir_all(env.scratch_dir()).unwrap();
    let sqlite = format!("sqlite://{}/upgrade.db?mode=rwc", env.scratch_dir().display());
    for url in [env.common("routing_upgrade").database.url.clone(), sqlite] {
        let mut cfg = env.common("routing_upgrade").database;
        cfg.url = url.clone();
        let db = lapor_platform::db::connect(&cfg).await.unwrap();
        // Event tables + m0001..m0006: the schema of the previous release.
        lapor_routing::migration::Migrator::up(&db, Some(9))
            .await
            .unwrap();
        let ids: Vec<uuid::Uuid> = (1..=4).map(|i| uuid::Uuid::from_u128(i * 1000)).collect();
        // A in Bontang, B just south of the equator, C without a point, D in Bontang.
        let points = [
            Some((0.1337, 117.4917)),
            Some((-0.0026, 117.1)),
            None,
            Some((0.1338, 117.4918)),
        ];
        for (i, (id, point)) in ids.iter().zip(points).enumerate() {
            let (lat, lon) = point.map_or(("NULL".to_owned(), "NULL".to_owned()), |(a, o)| {
                (a.to_string(), o.to_string())
            });
            db.execute_unprepared(&format!(
                "INSERT INTO queue_reports (report_id, tracking_id, kind, title, body, category_id, \
                 anonim, rahasia, reporter_ref, submitted_at, status, verification_due_at, routing_note, \
                 needs_examination, version, latitude, longitude) VALUES ('{id}', 'TRACK{i}', 'PENGADUAN', \
                 'Jalan rusak', 'Lubang', 'infrastruktur.jalan', false, false, '{}', \
                 '2026-11-20 01:00:00+00:00', 'SUBMITTED', '2026-11-21 01:00:00+00:00', '', false, 0, {lat}, {lon})",
                uuid::Uuid::new_v4()
            ))
            .await
            .unwrap();
        }
        let candidate = |a: usize, b: usize, score: f64| {
            format!(
                "INSERT INTO duplicate_candidates (pair, report_id, candidate_id, candidate_tracking_id, \
                 score, reason, found_at) VALUES ('{0}:{1}', '{0}', '{1}', 'TRACK{b}', {score}, 'dekat', \
                 '2026-11-20 01:00:00+00:00')",
                ids[a], ids[b]
            )
        };
        // A-D both directions; C -> A one direction only.
        for sql in [candidate(0, 3, 0.9), candidate(3, 0, 0.9), candidate(2, 0, 0.4)] {
            db.execute_unprepared(&sql).await.unwrap();
        }
        lapor_routing::migration::Migrator::up(&db, None).await.unwrap();
        let backend = db.get_database_backend();
        let rows = |sql: &str| db.query_all_raw(Statement::from_string(backend, sql.to_owned()));
        let pairs: Vec<(String, String, f64)> = rows(
            "SELECT report_tracking_id, candidate_tracking_id, score FROM duplicate_pairs \
             ORDER BY score DESC",
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get("", "report_tracking_id").unwrap(),
                r.try_get("", "candidate_tracking_id").unwrap(),
                r.try_get("", "score").unwrap(),
            )
        })
        .collect();
        assert_eq!(
            pairs,
            [
                // The direction whose report_id sorts higher: D (4000) over A (1000).
                ("TRACK3".to_owned(), "TRACK0".to_owned(), 0.9),
                ("TRACK2".to_owned(), "TRACK0".to_owned(), 0.4),
            ],
            "{url}"
        );
        assert!(
            rows("SELECT count(*) FROM duplicate_candidates").await.is_err(),
            "{url}: the old table is gone"
        );
        db.close().await.unwrap();
    }
}
