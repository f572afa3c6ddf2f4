//! The reporter's dialogue with the OPD across the whole system, with intake's real access
//! token: question, answer, follow-up, reply, follow-up, confirmation, rating. The reporter's
//! view at intake ends at Selesai; the right people are told; no identity reaches the OPD or the
//! public.

use std::time::Duration;

use lapor_platform::Role;
use lapor_proto::cases::v1 as pc;
use lapor_proto::common::v1::{ReportKind, ReportStatus};
use lapor_proto::intake::v1 as pi;
use lapor_proto::notification::v1 as pn;
use lapor_system_tests::{System, authed, eventually};

use crate::{submission, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_reporter_talks_with_the_opd_until_selesai() {
    let sys = System::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let markers = [
        format!("CanaryNama{}", &tag[..8]),
        format!(
            "0813{}",
            &tag.chars()
                .filter(char::is_ascii_digit)
                .chain("87654321".chars())
                .take(8)
                .collect::<String>()
        ),
        format!("canary{}@example.org", &tag[..8]),
    ];
    let mut req = submission("dialog-1", ReportKind::Pengaduan as i32, "infrastruktur.jalan");
    req.anonim = true;
    req.reporter = Some(pi::ReporterContact {
        name: markers[0].clone(),
        nik: String::new(),
        phone: markers[1].clone(),
        email: markers[2].clone(),
    });
    let r = submit(&sys, req).await;
    let officer = sys.token(Role::OpdOfficer, Some("dinas-pupr"));
    let front = sys.token(Role::Reporter, None);
    let me = || {
        Some(pc::ReporterCredential {
            tracking_id: r.tracking_id.clone(),
            access_token: r.access_token.clone(),
        })
    };
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
    let mut cases = sys.cases().await;
    let mut rep = sys.reporter_cases().await;
    cases
        .request_information(authed(
            pc::RequestInformationRequest {
                case_id: case.case_id.clone(),
                question: "Lubangnya di lajur yang mana?".into(),
            },
            &officer,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    // The reporter proves ownership with intake's token; the hash reached opd-case by event.
    let answer = || {
        authed(
            pc::ReplyRequest {
                credential: me(),
                text: "Lajur kiri arah Loktuan".into(),
            },
            &front,
        )
    };
    eventually("the reporter can answer", Duration::from_secs(30), || async {
        sys.reporter_cases().await.reply(answer()).await.ok()
    })
    .await;
    let follow = |text: &str| {
        authed(
            pc::PostFollowUpRequest {
                case_id: case.case_id.clone(),
                text: text.into(),
            },
            &officer,
        )
    };
    cases
        .post_follow_up(follow("Tim PUPR menambal lubang hari Senin"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    rep.reply(authed(
        pc::ReplyRequest {
            credential: me(),
            text: "Senin sudah lewat, belum ditambal".into(),
        },
        &front,
    ))
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    cases
        .post_follow_up(follow("Lubang sudah ditambal pagi ini, mohon dicek"))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    rep.confirm_resolved(authed(pc::ConfirmResolvedRequest { credential: me() }, &front))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    rep.rate_case(authed(
        pc::RateCaseRequest {
            credential: me(),
            rating: 4,
            comment: "Agak lama tapi beres".into(),
        },
        &front,
    ))
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    // Intake's view for the reporter ends at Selesai.
    eventually("reporter sees Selesai", Duration::from_secs(30), || async {
        let s = sys
            .intake()
            .await
            .get_submission(authed(
                pi::GetSubmissionRequest {
                    tracking_id: r.tracking_id.clone(),
                    access_token: r.access_token.clone(),
                },
                &front,
            ))
            .await
            .ok()?
            .into_inner();
        (s.status == ReportStatus::Completed as i32).then_some(())
    })
    .await;
    // Who was told what.
    let op = sys.token(Role::Operator, None);
    let msgs = eventually("dialogue messages", Duration::from_secs(30), || async {
        let m = sys
            .notification()
            .await
            .list_messages(authed(
                pn::ListMessagesRequest {
                    report_id: r.report_id.clone(),
                },
                &op,
            ))
            .await
            .ok()?
            .into_inner()
            .messages;
        let n = |t: &str| m.iter().filter(|x| x.template == t).count();
        (n("case_followed_up") == 2
            && n("case_replied") == 2
            && n("case_closed") == 1
            && n("case_info_requested") == 1)
            .then_some(m)
    })
    .await;
    for m in &msgs {
        let to = match m.template.as_str() {
            "case_replied" | "case_new" => "opd",
            _ => "reporter",
        };
        assert_eq!(m.recipient_kind, to, "{} goes to the {to}", m.template);
    }
    let to_reporter = msgs.iter().find(|m| m.template == "case_followed_up").unwrap();
    assert!(to_reporter.body.contains("Tim PUPR menambal lubang hari Senin"));
    // No identity in anything the OPD or the public receives.
    let one = cases
        .get_case(authed(
            pc::GetCaseRequest {
                case_id: case.case_id.clone(),
            },
            &officer,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_inner();
    assert_eq!(
        one.case.as_ref().map(|c| c.status),
        Some(ReportStatus::Completed as i32)
    );
    assert_eq!(one.case.as_ref().map(|c| c.rating), Some(4));
    let public = sys
        .public_feed()
        .await
        .get_public_report(authed(
            pc::GetPublicReportRequest {
                tracking_id: r.tracking_id.clone(),
            },
            &front,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_inner();
    assert_eq!(
        public.report.as_ref().map(|p| p.reporter.as_str()),
        Some("anonim")
    );
    let opd_messages: Vec<_> = msgs.iter().filter(|m| m.recipient_kind == "opd").collect();
    let seen = format!("{one:?} {public:?} {opd_messages:?}");
    for m in &markers {
        assert!(!seen.contains(m.as_str()), "{m} reached the OPD or the public");
    }
    for row in sys.sql("SELECT t::text FROM opd_case.timeline t").await {
        for m in &markers {
            assert!(!row.contains(m.as_str()), "{m} in opd-case's timeline");
        }
    }
    sys.stop().await;
}
