//! Privacy canary: an anonymous report's identity never leaves intake's identity store.

use std::time::Duration;

use lapor_platform::Role;
use lapor_proto::cases::v1 as pc;
use lapor_proto::common::v1::ReportKind;
use lapor_proto::intake::v1 as pi;
use lapor_proto::sla::v1 as ps;
use lapor_system_tests::{SCHEMAS, System, authed, eventually};

use crate::{submission, submit};

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_identity_appears_nowhere_outside_the_identity_store() {
    let sys = System::start_with_email().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("CanaryName{}", &tag[..10]);
    let nik: String = format!(
        "64{}",
        &tag.chars()
            .filter(char::is_ascii_digit)
            .chain("12345678901234".chars())
            .take(14)
            .collect::<String>()
    );
    let phone = format!("0812{}", &nik[2..10]);
    let email = format!("canary{}@example.org", &tag[..10]);
    let markers = [name.clone(), nik.clone(), phone.clone(), email.clone()];
    let reporter_email = email.clone();

    let mut req = submission("canary-1", ReportKind::Pengaduan as i32, "kesehatan.puskesmas");
    req.anonim = true;
    req.reporter = Some(pi::ReporterContact {
        name,
        nik,
        phone,
        email,
    });
    let accepted = submit(&sys, req).await;

    // Let the whole flow finish: case opened, messages recorded, deadlines recorded.
    let op = sys.token(Role::Operator, None);
    eventually("follow-up deadline", Duration::from_secs(30), || async {
        let d = sys
            .sla()
            .await
            .list_deadlines(authed(
                ps::ListDeadlinesRequest {
                    report_id: accepted.report_id.clone(),
                },
                &op,
            ))
            .await
            .ok()?
            .into_inner()
            .deadlines;
        (d.len() == 3).then_some(())
    })
    .await;
    eventually("three messages", Duration::from_secs(30), || {
        let report = accepted.report_id.clone();
        let sys = &sys;
        async move {
            let n = sys
                .notification()
                .await
                .list_messages(authed(
                    lapor_proto::notification::v1::ListMessagesRequest { report_id: report },
                    &sys.token(Role::Operator, None),
                ))
                .await
                .ok()?
                .into_inner()
                .messages
                .len();
            (n == 3).then_some(())
        }
    })
    .await;

    // E-mail: the reporter's own address (fetched from intake at send time, each fetch audited)
    // gets their two messages; the OPD's mailbox gets the new case without any identity.
    let sink = sys.smtp.clone().unwrap();
    let mails = eventually("three e-mails", Duration::from_secs(30), || async {
        let m = sink.mails();
        (m.len() == 3).then_some(m)
    })
    .await;
    let (to_reporter, to_staff): (Vec<_>, Vec<_>) =
        mails.iter().partition(|m| m.to == [reporter_email.clone()]);
    assert_eq!(to_reporter.len(), 2, "received and forwarded");
    assert!(
        to_reporter
            .iter()
            .all(|m| m.text().contains(&accepted.tracking_id))
    );
    assert_eq!(to_staff.len(), 1);
    assert!(
        to_staff[0].to[0].ends_with("@opd.example"),
        "{:?}",
        to_staff[0].to
    );
    for m in &markers {
        assert!(
            !to_staff[0].data.contains(m.as_str()),
            "{m} in an e-mail to OPD staff"
        );
    }
    assert_eq!(
        sys.count(
            "SELECT count(*)::text FROM intake.identity_access_log WHERE caller = 'notification' AND outcome = 'contact'"
        )
        .await,
        2,
        "each contact fetch is audited"
    );

    // The identity store holds it (encrypted: even intake's tables show no plaintext).
    assert_eq!(sys.count("SELECT count(*)::text FROM intake.identities").await, 1);

    // Every row of every table of every service, as text (bytea shows as hex: search both).
    let mut scanned = 0;
    for schema in SCHEMAS {
        let tables = sys
            .sql(&format!(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = '{schema}'"
            ))
            .await;
        assert!(!tables.is_empty(), "schema {schema} has tables");
        for t in tables {
            for row in sys
                .sql(&format!("SELECT t::text FROM \"{schema}\".\"{t}\" t"))
                .await
            {
                scanned += 1;
                for m in &markers {
                    assert!(!row.contains(m.as_str()), "{m} found in {schema}.{t}");
                    assert!(!row.contains(&hex(m)), "{m} (hex) found in {schema}.{t}");
                }
            }
        }
    }
    assert!(scanned > 10, "scanned {scanned} rows");

    // Every message in the stream, payload and headers.
    let js = async_nats::jetstream::new(sys.env.nats().await.unwrap_or_else(|e| panic!("{e}")));
    let mut stream = js
        .get_stream(sys.env.stream_name())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let last = stream
        .info()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .state
        .last_sequence;
    assert!(last >= 3, "stream holds the flow's events");
    for seq in 1..=last {
        let msg = stream
            .get_raw_message(seq)
            .await
            .unwrap_or_else(|e| panic!("seq {seq}: {e}"));
        let payload = String::from_utf8_lossy(&msg.payload);
        let headers = format!("{:?}", msg.headers);
        for m in &markers {
            assert!(
                !payload.contains(m.as_str()) && !headers.contains(m.as_str()),
                "{m} in stream message {seq}"
            );
        }
    }

    // The OPD officer's responses.
    let officer = sys.token(Role::OpdOfficer, Some("dinkes"));
    let list = sys
        .cases()
        .await
        .list_cases(authed(pc::ListCasesRequest::default(), &officer))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_inner();
    assert_eq!(list.cases.len(), 1);
    assert_eq!(list.cases[0].reporter_display, "anonim");
    let one = sys
        .cases()
        .await
        .get_case(authed(
            pc::GetCaseRequest {
                case_id: list.cases[0].case_id.clone(),
            },
            &officer,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .into_inner();
    let text = format!("{list:?} {one:?}");
    for m in &markers {
        assert!(!text.contains(m.as_str()), "{m} in an OPD response");
    }
    sys.stop().await;
}
