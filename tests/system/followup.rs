//! The OPD's follow-up seen from the rest of the system.

use std::time::Duration;

use lapor_platform::Role;
use lapor_proto::cases::v1 as pc;
use lapor_proto::common::v1::{ReportKind, ReportStatus};
use lapor_proto::intake::v1 as pi;
use lapor_proto::sla::v1 as ps;
use lapor_system_tests::{System, authed, eventually};

use crate::{submission, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_meets_the_first_follow_up_deadline_and_the_reporter_sees_proses() {
    let sys = System::start().await;
    let r = submit(
        &sys,
        submission("fu-1", ReportKind::Pengaduan as i32, "infrastruktur.jalan"),
    )
    .await;
    let officer = sys.token(Role::OpdOfficer, Some("dinas-pupr"));
    let case = eventually("case at PUPR", Duration::from_secs(30), || async {
        let c = sys
            .cases()
            .await
            .list_cases(authed(pc::ListCasesRequest::default(), &officer))
            .await
            .ok()?;
        c.into_inner().cases.into_iter().next()
    })
    .await;
    let op = sys.token(Role::Operator, None);
    // Both deadlines are recorded before the follow-up.
    eventually("three deadlines", Duration::from_secs(30), || async {
        let d = sys
            .sla()
            .await
            .list_deadlines(authed(
                ps::ListDeadlinesRequest {
                    report_id: r.report_id.clone(),
                },
                &op,
            ))
            .await
            .ok()?;
        (d.into_inner().deadlines.len() == 3).then_some(())
    })
    .await;
    sys.cases()
        .await
        .post_follow_up(authed(
            pc::PostFollowUpRequest {
                case_id: case.case_id,
                text: "Tim PUPR menambal lubang pada Senin depan".into(),
            },
            &officer,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let met = eventually("first follow-up met", Duration::from_secs(30), || async {
        let d = sys
            .sla()
            .await
            .list_deadlines(authed(
                ps::ListDeadlinesRequest {
                    report_id: r.report_id.clone(),
                },
                &op,
            ))
            .await
            .ok()?;
        d.into_inner()
            .deadlines
            .into_iter()
            .find(|d| d.step == ps::Step::FirstFollowUp as i32 && d.met_at.is_some())
    })
    .await;
    assert_eq!(met.state, ps::DeadlineState::Met as i32);
    assert_eq!(met.opd_id, "dinas-pupr");
    let reporter = sys.token(Role::Reporter, None);
    eventually("reporter sees Proses", Duration::from_secs(30), || async {
        let s = sys
            .intake()
            .await
            .get_submission(authed(
                pi::GetSubmissionRequest {
                    tracking_id: r.tracking_id.clone(),
                    access_token: r.access_token.clone(),
                },
                &reporter,
            ))
            .await
            .ok()?
            .into_inner();
        (s.status == ReportStatus::InProgress as i32).then_some(())
    })
    .await;
    sys.stop().await;
}
