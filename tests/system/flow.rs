//! Reports of every kind flow intake -> routing -> opd-case -> notification and sla-monitor.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Weekday};
use lapor_domain::calendar::{CalendarSpec, Holiday};
use lapor_platform::Role;
use lapor_proto::cases::v1 as pc;
use lapor_proto::common::v1::ReportKind;
use lapor_proto::notification::v1 as pn;
use lapor_proto::routing::v1 as pr;
use lapor_proto::sla::v1 as ps;
use lapor_system_tests::{System, authed, eventually};

use crate::{submission, submit};

const WAIT: Duration = Duration::from_secs(30);

/// Independent oracle: the end of the n-th working day after `start`, skipping weekends and
/// `holidays` (local dates, WITA).
fn nth_working_day(start: NaiveDate, n: u32, holidays: &BTreeSet<NaiveDate>) -> NaiveDate {
    let mut d = start;
    let mut left = n;
    while left > 0 {
        d = d.succ_opt().unwrap_or(d);
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&d) {
            left -= 1;
        }
    }
    d
}

async fn case_for(sys: &System, opd: &str, tracking: &str) -> pc::Case {
    let token = sys.token(Role::OpdOfficer, Some(opd));
    eventually(&format!("a case of {opd} for {tracking}"), WAIT, || async {
        let r = sys
            .cases()
            .await
            .list_cases(authed(
                pc::ListCasesRequest {
                    tracking_id: tracking.into(),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .ok()?
            .into_inner();
        r.cases.into_iter().next()
    })
    .await
}

async fn deadlines(sys: &System, report_id: &str, n: usize) -> Vec<ps::Deadline> {
    let token = sys.token(Role::Operator, None);
    eventually(&format!("{n} deadlines of {report_id}"), WAIT, || async {
        let r = sys
            .sla()
            .await
            .list_deadlines(authed(
                ps::ListDeadlinesRequest {
                    report_id: report_id.into(),
                },
                &token,
            ))
            .await
            .ok()?
            .into_inner();
        let met = r
            .deadlines
            .iter()
            .any(|d| d.step == ps::Step::Verification as i32 && d.met_at.is_some());
        (r.deadlines.len() == n && (n == 1 || met)).then_some(r.deadlines)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_of_every_kind_reach_the_opd_the_rules_name() {
    // Holidays on the next two weekdays after today: the deadlines must skip them and weekends.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Makassar)
        .date_naive();
    let mut holidays = BTreeSet::new();
    let mut d = today;
    while holidays.len() < 2 {
        d = d.succ_opt().unwrap_or(d);
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            holidays.insert(d);
        }
    }
    let calendar = CalendarSpec {
        holidays: holidays
            .iter()
            .map(|d| Holiday {
                date: *d,
                name: "Libur uji".into(),
                source: "test".into(),
            })
            .collect(),
        ..CalendarSpec::default()
    };
    let sys = System::start_with_calendar(calendar).await;
    let cases = [
        (ReportKind::Pengaduan, "infrastruktur.jalan", "dinas-pupr"),
        (ReportKind::Aspirasi, "kesehatan.rumah-sakit", "rsud-taman-husada"),
        (ReportKind::PermintaanInformasi, "informasi-publik", "diskominfo"),
    ];
    for (i, (kind, category, opd)) in cases.into_iter().enumerate() {
        let accepted = submit(&sys, submission(&format!("flow-{i}"), kind as i32, category)).await;
        assert_eq!(accepted.tracking_id.len(), 10);
        assert!(!accepted.access_token.is_empty());

        let case = case_for(&sys, opd, &accepted.tracking_id).await;
        assert_eq!(case.opd_id, opd);
        assert_eq!(case.kind, kind as i32);
        assert_eq!(case.report_id, accepted.report_id);
        assert!(
            case.reporter_display.starts_with("pelapor-"),
            "{}",
            case.reporter_display
        );

        // The reporter was told twice (received, dispatched) and the OPD once.
        let op = sys.token(Role::Operator, None);
        let msgs = eventually("three messages", WAIT, || async {
            let m = sys
                .notification()
                .await
                .list_messages(authed(
                    pn::ListMessagesRequest {
                        report_id: accepted.report_id.clone(),
                    },
                    &op,
                ))
                .await
                .ok()?
                .into_inner()
                .messages;
            (m.len() == 3).then_some(m)
        })
        .await;
        let templates: BTreeSet<&str> = msgs.iter().map(|m| m.template.as_str()).collect();
        assert_eq!(
            templates,
            BTreeSet::from(["report_received", "case_opened", "case_new"])
        );
        let to_reporter: Vec<_> = msgs.iter().filter(|m| m.recipient_kind == "reporter").collect();
        assert_eq!(to_reporter.len(), 2);
        assert!(
            to_reporter
                .iter()
                .all(|m| m.body.contains(&accepted.tracking_id) && m.state == "delivered")
        );
        assert!(
            msgs.iter().any(|m| m.body.contains("diteruskan kepada")),
            "Indonesian template"
        );

        // Deadlines: verification (3 working days) met by the auto-dispatch; first follow-up (5);
        // completion by kind (complaint 14, aspiration 5, information request 10).
        let dl = deadlines(&sys, &accepted.report_id, 3).await;
        let submitted = lapor_events::codec::from_ts(accepted.submitted_at.as_ref()).unwrap_or_default();
        let local = |t: &prost_types::Timestamp| {
            lapor_events::codec::from_ts(Some(t))
                .unwrap_or_default()
                .with_timezone(&chrono_tz::Asia::Makassar)
        };
        let ver = &dl[0];
        assert_eq!(ver.step, ps::Step::Verification as i32);
        assert_eq!(ver.state, ps::DeadlineState::Met as i32);
        let due = local(ver.due_at.as_ref().unwrap_or_else(|| unreachable!()));
        let start_day = submitted.with_timezone(&chrono_tz::Asia::Makassar).date_naive();
        assert_eq!(due.date_naive(), nth_working_day(start_day, 3, &holidays));
        assert_eq!(due.format("%H:%M:%S").to_string(), "23:59:59");
        let fu = &dl[1];
        assert_eq!(fu.step, ps::Step::FirstFollowUp as i32);
        assert_eq!(fu.opd_id, opd);
        assert_eq!(fu.state, ps::DeadlineState::Open as i32);
        let dispatched_day = local(fu.started_at.as_ref().unwrap_or_else(|| unreachable!())).date_naive();
        let fu_due = local(fu.due_at.as_ref().unwrap_or_else(|| unreachable!())).date_naive();
        assert_eq!(fu_due, nth_working_day(dispatched_day, 5, &holidays));
        assert_eq!(fu.working_days, 5);
        let done = &dl[2];
        let days = match kind {
            ReportKind::Pengaduan => 14,
            ReportKind::Aspirasi => 5,
            _ => 10,
        };
        assert_eq!(
            (done.step, done.working_days, done.span),
            (ps::Step::Completion as i32, days, 1)
        );
        let done_due = local(done.due_at.as_ref().unwrap_or_else(|| unreachable!())).date_naive();
        assert_eq!(done_due, nth_working_day(dispatched_day, days, &holidays));
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplaced_report_waits_in_the_queue_until_an_operator_dispatches_it() {
    let sys = System::start().await;
    let op = sys.token(Role::Operator, None);
    // "ketertiban" has a rule with auto-dispatch off; no category at all has no rule.
    let a = submit(
        &sys,
        submission("queue-a", ReportKind::Pengaduan as i32, "ketertiban"),
    )
    .await;
    let b = submit(&sys, submission("queue-b", ReportKind::Aspirasi as i32, "")).await;
    let items = eventually("both reports in the queue", WAIT, || async {
        let r = sys
            .routing()
            .await
            .list_queue(authed(pr::ListQueueRequest::default(), &op))
            .await
            .ok()?
            .into_inner();
        (r.items.len() == 2).then_some(r.items)
    })
    .await;
    let item_a = items
        .iter()
        .find(|i| i.report_id == a.report_id)
        .unwrap_or_else(|| panic!("a queued"));
    assert!(
        item_a.routing_note.contains("auto-dispatch is off"),
        "{}",
        item_a.routing_note
    );
    assert!(
        items
            .iter()
            .any(|i| i.report_id == b.report_id && i.routing_note.contains("no category"))
    );
    // Ordered by verification deadline; pagination with page_size 1 walks both.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = sys
            .routing()
            .await
            .list_queue(authed(
                pr::ListQueueRequest {
                    page_size: 1,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &op,
            ))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .into_inner();
        seen.extend(page.items.into_iter().map(|i| i.report_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 2);

    // No case exists before the operator acts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let satpol = sys.token(Role::OpdOfficer, Some("satpol-pp"));
    let none = sys
        .cases()
        .await
        .list_cases(authed(pc::ListCasesRequest::default(), &satpol))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_inner();
    assert!(none.cases.is_empty());

    // An OPD officer may not dispatch; an unknown OPD is NOT_FOUND; the operator dispatches.
    let req = |opd: &str| pr::DispatchRequest {
        report_id: a.report_id.clone(),
        opd_id: opd.into(),
    };
    let denied = sys
        .routing()
        .await
        .dispatch(authed(req("satpol-pp"), &satpol))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let unknown = sys
        .routing()
        .await
        .dispatch(authed(req("dinas-fiktif"), &op))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    sys.routing()
        .await
        .dispatch(authed(req("satpol-pp"), &op))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let again = sys
        .routing()
        .await
        .dispatch(authed(req("satpol-pp"), &op))
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition, "{again:?}");

    let case = case_for(&sys, "satpol-pp", &a.tracking_id).await;
    assert_eq!(case.report_id, a.report_id);
    let rest = sys
        .routing()
        .await
        .list_queue(authed(pr::ListQueueRequest::default(), &op))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_inner();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].report_id, b.report_id);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_of_one_opd_cannot_see_another_opds_cases() {
    let sys = System::start().await;
    let r = submit(
        &sys,
        submission("iso-1", ReportKind::Pengaduan as i32, "infrastruktur.jalan"),
    )
    .await;
    let case = case_for(&sys, "dinas-pupr", &r.tracking_id).await;
    let dinkes = sys.token(Role::OpdOfficer, Some("dinkes"));
    let listed = sys
        .cases()
        .await
        .list_cases(authed(pc::ListCasesRequest::default(), &dinkes))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_inner();
    assert!(listed.cases.is_empty());
    let get = sys
        .cases()
        .await
        .get_case(authed(
            pc::GetCaseRequest {
                case_id: case.case_id.clone(),
            },
            &dinkes,
        ))
        .await
        .unwrap_err();
    assert_eq!(get.code(), tonic::Code::NotFound);
    // A missing case looks the same.
    let missing = sys
        .cases()
        .await
        .get_case(authed(
            pc::GetCaseRequest {
                case_id: uuid::Uuid::new_v4().to_string(),
            },
            &dinkes,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    // The own OPD reads it; a reporter may not use the case API at all.
    let pupr = sys.token(Role::OpdOfficer, Some("dinas-pupr"));
    let own = sys
        .cases()
        .await
        .get_case(authed(
            pc::GetCaseRequest {
                case_id: case.case_id,
            },
            &pupr,
        ))
        .await;
    assert!(own.is_ok());
    let reporter = sys.token(Role::Reporter, None);
    let denied = sys
        .cases()
        .await
        .list_cases(authed(pc::ListCasesRequest::default(), &reporter))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_answers_health_checks_without_a_token() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let sys = System::start().await;
    for (name, grpc) in [
        ("intake", lapor_intake::GRPC_SERVICE),
        ("routing", lapor_routing::GRPC_SERVICE),
        ("opd-case", lapor_opd_case::GRPC_SERVICE),
        ("notification", lapor_notification::GRPC_SERVICE),
        ("sla-monitor", lapor_sla_monitor::GRPC_SERVICE),
    ] {
        let channel = tonic::transport::Channel::from_shared(sys.addr(name))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut h = HealthClient::new(channel);
        for service in ["", grpc] {
            let r = h
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.status, ServingStatus::Serving as i32, "{name} {service:?}");
        }
    }
    sys.stop().await;
}
