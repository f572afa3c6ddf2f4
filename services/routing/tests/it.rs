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
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/bontang.toml");
    let mut cfg: Config = lapor_platform::config::load("routing", &Config::default(), Some(&seed)).unwrap();
    cfg.common = env.common("routing");
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
    let d = dispatched(&env, 1).await;
    // The most specific rule wins: street lighting goes to Dishub, not to Dinas PUPR.
    assert_eq!(d[0].opd_id.as_str(), "dishub");
    assert_eq!(d[0].rule_id.as_deref(), Some("r-penerangan"));
    assert_eq!(d[0].report_id, e.event.report_id());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(dispatched(&env, 1).await.len(), 1, "dispatched exactly once");
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
    assert_eq!(items[0].report_id, queued.event.report_id().to_string());
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
