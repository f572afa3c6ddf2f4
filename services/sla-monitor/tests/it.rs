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
        ledger: ledger_in(&env),
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
        let report_id = e.event.report_id().unwrap().to_string();
        let dl = eventually("three deadlines", Duration::from_secs(20), || {
            let mut c = c.clone();
            let (op, report_id) = (op.clone(), report_id.clone());
            async move {
                let d = c
                    .list_deadlines(authed(ps::ListDeadlinesRequest { report_id }, &op))
                    .await
                    .ok()?
                    .into_inner()
                    .deadlines;
                (d.len() == 3 && d[0].met_at.is_some()).then_some(d)
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
        // Completion of a complaint: 14 working days after Tue 22: 23, 28-31, 1 Jan (a working day
        // in this calendar), 4-8, 11, 12, 13.
        assert_eq!(dl[2].step, ps::Step::Completion as i32);
        assert_eq!(local(&dl[2].due_at), "Wed 2027-01-13 23:59:59");
        assert_eq!(
            (dl[2].allowance, dl[2].unit.as_str(), dl[2].span),
            (14, "WORKING_DAYS", 1)
        );
        views.push(
            dl.iter()
                .map(|d| (d.step, local(&d.started_at), local(&d.due_at), local(&d.met_at)))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(views[0], views[1], "delivery order changes nothing");

    // An OPD officer sees only the deadlines their OPD is accountable for.
    let pupr = env.token("pj", Role::OpdOfficer, Some("dinas-pupr"));
    let report_id = in_order.event.report_id().unwrap().to_string();
    let own = c
        .list_deadlines(authed(
            ps::ListDeadlinesRequest {
                report_id: report_id.clone(),
            },
            &pupr,
        ))
        .await
        .unwrap();
    assert_eq!(
        own.into_inner().deadlines.len(),
        2,
        "first follow-up and completion"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunda_pauses_the_verification_clock_in_any_delivery_order() {
    use lapor_domain::events::{Envelope, Event, ReportHoldCompleted, ReportPutOnHold};
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
        ledger: ledger_in(&env),
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
    let op = env.token("op", Role::Operator, None);
    let c = SlaServiceClient::new(svc.channel().await);

    // Submitted Fri 18 Dec 10:00; on hold Fri 18 12:00 until Tue 22 09:00 (Mon 21 and Tue 22 paused).
    let events = |s: &Envelope| {
        let Event::ReportSubmitted(sub) = &s.event else {
            panic!()
        };
        let hold = Envelope {
            id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
            occurred_at: wita(18, 12),
            event: Event::ReportPutOnHold(ReportPutOnHold {
                report_id: sub.report_id,
                tracking_id: sub.tracking_id.clone(),
                reason: "Jam kejadian?".into(),
                reporter_ref: sub.reporter_ref,
                held_at: wita(18, 12),
                held_by: "op".into(),
            }),
        };
        let done = Envelope {
            id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
            occurred_at: wita(22, 9),
            event: Event::ReportHoldCompleted(ReportHoldCompleted {
                report_id: sub.report_id,
                tracking_id: sub.tracking_id.clone(),
                addition: "Pukul 20.00 WITA".into(),
                held_at: wita(18, 12),
                completed_at: wita(22, 9),
                reporter_ref: sub.reporter_ref,
            }),
        };
        (hold, done)
    };
    let in_order = fixtures::submitted(ReportKind::Aspirasi, "", wita(18, 10));
    let reversed = fixtures::submitted(ReportKind::Aspirasi, "", wita(18, 10));
    let (h1, d1) = events(&in_order);
    let (h2, d2) = events(&reversed);
    env.publish(subjects::REPORT_SUBMITTED, "s1", codec::encode(&in_order))
        .await;
    env.publish(subjects::REPORT_PUT_ON_HOLD, "h1", codec::encode(&h1))
        .await;
    // While on hold the clock is paused and the deadline has not moved yet.
    let get = |id: String| {
        let mut c = c.clone();
        let op = op.clone();
        async move {
            c.list_deadlines(authed(ps::ListDeadlinesRequest { report_id: id }, &op))
                .await
                .ok()
                .map(|r| r.into_inner().deadlines)
        }
    };
    let paused = eventually("paused", Duration::from_secs(20), || async {
        let d = get(in_order.event.report_id().unwrap().to_string()).await?;
        (d.len() == 1 && d[0].pauses.len() == 1).then_some(d)
    })
    .await;
    assert_eq!(paused[0].state, ps::DeadlineState::Paused as i32);
    assert_eq!(local(&paused[0].due_at), "Wed 2026-12-23 23:59:59");
    env.publish(subjects::REPORT_HOLD_COMPLETED, "d1", codec::encode(&d1))
        .await;
    // The other report: completion first, then the hold, then the submission, each twice.
    for (i, e) in [&d2, &h2, &reversed, &d2, &h2].into_iter().enumerate() {
        let suffix = match &e.event {
            Event::ReportHoldCompleted(_) => subjects::REPORT_HOLD_COMPLETED,
            Event::ReportPutOnHold(_) => subjects::REPORT_PUT_ON_HOLD,
            _ => subjects::REPORT_SUBMITTED,
        };
        env.publish(suffix, &format!("r{i}"), codec::encode(e)).await;
    }
    let mut views = Vec::new();
    for e in [&in_order, &reversed] {
        let d = eventually("resumed", Duration::from_secs(20), || async {
            let d = get(e.event.report_id().unwrap().to_string()).await?;
            (d.len() == 1 && d[0].pauses.len() == 1 && d[0].pauses[0].resumed_at.is_some()).then_some(d)
        })
        .await;
        // Wed 23 plus the two paused working days, skipping 24-25 Dec: Mon 28, Tue 29.
        assert_eq!(local(&d[0].due_at), "Tue 2026-12-29 23:59:59");
        assert_eq!(d[0].pauses[0].working_days, 2);
        assert_eq!(local(&d[0].pauses[0].held_at), "Fri 2026-12-18 12:00:00");
        assert_eq!(local(&d[0].pauses[0].resumed_at), "Tue 2026-12-22 09:00:00");
        assert_ne!(d[0].state, ps::DeadlineState::Paused as i32);
        views.push((local(&d[0].due_at), local(&d[0].started_at)));
    }
    assert_eq!(views[0], views[1]);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_to_the_reporter_pauses_the_first_follow_up_clock_in_any_order() {
    use lapor_domain::events::{CaseFollowedUp, CaseInfoRequested, CaseRef, CaseReplied, Envelope, Event};
    use lapor_domain::lifecycle::Replier;
    let env = TestEnv::new().await.unwrap();
    let cfg = Config {
        common: env.common("sla_monitor"),
        ledger: ledger_in(&env),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    let svc = Spawned::start(addr, |stop| svc.run_until(stop));
    let op = env.token("op", Role::Operator, None);
    let c = SlaServiceClient::new(svc.channel().await);
    let env_of = |at, event| Envelope {
        id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: at,
        event,
    };
    // Dispatched Mon 7 Dec 10:00 (due end of Mon 14). Asked Tue 8 10:00, answered Fri 11 10:00:
    // three working days stopped. Followed up Wed 16. A second question after the follow-up
    // (Thu 17, answered Mon 21) must not move the met deadline.
    let story = |s: &Envelope| {
        let d = fixtures::dispatched(s, "pupr", wita(7, 10));
        let Event::ReportDispatched(dd) = &d.event else {
            panic!()
        };
        let case = CaseRef {
            case_id: lapor_domain::CaseId::from_uuid(uuid::Uuid::now_v7()),
            report_id: dd.report_id,
            tracking_id: dd.tracking_id.clone(),
            opd_id: dd.opd_id.clone(),
            reporter_ref: dd.reporter_ref,
        };
        let ask = |at| {
            env_of(
                at,
                Event::CaseInfoRequested(CaseInfoRequested {
                    case: case.clone(),
                    entry_id: uuid::Uuid::now_v7(),
                    question: "Di titik mana?".into(),
                    requested_at: at,
                    requested_by: "pj-pupr".into(),
                }),
            )
        };
        let answer = |asked, at| {
            env_of(
                at,
                Event::CaseReplied(CaseReplied {
                    case: case.clone(),
                    entry_id: uuid::Uuid::now_v7(),
                    by: Replier::Reporter,
                    replied_at: at,
                    answers_info_request_at: Some(asked),
                }),
            )
        };
        let followed = env_of(
            wita(16, 10),
            Event::CaseFollowedUp(CaseFollowedUp {
                case_id: case.case_id,
                report_id: case.report_id,
                tracking_id: case.tracking_id.clone(),
                opd_id: case.opd_id.clone(),
                follow_up_id: uuid::Uuid::now_v7(),
                text: "Tim menambal lubang".into(),
                posted_at: wita(16, 10),
                posted_by: "pj-pupr".into(),
                reporter_ref: case.reporter_ref,
            }),
        );
        vec![
            (subjects::REPORT_SUBMITTED, s.clone()),
            (subjects::REPORT_DISPATCHED, d.clone()),
            (subjects::CASE_INFO_REQUESTED, ask(wita(8, 10))),
            (subjects::CASE_REPLIED, answer(wita(8, 10), wita(11, 10))),
            (subjects::CASE_FOLLOWED_UP, followed),
            (subjects::CASE_INFO_REQUESTED, ask(wita(17, 10))),
            (subjects::CASE_REPLIED, answer(wita(17, 10), wita(21, 10))),
        ]
    };
    let in_order = fixtures::submitted(ReportKind::Pengaduan, "", wita(7, 9));
    let shuffled = fixtures::submitted(ReportKind::Pengaduan, "", wita(7, 9));
    for (i, (suffix, e)) in story(&in_order).into_iter().enumerate() {
        env.publish(suffix, &format!("a{i}"), codec::encode(&e)).await;
    }
    // The other report: reversed, with every event delivered twice.
    let mut rest = story(&shuffled);
    rest.reverse();
    for (i, (suffix, e)) in rest.iter().chain(rest.iter()).enumerate() {
        env.publish(suffix, &format!("b{i}"), codec::encode(e)).await;
    }
    let mut views = Vec::new();
    for s in [&in_order, &shuffled] {
        let d = eventually("met first follow-up", Duration::from_secs(20), || {
            let mut c = c.clone();
            let op = op.clone();
            let id = s.event.report_id().unwrap().to_string();
            async move {
                let d = c
                    .list_deadlines(authed(ps::ListDeadlinesRequest { report_id: id }, &op))
                    .await
                    .ok()?
                    .into_inner()
                    .deadlines;
                let f = d.into_iter().find(|x| x.step == ps::Step::FirstFollowUp as i32)?;
                (f.met_at.is_some() && f.pauses.len() == 1 && f.pauses[0].resumed_at.is_some()).then_some(f)
            }
        })
        .await;
        assert_eq!(
            local(&d.due_at),
            "Thu 2026-12-17 23:59:59",
            "three stopped working days"
        );
        assert_eq!(local(&d.met_at), "Wed 2026-12-16 10:00:00");
        assert_eq!(d.state, ps::DeadlineState::Met as i32);
        assert_eq!(
            d.pauses[0].working_days, 3,
            "the question after the follow-up is not listed"
        );
        let mut d = d;
        d.report_id.clear();
        // The history of moves depends on arrival order; the deadline itself does not.
        d.changes.clear();
        views.push(format!("{d:?}"));
    }
    assert_eq!(views[0], views[1], "same result in any order");
    svc.stop().await;
}

fn calendar_with(days: &[(u32, &str)]) -> CalendarSpec {
    CalendarSpec {
        holidays: days
            .iter()
            .map(|(d, n)| Holiday {
                date: chrono::NaiveDate::from_ymd_opt(2026, 12, *d).unwrap(),
                name: (*n).into(),
                source: "SKB 3 Menteri".into(),
            })
            .collect(),
        ..CalendarSpec::default()
    }
}

async fn start_sla(env: &TestEnv, calendar: CalendarSpec) -> Spawned {
    let cfg = Config {
        common: env.common("sla_monitor"),
        ledger: ledger_in(env),
        calendar,
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    Spawned::start(addr, |stop| svc.run_until(stop))
}

async fn deadlines_of(svc: &Spawned, env: &TestEnv, report: &str) -> Vec<ps::Deadline> {
    SlaServiceClient::new(svc.channel().await)
        .list_deadlines(authed(
            ps::ListDeadlinesRequest {
                report_id: report.into(),
            },
            &env.token("op", Role::Operator, None),
        ))
        .await
        .unwrap()
        .into_inner()
        .deadlines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_holiday_moves_exactly_the_affected_open_deadlines_and_says_why() {
    let env = TestEnv::new().await.unwrap();
    let svc = start_sla(&env, calendar_with(&[(25, "Hari Raya Natal")])).await;
    // A: submitted Mon 21, still waiting (verification due Thu 24).
    // B: submitted Mon 7 (due Thu 10): nothing between it and its due date changes.
    // C: submitted Mon 21, dispatched Tue 22 (verification met; first follow-up due Wed 30).
    let a = fixtures::submitted(ReportKind::Pengaduan, "", wita(21, 10));
    let b = fixtures::submitted(ReportKind::Pengaduan, "", wita(7, 10));
    let c = fixtures::submitted(ReportKind::Pengaduan, "", wita(21, 10));
    let cd = fixtures::dispatched(&c, "dlh", wita(22, 10));
    for (i, (suffix, e)) in [
        (subjects::REPORT_SUBMITTED, &a),
        (subjects::REPORT_SUBMITTED, &b),
        (subjects::REPORT_SUBMITTED, &c),
        (subjects::REPORT_DISPATCHED, &cd),
    ]
    .into_iter()
    .enumerate()
    {
        env.publish(suffix, &format!("e{i}"), codec::encode(e)).await;
    }
    let id = |e: &lapor_domain::events::Envelope| e.event.report_id().unwrap().to_string();
    eventually("all recorded", Duration::from_secs(20), || async {
        (deadlines_of(&svc, &env, &id(&c)).await.len() == 3
            && deadlines_of(&svc, &env, &id(&a)).await.len() == 1
            && deadlines_of(&svc, &env, &id(&b)).await.len() == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        local(&deadlines_of(&svc, &env, &id(&a)).await[0].due_at),
        "Thu 2026-12-24 23:59:59"
    );
    assert_eq!(
        local(&deadlines_of(&svc, &env, &id(&c)).await[1].due_at),
        "Wed 2026-12-30 23:59:59"
    );
    let before = stored_rows(&env, &[id(&a), id(&b)]).await;
    svc.stop().await;

    // The SKB adds cuti bersama on Thu 24 Dec: the operator puts a new calendar version.
    let svc = start_sla(&env, calendar_with(&[(25, "Hari Raya Natal")])).await;
    let mut sla = SlaServiceClient::new(svc.channel().await);
    let op = env.token("op-diskominfo", Role::Operator, None);
    let current = sla
        .get_calendar(authed(ps::GetCalendarRequest {}, &op))
        .await
        .unwrap()
        .into_inner()
        .current
        .unwrap();
    assert_eq!(
        (current.version, current.reason.as_str()),
        (1, "seeded from the configuration file")
    );
    let mut cal = current.calendar.clone().unwrap();
    cal.holidays.push(ps::Holiday {
        date: "2026-12-24".into(),
        name: "Cuti bersama Natal".into(),
        source: "SKB 3 Menteri".into(),
    });
    let put = |cal: ps::Calendar, expected: u64, token: &str| {
        authed(
            ps::PutCalendarRequest {
                calendar: Some(cal),
                reason: "SKB 3 Menteri tentang cuti bersama 2026".into(),
                expected_version: expected,
            },
            token,
        )
    };
    // Bad input names its fields; other roles may not; a stale version is refused.
    let mut bad = cal.clone();
    bad.time_zone = "Mars/Base".into();
    bad.holidays.push(ps::Holiday {
        date: "2026-13-01".into(),
        name: "x".into(),
        source: String::new(),
    });
    let e = sla.put_calendar(put(bad, 1, &op)).await.unwrap_err();
    assert_eq!(
        lapor_platform::status::violated_fields(&e),
        ["calendar.holidays[2].date", "calendar.time_zone"]
    );
    let sup = env.token("sekda", Role::Supervisor, None);
    assert_eq!(
        sla.put_calendar(put(cal.clone(), 1, &sup))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        sla.put_calendar(put(cal.clone(), 7, &op))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Aborted
    );
    let done = sla.put_calendar(put(cal, 1, &op)).await.unwrap().into_inner();
    assert_eq!(done.version, 2);
    let da = eventually("A recomputed", Duration::from_secs(20), || async {
        let d = deadlines_of(&svc, &env, &id(&a)).await;
        (d[0].changes.len() == 1).then_some(d)
    })
    .await;
    assert_eq!(local(&da[0].due_at), "Mon 2026-12-28 23:59:59", "22, 23, 28");
    assert_eq!(local(&da[0].changes[0].from_due), "Thu 2026-12-24 23:59:59");
    let reason = &da[0].changes[0].reason;
    assert!(
        reason.contains("holiday added 2026-12-24 Cuti bersama Natal (SKB 3 Menteri)")
            && reason.contains("calendar version 2 by op-diskominfo"),
        "{reason}"
    );
    let db = deadlines_of(&svc, &env, &id(&b)).await;
    assert_eq!(
        (local(&db[0].due_at).as_str(), db[0].changes.len()),
        ("Thu 2026-12-10 23:59:59", 0)
    );
    // Only what moved is rewritten: A's row carries the new settings' fingerprint, B's row is
    // still the one computed under version 1 (which gives the same deadline).
    let after = stored_rows(&env, &[id(&a), id(&b)]).await;
    assert_ne!(
        before[&id(&a)].0,
        after[&id(&a)].0,
        "A rewritten under the new settings"
    );
    assert_eq!(before[&id(&b)], after[&id(&b)], "B not rewritten");
    let dc = eventually("C recomputed", Duration::from_secs(20), || async {
        let d = deadlines_of(&svc, &env, &id(&c)).await;
        (d[1].changes.len() == 1 && d[2].changes.len() == 1).then_some(d)
    })
    .await;
    assert_eq!(dc[0].step, ps::Step::Verification as i32);
    assert_eq!(
        (local(&dc[0].due_at).as_str(), dc[0].changes.len()),
        ("Thu 2026-12-24 23:59:59", 0),
        "met under the old calendar: its due time stands"
    );
    assert_eq!(
        local(&dc[1].due_at),
        "Thu 2026-12-31 23:59:59",
        "first follow-up: 23, 28, 29, 30, 31"
    );
    // An iCalendar import adds New Year's Day: version 3; dates already listed are kept.
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\nSUMMARY:Cuti bersama\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20270101\r\nSUMMARY:Tahun Baru 2027 Masehi\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let imported = sla
        .import_i_calendar(authed(
            ps::ImportICalendarRequest {
                ics: ics.into(),
                reason: "SKB 3 Menteri 2027".into(),
                expected_version: 2,
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((imported.version, imported.added), (3, 1));
    let versions = sla
        .list_calendar_versions(authed(ps::ListCalendarVersionsRequest {}, &op))
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(versions[0].calendar.as_ref().unwrap().holidays.len(), 3);
    assert_eq!(versions[1].changed_by, "op-diskominfo");
    svc.stop().await;
    // A restart keeps the versions in force: the configuration file only seeded the first.
    let svc = start_sla(&env, calendar_with(&[(25, "Hari Raya Natal")])).await;
    let now_in_force = SlaServiceClient::new(svc.channel().await)
        .get_calendar(authed(ps::GetCalendarRequest {}, &op))
        .await
        .unwrap()
        .into_inner()
        .current
        .unwrap();
    assert_eq!(now_in_force.version, 3);
    assert_eq!(
        deadlines_of(&svc, &env, &id(&a)).await[0].changes.len(),
        1,
        "nothing moved again"
    );
    svc.stop().await;
}

/// (settings fingerprint, computed at) of each report's verification deadline row.
async fn stored_rows(
    env: &TestEnv,
    reports: &[String],
) -> std::collections::HashMap<String, (String, String)> {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&env.db_url).await.unwrap();
    let mut out = std::collections::HashMap::new();
    for r in reports {
        let row = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT settings, computed_at::text AS at FROM sla_monitor.deadlines \
                 WHERE report_id = $1::uuid AND span = 0",
                [r.clone().into()],
            ))
            .await
            .unwrap()
            .unwrap();
        out.insert(
            r.clone(),
            (
                row.try_get("", "settings").unwrap(),
                row.try_get("", "at").unwrap(),
            ),
        );
    }
    db.close().await.unwrap();
    out
}

/// m0004 turns the pre-facts rows into facts and the service rebuilds the deadlines from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_rebuilds_deadlines_from_the_old_rows() {
    use sea_orm::{ConnectionTrait, Database};
    use sea_orm_migration::MigratorTrait;
    let env = TestEnv::new().await.unwrap();
    std::fs::create_dir_all(env.scratch_dir()).unwrap();
    let url = format!("sqlite://{}/sla.db?mode=rwc", env.scratch_dir().display());
    let db = Database::connect(&url).await.unwrap();
    lapor_sla_monitor::migration::Migrator::up(&db, Some(4))
        .await
        .unwrap();
    let report = uuid::Uuid::now_v7();
    // sea-orm stores UUIDs as 16-byte blobs on SQLite.
    let blob = format!("X'{}'", report.simple());
    // Submitted Fri 18 Dec 10:00 WITA, held Fri 18 12:00 to Tue 22 09:00, dispatched Tue 22 10:00
    // to dlh, which followed up Wed 23 10:00.
    let sql = [
        format!(
            "INSERT INTO deadlines (id, report_id, step, opd_id, started_at, due_at, met_at, working_days) VALUES ('{report}:VERIFICATION', {blob}, 'VERIFICATION', NULL, '2026-12-18 02:00:00+00:00', '2026-12-29 15:59:59+00:00', '2026-12-22 02:00:00+00:00', 3)"
        ),
        format!(
            "INSERT INTO deadlines (id, report_id, step, opd_id, started_at, due_at, met_at, working_days) VALUES ('{report}:FIRST_FOLLOW_UP', {blob}, 'FIRST_FOLLOW_UP', 'dlh', '2026-12-22 02:00:00+00:00', '2026-12-31 15:59:59+00:00', '2026-12-23 02:00:00+00:00', 5)"
        ),
        format!(
            "INSERT INTO pauses (id, report_id, held_at, resumed_at, step) VALUES ('{report}:1', {blob}, '2026-12-18 04:00:00+00:00', '2026-12-22 01:00:00+00:00', 'VERIFICATION')"
        ),
    ];
    for s in sql {
        db.execute_unprepared(&s).await.unwrap();
    }
    db.close().await.unwrap();
    let mut common = env.common("sla_monitor");
    common.database.url = url;
    let cfg = Config {
        common,
        calendar: calendar_with(&[(24, "Cuti bersama Natal"), (25, "Hari Raya Natal")]),
        ledger: ledger_in(&env),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    let svc = Spawned::start(addr, |stop| svc.run_until(stop));
    let d = deadlines_of(&svc, &env, &report.to_string()).await;
    let view: Vec<(i32, String, String, usize)> = d
        .iter()
        .map(|x| (x.step, local(&x.due_at), local(&x.met_at), x.pauses.len()))
        .collect();
    assert_eq!(
        view,
        [
            (
                ps::Step::Verification as i32,
                "Tue 2026-12-29 23:59:59".into(),
                "Tue 2026-12-22 10:00:00".into(),
                1
            ),
            (
                ps::Step::FirstFollowUp as i32,
                "Thu 2026-12-31 23:59:59".into(),
                "Wed 2026-12-23 10:00:00".into(),
                0
            ),
            (
                ps::Step::Completion as i32,
                "Wed 2027-01-13 23:59:59".into(),
                "-".into(),
                0
            ),
        ]
    );
    svc.stop().await;
}

/// Ledger settings that export checkpoints into the test's scratch directory.
fn ledger_in(env: &TestEnv) -> lapor_sla_monitor::config::LedgerConfig {
    let mut l = lapor_sla_monitor::config::LedgerConfig::default();
    l.export_store.path = env.scratch_dir().join("checkpoints").display().to_string();
    l
}

fn registry_config(env: &TestEnv) -> Config {
    use lapor_sla_monitor::config::{CityOfficial, Official, OpdOfficials};
    let official = |id: &str| Official {
        id: id.into(),
        name: id.into(),
    };
    let mut cfg = Config {
        common: env.common("sla_monitor"),
        ledger: ledger_in(env),
        opds: vec![OpdOfficials {
            id: "dlh".into(),
            head: Some(official("kepala-dlh")),
            liaison_officers: vec![official("pj-dlh")],
        }],
        ..Config::default()
    };
    cfg.escalation.city = vec![
        CityOfficial {
            level: "sekda".into(),
            id: "sekda".into(),
            name: "Sekretaris Daerah".into(),
        },
        CityOfficial {
            level: "mayor".into(),
            id: "walikota".into(),
            name: "Wali Kota".into(),
        },
    ];
    // Sweeps run on demand here (an automatic one at start would race the test's own).
    cfg.alerts.sweep_interval_secs = 0;
    cfg
}

async fn start_cfg(cfg: Config) -> (Spawned, lapor_sla_monitor::Sweeper) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    let sweeper = svc.sweeper();
    (Spawned::start(addr, |stop| svc.run_until(stop)), sweeper)
}

fn at_wita(y: i32, m: u32, d: u32, h: u32) -> chrono::DateTime<Utc> {
    Makassar
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_breaches_and_escalations_are_raised_once_each_at_the_right_time() {
    use lapor_domain::events::Event;
    let env = TestEnv::new().await.unwrap();
    let (svc, sweeper) = start_cfg(registry_config(&env)).await;
    // Submitted Mon 7 Dec, dispatched to DLH Tue 8: first follow-up due Tue 15, completion Mon 28.
    let s = fixtures::submitted(ReportKind::Pengaduan, "", wita(7, 10));
    let d = fixtures::dispatched(&s, "dlh", wita(8, 10));
    env.publish(subjects::REPORT_SUBMITTED, "s", codec::encode(&s))
        .await;
    env.publish(subjects::REPORT_DISPATCHED, "d", codec::encode(&d))
        .await;
    let report = s.event.report_id().unwrap().to_string();
    eventually("deadlines", Duration::from_secs(20), || async {
        (deadlines_of(&svc, &env, &report).await.len() == 3).then_some(())
    })
    .await;
    let steps = [
        // (when, (warnings, breaches, escalations))
        (wita(15, 6), (1, 0, 0)),            // first follow-up due within 24 h
        (wita(15, 12), (0, 0, 0)),           // once
        (wita(16, 9), (0, 1, 1)),            // breached; level 1 (liaison) at once
        (wita(16, 10), (0, 0, 0)),           // once
        (wita(21, 9), (0, 0, 1)),            // 4 working days overdue: head (3)
        (wita(28, 8), (1, 0, 1)),            // completion due within 24 h; 9 days overdue: sekda (7)
        (at_wita(2027, 1, 7, 9), (0, 1, 4)), // mayor (14) for the first; completion breached: liaison, head, sekda
        (at_wita(2027, 1, 7, 10), (0, 0, 0)),
    ];
    for (when, want) in steps {
        assert_eq!(sweeper.sweep_at(when).await.unwrap(), want, "sweep at {when}");
    }
    // The OPD finally follows up: a late step, already recorded as a breach, raises nothing new.
    let late = lapor_domain::events::Envelope {
        id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: at_wita(2027, 1, 8, 10),
        event: Event::CaseFollowedUp(lapor_domain::events::CaseFollowedUp {
            case_id: lapor_domain::CaseId::from_uuid(uuid::Uuid::now_v7()),
            report_id: s.event.report_id().unwrap(),
            tracking_id: "7KQ2M9XD4A".parse().unwrap(),
            opd_id: "dlh".parse().unwrap(),
            follow_up_id: uuid::Uuid::now_v7(),
            text: "Terlambat".into(),
            posted_at: at_wita(2027, 1, 8, 10),
            posted_by: "pj-dlh".into(),
            reporter_ref: lapor_domain::ReporterRef::from_uuid(uuid::Uuid::new_v4()),
        }),
    };
    env.publish(subjects::CASE_FOLLOWED_UP, "late", codec::encode(&late))
        .await;
    eventually("met late", Duration::from_secs(20), || async {
        deadlines_of(&svc, &env, &report)
            .await
            .iter()
            .any(|d| d.state == ps::DeadlineState::MetLate as i32)
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let decode = |m: &Vec<u8>| codec::decode(m).unwrap().event;
    let warnings = env.messages_on(subjects::SLA_WARNING).await;
    let breaches: Vec<Event> = env
        .messages_on(subjects::SLA_BREACHED)
        .await
        .iter()
        .map(decode)
        .collect();
    let escalations: Vec<Event> = env
        .messages_on(subjects::SLA_ESCALATED)
        .await
        .iter()
        .map(decode)
        .collect();
    assert_eq!((warnings.len(), breaches.len(), escalations.len()), (2, 2, 7));
    let Event::SlaBreached(first) = &breaches[0] else {
        panic!()
    };
    assert_eq!(first.deadline.step, lapor_domain::Step::FirstFollowUp);
    assert_eq!(first.officials, ["pj-dlh", "kepala-dlh"]);
    assert_eq!(first.ledger_seq, 1);
    let levels: Vec<(u32, String, Vec<String>)> = escalations
        .iter()
        .filter_map(|e| match e {
            Event::SlaEscalated(x) if x.deadline.step == lapor_domain::Step::FirstFollowUp => {
                Some((x.level, x.position.clone(), x.officials.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        levels,
        [
            (1, "liaison".into(), vec!["pj-dlh".into()]),
            (2, "head".into(), vec!["kepala-dlh".into()]),
            (3, "sekda".into(), vec!["sekda".into()]),
            (4, "mayor".into(), vec!["walikota".into()]),
        ]
    );
    let v = SlaServiceClient::new(svc.channel().await)
        .verify_ledger(authed(
            ps::VerifyLedgerRequest::default(),
            &env.token("insp", Role::Auditor, None),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((v.ok, v.entries, v.first_bad_seq), (true, 2, 0));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_done_late_is_a_breach_without_any_sweep() {
    use lapor_domain::events::Event;
    let env = TestEnv::new().await.unwrap();
    let (svc, _) = start_cfg(registry_config(&env)).await;
    let s = fixtures::submitted(ReportKind::Pengaduan, "", wita(7, 10));
    let d = fixtures::dispatched(&s, "dlh", wita(7, 11));
    let Event::ReportDispatched(dd) = &d.event else {
        panic!()
    };
    let followed = lapor_domain::events::Envelope {
        id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: wita(16, 10),
        event: Event::CaseFollowedUp(lapor_domain::events::CaseFollowedUp {
            case_id: lapor_domain::CaseId::from_uuid(uuid::Uuid::now_v7()),
            report_id: dd.report_id,
            tracking_id: dd.tracking_id.clone(),
            opd_id: dd.opd_id.clone(),
            follow_up_id: uuid::Uuid::now_v7(),
            text: "Terlambat dua hari".into(),
            posted_at: wita(16, 10),
            posted_by: "pj-dlh".into(),
            reporter_ref: dd.reporter_ref,
        }),
    };
    for (i, (suffix, e)) in [
        (subjects::REPORT_SUBMITTED, &s),
        (subjects::REPORT_DISPATCHED, &d),
        (subjects::CASE_FOLLOWED_UP, &followed),
        (subjects::CASE_FOLLOWED_UP, &followed),
    ]
    .into_iter()
    .enumerate()
    {
        env.publish(suffix, &format!("x{i}"), codec::encode(e)).await;
    }
    let b = eventually("a breach", Duration::from_secs(20), || async {
        let m = env.messages_on(subjects::SLA_BREACHED).await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(env.messages_on(subjects::SLA_BREACHED).await.len(), 1);
    let Event::SlaBreached(e) = codec::decode(&b[0]).unwrap().event else {
        panic!()
    };
    assert_eq!(
        (e.deadline.step, e.deadline.span, e.ledger_seq),
        (lapor_domain::Step::FirstFollowUp, 1, 1)
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_deleting_or_reordering_the_ledger_in_postgresql_is_detected() {
    use sea_orm::{ConnectionTrait, Database};
    let env = TestEnv::new().await.unwrap();
    let (svc, sweeper) = start_cfg(registry_config(&env)).await;
    // Three reports never dispatched: three verification breaches, three ledger entries.
    let mut ids = Vec::new();
    for i in 0..3 {
        let s = fixtures::submitted(ReportKind::Aspirasi, "", wita(7, 10 + i));
        env.publish(subjects::REPORT_SUBMITTED, &format!("s{i}"), codec::encode(&s))
            .await;
        ids.push(s.event.report_id().unwrap().to_string());
    }
    for id in &ids {
        eventually("recorded", Duration::from_secs(20), || async {
            (deadlines_of(&svc, &env, id).await.len() == 1).then_some(())
        })
        .await;
    }
    assert_eq!(sweeper.sweep_at(wita(14, 9)).await.unwrap().1, 3);
    let auditor = env.token("insp", Role::Auditor, None);
    let c = SlaServiceClient::new(svc.channel().await);
    let verify = |checkpoint: Option<ps::LedgerCheckpoint>| {
        let mut c = c.clone();
        let t = auditor.clone();
        async move {
            c.verify_ledger(authed(ps::VerifyLedgerRequest { checkpoint }, &t))
                .await
                .unwrap()
                .into_inner()
        }
    };
    assert!(verify(None).await.ok);
    let cp = c
        .clone()
        .export_checkpoint(authed(ps::ExportCheckpointRequest {}, &auditor))
        .await
        .unwrap()
        .into_inner()
        .checkpoint
        .unwrap();
    assert_eq!(cp.seq, 3);
    assert!(verify(Some(cp.clone())).await.ok);
    // The service's own connection cannot change it: the table is append-only.
    let db = Database::connect(&env.db_url).await.unwrap();
    let e = db
        .execute_unprepared("UPDATE sla_monitor.ledger SET body = '{}' WHERE seq = 2")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(
        db.execute_unprepared("DELETE FROM sla_monitor.ledger")
            .await
            .is_err()
    );
    // Someone with superuser rights switches triggers off and tampers.
    let original: String = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT body FROM sla_monitor.ledger WHERE seq = 2".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "body")
        .unwrap();
    let tamper = |sql: String| {
        let db = db.clone();
        async move {
            db.execute_unprepared(&format!(
                "BEGIN; SET LOCAL session_replication_role = replica; {sql}; COMMIT;"
            ))
            .await
            .unwrap();
        }
    };
    let edited = original.replace("\"late_seconds\":", "\"late_seconds\":1+");
    tamper(format!(
        "UPDATE sla_monitor.ledger SET body = '{}' WHERE seq = 2",
        edited.replace('\'', "''")
    ))
    .await;
    let v = verify(None).await;
    assert_eq!((v.ok, v.first_bad_seq, v.last_good_seq), (false, 2, 1));
    assert!(v.problem.contains("edited"), "{}", v.problem);
    tamper(format!(
        "UPDATE sla_monitor.ledger SET body = '{}' WHERE seq = 2",
        original.replace('\'', "''")
    ))
    .await;
    assert!(verify(None).await.ok, "restored");
    // Deleted.
    tamper("CREATE TABLE public.ledger_copy AS SELECT * FROM sla_monitor.ledger WHERE seq = 2; DELETE FROM sla_monitor.ledger WHERE seq = 2".into()).await;
    let v = verify(None).await;
    assert_eq!((v.ok, v.first_bad_seq), (false, 3));
    assert!(v.problem.contains("missing"), "{}", v.problem);
    tamper(
        "INSERT INTO sla_monitor.ledger SELECT * FROM public.ledger_copy; DROP TABLE public.ledger_copy"
            .into(),
    )
    .await;
    assert!(verify(None).await.ok, "restored");
    // Reordered: entries 1 and 2 swap places.
    tamper("UPDATE sla_monitor.ledger SET seq = -1 WHERE seq = 1; UPDATE sla_monitor.ledger SET seq = 1 WHERE seq = 2; UPDATE sla_monitor.ledger SET seq = 2 WHERE seq = -1".into()).await;
    let v = verify(None).await;
    assert_eq!((v.ok, v.first_bad_seq), (false, 1));
    // A whole chain rewritten consistently still fails the checkpoint kept outside.
    tamper("UPDATE sla_monitor.ledger SET seq = -1 WHERE seq = 1; UPDATE sla_monitor.ledger SET seq = 1 WHERE seq = 2; UPDATE sla_monitor.ledger SET seq = 2 WHERE seq = -1".into()).await;
    assert!(verify(None).await.ok, "restored");
    // Rewrite the last entry and recompute its hash, as a careful forger would: the chain
    // verifies, the checkpoint kept outside does not.
    tamper(r#"UPDATE sla_monitor.ledger SET body = replace(body, '"late_seconds":', '"late_seconds":0') WHERE seq = 3"#.into()).await;
    tamper(
        r#"UPDATE sla_monitor.ledger SET hash = encode(sha256(convert_to(prev_hash || E'\n' || seq || E'\n' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n' || kind || E'\n' || body, 'UTF8')), 'hex') WHERE seq = 3"#
            .into(),
    )
    .await;
    assert!(
        verify(None).await.ok,
        "a consistent rewrite passes the chain check alone"
    );
    let v = verify(Some(cp.clone())).await;
    assert!(!v.ok && v.problem.contains("rewritten"), "{}", v.problem);
    // A checkpoint with a forged signature is refused.
    let mut forged = cp;
    forged.signature = "00".repeat(32);
    let v = verify(Some(forged)).await;
    assert!(!v.ok && v.problem.contains("signature"), "{}", v.problem);
    db.close().await.unwrap();
    svc.stop().await;
}

/// A month of 500 reports across 10 OPDs: the compliance report's counts equal counts taken
/// directly from the generated case history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_months_compliance_report_reconciles_with_the_case_history() {
    use lapor_domain::events::{CaseFollowedUp, CaseTransferRequested, Envelope, Event};
    use lapor_sla_monitor::config::{Official, OpdOfficials};
    use sea_orm::{ConnectionTrait, Database};
    let env = TestEnv::new().await.unwrap();
    let opds: Vec<String> = (0..10).map(|i| format!("opd-{i}")).collect();
    let mut cfg = registry_config(&env);
    cfg.opds = opds
        .iter()
        .map(|o| OpdOfficials {
            id: o.clone(),
            head: Some(Official {
                id: format!("kepala-{o}"),
                name: String::new(),
            }),
            liaison_officers: vec![Official {
                id: format!("pj-{o}"),
                name: String::new(),
            }],
        })
        .collect();
    let (svc, _) = start_cfg(cfg).await;
    let cal = lapor_domain::Calendar::from_spec(&CalendarSpec::default()).unwrap();
    let env_of = |at, event| Envelope {
        id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: at,
        event,
    };
    // Expected counts per OPD: (received, ffu (on time, breached, ended), completion (due, on
    // time, breached, ended)).
    #[derive(Default, Debug, PartialEq)]
    struct Want {
        received: u64,
        ffu: (u64, u64, u64),
        done: (u64, u64, u64),
    }
    let mut want: std::collections::BTreeMap<String, Want> = Default::default();
    let month_end = at_wita(2027, 1, 1, 0);
    let mut verification_on_time = 0u64;
    let mut seed: u64 = 0x5eed;
    let mut published = 0usize;
    for i in 0..500u32 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (seed >> 33) % 10;
        let opd = &opds[(i % 10) as usize];
        let submitted_at = wita(1 + i % 14, 9 + i % 7);
        let dispatched_at = submitted_at + chrono::Duration::days(1);
        let s = fixtures::submitted(ReportKind::Pengaduan, "", submitted_at);
        let d = fixtures::dispatched(&s, opd, dispatched_at);
        let Event::ReportDispatched(dd) = &d.event else {
            panic!()
        };
        let mut events = vec![
            (subjects::REPORT_SUBMITTED, s.clone()),
            (subjects::REPORT_DISPATCHED, d.clone()),
        ];
        let ffu_due = cal.add_working_days(dispatched_at, 5);
        let done_due = cal.add_working_days(dispatched_at, 14);
        let w = want.entry(opd.clone()).or_default();
        w.received += 1;
        if cal.add_working_days(submitted_at, 3) < month_end {
            verification_on_time += 1;
        }
        let mut transfer_at = None;
        match r {
            0..=5 => {
                let at = dispatched_at + chrono::Duration::days(i64::try_from(r * 2 % 11).unwrap());
                events.push((
                    subjects::CASE_FOLLOWED_UP,
                    env_of(
                        at,
                        Event::CaseFollowedUp(CaseFollowedUp {
                            case_id: lapor_domain::CaseId::from_uuid(uuid::Uuid::now_v7()),
                            report_id: dd.report_id,
                            tracking_id: dd.tracking_id.clone(),
                            opd_id: dd.opd_id.clone(),
                            follow_up_id: uuid::Uuid::now_v7(),
                            text: "tindak lanjut".into(),
                            posted_at: at,
                            posted_by: "pj".into(),
                            reporter_ref: dd.reporter_ref,
                        }),
                    ),
                ));
                if at <= ffu_due { w.ffu.0 += 1 } else { w.ffu.1 += 1 }
            }
            6 | 7 => w.ffu.1 += 1,
            _ => {
                let at = dispatched_at + chrono::Duration::days(if r == 8 { 2 } else { 10 });
                transfer_at = Some(at);
                events.push((
                    subjects::CASE_TRANSFER_REQUESTED,
                    env_of(
                        at,
                        Event::CaseTransferRequested(CaseTransferRequested {
                            case_id: lapor_domain::CaseId::from_uuid(uuid::Uuid::now_v7()),
                            report_id: dd.report_id,
                            tracking_id: dd.tracking_id.clone(),
                            opd_id: dd.opd_id.clone(),
                            reason: "bukan kewenangan".into(),
                            requested_at: at,
                            requested_by: "pj".into(),
                        }),
                    ),
                ));
                if at <= ffu_due { w.ffu.2 += 1 } else { w.ffu.1 += 1 }
            }
        }
        // Completion: never closed here; counted only when due within December.
        if done_due < month_end {
            match transfer_at {
                Some(t) if t <= done_due => w.done.2 += 1,
                _ => w.done.1 += 1,
            }
        }
        for (suffix, e) in events {
            env.publish(suffix, &e.id.to_string(), codec::encode(&e)).await;
            published += 1;
        }
    }
    let db = Database::connect(&env.db_url).await.unwrap();
    eventually("every fact recorded", Duration::from_secs(180), || async {
        let n: i64 = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM sla_monitor.facts".to_owned(),
            ))
            .await
            .ok()??
            .try_get("", "n")
            .ok()?;
        (usize::try_from(n).ok()? == published).then_some(())
    })
    .await;
    let report = SlaServiceClient::new(svc.channel().await)
        .compliance_report(authed(
            ps::ComplianceReportRequest {
                from: "2026-12-01".into(),
                to: "2026-12-31".into(),
                opd_id: String::new(),
                as_of: Some(lapor_events::codec::ts(at_wita(2027, 1, 10, 0))),
            },
            &env.token("insp", Role::Auditor, None),
        ))
        .await
        .unwrap()
        .into_inner();
    let step = |o: &ps::OpdCompliance, code: &str| o.steps.iter().find(|s| s.step == code).cloned().unwrap();
    let mut got: std::collections::BTreeMap<String, Want> = Default::default();
    let mut verification = None;
    for o in &report.opds {
        if o.opd_id == "diskominfo" {
            let v = step(o, "VERIFICATION");
            verification = Some((v.on_time, v.breached, v.pending));
            continue;
        }
        let f = step(o, "FIRST_FOLLOW_UP");
        let c = step(o, "COMPLETION");
        assert_eq!(
            f.pending + c.pending,
            0,
            "{}: nothing pending on 10 January",
            o.opd_id
        );
        assert_eq!(c.on_time, 0);
        got.insert(
            o.opd_id.clone(),
            Want {
                received: o.received,
                ffu: (f.on_time, f.breached, f.ended),
                done: (c.due, c.breached, c.ended),
            },
        );
        // The rule: 2% per breach, at most 20%.
        let breaches = f.breached + c.breached;
        assert_eq!(o.breaches, breaches);
        assert!((o.allowance_cut_percent - (2.0 * breaches as f64).min(20.0)).abs() < 1e-9);
        let judged = f.on_time + f.breached + c.on_time + c.breached;
        assert!(
            (o.compliance_percent - ((f.on_time as f64 * 1000.0 / judged as f64).round() / 10.0)).abs()
                < 1e-9
        );
    }
    for w in want.values_mut() {
        // Due excludes ended; nothing was closed, so every due completion is a breach.
        w.done.0 = w.done.1;
    }
    assert_eq!(got, want);
    assert_eq!(verification, Some((verification_on_time, 0, 0)));
    // The generated month exercises every outcome.
    let sum = |f: fn(&Want) -> u64| want.values().map(f).sum::<u64>();
    let totals = (
        sum(|w| w.ffu.0),
        sum(|w| w.ffu.1),
        sum(|w| w.ffu.2),
        sum(|w| w.done.1),
        sum(|w| w.done.2),
    );
    assert!(
        totals.0 > 100 && totals.1 > 100 && totals.2 > 20 && totals.3 > 100 && totals.4 > 20,
        "{totals:?}"
    );
    // Every breach has its evidence; officials carry their OPD's numbers.
    let total_breaches: u64 = report.opds.iter().map(|o| o.breaches).sum();
    assert_eq!(report.breaches.len() as u64, total_breaches);
    assert!(
        report
            .breaches
            .iter()
            .all(|b| b.late_seconds > 0 && b.officials.len() == 2)
    );
    let pj0 = report
        .officials
        .iter()
        .find(|o| o.official_id == "pj-opd-0")
        .unwrap();
    let opd0 = report.opds.iter().find(|o| o.opd_id == "opd-0").unwrap();
    assert_eq!(
        (pj0.breached, pj0.allowance_cut_percent),
        (opd0.breaches, opd0.allowance_cut_percent)
    );
    // The CSV says the same.
    let csv_breached: u64 = report
        .csv
        .lines()
        .filter(|l| l.starts_with("opd,opd-"))
        .map(|l| l.split(',').nth(6).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(csv_breached, total_breaches);
    assert_eq!(
        report.csv.lines().filter(|l| l.starts_with("breach,")).count() as u64,
        total_breaches
    );
    db.close().await.unwrap();
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_months_results_are_recorded_in_the_ledger_once() {
    use sea_orm::{ConnectionTrait, Database};
    let env = TestEnv::new().await.unwrap();
    let (svc, sweeper) = start_cfg(registry_config(&env)).await;
    // October 2026: dispatched to DLH on Tue 6, never followed up.
    let s = fixtures::submitted(ReportKind::Pengaduan, "", at_wita(2026, 10, 5, 10));
    let d = fixtures::dispatched(&s, "dlh", at_wita(2026, 10, 6, 10));
    env.publish(subjects::REPORT_SUBMITTED, "s", codec::encode(&s))
        .await;
    env.publish(subjects::REPORT_DISPATCHED, "d", codec::encode(&d))
        .await;
    let report = s.event.report_id().unwrap().to_string();
    eventually("deadlines", Duration::from_secs(20), || async {
        (deadlines_of(&svc, &env, &report).await.len() == 3).then_some(())
    })
    .await;
    assert_eq!(
        sweeper.sweep_at(Utc::now()).await.unwrap().1,
        2,
        "first follow-up and completion"
    );
    let auditor = env.token("insp", Role::Auditor, None);
    let mut c = SlaServiceClient::new(svc.channel().await);
    let record = |from: &str, to: &str| {
        authed(
            ps::RecordComplianceRequest {
                from: from.into(),
                to: to.into(),
            },
            &auditor,
        )
    };
    let e = c
        .record_compliance(record("2026-10-01", "2099-10-31"))
        .await
        .unwrap_err();
    assert_eq!(
        lapor_platform::status::violated_fields(&e),
        ["to"],
        "the period has not ended"
    );
    let r = c
        .record_compliance(record("2026-10-01", "2026-10-31"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.ledger_seq, 3);
    let again = c
        .record_compliance(record("2026-10-01", "2026-10-31"))
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::AlreadyExists);
    let v = c
        .verify_ledger(authed(ps::VerifyLedgerRequest::default(), &auditor))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (v.ok, v.entries, v.last_good_hash.as_str()),
        (true, 3, r.hash.as_str())
    );
    let db = Database::connect(&env.db_url).await.unwrap();
    let body: String = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT body FROM sla_monitor.ledger WHERE seq = 3".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "body")
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let dlh = body["opds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["opd_id"] == "dlh")
        .unwrap();
    assert_eq!(
        (dlh["breached"].as_u64(), dlh["allowance_cut_percent"].as_f64()),
        (Some(2), Some(4.0))
    );
    db.close().await.unwrap();
    svc.stop().await;
}

fn checkpoint_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn checkpoint_from(text: &str) -> ps::LedgerCheckpoint {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in {text}"))
            .to_owned()
    };
    ps::LedgerCheckpoint {
        seq: field("seq").parse().unwrap(),
        hash: field("hash"),
        at: None,
        signature: field("signature"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_checkpoints_are_exported_periodically_outside_the_database() {
    use sea_orm::{ConnectionTrait, Database};
    let env = TestEnv::new().await.unwrap();
    let mut cfg = registry_config(&env);
    cfg.ledger.export_interval_secs = 1;
    let dir = env.scratch_dir().join("checkpoints");
    let (svc, sweeper) = start_cfg(cfg).await;
    // The export at start covers the empty chain.
    let first = eventually("first export", Duration::from_secs(20), || async {
        checkpoint_files(&dir).first().cloned()
    })
    .await;
    let text = std::fs::read_to_string(&first).unwrap();
    assert!(
        text.starts_with("seq=0\n") && text.contains("chain_ok=true"),
        "{text}"
    );
    // Two breaches later, an export covers both.
    for i in 0..2 {
        let s = fixtures::submitted(ReportKind::Aspirasi, "", wita(7, 10 + i));
        let id = s.event.report_id().unwrap().to_string();
        env.publish(subjects::REPORT_SUBMITTED, &format!("s{i}"), codec::encode(&s))
            .await;
        eventually("recorded", Duration::from_secs(20), || async {
            (deadlines_of(&svc, &env, &id).await.len() == 1).then_some(())
        })
        .await;
    }
    assert_eq!(sweeper.sweep_at(wita(14, 9)).await.unwrap().1, 2);
    let latest = eventually("export of entry 2", Duration::from_secs(20), || async {
        checkpoint_files(&dir)
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with("-seq000000000002.txt"))
    })
    .await;
    // Kept by month, named by time and sequence number.
    let rel = latest.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
    assert!(
        rel.starts_with(&Utc::now().format("checkpoints/%Y/%m/").to_string()),
        "{rel}"
    );
    let cp = checkpoint_from(&std::fs::read_to_string(&latest).unwrap());
    assert_eq!(cp.seq, 2);
    let auditor = env.token("insp", Role::Auditor, None);
    let c = SlaServiceClient::new(svc.channel().await);
    let verify = |checkpoint: ps::LedgerCheckpoint| {
        let mut c = c.clone();
        let t = auditor.clone();
        async move {
            c.verify_ledger(authed(
                ps::VerifyLedgerRequest {
                    checkpoint: Some(checkpoint),
                },
                &t,
            ))
            .await
            .unwrap()
            .into_inner()
        }
    };
    assert!(verify(cp.clone()).await.ok);
    // A careful forger rewrites entry 2 and its hash: the chain alone verifies, the exported
    // checkpoint does not.
    let db = Database::connect(&env.db_url).await.unwrap();
    db.execute_unprepared(concat!(
        "BEGIN; SET LOCAL session_replication_role = replica; ",
        r#"UPDATE sla_monitor.ledger SET body = replace(body, '"late_seconds":', '"late_seconds":0') WHERE seq = 2; "#,
        r#"UPDATE sla_monitor.ledger SET hash = encode(sha256(convert_to(prev_hash || E'\n' || seq || E'\n' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n' || kind || E'\n' || body, 'UTF8')), 'hex') WHERE seq = 2; "#,
        "COMMIT;"
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    let v = verify(cp).await;
    assert!(!v.ok && v.problem.contains("rewritten"), "{}", v.problem);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_own_database_role_can_append_to_the_ledger_but_not_change_it() {
    use sea_orm::{ConnectionTrait, Database};
    let env = TestEnv::new().await.unwrap();
    let role_url = env.login_role().await.unwrap();
    let mut cfg = registry_config(&env);
    // Migrations run as the owner; the service runs as a role of its own.
    cfg.common.database.migration_url = env.db_url.clone();
    cfg.common.database.url = role_url.clone();
    let (svc, sweeper) = start_cfg(cfg).await;
    let s = fixtures::submitted(ReportKind::Aspirasi, "", wita(7, 10));
    let id = s.event.report_id().unwrap().to_string();
    env.publish(subjects::REPORT_SUBMITTED, "s", codec::encode(&s))
        .await;
    eventually("recorded", Duration::from_secs(20), || async {
        (deadlines_of(&svc, &env, &id).await.len() == 1).then_some(())
    })
    .await;
    // Running as that role, the service records facts, deadlines, alerts and a ledger entry.
    assert_eq!(sweeper.sweep_at(wita(14, 9)).await.unwrap().1, 1);
    let role = Database::connect(&role_url).await.unwrap();
    let count: i64 = role
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM sla_monitor.ledger".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    assert_eq!(count, 1);
    // It cannot change the ledger, nor switch its triggers off, nor bypass them.
    for sql in [
        "UPDATE sla_monitor.ledger SET body = '{}'",
        "DELETE FROM sla_monitor.ledger",
        "TRUNCATE sla_monitor.ledger",
    ] {
        let e = role.execute_unprepared(sql).await.unwrap_err().to_string();
        assert!(e.contains("permission denied"), "{sql}: {e}");
    }
    let e = role
        .execute_unprepared("ALTER TABLE sla_monitor.ledger DISABLE TRIGGER ALL")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("must be owner"), "{e}");
    let e = role
        .execute_unprepared("SET session_replication_role = replica")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("permission denied"), "{e}");
    role.close().await.unwrap();
    // A restart (migrations find nothing to do, grants are applied again) keeps working.
    svc.stop().await;
    let mut cfg = registry_config(&env);
    cfg.common.database.migration_url = env.db_url.clone();
    cfg.common.database.url = role_url;
    let (svc, _) = start_cfg(cfg).await;
    assert_eq!(deadlines_of(&svc, &env, &id).await.len(), 1);
    svc.stop().await;
}

/// A recompute batch that cannot get a report's lock (here: held by another transaction past
/// the database's `lock_timeout`, as when PostgreSQL breaks a deadlock with a consumer) is tried
/// again, and the new settings are adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recompute_batch_that_meets_a_held_lock_is_tried_again() {
    use lapor_sla_monitor::engine::Engine;
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let env = TestEnv::new().await.unwrap();
    let admin = sea_orm::Database::connect(&env.db_url).await.unwrap();
    let name = env
        .db_url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    // Every connection opened from now on gives up a lock wait after 200 ms.
    admin
        .execute_unprepared(&format!("ALTER DATABASE \"{name}\" SET lock_timeout = '200ms'"))
        .await
        .unwrap();
    let common = env.common("sla_monitor");
    let db =
        lapor_platform::db::connect_and_migrate::<lapor_sla_monitor::migration::Migrator>(&common.database)
            .await
            .unwrap();
    let s = fixtures::submitted(ReportKind::Pengaduan, "", wita(21, 10));
    let report = s.event.report_id().unwrap().as_uuid();
    let tuning = lapor_sla_monitor::config::RecomputeConfig::default();
    let first = Engine::new(CalendarSpec::default(), lapor_domain::SlaPolicy::default()).unwrap();
    let txn = db.begin().await.unwrap();
    let submitted = lapor_domain::deadlines::Recorded {
        event_id: s.id.as_uuid(),
        fact: lapor_domain::deadlines::Fact::Submitted {
            at: wita(21, 10),
            kind: ReportKind::Pengaduan,
        },
    };
    let reasons = std::collections::HashMap::from([(report, "test".to_owned())]);
    first
        .record_many(&txn, &[(report, vec![submitted])], &reasons, Utc::now())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    first
        .adopt_settings(&db, &tuning, Utc::now(), None)
        .await
        .unwrap();
    // Another transaction holds the report's lock (the key `lock_reports` uses) for 600 ms: the
    // first attempt gives up after 200 ms, the second (100 ms later) after 200 ms more, the third
    // gets it.
    let key = lapor_sla_monitor::engine::lock_key(report);
    let blocker = admin.begin().await.unwrap();
    blocker
        .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({key})"))
        .await
        .unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        blocker.commit().await.unwrap();
    });
    let changed = Engine::new(
        calendar_with(&[(23, "Cuti bersama")]),
        lapor_domain::SlaPolicy::default(),
    )
    .unwrap();
    let adopted = changed
        .adopt_settings(&db, &tuning, Utc::now(), None)
        .await
        .unwrap();
    release.await.unwrap();
    assert_eq!(adopted, 1);
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT fingerprint FROM settings",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<String>("", "fingerprint").unwrap(),
        changed.fingerprint
    );
    db.close().await.unwrap();
}

/// Events that arrive together are recorded together (one statement writes a batch's facts)
/// and give exactly the deadlines the facts give one by one, with one breach per late step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_arrive_together_are_recorded_together_with_the_same_deadlines() {
    use lapor_domain::deadlines::{Fact, Recorded, compute};
    use lapor_domain::events::{CaseFollowedUp, Envelope, Event};
    use sea_orm::ConnectionTrait;
    let env = TestEnv::new().await.unwrap();
    let cfg = registry_config(&env);
    let (calendar, policy) = (
        lapor_domain::Calendar::from_spec(&cfg.calendar).unwrap(),
        cfg.policy.clone(),
    );
    // A first start makes the stream and the consumers; the events come while it is stopped.
    let (svc, _) = start_cfg(cfg.clone()).await;
    svc.stop().await;
    // 30 reports, each submitted, dispatched and followed up; every third follow-up late (the
    // first follow-up is due five working days after Monday 7 December).
    let mut histories = std::collections::HashMap::new();
    let mut late = 0;
    for i in 0..30 {
        let s = fixtures::submitted(ReportKind::Pengaduan, "", wita(7, 10));
        let d = fixtures::dispatched(&s, "dlh", wita(7, 11));
        let Event::ReportDispatched(dd) = &d.event else {
            panic!()
        };
        let posted = if i % 3 == 0 { wita(16, 10) } else { wita(8, 10) };
        late += usize::from(i % 3 == 0);
        let f = Envelope {
            id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
            occurred_at: posted,
            event: Event::CaseFollowedUp(CaseFollowedUp {
                case_id: lapor_domain::CaseId::from_uuid(uuid::Uuid::now_v7()),
                report_id: dd.report_id,
                tracking_id: dd.tracking_id.clone(),
                opd_id: dd.opd_id.clone(),
                follow_up_id: uuid::Uuid::now_v7(),
                text: "Sudah ditangani".into(),
                posted_at: posted,
                posted_by: "pj-dlh".into(),
                reporter_ref: dd.reporter_ref,
            }),
        };
        let report = dd.report_id.as_uuid();
        histories.insert(
            report,
            vec![
                Recorded {
                    event_id: s.id.as_uuid(),
                    fact: Fact::Submitted {
                        at: wita(7, 10),
                        kind: ReportKind::Pengaduan,
                    },
                },
                Recorded {
                    event_id: d.id.as_uuid(),
                    fact: Fact::Dispatched {
                        opd: dd.opd_id.clone(),
                        at: wita(7, 11),
                        submitted_at: wita(7, 10),
                        kind: ReportKind::Pengaduan,
                    },
                },
                Recorded {
                    event_id: f.id.as_uuid(),
                    fact: Fact::FollowedUp {
                        opd: dd.opd_id.clone(),
                        at: posted,
                    },
                },
            ],
        );
        // All published while the service is stopped: each consumer finds many waiting.
        for (suffix, e) in [
            (subjects::REPORT_SUBMITTED, &s),
            (subjects::REPORT_DISPATCHED, &d),
            (subjects::CASE_FOLLOWED_UP, &f),
        ] {
            env.publish(suffix, &e.id.to_string(), codec::encode(e)).await;
        }
    }
    let (svc, _) = start_cfg(cfg).await;
    let db = sea_orm::Database::connect(&env.db_url).await.unwrap();
    let query = |sql: &str| sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql.to_owned());
    eventually("every fact recorded", Duration::from_secs(30), || async {
        let n: i64 = db
            .query_one_raw(query("SELECT count(*) AS n FROM sla_monitor.facts"))
            .await
            .ok()??
            .try_get("", "n")
            .ok()?;
        (n == 90).then_some(())
    })
    .await;
    let breaches = eventually("the late steps' breaches", Duration::from_secs(20), || async {
        let m = env.messages_on(subjects::SLA_BREACHED).await;
        (m.len() >= late).then_some(m)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.messages_on(subjects::SLA_BREACHED).await.len(),
        late,
        "one breach per late step"
    );
    assert_eq!(breaches.len(), late);
    svc.stop().await;
    assert!(
        env.most_rows_of_one_statement("sla_monitor.facts").await > 1,
        "no two facts were written by one statement"
    );
    // The stored deadlines are what the facts give.
    let mut stored = std::collections::BTreeMap::new();
    for row in db
        .query_all_raw(query(
            "SELECT id, due_at, met_at, ended_at FROM sla_monitor.deadlines",
        ))
        .await
        .unwrap()
    {
        type At = Option<chrono::DateTime<Utc>>;
        let id: String = row.try_get("", "id").unwrap();
        let times: (chrono::DateTime<Utc>, At, At) = (
            row.try_get("", "due_at").unwrap(),
            row.try_get("", "met_at").unwrap(),
            row.try_get("", "ended_at").unwrap(),
        );
        stored.insert(id, times);
    }
    let mut expected = std::collections::BTreeMap::new();
    for (report, history) in &histories {
        for d in compute(history, &calendar, &policy) {
            expected.insert(format!("{report}:{}", d.key()), (d.due_at, d.met_at, d.ended_at));
        }
    }
    assert_eq!(stored.len(), 90, "three deadlines per report");
    assert_eq!(stored, expected);
    db.close().await.unwrap();
}

/// The service's database settings for this test's PostgreSQL schema, and the same with a
/// SQLite file in the test's scratch directory instead.
fn postgres_and_sqlite(env: &TestEnv) -> [lapor_platform::config::DatabaseConfig; 2] {
    std::fs::create_dir_all(env.scratch_dir()).unwrap();
    let pg = env.common("sla_monitor").database;
    let mut sqlite = pg.clone();
    sqlite.url = format!("sqlite://{}/sla.db?mode=rwc", env.scratch_dir().display());
    [pg, sqlite]
}

/// Every deadline and move of a due time as stored, in a form both databases give alike.
async fn recompute_rows(db: &sea_orm::DatabaseConnection) -> (Vec<String>, Vec<String>) {
    use lapor_sla_monitor::entities::{change, deadline};
    use sea_orm::{EntityTrait, QueryOrder};
    let t = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let deadlines = deadline::Entity::find()
        .order_by_asc(deadline::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| {
            format!(
                "{} {} {} {:?} {} {} {:?} {:?} {} {} {} {} {} {}",
                d.id,
                d.step,
                d.span,
                d.opd_id,
                t(d.started_at),
                t(d.due_at),
                d.met_at.map(t),
                d.ended_at.map(t),
                d.allowance,
                d.unit,
                d.pauses,
                d.paused,
                d.settings,
                t(d.computed_at)
            )
        })
        .collect();
    let changes = change::Entity::find()
        .order_by_asc(change::Column::DeadlineId)
        .order_by_asc(change::Column::At)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            format!(
                "{} {} {} {} {}",
                c.deadline_id,
                t(c.from_due),
                t(c.to_due),
                c.reason,
                t(c.at)
            )
        })
        .collect();
    (deadlines, changes)
}

/// The recompute writes its rows as one JSON-fed statement on PostgreSQL and as batched
/// statements on SQLite: both stores must end up with the same rows (timestamps at microsecond
/// precision, truncated alike), replace changed rows in place, delete rows the history no longer
/// gives, and write nothing when nothing changed. Events carry nanoseconds: a deadline computed
/// from them must still equal its stored self (else every recompute rewrote it) and a deadline
/// met under earlier settings must keep its due time (else a calendar change moved it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_and_sqlite_store_a_recompute_alike() {
    use lapor_domain::deadlines::{Fact, Recorded};
    use lapor_sla_monitor::engine::{Engine, Reasons};
    use sea_orm::ConnectionTrait;
    let env = TestEnv::new().await.unwrap();
    let [pg_cfg, sqlite_cfg] = postgres_and_sqlite(&env);
    let nanos = chrono::Duration::nanoseconds(123_456_789);
    let reports: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
    let dlh: lapor_domain::OpdId = "dlh".parse().unwrap();
    let event = |n: u128| uuid::Uuid::from_u128(n);
    // Submitted Mon 7 Dec 10:00 WITA (plus a fraction of a second); the second report was
    // dispatched to dlh the next day, the third also held for a day first.
    let facts: Vec<(uuid::Uuid, Vec<Recorded>)> = vec![
        (
            reports[0],
            vec![Recorded {
                event_id: event(1),
                fact: Fact::Submitted {
                    at: wita(7, 10) + nanos,
                    kind: ReportKind::Pengaduan,
                },
            }],
        ),
        (
            reports[1],
            vec![
                Recorded {
                    event_id: event(2),
                    fact: Fact::Submitted {
                        at: wita(7, 10) + nanos,
                        kind: ReportKind::Pengaduan,
                    },
                },
                Recorded {
                    event_id: event(3),
                    fact: Fact::Dispatched {
                        opd: dlh.clone(),
                        at: wita(8, 10) + nanos,
                        submitted_at: wita(7, 10) + nanos,
                        kind: ReportKind::Pengaduan,
                    },
                },
            ],
        ),
        (
            reports[2],
            vec![
                Recorded {
                    event_id: event(4),
                    fact: Fact::Submitted {
                        at: wita(7, 11),
                        kind: ReportKind::Aspirasi,
                    },
                },
                Recorded {
                    event_id: event(5),
                    fact: Fact::HoldStarted {
                        from: wita(7, 12) + nanos,
                    },
                },
                Recorded {
                    event_id: event(6),
                    fact: Fact::HoldEnded {
                        from: wita(7, 12) + nanos,
                        to: wita(8, 9),
                    },
                },
            ],
        ),
    ];
    let reasons: std::collections::HashMap<uuid::Uuid, String> = reports
        .iter()
        .map(|r| (*r, "the test's events".to_owned()))
        .collect();
    let policy = lapor_domain::SlaPolicy::default();
    let first = Engine::new(CalendarSpec::default(), policy.clone()).unwrap();
    let second = Engine::new(calendar_with(&[(10, "Libur uji")]), policy).unwrap();
    let mut stored = Vec::new();
    for cfg in [&pg_cfg, &sqlite_cfg] {
        let db = lapor_platform::db::connect_and_migrate::<lapor_sla_monitor::migration::Migrator>(cfg)
            .await
            .unwrap();
        let now = wita(8, 12) + nanos;
        let returned = first.record_many(&db, &facts, &reasons, now).await.unwrap();
        // Verification for each report; the dispatched one also has its OPD's two steps.
        assert_eq!(returned.values().map(Vec::len).sum::<usize>(), 5);
        // A row the history does not give (a deadline of a step the report never reached).
        let mut bogus = returned[&reports[0]][0].clone();
        let bogus_id = format!("{}:FIRST_FOLLOW_UP:1", reports[0]);
        bogus.id.clone_from(&bogus_id);
        bogus.step = "FIRST_FOLLOW_UP".into();
        bogus.span = 1;
        sea_orm::EntityTrait::insert(sea_orm::IntoActiveModel::into_active_model(bogus))
            .exec_without_returning(&db)
            .await
            .unwrap();
        let before = recompute_rows(&db).await;
        assert_eq!(before.0.len(), 6);
        // The same settings again: the bogus row goes, nothing else is written.
        let later = now + chrono::Duration::hours(1);
        first
            .recompute_many(&db, &reports, Reasons::All("again"), later)
            .await
            .unwrap();
        let again = recompute_rows(&db).await;
        let kept: Vec<String> = before
            .0
            .iter()
            .filter(|r| !r.starts_with(&format!("{bogus_id} ")))
            .cloned()
            .collect();
        assert_eq!(kept.len(), 5);
        assert_eq!(again.0, kept, "only the row the history does not give is gone");
        assert!(again.1.is_empty(), "nothing moved");
        // A holiday on Thu 10 Dec moves the open deadlines that span it, in place.
        second
            .recompute_many(&db, &reports, Reasons::All("holiday"), later)
            .await
            .unwrap();
        let moved = recompute_rows(&db).await;
        assert_eq!(moved.0.len(), 5);
        assert!(!moved.1.is_empty(), "the holiday moved due times");
        assert!(moved.1.iter().all(|c| c.contains(" holiday ")));
        // The open verification of the first report moves; the second report's, met (at a time
        // finer than stored) under the earlier settings, keeps its due time.
        assert!(
            moved
                .1
                .iter()
                .any(|c| c.starts_with(&format!("{}:VERIFICATION", reports[0])))
        );
        assert!(
            !moved
                .1
                .iter()
                .any(|c| c.starts_with(&format!("{}:VERIFICATION", reports[1])))
        );
        let pks: i64 = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT count(DISTINCT id) AS n FROM deadlines".to_owned(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "n")
            .unwrap();
        assert_eq!(pks, 5);
        stored.push((again, moved));
        db.close().await.unwrap();
    }
    assert_eq!(stored[0], stored[1], "PostgreSQL and SQLite store the same rows");
    // Microseconds, truncated: the submission's 0.123456789 s is stored as 0.123456 s.
    assert!(
        stored[0].1.0.iter().any(|r| r.contains(".123456000")),
        "{:?}",
        stored[0].1.0
    );
    assert!(!stored[0].1.0.iter().any(|r| r.contains(".123457")));
}

/// Every index of `deadlines` is written when a due time moves, so it has only those its readers
/// use (migration m0007), on both databases; on PostgreSQL the compliance report's two reads of a
/// period (open, closed) are served by the two partial indexes by due time.
#[tokio::test]
async fn deadlines_carry_only_the_indexes_their_readers_use() {
    use sea_orm::ConnectionTrait;
    let env = TestEnv::new().await.unwrap();
    let [pg_cfg, sqlite_cfg] = postgres_and_sqlite(&env);
    let want = |table: &str| -> Vec<&str> {
        match table {
            "deadlines" => vec![
                "idx-deadlines-report_id",
                "idx_deadlines_closed_due",
                "idx_deadlines_open_due",
            ],
            _ => vec!["idx-deadline_changes-report_id"],
        }
    };
    for cfg in [&pg_cfg, &sqlite_cfg] {
        let db = lapor_platform::db::connect_and_migrate::<lapor_sla_monitor::migration::Migrator>(cfg)
            .await
            .unwrap();
        let backend = db.get_database_backend();
        for table in ["deadlines", "deadline_changes"] {
            // Secondary indexes by name (primary keys and SQLite's automatic ones left out).
            let sql = match backend {
                sea_orm::DbBackend::Postgres => format!(
                    "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'sla_monitor' \
                     AND tablename = '{table}' AND indexname NOT LIKE '%_pkey' ORDER BY 1"
                ),
                _ => format!(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' \
                     AND name NOT LIKE 'sqlite_autoindex%' ORDER BY 1"
                ),
            };
            let names: Vec<String> = db
                .query_all_raw(sea_orm::Statement::from_string(backend, sql))
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String>("", "name").unwrap())
                .collect();
            assert_eq!(names, want(table), "{backend:?} {table}");
        }
    }
    // The plans of the compliance report's reads (as sea-orm writes them), sequential scans off so
    // that an empty table still shows which index can serve them.
    let db = lapor_platform::db::connect_and_migrate::<lapor_sla_monitor::migration::Migrator>(&pg_cfg)
        .await
        .unwrap();
    let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
    txn.execute_unprepared("SET LOCAL enable_seqscan = off")
        .await
        .unwrap();
    for (filter, index) in [
        (
            r#""met_at" IS NULL AND "ended_at" IS NULL"#,
            "idx_deadlines_open_due",
        ),
        (
            r#"("met_at" IS NOT NULL OR "ended_at" IS NOT NULL)"#,
            "idx_deadlines_closed_due",
        ),
    ] {
        let plan: Vec<String> = txn
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "EXPLAIN SELECT * FROM deadlines WHERE \"due_at\" >= now() \
                     AND \"due_at\" < now() + interval '31 days' AND {filter}"
                ),
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap())
            .collect();
        assert!(plan.iter().any(|l| l.contains(index)), "{filter}: {plan:#?}");
    }
}
