//! opd-case's integration suite: cases opened from dispatch events, and the authorization matrix
//! of every case RPC by role and OPD.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use lapor_domain::events::Event;
use lapor_domain::{ReportKind, fixtures};
use lapor_events::{codec, subjects};
use lapor_opd_case::{Config, Service};
use lapor_platform::Role;
use lapor_proto::cases::v1::{self as pc, case_service_client::CaseServiceClient};
use lapor_testkit::{Spawned, TestEnv, authed, eventually};
use tonic::Code;

async fn start(env: &TestEnv) -> Spawned {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(
        Config {
            common: env.common("opd_case"),
        },
        listener,
    )
    .await
    .unwrap();
    Spawned::start(addr, |stop| svc.run_until(stop))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_opens_one_case_and_announces_it() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let s = fixtures::submitted(ReportKind::Pengaduan, "kesehatan", Utc::now());
    let d = fixtures::dispatched(&s, "dinkes", Utc::now());
    env.publish(subjects::REPORT_DISPATCHED, "d-1", codec::encode(&d))
        .await;
    env.publish(subjects::REPORT_DISPATCHED, "d-1-again", codec::encode(&d))
        .await;
    let opened = eventually("CaseOpened", Duration::from_secs(20), || async {
        let m = env.messages_on(subjects::CASE_OPENED).await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    let Event::CaseOpened(c) = codec::decode(&opened[0]).unwrap().event else {
        panic!()
    };
    assert_eq!(c.opd_id.as_str(), "dinkes");
    assert_eq!(c.report_id, d.event.report_id());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.messages_on(subjects::CASE_OPENED).await.len(),
        1,
        "one case for one dispatch"
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_of_case_rpcs() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let s = fixtures::submitted(ReportKind::Pengaduan, "pendidikan", Utc::now());
    let d = fixtures::dispatched(&s, "disdikbud", Utc::now());
    env.publish(subjects::REPORT_DISPATCHED, "m-1", codec::encode(&d))
        .await;
    let own = env.token("pj-disdikbud", Role::OpdOfficer, Some("disdikbud"));
    let mut c = CaseServiceClient::new(svc.channel().await);
    let case_id = eventually("the case", Duration::from_secs(20), || {
        let mut c = c.clone();
        let own = own.clone();
        async move {
            let r = c
                .list_cases(authed(pc::ListCasesRequest::default(), &own))
                .await
                .ok()?
                .into_inner();
            r.cases.first().map(|x| x.case_id.clone())
        }
    })
    .await;
    let missing = uuid::Uuid::new_v4().to_string();
    // (who, token, expected GetCase on the case, expected GetCase on a missing case, cases listed)
    let who: Vec<(&str, String, Code, Code, Option<usize>)> = vec![
        ("own OPD officer", own.clone(), Code::Ok, Code::NotFound, Some(1)),
        (
            "other OPD officer",
            env.token("pj-dinkes", Role::OpdOfficer, Some("dinkes")),
            Code::NotFound,
            Code::NotFound,
            Some(0),
        ),
        (
            "supervisor",
            env.token("sekda", Role::Supervisor, None),
            Code::Ok,
            Code::NotFound,
            Some(1),
        ),
        (
            "auditor",
            env.token("inspektorat", Role::Auditor, None),
            Code::Ok,
            Code::NotFound,
            Some(1),
        ),
        (
            "operator",
            env.token("op", Role::Operator, None),
            Code::PermissionDenied,
            Code::PermissionDenied,
            None,
        ),
        (
            "reporter",
            env.token("warga", Role::Reporter, None),
            Code::PermissionDenied,
            Code::PermissionDenied,
            None,
        ),
        (
            "service",
            env.token("sys", Role::Service, None),
            Code::PermissionDenied,
            Code::PermissionDenied,
            None,
        ),
        (
            "no token",
            String::new(),
            Code::Unauthenticated,
            Code::Unauthenticated,
            None,
        ),
    ];
    let code = |r: Result<_, tonic::Status>| r.map_or_else(|e: tonic::Status| e.code(), |_| Code::Ok);
    for (name, token, on_case, on_missing, listed) in who {
        let req = |id: &str| {
            let m = pc::GetCaseRequest {
                case_id: id.to_owned(),
            };
            if token.is_empty() {
                tonic::Request::new(m)
            } else {
                authed(m, &token)
            }
        };
        assert_eq!(code(c.get_case(req(&case_id)).await), on_case, "{name} GetCase");
        assert_eq!(
            code(c.get_case(req(&missing)).await),
            on_missing,
            "{name} GetCase missing"
        );
        let list = if token.is_empty() {
            c.list_cases(tonic::Request::new(pc::ListCasesRequest::default()))
                .await
        } else {
            c.list_cases(authed(pc::ListCasesRequest::default(), &token))
                .await
        };
        match listed {
            Some(n) => assert_eq!(list.unwrap().into_inner().cases.len(), n, "{name} ListCases"),
            None => assert!(list.is_err(), "{name} ListCases"),
        }
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holding_opd_posts_follow_ups_and_nobody_else_can() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(&env).await;
    let s = fixtures::submitted(ReportKind::Pengaduan, "lingkungan-hidup.sampah", Utc::now());
    let d = fixtures::dispatched(&s, "dlh", Utc::now());
    env.publish(subjects::REPORT_DISPATCHED, "f-1", codec::encode(&d))
        .await;
    let dlh = env.token("pj-dlh", Role::OpdOfficer, Some("dlh"));
    let mut c = CaseServiceClient::new(svc.channel().await);
    let case_id = eventually("the case", Duration::from_secs(20), || {
        let mut c = c.clone();
        let dlh = dlh.clone();
        async move {
            let r = c
                .list_cases(authed(pc::ListCasesRequest::default(), &dlh))
                .await
                .ok()?
                .into_inner();
            r.cases.first().map(|x| x.case_id.clone())
        }
    })
    .await;
    let poster = c.clone();
    let post = |token: String, id: String, text: &str| {
        let mut c = poster.clone();
        let text = text.to_owned();
        async move {
            c.post_follow_up(authed(pc::PostFollowUpRequest { case_id: id, text }, &token))
                .await
        }
    };
    let text = "Petugas DLH mengangkut sampah besok pukul 07.00 WITA";
    // Another OPD: as if the case did not exist; an operator: not an OPD role; short text: invalid.
    let other = env.token("pj-dinkes", Role::OpdOfficer, Some("dinkes"));
    assert_eq!(
        post(other, case_id.clone(), text).await.unwrap_err().code(),
        Code::NotFound
    );
    let op = env.token("op", Role::Operator, None);
    assert_eq!(
        post(op, case_id.clone(), text).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let e = post(dlh.clone(), case_id.clone(), "ok").await.unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["text"]);
    // The holder posts twice: Proses, two events.
    let first = post(dlh.clone(), case_id.clone(), text)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.case.unwrap().status,
        lapor_proto::common::v1::ReportStatus::InProgress as i32
    );
    post(
        dlh.clone(),
        case_id.clone(),
        "Sampah sudah diangkut seluruhnya pagi ini",
    )
    .await
    .unwrap();
    let events = eventually("two CaseFollowedUp", Duration::from_secs(20), || async {
        let m = env.messages_on(subjects::CASE_FOLLOWED_UP).await;
        (m.len() == 2).then_some(m)
    })
    .await;
    let Event::CaseFollowedUp(f) = codec::decode(&events[0]).unwrap().event else {
        panic!()
    };
    assert_eq!(
        (f.opd_id.as_str(), f.text.as_str(), f.posted_by.as_str()),
        ("dlh", text, "pj-dlh")
    );
    assert_eq!(f.follow_up_id.to_string(), first.follow_up_id);
    // After a transfer request the case has ended for this OPD.
    c.request_transfer(authed(
        pc::RequestTransferRequest {
            case_id: case_id.clone(),
            reason: "bukan kami".into(),
        },
        &dlh,
    ))
    .await
    .unwrap();
    assert_eq!(
        post(dlh, case_id, text).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    svc.stop().await;
}
