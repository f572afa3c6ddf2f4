//! The SLA monitor's integration suite: deadlines on the city calendar, the same whatever the
//! delivery order and however often events arrive.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use chrono_tz::Asia::Makassar;
use lapor_domain::calendar::{CalendarSpec, Holiday};
use lapor_domain::{ReportKind, fixtures};
use lapor_events::{codec, subjects};
use lapor_platform::Role;
use lapor_proto::sla::v1::{self as ps, sla_service_client::SlaServiceClient};
use lapor_sla_monitor::{Config, Service};
use lapor_testkit::{Spawned, TestEnv, authed, eventually};

fn wita(d: u32, h: u32) -> chrono::DateTime<Utc> {
    Makassar
        .with_ymd_and_hms(2026, 12, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn local(t: &Option<prost_types::Timestamp>) -> String {
    lapor_events::codec::from_ts(t.as_ref()).map_or_else(
        || "-".to_owned(),
        |t| {
            t.with_timezone(&Makassar)
                .format("%a %Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_skip_weekends_and_holidays_and_do_not_depend_on_delivery_order() {
    let env = TestEnv::new().await.unwrap();
    let holidays = [(24, "Cuti bersama Natal"), (25, "Hari Raya Natal")]
        .map(|(d, n)| Holiday {
            date: chrono::NaiveDate::from_ymd_opt(2026, 12, d).unwrap(),
            name: n.into(),
            source: "SKB".into(),
        })
        .to_vec();
    let cfg = Config {
        common: env.common("sla_monitor"),
        calendar: CalendarSpec {
            holidays,
            ..CalendarSpec::default()
        },
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    let svc = Spawned::start(addr, |stop| svc.run_until(stop));

    // Submitted Friday 18 Dec 10:00 WITA, dispatched Tuesday 22 Dec 09:00 WITA.
    let in_order = fixtures::submitted(ReportKind::Pengaduan, "infrastruktur.jalan", wita(18, 10));
    let reversed = fixtures::submitted(ReportKind::Pengaduan, "infrastruktur.jalan", wita(18, 10));
    let d1 = fixtures::dispatched(&in_order, "dinas-pupr", wita(22, 9));
    let d2 = fixtures::dispatched(&reversed, "dinas-pupr", wita(22, 9));
    env.publish(subjects::REPORT_SUBMITTED, "s1", codec::encode(&in_order))
        .await;
    env.publish(subjects::REPORT_DISPATCHED, "d1", codec::encode(&d1))
        .await;
    // The other report: dispatch first, then the submission, then both again.
    env.publish(subjects::REPORT_DISPATCHED, "d2", codec::encode(&d2))
        .await;
    env.publish(subjects::REPORT_SUBMITTED, "s2", codec::encode(&reversed))
        .await;
    env.publish(subjects::REPORT_DISPATCHED, "d2-again", codec::encode(&d2))
        .await;
    env.publish(subjects::REPORT_SUBMITTED, "s2-again", codec::encode(&reversed))
        .await;

    let op = env.token("op", Role::Operator, None);
    let mut c = SlaServiceClient::new(svc.channel().await);
    let mut views = Vec::new();
    for e in [&in_order, &reversed] {
        let report_id = e.event.report_id().to_string();
        let dl = eventually("two deadlines", Duration::from_secs(20), || {
            let mut c = c.clone();
            let (op, report_id) = (op.clone(), report_id.clone());
            async move {
                let d = c
                    .list_deadlines(authed(ps::ListDeadlinesRequest { report_id }, &op))
                    .await
                    .ok()?
                    .into_inner()
                    .deadlines;
                (d.len() == 2 && d[0].met_at.is_some()).then_some(d)
            }
        })
        .await;
        // Verification: 3 working days after Fri 18 = Mon 21, Tue 22, Wed 23.
        assert_eq!(dl[0].step, ps::Step::Verification as i32);
        assert_eq!(local(&dl[0].due_at), "Wed 2026-12-23 23:59:59");
        assert_eq!(dl[0].state, ps::DeadlineState::Met as i32);
        // First follow-up: 5 working days after Tue 22 = Wed 23, (24, 25 off), Mon 28, Tue 29,
        // Wed 30, Thu 31.
        assert_eq!(dl[1].step, ps::Step::FirstFollowUp as i32);
        assert_eq!(local(&dl[1].due_at), "Thu 2026-12-31 23:59:59");
        assert_eq!(dl[1].opd_id, "dinas-pupr");
        views.push(
            dl.iter()
                .map(|d| (d.step, local(&d.started_at), local(&d.due_at), local(&d.met_at)))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(views[0], views[1], "delivery order changes nothing");

    // An OPD officer sees only the deadlines their OPD is accountable for.
    let pupr = env.token("pj", Role::OpdOfficer, Some("dinas-pupr"));
    let report_id = in_order.event.report_id().to_string();
    let own = c
        .list_deadlines(authed(
            ps::ListDeadlinesRequest {
                report_id: report_id.clone(),
            },
            &pupr,
        ))
        .await
        .unwrap();
    assert_eq!(own.into_inner().deadlines.len(), 1);
    let dinkes = env.token("pj", Role::OpdOfficer, Some("dinkes"));
    let other = c
        .list_deadlines(authed(ps::ListDeadlinesRequest { report_id }, &dinkes))
        .await
        .unwrap();
    assert!(other.into_inner().deadlines.is_empty());
    let err = c
        .list_deadlines(authed(
            ps::ListDeadlinesRequest {
                report_id: "x".into(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&err), ["report_id"]);
    svc.stop().await;
}
