//! A calendar edited in sla-monitor reaches routing and opd-case: after a new version with two
//! weeks of holidays, the verification due time routing stores and the first-follow-up due time
//! opd-case stores are the ones sla-monitor computes, and not what the old calendar gives.

use std::time::Duration;

use chrono::{Datelike, Weekday};
use lapor_domain::Calendar;
use lapor_domain::calendar::Holiday;
use lapor_platform::Role;
use lapor_proto::common::v1::ReportKind;
use lapor_proto::sla::v1 as ps;
use lapor_system_tests::{System, authed, eventually};

use crate::{submission, submit};

const WAIT: Duration = Duration::from_secs(30);

fn epoch(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref().map_or(0, |t| t.seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_version_put_in_sla_monitor_is_followed_by_routing_and_opd_case() {
    let sys = System::start().await;
    let op = sys.token(Role::Operator, None);
    let mut sla = sys.sla().await;
    let current = sla
        .get_calendar(authed(ps::GetCalendarRequest {}, &op))
        .await
        .unwrap()
        .into_inner()
        .current
        .unwrap();
    let old = sys.calendar.clone();
    // The next ten weekdays become holidays.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Makassar)
        .date_naive();
    let mut new = old.clone();
    let mut d = today;
    let mut added = 0;
    while added < 10 {
        d = d.succ_opt().unwrap();
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !new.holidays.iter().any(|h| h.date == d) {
            new.holidays.push(Holiday {
                date: d,
                name: "Libur uji".into(),
                source: "Keputusan uji".into(),
            });
            added += 1;
        }
    }
    let spec_pb = ps::Calendar {
        time_zone: new.time_zone.clone(),
        working_weekdays: new.working_weekdays.clone(),
        holidays: new
            .holidays
            .iter()
            .map(|h| ps::Holiday {
                date: h.date.to_string(),
                name: h.name.clone(),
                source: h.source.clone(),
            })
            .collect(),
        office_open: new.office_hours.open.clone(),
        office_close: new.office_hours.close.clone(),
    };
    let put = sla
        .put_calendar(authed(
            ps::PutCalendarRequest {
                calendar: Some(spec_pb),
                reason: "Keputusan uji: sepuluh hari libur".into(),
                expected_version: current.version,
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.version, current.version + 1);
    // Both services store the announced version.
    for schema in ["routing", "opd_case"] {
        let want = put.version.to_string();
        eventually(&format!("{schema} follows version {want}"), WAIT, || async {
            let v = sys
                .sql(&format!("SELECT version::text FROM {schema}.calendar_in_force"))
                .await;
            (v.first() == Some(&want)).then_some(())
        })
        .await;
    }
    // A report submitted now: routing's and opd-case's due times equal sla-monitor's.
    let accepted = submit(
        &sys,
        submission("cal-1", ReportKind::Pengaduan as i32, "infrastruktur.jalan"),
    )
    .await;
    let report = accepted.report_id.clone();
    let dl = eventually("three deadlines", WAIT, || async {
        let d = sys
            .sla()
            .await
            .list_deadlines(authed(
                ps::ListDeadlinesRequest {
                    report_id: report.clone(),
                },
                &op,
            ))
            .await
            .ok()?
            .into_inner()
            .deadlines;
        (d.len() == 3).then_some(d)
    })
    .await;
    let step = |s: ps::Step| dl.iter().find(|d| d.step == s as i32).unwrap();
    let (ver, fu) = (step(ps::Step::Verification), step(ps::Step::FirstFollowUp));
    let routing_due: i64 = sys
        .sql(&format!(
            "SELECT extract(epoch FROM verification_due_at)::bigint::text FROM routing.queue_reports WHERE report_id = '{report}'"
        ))
        .await[0]
        .parse()
        .unwrap();
    let case_due: i64 = eventually("the case", WAIT, || async {
        sys.sql(&format!(
            "SELECT extract(epoch FROM due_at)::bigint::text FROM opd_case.cases WHERE report_id = '{report}'"
        ))
        .await
        .first()
        .and_then(|s| s.parse().ok())
    })
    .await;
    assert_eq!(routing_due, epoch(&ver.due_at), "routing's verification due time");
    assert_eq!(case_due, epoch(&fu.due_at), "opd-case's first-follow-up due time");
    // And the old calendar would have given earlier ones: the test means something.
    let old_cal = Calendar::from_spec(&old).unwrap();
    let submitted = lapor_events::codec::from_ts(accepted.submitted_at.as_ref()).unwrap();
    assert!(old_cal.add_working_days(submitted, 3).timestamp() < routing_due);
    let started = lapor_events::codec::from_ts(fu.started_at.as_ref()).unwrap();
    assert!(old_cal.add_working_days(started, 5).timestamp() < case_due);
    sys.stop().await;
}
