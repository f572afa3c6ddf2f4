//! Notification's integration suite: messages rendered in Indonesian, one per event and
//! recipient however often the event is delivered.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use lapor_domain::{ReportKind, fixtures};
use lapor_events::{codec, subjects};
use lapor_notification::{Config, Service};
use lapor_platform::Role;
use lapor_proto::notification::v1::{self as pn, notification_service_client::NotificationServiceClient};
use lapor_testkit::{Spawned, TestEnv, authed, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_notifies_each_recipient_once_in_indonesian() {
    let env = TestEnv::new().await.unwrap();
    let svc = start_seeded(&env).await;

    let s = fixtures::submitted(ReportKind::Pengaduan, "air-minum", Utc::now());
    let d = fixtures::dispatched(&s, "perumda-air-minum", Utc::now());
    let o = fixtures::case_opened(&d, Utc::now());
    for i in 0..2 {
        env.publish(subjects::REPORT_SUBMITTED, &format!("s-{i}"), codec::encode(&s))
            .await;
        env.publish(subjects::CASE_OPENED, &format!("o-{i}"), codec::encode(&o))
            .await;
    }
    let op = env.token("op", Role::Operator, None);
    let mut c = NotificationServiceClient::new(svc.channel().await);
    let report_id = s.event.report_id().unwrap().to_string();
    let msgs = eventually("three messages", Duration::from_secs(20), || async {
        let m = messages_of(&c, &op, &report_id).await?;
        (m.len() >= 3).then_some(m)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = c
        .list_messages(authed(
            pn::ListMessagesRequest {
                report_id: report_id.clone(),
            },
            &op,
        ))
        .await
        .unwrap();
    assert_eq!(
        again.into_inner().messages.len(),
        3,
        "duplicates sent nothing more"
    );
    let to_opd = msgs.iter().find(|m| m.recipient_kind == "opd").unwrap();
    assert_eq!(to_opd.recipient_ref, "perumda-air-minum");
    assert!(to_opd.body.contains("Mohon tindak lanjut"), "{}", to_opd.body);
    let forwarded = msgs.iter().find(|m| m.template == "case_opened").unwrap();
    assert!(
        forwarded.body.contains("Perumda Tirta Taman"),
        "{}",
        forwarded.body
    );
    assert!(
        msgs.iter()
            .all(|m| m.channel == "inbox" && m.state == "delivered")
    );
    let reporter = env.token("warga", Role::Reporter, None);
    let err = c
        .list_messages(authed(pn::ListMessagesRequest { report_id }, &reporter))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    svc.stop().await;
}

/// Events that arrive together are written together (one statement for a batch's messages, one
/// for its deliveries), each recipient told once, and every delivery sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_arrive_together_are_told_together_and_each_once() {
    let env = TestEnv::new().await.unwrap();
    let (url, got) = lapor_testkit::http::receiver(0, 200).await;
    // A first start makes the stream and the consumers; the events come while it is stopped.
    start_with(&env, vec![webhook("wa-gateway", &url)], 3, 50)
        .await
        .stop()
        .await;
    let mut reports = Vec::new();
    for i in 0..15 {
        let mut s = fixtures::submitted(ReportKind::Pengaduan, "air-minum", Utc::now());
        if let lapor_domain::events::Event::ReportSubmitted(e) = &mut s.event {
            e.access_token_hash = format!("token-hash-{i}");
        }
        let d = fixtures::dispatched(&s, "perumda-air-minum", Utc::now());
        let o = fixtures::case_opened(&d, Utc::now());
        reports.push(s.event.report_id().unwrap().to_string());
        env.publish(subjects::REPORT_SUBMITTED, &format!("s-{i}"), codec::encode(&s))
            .await;
        env.publish(subjects::CASE_OPENED, &format!("o-{i}"), codec::encode(&o))
            .await;
        if i == 4 {
            env.publish(subjects::CASE_OPENED, "o-4-again", codec::encode(&o))
                .await;
        }
    }
    let svc = start_with(&env, vec![webhook("wa-gateway", &url)], 3, 50).await;
    let op = env.token("op", Role::Operator, None);
    let c = NotificationServiceClient::new(svc.channel().await);
    // Per report: the reporter hears of the submission and of the case; the OPD of the case.
    for r in &reports {
        let m = eventually("a report's three messages", Duration::from_secs(20), || async {
            let m = messages_of(&c, &op, r).await?;
            (m.len() >= 3).then_some(m)
        })
        .await;
        let mut told: Vec<(String, String)> = m.into_iter().map(|m| (m.recipient_kind, m.template)).collect();
        told.sort();
        assert_eq!(
            told,
            [
                ("opd".to_owned(), "case_new".to_owned()),
                ("reporter".to_owned(), "case_opened".to_owned()),
                ("reporter".to_owned(), "report_received".to_owned()),
            ]
        );
    }
    // The webhook takes the reporter's messages: 30 deliveries, each sent once.
    eventually("30 deliveries sent", Duration::from_secs(30), || async {
        (got.lock().unwrap().len() >= 30).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    svc.stop().await;
    assert_eq!(got.lock().unwrap().len(), 30, "one send per delivery");
    // (Deliveries are rewritten when sent: their rows no longer show the statement that wrote them.)
    for table in ["notification.messages", "notification.reporter_credentials"] {
        assert!(
            env.most_rows_of_one_statement(table).await > 1,
            "{table}: no two rows written by one statement"
        );
    }
}

/// Events of different kinds come through different consumers, so they can arrive in any order:
/// the messages are listed in the order of the events they tell of, not of their arrival.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_in_the_order_of_their_events_not_of_their_arrival() {
    let env = TestEnv::new().await.unwrap();
    let svc = start_seeded(&env).await;
    let t = Utc::now() - chrono::Duration::hours(2);
    let s = fixtures::submitted(ReportKind::Pengaduan, "air-minum", t);
    let d = fixtures::dispatched(&s, "perumda-air-minum", t + chrono::Duration::minutes(30));
    let o = fixtures::case_opened(&d, t + chrono::Duration::hours(1));
    let op = env.token("op", Role::Operator, None);
    let c = NotificationServiceClient::new(svc.channel().await);
    let report_id = s.event.report_id().unwrap().to_string();
    let reporter_templates = |n: usize| {
        let (c, op, report_id) = (&c, &op, &report_id);
        async move {
            let m = messages_of(c, op, report_id).await?;
            let t: Vec<String> = m
                .into_iter()
                .filter(|m| m.recipient_kind == "reporter")
                .map(|m| m.template)
                .collect();
            (t.len() == n).then_some(t)
        }
    };
    // The case is opened (and told) before the submission arrives here.
    env.publish(subjects::CASE_OPENED, "o", codec::encode(&o)).await;
    eventually("the case opened message", Duration::from_secs(20), || {
        reporter_templates(1)
    })
    .await;
    env.publish(subjects::REPORT_SUBMITTED, "s", codec::encode(&s))
        .await;
    let templates = eventually("both messages", Duration::from_secs(20), || reporter_templates(2)).await;
    assert_eq!(templates, ["report_received", "case_opened"]);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_alerts_reach_the_opd_and_escalations_the_named_officials() {
    use lapor_domain::events::{DeadlineRef, Envelope, Event, SlaBreached, SlaEscalated, SlaWarning};
    let env = TestEnv::new().await.unwrap();
    let cfg = Config {
        common: env.common("notification"),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    let svc = Spawned::start(addr, |stop| svc.run_until(stop));
    let report = lapor_domain::ReportId::from_uuid(uuid::Uuid::now_v7());
    let deadline = DeadlineRef {
        report_id: report,
        step: lapor_domain::Step::FirstFollowUp,
        span: 1,
        opd_id: Some("dlh".parse().unwrap()),
        due_at: Utc::now(),
    };
    let env_of = |event| Envelope {
        id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: Utc::now(),
        event,
    };
    let events = [
        (
            subjects::SLA_WARNING,
            env_of(Event::SlaWarning(SlaWarning {
                deadline: deadline.clone(),
                warned_at: Utc::now(),
            })),
        ),
        (
            subjects::SLA_BREACHED,
            env_of(Event::SlaBreached(SlaBreached {
                deadline: deadline.clone(),
                detected_at: Utc::now(),
                officials: vec!["pj-dlh".into(), "kepala-dlh".into()],
                ledger_seq: 1,
            })),
        ),
        (
            subjects::SLA_ESCALATED,
            env_of(Event::SlaEscalated(SlaEscalated {
                deadline,
                level: 3,
                position: "sekda".into(),
                officials: vec!["sekda".into()],
                overdue_working_days: 7,
                escalated_at: Utc::now(),
            })),
        ),
    ];
    for (i, (suffix, e)) in events.iter().enumerate() {
        env.publish(suffix, &format!("e{i}"), codec::encode(e)).await;
        env.publish(suffix, &format!("e{i}-again"), codec::encode(e))
            .await;
    }
    let op = env.token("op", Role::Operator, None);
    let c = NotificationServiceClient::new(svc.channel().await);
    let msgs = eventually("three messages", Duration::from_secs(20), || {
        let mut c = c.clone();
        let (op, report_id) = (op.clone(), report.to_string());
        async move {
            let m = c
                .list_messages(authed(pn::ListMessagesRequest { report_id }, &op))
                .await
                .ok()?
                .into_inner()
                .messages;
            (m.len() >= 3).then_some(m)
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(msgs.len(), 3);
    let msgs = c
        .clone()
        .list_messages(authed(
            pn::ListMessagesRequest {
                report_id: report.to_string(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .messages;
    let mut who: Vec<(String, String, String)> = msgs
        .iter()
        .map(|m| {
            (
                m.template.clone(),
                m.recipient_kind.clone(),
                m.recipient_ref.clone(),
            )
        })
        .collect();
    who.sort();
    let want = [
        ("sla_breached", "opd", "dlh"),
        ("sla_escalated", "official", "sekda"),
        ("sla_warning", "opd", "dlh"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(who, want, "one message each, duplicates sent nothing");
    let body = |t: &str| msgs.iter().find(|m| m.template == t).unwrap().body.clone();
    assert!(
        body("sla_breached").contains("melewati tenggat tindak lanjut pertama"),
        "{}",
        body("sla_breached")
    );
    assert!(
        body("sla_escalated").contains("7 hari kerja"),
        "{}",
        body("sla_escalated")
    );
    svc.stop().await;
}

fn webhook(name: &str, url: &str) -> lapor_notification::config::WebhookConfig {
    lapor_notification::config::WebhookConfig {
        name: name.into(),
        url: url.into(),
        secret: format!("{name}-secret-0123456789"),
        recipient_kinds: vec!["reporter".into()],
        rate_per_sec: 0.0,
        timeout_ms: 5_000,
    }
}

/// The messages of a report, as the operator lists them.
async fn messages_of(
    c: &NotificationServiceClient<tonic::transport::Channel>,
    token: &str,
    report_id: &str,
) -> Option<Vec<pn::Message>> {
    let request = pn::ListMessagesRequest {
        report_id: report_id.to_owned(),
    };
    Some(
        c.clone()
            .list_messages(authed(request, token))
            .await
            .ok()?
            .into_inner()
            .messages,
    )
}

/// The service with the Bontang seed (templates, rules, OPDs), on the test's database and NATS.
async fn start_seeded(env: &TestEnv) -> Spawned {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/bontang.toml");
    let mut cfg: Config =
        lapor_platform::config::load("notification", &Config::default(), Some(&seed)).unwrap();
    cfg.common = env.common("notification");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    Spawned::start(addr, |stop| svc.run_until(stop))
}

async fn start_with(
    env: &TestEnv,
    webhooks: Vec<lapor_notification::config::WebhookConfig>,
    max_attempts: u32,
    base_ms: u64,
) -> Spawned {
    let mut cfg = Config {
        common: env.common("notification"),
        webhooks,
        ..Config::default()
    };
    cfg.delivery.poll_ms = 25;
    cfg.delivery.max_attempts = max_attempts;
    cfg.delivery.backoff_base_ms = base_ms;
    cfg.delivery.backoff_max_ms = 10_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    Spawned::start(addr, |stop| svc.run_until(stop))
}

async fn deliveries_of(svc: &Spawned, env: &TestEnv, report_id: &str) -> Vec<pn::Delivery> {
    let op = env.token("op", Role::Operator, None);
    NotificationServiceClient::new(svc.channel().await)
        .list_messages(authed(
            pn::ListMessagesRequest {
                report_id: report_id.into(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner()
        .messages
        .into_iter()
        .flat_map(|m| m.deliveries)
        .collect()
}

/// A receiver failing three times then accepting: one delivery, four signed requests with the
/// same delivery id, spaced by a growing backoff; the event delivered twice by JetStream adds no
/// request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_failing_three_times_then_accepting_gets_one_delivery_after_backoff() {
    let env = TestEnv::new().await.unwrap();
    let (url, got) = lapor_testkit::http::receiver(3, 503).await;
    let hook = webhook("wa-gateway", &url);
    let secret = hook.secret.clone();
    let svc = start_with(&env, vec![hook], 8, 200).await;
    let s = fixtures::submitted(ReportKind::Pengaduan, "air-minum", Utc::now());
    let report_id = s.event.report_id().unwrap().to_string();
    for i in 0..2 {
        env.publish(subjects::REPORT_SUBMITTED, &format!("s-{i}"), codec::encode(&s))
            .await;
    }
    let d = eventually("delivered", Duration::from_secs(30), || async {
        let d = deliveries_of(&svc, &env, &report_id).await;
        (d.len() == 1 && d[0].state == "delivered").then_some(d)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        deliveries_of(&svc, &env, &report_id).await.len(),
        1,
        "one delivery"
    );
    assert_eq!(d[0].channel, "webhook:wa-gateway");
    assert_eq!(d[0].attempts, 4);
    assert!(d[0].last_error.is_empty() && d[0].delivered_at.is_some());
    let got = std::mem::take(&mut *got.lock().unwrap());
    assert_eq!(got.len(), 4, "three failures and one success, nothing more");
    for r in got.iter() {
        assert_eq!(r.headers["lapor-delivery-id"], d[0].delivery_id);
        let (t, sig) = (&r.headers["lapor-timestamp"], &r.headers["lapor-signature"]);
        let tol = Duration::from_secs(300);
        assert_eq!(
            lapor_notification::delivery::verify(&secret, t, sig, &r.body, Utc::now(), tol),
            Ok(())
        );
        let mut tampered = r.body.clone();
        tampered[10] ^= 1;
        assert!(lapor_notification::delivery::verify(&secret, t, sig, &tampered, Utc::now(), tol).is_err());
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["report_id"], report_id.as_str());
        assert_eq!(body["template"], "report_received");
    }
    // Backoff with equal jitter: after the n-th failure at least half of 200 ms * 2^(n-1).
    for (n, pair) in got.windows(2).enumerate() {
        let gap = pair[1].at.duration_since(pair[0].at);
        let floor = Duration::from_millis(100 << n);
        assert!(gap >= floor, "gap {} {gap:?} < {floor:?}", n + 1);
    }
    svc.stop().await;
}

/// A receiver that always fails: dead letter with the reason after `max_attempts`; a permanent
/// refusal (HTTP 400) is given up at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_always_fails_ends_as_a_dead_letter_with_the_reason() {
    let env = TestEnv::new().await.unwrap();
    let (down, got_down) = lapor_testkit::http::receiver(usize::MAX, 500).await;
    let (refusing, got_refusing) = lapor_testkit::http::receiver(usize::MAX, 400).await;
    let svc = start_with(
        &env,
        vec![webhook("down", &down), webhook("refusing", &refusing)],
        3,
        50,
    )
    .await;
    let s = fixtures::submitted(ReportKind::Aspirasi, "", Utc::now());
    let report_id = s.event.report_id().unwrap().to_string();
    env.publish(subjects::REPORT_SUBMITTED, "s", codec::encode(&s))
        .await;
    let d = eventually("both dead", Duration::from_secs(30), || async {
        let d = deliveries_of(&svc, &env, &report_id).await;
        (d.len() == 2 && d.iter().all(|d| d.state == "dead")).then_some(d)
    })
    .await;
    let by = |c: &str| d.iter().find(|d| d.channel == c).unwrap();
    let down_d = by("webhook:down");
    assert_eq!(down_d.attempts, 3);
    assert!(
        down_d.last_error.contains("HTTP 500") && down_d.last_error.contains("gave up after 3 attempts"),
        "{}",
        down_d.last_error
    );
    let refused = by("webhook:refusing");
    assert_eq!((refused.attempts, refused.last_error.as_str()), (1, "HTTP 400"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(got_down.lock().unwrap().len(), 3);
    assert_eq!(got_refusing.lock().unwrap().len(), 1);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhook_settings_are_refused_by_field() {
    let env = TestEnv::new().await.unwrap();
    let mut bad = webhook("wa gateway", "ftp://x");
    bad.secret = "short".into();
    bad.recipient_kinds = vec!["mayor".into()];
    let cfg = Config {
        common: env.common("notification"),
        webhooks: vec![bad],
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = Service::build(cfg, listener).await.err().unwrap().to_string();
    for field in [
        "webhooks[0].name",
        "webhooks[0].url",
        "webhooks[0].secret",
        "webhooks[0].recipient_kinds[0]",
    ] {
        assert!(e.contains(field), "{field} in {e}");
    }
}

/// E-mail to an OPD's mailbox (a position's address from the settings): a transient SMTP
/// refusal is retried, the mail arrives once, in Indonesian, with a stable Message-ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opd_gets_its_new_case_by_email_after_a_transient_smtp_refusal() {
    let env = TestEnv::new().await.unwrap();
    let sink = lapor_testkit::smtp::start(1).await;
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/bontang.toml");
    let mut cfg: Config =
        lapor_platform::config::load("notification", &Config::default(), Some(&seed)).unwrap();
    cfg.common = env.common("notification");
    cfg.delivery.poll_ms = 25;
    cfg.delivery.backoff_base_ms = 100;
    cfg.email = lapor_notification::config::EmailConfig {
        enabled: true,
        host: "127.0.0.1".into(),
        port: sink.port,
        tls: "none".into(),
        from: "LAPOR! Kota Bontang <lapor@bontangkota.go.id>".into(),
        recipient_kinds: vec!["opd".into()],
        addresses: vec![lapor_notification::config::Mailbox {
            recipient: "perumda-air-minum".into(),
            address: "pengaduan@perumda-tirta-taman.example".into(),
        }],
        ..lapor_notification::config::EmailConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    let svc = Spawned::start(addr, |stop| svc.run_until(stop));
    let s = fixtures::submitted(ReportKind::Pengaduan, "air-minum", Utc::now());
    let d = fixtures::dispatched(&s, "perumda-air-minum", Utc::now());
    let o = fixtures::case_opened(&d, Utc::now());
    env.publish(subjects::CASE_OPENED, "o", codec::encode(&o)).await;
    let report_id = o.event.report_id().unwrap().to_string();
    let sent = eventually("delivered", Duration::from_secs(20), || async {
        let d = deliveries_of(&svc, &env, &report_id).await;
        (d.len() == 1 && d[0].state == "delivered").then_some(d)
    })
    .await;
    assert_eq!((sent[0].channel.as_str(), sent[0].attempts), ("email", 2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "one mail");
    assert_eq!(mails[0].to, ["pengaduan@perumda-tirta-taman.example"]);
    assert_eq!(mails[0].from, "lapor@bontangkota.go.id");
    assert!(
        mails[0].text().contains("Mohon tindak lanjut"),
        "{}",
        mails[0].text()
    );
    assert!(
        mails[0]
            .data
            .contains(&format!("<{}@lapor>", sent[0].delivery_id)),
        "{}",
        mails[0].data
    );
    // Messages to the reporter are not routed to e-mail here (recipient_kinds = opd only).
    svc.stop().await;
}

/// Templates are data: English when the city chooses it, an operator's edit applies to the next
/// message, and an edit that does not render (unknown variable) or is stale is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_data_in_either_language_and_edits_apply_to_the_next_message() {
    let env = TestEnv::new().await.unwrap();
    let cfg = Config {
        common: env.common("notification"),
        language: "en".into(),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = Service::build(cfg, listener).await.unwrap();
    let svc = Spawned::start(addr, |stop| svc.run_until(stop));
    let op = env.token("op", Role::Operator, None);
    let mut c = NotificationServiceClient::new(svc.channel().await);
    let reader = c.clone();
    let subject_of = |report_id: String| {
        let (c, op) = (reader.clone(), op.clone());
        async move {
            eventually("a message", Duration::from_secs(20), || {
                let (mut c, op, report_id) = (c.clone(), op.clone(), report_id.clone());
                async move {
                    c.list_messages(authed(pn::ListMessagesRequest { report_id }, &op))
                        .await
                        .ok()?
                        .into_inner()
                        .messages
                        .into_iter()
                        .next()
                        .map(|m| (m.subject, m.body))
                }
            })
            .await
        }
    };
    let s1 = fixtures::submitted(ReportKind::Pengaduan, "", Utc::now());
    env.publish(subjects::REPORT_SUBMITTED, "s1", codec::encode(&s1))
        .await;
    let (subject, body) = subject_of(s1.event.report_id().unwrap().to_string()).await;
    let lapor_domain::events::Event::ReportSubmitted(e1) = &s1.event else {
        unreachable!()
    };
    assert_eq!(subject, format!("Report {} received", e1.tracking_id.as_str()));
    assert!(body.contains("within 3 working days"), "{body}");

    let list = c
        .list_templates(authed(pn::ListTemplatesRequest {}, &op))
        .await
        .unwrap()
        .into_inner()
        .templates;
    let t = list
        .iter()
        .find(|t| t.name == "report_received" && t.lang == "en" && t.channel.is_empty())
        .unwrap();
    assert_eq!((t.version, t.changed_by.as_str()), (1, "default"));
    assert_eq!(t.vars, ["tracking_id", "at", "verification_days"]);
    let put = |subject: &str, expected_version: u32| pn::PutTemplateRequest {
        name: "report_received".into(),
        lang: "en".into(),
        channel: String::new(),
        subject: subject.into(),
        body: t.body.clone(),
        expected_version,
    };
    let bad = c
        .put_template(authed(put("Received: {{ nomor }}", 1), &op))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert_eq!(lapor_platform::status::violated_fields(&bad), ["subject"]);
    let officer = env.token("pj", Role::OpdOfficer, Some("dlh"));
    assert_eq!(
        c.put_template(authed(put("x {{ tracking_id }}", 1), &officer))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    let saved = c
        .put_template(authed(put("We received {{ tracking_id }}", 1), &op))
        .await
        .unwrap()
        .into_inner()
        .template
        .unwrap();
    assert_eq!((saved.version, saved.changed_by.as_str()), (2, "op"));
    assert_eq!(
        c.put_template(authed(put("Stale {{ tracking_id }}", 1), &op))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Aborted
    );
    let s2 = fixtures::submitted(ReportKind::Aspirasi, "", Utc::now());
    env.publish(subjects::REPORT_SUBMITTED, "s2", codec::encode(&s2))
        .await;
    let lapor_domain::events::Event::ReportSubmitted(e2) = &s2.event else {
        unreachable!()
    };
    let (subject, _) = subject_of(s2.event.report_id().unwrap().to_string()).await;
    assert_eq!(subject, format!("We received {}", e2.tracking_id.as_str()));
    svc.stop().await;
}

/// Who hears what is data: a rule can keep a message in the inbox only (no outside channel) or
/// stop it altogether; bad and stale edits are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_decide_who_hears_what_and_on_which_channels() {
    let env = TestEnv::new().await.unwrap();
    let (url, got) = lapor_testkit::http::receiver(0, 200).await;
    let svc = start_with(&env, vec![webhook("wa-gateway", &url)], 3, 50).await;
    let op = env.token("op", Role::Operator, None);
    let mut c = NotificationServiceClient::new(svc.channel().await);
    let rules = c
        .list_rules(authed(pn::ListRulesRequest {}, &op))
        .await
        .unwrap()
        .into_inner()
        .rules;
    let r = rules
        .iter()
        .find(|r| r.template == "report_received" && r.recipient_kind == "reporter")
        .unwrap();
    assert!(r.enabled && r.version == 1);
    assert_eq!(r.channels, ["email", "sms", "webhook"]);
    let put = |enabled: bool, channels: &[&str], expected_version: u32| pn::PutRuleRequest {
        template: "report_received".into(),
        recipient_kind: "reporter".into(),
        enabled,
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        expected_version,
    };
    let submit_one = |key: &'static str| {
        let env = &env;
        async move {
            let s = fixtures::submitted(ReportKind::Aspirasi, "", Utc::now());
            env.publish(subjects::REPORT_SUBMITTED, key, codec::encode(&s))
                .await;
            (s.event.report_id().unwrap().to_string(), s.id.as_uuid())
        }
    };
    let reader = c.clone();
    let messages_of = |report_id: String| {
        let (mut c, op) = (reader.clone(), op.clone());
        async move {
            c.list_messages(authed(pn::ListMessagesRequest { report_id }, &op))
                .await
                .unwrap()
                .into_inner()
                .messages
        }
    };
    // Inbox only: the message is recorded, nothing goes to the webhook.
    c.put_rule(authed(put(true, &[], 1), &op)).await.unwrap();
    let (a, _) = submit_one("a").await;
    let m = eventually("message a", Duration::from_secs(20), || async {
        let m = messages_of(a.clone()).await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert!(m[0].deliveries.is_empty(), "no outside channel");
    // Not told at all.
    c.put_rule(authed(put(false, &["webhook"], 2), &op))
        .await
        .unwrap();
    let (b, b_event) = submit_one("b").await;
    let db = sea_orm::Database::connect(&env.db_url).await.unwrap();
    eventually("report b processed", Duration::from_secs(20), || async {
        use sea_orm::ConnectionTrait;
        let n = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT count(*) AS n FROM notification.processed_events WHERE event_id = '{b_event}'"
                ),
            ))
            .await
            .ok()??
            .try_get::<i64>("", "n")
            .ok()?;
        (n > 0).then_some(())
    })
    .await;
    db.close().await.unwrap();
    // Told again, on the webhook only.
    c.put_rule(authed(put(true, &["webhook"], 3), &op)).await.unwrap();
    let (d, _) = submit_one("d").await;
    eventually("message d delivered", Duration::from_secs(20), || async {
        let m = messages_of(d.clone()).await;
        (m.len() == 1 && m[0].deliveries.first().is_some_and(|x| x.state == "delivered")).then_some(())
    })
    .await;
    assert!(messages_of(b).await.is_empty(), "a disabled rule tells nobody");
    assert_eq!(got.lock().unwrap().len(), 1, "only report d reached the webhook");
    // Refused: an unknown pair, an unknown channel, a stale version.
    let bad = c
        .put_rule(authed(
            pn::PutRuleRequest {
                template: "case_new".into(),
                recipient_kind: "reporter".into(),
                enabled: true,
                channels: vec!["fax".into()],
                expected_version: 1,
            },
            &op,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        lapor_platform::status::violated_fields(&bad),
        ["template", "channels[0]"]
    );
    assert_eq!(
        c.put_rule(authed(put(true, &[], 1), &op))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Aborted
    );
    svc.stop().await;
}
