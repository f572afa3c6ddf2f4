//! The operator's decisions seen from the rest of the system.

use std::time::Duration;

use lapor_platform::Role;
use lapor_proto::cases::v1 as pc;
use lapor_proto::common::v1::ReportKind;
use lapor_proto::notification::v1 as pn;
use lapor_proto::routing::v1 as pr;
use lapor_system_tests::{System, authed, eventually};

use crate::{submission, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonim_set_at_verification_reaches_the_opd_and_tunda_asks_the_reporter() {
    let sys = System::start().await;
    let op = sys.token(Role::Operator, None);
    // A named report no rule places; the operator sees it needs anonymity and rewrites the title.
    let a = submit(&sys, submission("op-1", ReportKind::Pengaduan as i32, "")).await;
    eventually("queued", Duration::from_secs(30), || async {
        let r = sys
            .routing()
            .await
            .list_queue(authed(pr::ListQueueRequest::default(), &op))
            .await
            .ok()?;
        r.into_inner()
            .items
            .iter()
            .any(|i| i.report_id == a.report_id)
            .then_some(())
    })
    .await;
    sys.routing()
        .await
        .verify_report(authed(
            pr::VerifyReportRequest {
                report_id: a.report_id.clone(),
                kind: ReportKind::Pengaduan as i32,
                needs_examination: false,
                category_id: "perhubungan".into(),
                anonim: true,
                rahasia: false,
                title: "Lampu lalu lintas mati di simpang Jl. Pattimura".into(),
            },
            &op,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    sys.routing()
        .await
        .dispatch(authed(
            pr::DispatchRequest {
                report_id: a.report_id.clone(),
                opd_id: "dishub".into(),
            },
            &op,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let officer = sys.token(Role::OpdOfficer, Some("dishub"));
    let case = eventually("case at dishub", Duration::from_secs(30), || async {
        let r = sys
            .cases()
            .await
            .list_cases(authed(pc::ListCasesRequest::default(), &officer))
            .await
            .ok()?;
        r.into_inner().cases.into_iter().next()
    })
    .await;
    assert!(case.anonim);
    assert_eq!(case.reporter_display, "anonim");
    assert_eq!(case.title, "Lampu lalu lintas mati di simpang Jl. Pattimura");
    assert_eq!(case.category_id, "perhubungan");

    // Tunda: the reporter is asked what is missing.
    let b = submit(&sys, submission("op-2", ReportKind::Aspirasi as i32, "")).await;
    let hold = || async {
        sys.routing()
            .await
            .hold_report(authed(
                pr::HoldReportRequest {
                    report_id: b.report_id.clone(),
                    reason: "Mohon lampirkan foto".into(),
                },
                &op,
            ))
            .await
            .ok()
    };
    eventually("held", Duration::from_secs(30), hold).await;
    let asked = eventually("reporter asked", Duration::from_secs(30), || async {
        let m = sys
            .notification()
            .await
            .list_messages(authed(
                pn::ListMessagesRequest {
                    report_id: b.report_id.clone(),
                },
                &op,
            ))
            .await
            .ok()?
            .into_inner()
            .messages;
        m.into_iter().find(|m| m.template == "report_on_hold")
    })
    .await;
    assert_eq!(asked.recipient_kind, "reporter");
    assert!(asked.body.contains("Mohon lampirkan foto"), "{}", asked.body);
    sys.stop().await;
}
