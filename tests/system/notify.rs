//! Who hears what over a report's whole life, on every channel: the in-app inbox, e-mail to the
//! reporter (address fetched from intake at send time) and to the OPD's mailbox, SMS to the
//! reporter through the gateway (the short `sms` variant), and the signed webhook for OPD
//! messages; all in Bahasa Indonesia.

use std::time::Duration;

use lapor_platform::Role;
use lapor_proto::cases::v1 as pc;
use lapor_proto::common::v1::ReportKind;
use lapor_proto::intake::v1 as pi;
use lapor_proto::notification::v1 as pn;
use lapor_system_tests::{SMS_API_KEY, System, WEBHOOK_SECRET, authed, eventually};

use crate::{submission, submit};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_people_hear_of_a_whole_lifecycle_on_every_channel_in_indonesian() {
    let sys = System::start_with_channels().await;
    let email = "warga.bontang@example.org";
    let phone = "081234567890";
    let mut req = submission("notify-1", ReportKind::Pengaduan as i32, "infrastruktur.jalan");
    req.reporter = Some(pi::ReporterContact {
        name: "Warga Bontang".into(),
        nik: String::new(),
        phone: phone.into(),
        email: email.into(),
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
    let case = eventually("case at PUPR", WAIT, || async {
        sys.cases()
            .await
            .list_cases(authed(pc::ListCasesRequest::default(), &officer))
            .await
            .ok()?
            .into_inner()
            .cases
            .into_iter()
            .next()
    })
    .await;
    sys.cases()
        .await
        .post_follow_up(authed(
            pc::PostFollowUpRequest {
                case_id: case.case_id.clone(),
                text: "Lubang sudah ditambal".into(),
            },
            &officer,
        ))
        .await
        .unwrap();
    eventually("the reporter can confirm", WAIT, || async {
        sys.reporter_cases()
            .await
            .confirm_resolved(authed(pc::ConfirmResolvedRequest { credential: me() }, &front))
            .await
            .ok()
    })
    .await;

    // The reporter's inbox, read with the tracking id and token: four messages in order.
    let inbox = eventually("four messages in the inbox", WAIT, || async {
        let m = sys
            .notification()
            .await
            .list_reporter_messages(authed(
                pn::ListReporterMessagesRequest {
                    tracking_id: r.tracking_id.clone(),
                    access_token: r.access_token.clone(),
                },
                &front,
            ))
            .await
            .ok()?
            .into_inner()
            .messages;
        (m.len() == 4).then_some(m)
    })
    .await;
    let templates: Vec<&str> = inbox.iter().map(|m| m.template.as_str()).collect();
    assert_eq!(
        templates,
        [
            "report_received",
            "case_opened",
            "case_followed_up",
            "case_closed"
        ]
    );
    let wrong = sys
        .notification()
        .await
        .list_reporter_messages(authed(
            pn::ListReporterMessagesRequest {
                tracking_id: r.tracking_id.clone(),
                access_token: "not-the-token".into(),
            },
            &front,
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::NotFound);

    // E-mail: four to the reporter, one (new case) to PUPR's mailbox, in Indonesian.
    let sink = sys.smtp.clone().unwrap();
    let mails = eventually("five e-mails", WAIT, || async {
        let m = sink.mails();
        (m.len() == 5).then_some(m)
    })
    .await;
    let to_reporter: Vec<_> = mails.iter().filter(|m| m.to == [email]).collect();
    assert_eq!(to_reporter.len(), 4);
    // One mail for each step. The deliveries run concurrently, so the mails may reach the sink in
    // any order (the messages' own order is asserted on the list above).
    let texts: Vec<String> = to_reporter.iter().map(|m| m.text()).collect();
    for phrase in [
        "telah diterima pada",
        "telah diteruskan kepada",
        "Lubang sudah ditambal",
        "dinyatakan selesai atas konfirmasi Anda",
    ] {
        let with = texts.iter().filter(|t| t.contains(phrase)).count();
        assert_eq!(with, 1, "{phrase} in exactly one of {texts:#?}");
    }
    let to_opd: Vec<_> = mails
        .iter()
        .filter(|m| m.to == ["dinas-pupr@opd.example"])
        .collect();
    assert_eq!(to_opd.len(), 1);
    assert!(
        to_opd[0]
            .text()
            .contains("Mohon tindak lanjut pertama dalam 5 hari kerja")
    );

    // SMS: the reporter's phone, the short variant for the receipt, with the gateway's key.
    let g = sys.gateways.as_ref().unwrap();
    eventually("four SMS", WAIT, || async {
        let n = g.sms.1.lock().unwrap().len();
        (n == 4).then_some(())
    })
    .await;
    let sms = std::mem::take(&mut *g.sms.1.lock().unwrap());
    let first: serde_json::Value = serde_json::from_slice(&sms[0].body).unwrap();
    assert_eq!(first["to"], phone);
    assert_eq!(first["sender"], "LAPOR-BTG");
    let text = first["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("LAPOR! Laporan {} diterima", r.tracking_id))
            && text.ends_with("Verifikasi maks. 3 hari kerja."),
        "{text}"
    );
    assert!(
        sms.iter()
            .all(|s| s.headers["authorization"] == format!("Bearer {SMS_API_KEY}"))
    );

    // The webhook: the OPD's one message, signed.
    eventually("one webhook", WAIT, || async {
        let n = g.webhook.1.lock().unwrap().len();
        (n == 1).then_some(())
    })
    .await;
    let hook = std::mem::take(&mut *g.webhook.1.lock().unwrap());
    let body: serde_json::Value = serde_json::from_slice(&hook[0].body).unwrap();
    assert_eq!(body["recipient_ref"], "dinas-pupr");
    assert_eq!(body["template"], "case_new");
    assert_eq!(
        lapor_notification::delivery::verify(
            WEBHOOK_SECRET,
            &hook[0].headers["lapor-timestamp"],
            &hook[0].headers["lapor-signature"],
            &hook[0].body,
            chrono::Utc::now(),
            Duration::from_secs(300),
        ),
        Ok(())
    );

    // Every delivery went through once; contact fetches are audited by intake.
    let op = sys.token(Role::Operator, None);
    let all = sys
        .notification()
        .await
        .list_messages(authed(
            pn::ListMessagesRequest {
                report_id: r.report_id.clone(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .messages;
    let deliveries: Vec<_> = all.iter().flat_map(|m| m.deliveries.iter()).collect();
    assert_eq!(
        deliveries.len(),
        4 * 2 + 2,
        "reporter: e-mail + SMS; OPD: e-mail + webhook"
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d.state == "delivered" && d.attempts == 1)
    );
    assert_eq!(
        sys.count(
            "SELECT count(*)::text FROM intake.identity_access_log WHERE caller = 'notification' AND outcome = 'contact'"
        )
        .await,
        8
    );
    sys.stop().await;
}
