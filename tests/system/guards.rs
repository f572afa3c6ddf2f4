//! Idempotency and bad input: nothing stored, nothing published.

use lapor_platform::Role;
use lapor_platform::status::violated_fields;
use lapor_proto::cases::v1 as pc;
use lapor_proto::common::v1::ReportKind;
use lapor_proto::intake::v1 as pi;
use lapor_proto::routing::v1 as pr;
use lapor_system_tests::{System, authed};

use crate::{submission, submit};

async fn stream_messages(sys: &System) -> u64 {
    sys.report_messages().await.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_submission_returns_the_same_tracking_id() {
    let sys = System::start().await;
    let req = submission("idem-1", ReportKind::Pengaduan as i32, "infrastruktur.jalan");
    let first = submit(&sys, req.clone()).await;
    let second = submit(&sys, req.clone()).await;
    assert!(!first.replayed);
    assert!(second.replayed);
    assert_eq!(first.tracking_id, second.tracking_id);
    assert_eq!(first.report_id, second.report_id);
    assert_eq!(first.access_token, second.access_token);
    let n = sys.count("SELECT count(*)::text FROM intake.reports").await;
    assert_eq!(n, 1);
    let outbox = sys.count("SELECT count(*)::text FROM intake.outbox").await;
    assert_eq!(outbox, 1);

    // The same key for another report is refused, naming the field.
    let mut other = req.clone();
    other.title = "Judul yang berbeda sama sekali".into();
    let token = sys.token(Role::Reporter, None);
    let err = sys
        .intake()
        .await
        .submit_report(authed(other, &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["idempotency_key"]);

    // The same key from another caller is another submission.
    let other_caller = sys.env.token("another-front", Role::Service, None);
    let third = sys
        .intake()
        .await
        .submit_report(authed(req, &other_caller))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_inner();
    assert_ne!(third.tracking_id, first.tracking_id);

    // The reporter reads it back with tracking id and token; a wrong token is NOT_FOUND.
    let got = sys
        .intake()
        .await
        .get_submission(authed(
            pi::GetSubmissionRequest {
                tracking_id: first.tracking_id.to_lowercase(),
                access_token: first.access_token.clone(),
            },
            &token,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_inner();
    assert_eq!(got.report_id, first.report_id);
    let wrong = sys
        .intake()
        .await
        .get_submission(authed(
            pi::GetSubmissionRequest {
                tracking_id: first.tracking_id.clone(),
                access_token: third.access_token,
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::NotFound);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_field_violations_and_leaves_no_trace() {
    let sys = System::start().await;
    let token = sys.token(Role::Reporter, None);
    let base = submission("bad-1", ReportKind::Pengaduan as i32, "infrastruktur.jalan");
    let cases: Vec<(&str, pi::SubmitReportRequest, Vec<&str>)> = vec![
        (
            "missing title",
            pi::SubmitReportRequest {
                title: String::new(),
                ..base.clone()
            },
            vec!["title"],
        ),
        (
            "unspecified kind",
            pi::SubmitReportRequest {
                kind: 0,
                ..base.clone()
            },
            vec!["kind"],
        ),
        (
            "unknown kind",
            pi::SubmitReportRequest {
                kind: 99,
                ..base.clone()
            },
            vec!["kind"],
        ),
        (
            "oversize body",
            pi::SubmitReportRequest {
                body: "x".repeat(20_001),
                ..base.clone()
            },
            vec!["body"],
        ),
        (
            "bad category",
            pi::SubmitReportRequest {
                category_id: "Jalan Rusak".into(),
                ..base.clone()
            },
            vec!["category_id"],
        ),
        (
            "no key",
            pi::SubmitReportRequest {
                idempotency_key: String::new(),
                ..base.clone()
            },
            vec!["idempotency_key"],
        ),
        (
            "half a point",
            pi::SubmitReportRequest {
                location: Some(lapor_proto::common::v1::Location {
                    latitude: Some(0.1),
                    ..Default::default()
                }),
                ..base.clone()
            },
            vec!["location"],
        ),
        (
            "bad contact",
            pi::SubmitReportRequest {
                reporter: Some(pi::ReporterContact {
                    name: String::new(),
                    nik: "12".into(),
                    phone: String::new(),
                    email: "nope".into(),
                }),
                ..base.clone()
            },
            vec!["reporter.name", "reporter.nik", "reporter.email"],
        ),
    ];
    for (what, req, fields) in cases {
        let err = sys
            .intake()
            .await
            .submit_report(authed(req, &token))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{what}: {err:?}");
        assert_eq!(violated_fields(&err), fields, "{what}");
    }
    // An oversize request beyond the transport limit is refused before it is read whole.
    let huge = pi::SubmitReportRequest {
        body: "x".repeat(400 * 1024),
        ..base.clone()
    };
    let err = sys
        .intake()
        .await
        .submit_report(authed(huge, &token))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted | tonic::Code::InvalidArgument
        ),
        "{err:?}"
    );

    // Missing and wrong tokens.
    let err = sys
        .intake()
        .await
        .submit_report(tonic::Request::new(base.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let forged = lapor_platform::auth::mint(
        &lapor_platform::config::AuthConfig {
            hs256_secrets: vec!["not-the-configured-secret-at-all".into()],
            ..Default::default()
        },
        "mallory",
        Role::Operator,
        None,
        600,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = sys
        .intake()
        .await
        .submit_report(authed(base.clone(), &forged))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = sys
        .intake()
        .await
        .submit_report(authed(base.clone(), "not.a.jwt"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    // An OPD officer may not submit on a citizen's behalf.
    let officer = sys.token(Role::OpdOfficer, Some("dinkes"));
    let err = sys
        .intake()
        .await
        .submit_report(authed(base, &officer))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    // Malformed ids elsewhere.
    let op = sys.token(Role::Operator, None);
    let err = sys
        .routing()
        .await
        .dispatch(authed(
            pr::DispatchRequest {
                report_id: "xyz".into(),
                opd_id: "Dinas PU".into(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(violated_fields(&err), ["report_id", "opd_id"]);
    let officer = sys.token(Role::OpdOfficer, Some("dinkes"));
    let err = sys
        .cases()
        .await
        .get_case(authed(
            pc::GetCaseRequest {
                case_id: "abc".into(),
            },
            &officer,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let err = sys
        .intake()
        .await
        .get_submission(authed(
            pi::GetSubmissionRequest {
                tracking_id: "??".into(),
                access_token: "x".into(),
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Nothing stored, nothing published.
    assert_eq!(sys.count("SELECT count(*)::text FROM intake.reports").await, 0);
    assert_eq!(sys.count("SELECT count(*)::text FROM intake.identities").await, 0);
    assert_eq!(sys.count("SELECT count(*)::text FROM intake.outbox").await, 0);
    assert_eq!(stream_messages(&sys).await, 0);
    sys.stop().await;
}
