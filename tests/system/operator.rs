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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_transferred_three_times_ends_dispatched_once_with_four_spans() {
    let sys = System::start().await;
    let op = sys.token(Role::Operator, None);
    // The rule sends it to Dinas PUPR first.
    let r = submit(
        &sys,
        submission("tr-1", ReportKind::Pengaduan as i32, "infrastruktur.drainase"),
    )
    .await;
    let path = ["dinas-pupr", "dinkes", "dlh", "bpbd"];
    for (i, opd) in path.iter().enumerate() {
        let officer = sys.token(Role::OpdOfficer, Some(opd));
        let case = eventually(
            &format!("open case at {opd}"),
            Duration::from_secs(30),
            || async {
                let cases = sys
                    .cases()
                    .await
                    .list_cases(authed(
                        pc::ListCasesRequest {
                            tracking_id: r.tracking_id.clone(),
                            ..Default::default()
                        },
                        &officer,
                    ))
                    .await
                    .ok()?
                    .into_inner()
                    .cases;
                cases.into_iter().find(|c| c.transferred_at.is_none())
            },
        )
        .await;
        if i == path.len() - 1 {
            break;
        }
        // Not ours: back to the operator with a reason, never closed.
        let reason = format!("bukan kewenangan {opd}");
        let ended = sys
            .cases()
            .await
            .request_transfer(authed(
                pc::RequestTransferRequest {
                    case_id: case.case_id.clone(),
                    reason: reason.clone(),
                },
                &officer,
            ))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .into_inner()
            .case
            .unwrap();
        assert!(ended.transferred_at.is_some());
        let again = sys
            .cases()
            .await
            .request_transfer(authed(
                pc::RequestTransferRequest {
                    case_id: case.case_id.clone(),
                    reason,
                },
                &officer,
            ))
            .await
            .unwrap_err();
        assert_eq!(again.code(), tonic::Code::FailedPrecondition);
        // It waits in the queue, flagged with who returned it and why.
        let flagged = eventually("returned to the queue", Duration::from_secs(30), || async {
            let items = sys
                .routing()
                .await
                .list_queue(authed(pr::ListQueueRequest::default(), &op))
                .await
                .ok()?
                .into_inner()
                .items;
            items
                .into_iter()
                .find(|it| it.report_id == r.report_id && it.returned_from_opd == *opd)
        })
        .await;
        assert!(
            flagged.routing_note.contains("returned by"),
            "{}",
            flagged.routing_note
        );
        assert_eq!(
            flagged.status,
            lapor_proto::common::v1::ReportStatus::Submitted as i32
        );
        sys.routing()
            .await
            .dispatch(authed(
                pr::DispatchRequest {
                    report_id: r.report_id.clone(),
                    opd_id: path[i + 1].into(),
                },
                &op,
            ))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
    }
    let got = sys
        .routing()
        .await
        .get_report(authed(
            pr::GetReportRequest {
                report_id: r.report_id.clone(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    let report = got.report.unwrap();
    assert_eq!(
        report.status,
        lapor_proto::common::v1::ReportStatus::Dispatched as i32
    );
    assert_eq!(report.opd_id, "bpbd");
    let spans: Vec<(String, bool, String)> = got
        .spans
        .iter()
        .map(|s| (s.opd_id.clone(), s.until.is_some(), s.ended_by.clone()))
        .collect();
    assert_eq!(
        spans,
        [
            ("dinas-pupr".to_owned(), true, "transfer".to_owned()),
            ("dinkes".to_owned(), true, "transfer".to_owned()),
            ("dlh".to_owned(), true, "transfer".to_owned()),
            ("bpbd".to_owned(), false, String::new()),
        ]
    );
    assert!(
        got.spans
            .windows(2)
            .all(|w| w[0].until.as_ref().map(|t| (t.seconds, t.nanos))
                <= w[1].from.as_ref().map(|t| (t.seconds, t.nanos)))
    );
    assert_eq!(got.spans[1].reason, "bukan kewenangan dinkes");
    // Exactly one open case, at the last OPD; the earlier ones ended by transfer.
    let auditor = sys.token(Role::Auditor, None);
    let cases = sys
        .cases()
        .await
        .list_cases(authed(
            pc::ListCasesRequest {
                tracking_id: r.tracking_id.clone(),
                ..Default::default()
            },
            &auditor,
        ))
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(cases.len(), 4);
    let open: Vec<&str> = cases
        .iter()
        .filter(|c| c.transferred_at.is_none())
        .map(|c| c.opd_id.as_str())
        .collect();
    assert_eq!(open, ["bpbd"]);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revealing_an_identity_needs_a_reason_a_role_and_is_audited_twice() {
    use lapor_proto::intake::v1 as pi;
    let sys = System::start().await;
    let op = sys.token(Role::Operator, None);
    let mut req = submission("reveal-1", ReportKind::Pengaduan as i32, "");
    req.anonim = true;
    let r = submit(&sys, req).await;
    eventually("queued", Duration::from_secs(30), || async {
        sys.routing()
            .await
            .get_report(authed(
                pr::GetReportRequest {
                    report_id: r.report_id.clone(),
                },
                &op,
            ))
            .await
            .ok()
    })
    .await;
    let ask = |token: String, reason: &str| {
        let (sys, id, reason) = (&sys, r.report_id.clone(), reason.to_owned());
        async move {
            sys.routing()
                .await
                .reveal_identity(authed(
                    pr::RevealIdentityRequest {
                        report_id: id,
                        reason,
                    },
                    &token,
                ))
                .await
        }
    };
    // Roles other than the configured ones, and a missing reason, are refused.
    for (role, opd) in [
        (Role::OpdOfficer, Some("dinkes")),
        (Role::Supervisor, None),
        (Role::Auditor, None),
        (Role::Reporter, None),
    ] {
        let e = ask(sys.token(role, opd), "perlu konfirmasi lapangan")
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{role:?}");
    }
    let e = ask(op.clone(), "cek").await.unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["reason"]);

    let who = ask(op.clone(), "pelapor perlu dihubungi untuk verifikasi lokasi")
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (who.name.as_str(), who.email.as_str()),
        ("Budi Santoso", "budi@example.org")
    );
    assert!(who.anonim);

    // Audited in routing (before the fetch) and in intake (the access itself).
    let got = sys
        .routing()
        .await
        .get_report(authed(
            pr::GetReportRequest {
                report_id: r.report_id.clone(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    let reveal = got
        .history
        .iter()
        .find(|h| h.action == "reveal_identity")
        .unwrap();
    assert_eq!(reveal.reason, "pelapor perlu dihubungi untuk verifikasi lokasi");
    assert_eq!(reveal.role, "operator");
    let log = sys
        .sql("SELECT caller || '|' || on_behalf_of_role || '|' || outcome FROM intake.identity_access_log ORDER BY id")
        .await;
    assert_eq!(log, ["routing|operator|revealed"]);

    // Intake answers only allow-listed services, and logs refusals too.
    let direct = pi::ResolveIdentityRequest {
        report_id: r.report_id.clone(),
        reason: "ingin tahu".into(),
        ..Default::default()
    };
    let e = sys
        .intake()
        .await
        .resolve_identity(authed(direct.clone(), &op))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    let stranger = sys.env.token("some-other-system", Role::Service, None);
    let e = sys
        .intake()
        .await
        .resolve_identity(authed(direct, &stranger))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        sys.count("SELECT count(*)::text FROM intake.identity_access_log WHERE outcome = 'refused'")
            .await,
        2
    );

    // A report submitted without any identity: NOT_FOUND, still on the record.
    let mut bare = submission("reveal-2", ReportKind::Aspirasi as i32, "");
    bare.anonim = true;
    bare.reporter = None;
    let b = submit(&sys, bare).await;
    eventually("queued", Duration::from_secs(30), || async {
        sys.routing()
            .await
            .get_report(authed(
                pr::GetReportRequest {
                    report_id: b.report_id.clone(),
                },
                &op,
            ))
            .await
            .ok()
    })
    .await;
    let e = sys
        .routing()
        .await
        .reveal_identity(authed(
            pr::RevealIdentityRequest {
                report_id: b.report_id.clone(),
                reason: "pelapor perlu dihubungi".into(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert_eq!(
        sys.count("SELECT count(*)::text FROM intake.identity_access_log WHERE outcome = 'no_identity'")
            .await,
        1
    );
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunda_round_trip_reporter_completes_and_the_clock_shows_the_pause() {
    use lapor_proto::intake::v1 as pi;
    use lapor_proto::sla::v1 as ps;
    let sys = System::start().await;
    let op = sys.token(Role::Operator, None);
    let reporter = sys.token(Role::Reporter, None);
    let r = submit(&sys, submission("tunda-1", ReportKind::Aspirasi as i32, "")).await;
    let complete = |addition: &str, token: &str| {
        let (sys, r, addition, token) = (&sys, &r, addition.to_owned(), token.to_owned());
        async move {
            let req = pi::CompleteReportRequest {
                tracking_id: r.tracking_id.clone(),
                access_token: token,
                addition,
            };
            sys.intake()
                .await
                .complete_report(authed(req, &sys.token(Role::Reporter, None)))
                .await
        }
    };
    // Nothing to complete before the operator asks.
    eventually("queued", Duration::from_secs(30), || async {
        sys.routing()
            .await
            .get_report(authed(
                pr::GetReportRequest {
                    report_id: r.report_id.clone(),
                },
                &op,
            ))
            .await
            .ok()
    })
    .await;
    let e = complete("Kejadian pukul 20.00 WITA di depan sekolah", &r.access_token)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    sys.routing()
        .await
        .hold_report(authed(
            pr::HoldReportRequest {
                report_id: r.report_id.clone(),
                reason: "Jam dan lokasi kejadian?".into(),
            },
            &op,
        ))
        .await
        .unwrap();
    // The reporter sees what is asked.
    let asked = eventually("intake knows the hold", Duration::from_secs(30), || async {
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
        (!s.hold_reason.is_empty()).then_some(s.hold_reason)
    })
    .await;
    assert_eq!(asked, "Jam dan lokasi kejadian?");
    // The SLA clock is paused.
    let paused = eventually("paused deadline", Duration::from_secs(30), || async {
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
            .ok()?
            .into_inner()
            .deadlines;
        d.into_iter()
            .find(|d| d.state == ps::DeadlineState::Paused as i32)
    })
    .await;
    assert_eq!(paused.pauses.len(), 1);
    // Wrong token, too short, then the real completion.
    assert_eq!(
        complete("Kejadian pukul 20.00 WITA", "salah")
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );
    assert_eq!(
        lapor_platform::status::violated_fields(&complete("singkat", &r.access_token).await.unwrap_err()),
        ["addition"]
    );
    complete("Kejadian pukul 20.00 WITA di depan SDN 005", &r.access_token)
        .await
        .unwrap();
    assert_eq!(
        complete("Sekali lagi tambahan keterangan", &r.access_token)
            .await
            .unwrap_err()
            .code(),
        tonic::Code::FailedPrecondition
    );
    // Back in the operator's queue with the addition; the history says so.
    let back = eventually("back in the queue", Duration::from_secs(30), || async {
        let got = sys
            .routing()
            .await
            .get_report(authed(
                pr::GetReportRequest {
                    report_id: r.report_id.clone(),
                },
                &op,
            ))
            .await
            .ok()?
            .into_inner();
        let report = got.report?;
        (report.status == lapor_proto::common::v1::ReportStatus::Submitted as i32)
            .then_some((report, got.history))
    })
    .await;
    assert!(
        back.0.body.contains("Kejadian pukul 20.00 WITA di depan SDN 005"),
        "{}",
        back.0.body
    );
    assert!(
        back.1
            .iter()
            .any(|h| h.action == "complete_hold" && h.role == "reporter")
    );
    // The SLA monitor shows the paused interval, closed.
    let resumed = eventually("resumed deadline", Duration::from_secs(30), || async {
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
            .ok()?
            .into_inner()
            .deadlines;
        d.into_iter()
            .find(|d| d.pauses.first().is_some_and(|p| p.resumed_at.is_some()))
    })
    .await;
    assert_eq!(resumed.state, ps::DeadlineState::Open as i32);
    let p = &resumed.pauses[0];
    assert!(p.held_at.as_ref().map(|t| t.seconds) <= p.resumed_at.as_ref().map(|t| t.seconds));
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicates_reporter_is_pointed_to_the_original() {
    use lapor_proto::intake::v1 as pi;
    let sys = System::start().await;
    let op = sys.token(Role::Operator, None);
    let reporter = sys.token(Role::Reporter, None);
    let original = submit(&sys, submission("dup-a", ReportKind::Pengaduan as i32, "")).await;
    let mut again = submission("dup-b", ReportKind::Pengaduan as i32, "");
    again.title = "Jalan berlubang di depan pasar, sudah lama".into();
    let dup = submit(&sys, again).await;
    eventually("both queued", Duration::from_secs(30), || async {
        let items = sys
            .routing()
            .await
            .list_queue(authed(pr::ListQueueRequest::default(), &op))
            .await
            .ok()?
            .into_inner()
            .items;
        (items.len() == 2).then_some(())
    })
    .await;
    // Routing suggested it (same category none, similar text), the operator confirms.
    let item = sys
        .routing()
        .await
        .get_report(authed(
            pr::GetReportRequest {
                report_id: dup.report_id.clone(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(
        item.duplicate_candidates
            .iter()
            .any(|c| c.report_id == original.report_id),
        "{:?}",
        item.duplicate_candidates
    );
    sys.routing()
        .await
        .mark_duplicate(authed(
            pr::MarkDuplicateRequest {
                report_id: dup.report_id.clone(),
                duplicate_of: original.report_id.clone(),
            },
            &op,
        ))
        .await
        .unwrap();
    let follow = eventually(
        "reporter pointed to the original",
        Duration::from_secs(30),
        || async {
            let s = sys
                .intake()
                .await
                .get_submission(authed(
                    pi::GetSubmissionRequest {
                        tracking_id: dup.tracking_id.clone(),
                        access_token: dup.access_token.clone(),
                    },
                    &reporter,
                ))
                .await
                .ok()?
                .into_inner();
            (!s.duplicate_of_tracking_id.is_empty()).then_some(s.duplicate_of_tracking_id)
        },
    )
    .await;
    assert_eq!(follow, original.tracking_id);
    // The reporter follows the original's progress: waiting, then dispatched.
    let view = || async {
        sys.intake()
            .await
            .get_submission(authed(
                pi::GetSubmissionRequest {
                    tracking_id: dup.tracking_id.clone(),
                    access_token: dup.access_token.clone(),
                },
                &reporter,
            ))
            .await
            .unwrap()
            .into_inner()
    };
    use lapor_proto::common::v1::ReportStatus;
    let v = view().await;
    assert_eq!(v.status, ReportStatus::Archived as i32);
    assert_eq!(v.duplicate_of_status, ReportStatus::Submitted as i32);
    sys.routing()
        .await
        .dispatch(authed(
            pr::DispatchRequest {
                report_id: original.report_id.clone(),
                opd_id: "dinas-pupr".into(),
            },
            &op,
        ))
        .await
        .unwrap();
    eventually("the original's progress", Duration::from_secs(30), || async {
        (view().await.duplicate_of_status == ReportStatus::Dispatched as i32).then_some(())
    })
    .await;
    sys.stop().await;
}
