//! Intake's integration suite: the real service on port 0 against PostgreSQL (own database) or
//! SQLite, with NATS, driven through its gRPC API.
#![allow(clippy::unwrap_used)]

use lapor_intake::{Config, IdentityCipher, Service};
use lapor_platform::Role;
use lapor_proto::common::v1::{Channel, ReportKind};
use lapor_proto::intake::v1::{self as pi, intake_service_client::IntakeServiceClient};
use lapor_testkit::{TestEnv, authed};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use tokio::sync::oneshot;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

struct Running {
    addr: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(cfg: Config) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let svc = Service::build(cfg, listener).await.unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(svc.run_until(async move {
        let _ = rx.await;
    }));
    Running { addr, stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

async fn channel(addr: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(addr.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The first column of every row `sql` returns on PostgreSQL, as text.
async fn texts(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

fn request(key: &str) -> pi::SubmitReportRequest {
    pi::SubmitReportRequest {
        idempotency_key: key.into(),
        kind: ReportKind::PermintaanInformasi as i32,
        title: "Permohonan data APBD 2026".into(),
        body: "Mohon salinan dokumen APBD Kota Bontang tahun 2026 beserta lampirannya.".into(),
        category_id: "informasi-publik".into(),
        channel: Channel::Integration as i32,
        reporter: Some(pi::ReporterContact {
            name: "Rahmawati Intake".into(),
            nik: "6474015505900001".into(),
            phone: "+62 811 5550 202".into(),
            email: "rahma@example.org".into(),
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_need_no_token_and_reflection_can_be_switched_off() {
    let env = TestEnv::new().await.unwrap();
    let on = start(Config {
        common: env.common("intake"),
        ..Config::default()
    })
    .await;
    let mut health = HealthClient::new(channel(&on.addr).await);
    for service in ["", lapor_intake::GRPC_SERVICE] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let list = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut refl = ServerReflectionClient::new(channel(&on.addr).await);
    let mut stream = refl
        .server_reflection_info(tokio_stream::iter([list.clone()]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(services)) = resp.message_response else {
        panic!("{resp:?}")
    };
    let names: Vec<String> = services.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&lapor_intake::GRPC_SERVICE.to_owned()),
        "{names:?}"
    );
    on.stop().await;

    let mut common = env.common("intake");
    common.reflection = false;
    let off = start(Config {
        common,
        ..Config::default()
    })
    .await;
    let mut refl = ServerReflectionClient::new(channel(&off.addr).await);
    let err = refl
        .server_reflection_info(tokio_stream::iter([list]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    // The API itself still demands a token.
    let mut c = IntakeServiceClient::connect(off.addr.clone()).await.unwrap();
    let err = c.submit_report(request("no-token")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    off.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_is_encrypted_at_rest_and_only_the_pseudonym_travels() {
    let env = TestEnv::new().await.unwrap();
    let cfg = Config {
        common: env.common("intake"),
        ..Config::default()
    };
    let cipher = IdentityCipher::new(&cfg.identity_key, &cfg.identity_key_id).unwrap();
    let svc = start(cfg).await;
    let token = env.token("front", Role::Service, None);
    let mut c = IntakeServiceClient::connect(svc.addr.clone()).await.unwrap();
    let r = c
        .submit_report(authed(request("enc-1"), &token))
        .await
        .unwrap()
        .into_inner();

    let db = Database::connect(env.db_url.clone()).await.unwrap();
    let q = |sql: &str| Statement::from_string(DbBackend::Postgres, sql.to_owned());
    let row = db
        .query_one_raw(q(
            "SELECT reporter_ref::text, nonce, ciphertext, key_id FROM intake.identities",
        ))
        .await
        .unwrap()
        .unwrap();
    let reporter_ref: String = row.try_get_by_index(0).unwrap();
    let nonce: Vec<u8> = row.try_get_by_index(1).unwrap();
    let ct: Vec<u8> = row.try_get_by_index(2).unwrap();
    let key_id: String = row.try_get_by_index(3).unwrap();
    assert_eq!(key_id, "dev");
    assert!(!String::from_utf8_lossy(&ct).contains("Rahmawati"));
    let identity = cipher.open(reporter_ref.parse().unwrap(), &nonce, &ct).unwrap();
    assert_eq!(identity.name, "Rahmawati Intake");
    assert_eq!(identity.nik, "6474015505900001");
    // The report row links to the pseudonym; the outbox event carries it and nothing else.
    let linked = db
        .query_one_raw(q(&format!(
            "SELECT reporter_ref::text FROM intake.reports WHERE id = '{}'",
            r.report_id
        )))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.try_get_by_index::<String>(0).unwrap(), reporter_ref);
    let outbox = db
        .query_one_raw(q("SELECT payload FROM intake.outbox"))
        .await
        .unwrap()
        .unwrap();
    let payload: Vec<u8> = outbox.try_get_by_index(0).unwrap();
    let text = String::from_utf8_lossy(&payload);
    assert!(text.contains(&reporter_ref));
    for secret in ["Rahmawati", "6474015505900001", "5550 202", "rahma@example.org"] {
        assert!(!text.contains(secret), "{secret} in the event");
    }
    db.close().await.unwrap();
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_code_runs_on_sqlite() {
    let env = TestEnv::new().await.unwrap();
    let dir = std::env::temp_dir().join(format!("lapor-intake-{}", uuid::Uuid::new_v4().simple()));
    let mut common = env.common("intake");
    common.database.url = format!("sqlite://{}/intake.db?mode=rwc", dir.display());
    let svc = start(Config {
        common: common.clone(),
        ..Config::default()
    })
    .await;
    let token = env.token("front", Role::Reporter, None);
    let mut c = IntakeServiceClient::connect(svc.addr.clone()).await.unwrap();
    let a = c
        .submit_report(authed(request("sqlite-1"), &token))
        .await
        .unwrap()
        .into_inner();
    let b = c
        .submit_report(authed(request("sqlite-1"), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.tracking_id, b.tracking_id);
    assert!(b.replayed);
    svc.stop().await;

    // Restarting on the same file keeps the state and re-runs no migration.
    let svc = start(Config {
        common,
        ..Config::default()
    })
    .await;
    let mut c = IntakeServiceClient::connect(svc.addr.clone()).await.unwrap();
    let got = c
        .get_submission(authed(
            pi::GetSubmissionRequest {
                tracking_id: a.tracking_id.clone(),
                access_token: a.access_token.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.report_id, a.report_id);
    // The relay published it once.
    let js = async_nats::jetstream::new(env.nats().await.unwrap());
    let name = env.stream_name();
    lapor_testkit::eventually("published", std::time::Duration::from_secs(10), || async {
        let mut stream = js.get_stream(&name).await.ok()?;
        (stream.info().await.ok()?.state.messages == 1).then_some(())
    })
    .await;
    svc.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reporters_view_never_moves_backwards_when_events_arrive_late() {
    use lapor_domain::events::{Envelope, Event, ReportPutOnHold};
    use lapor_events::{codec, subjects};
    use lapor_proto::common::v1::ReportStatus;
    let env = TestEnv::new().await.unwrap();
    let svc = start(Config {
        common: env.common("intake"),
        ..Config::default()
    })
    .await;
    let token = env.token("front", Role::Reporter, None);
    let mut c = IntakeServiceClient::connect(svc.addr.clone()).await.unwrap();
    let r = c
        .submit_report(authed(request("late-1"), &token))
        .await
        .unwrap()
        .into_inner();
    let report_id: lapor_domain::ReportId = r.report_id.parse().unwrap();
    let submitted = lapor_events::codec::from_ts(r.submitted_at.as_ref()).unwrap();
    let t_hold = submitted + chrono::Duration::minutes(5);
    let t_dispatch = submitted + chrono::Duration::minutes(10);
    // The dispatch (later) arrives first, the hold (earlier) after it.
    let mut dispatched = lapor_domain::fixtures::dispatched(
        &lapor_domain::fixtures::submitted(lapor_domain::ReportKind::Pengaduan, "", submitted),
        "diskominfo",
        t_dispatch,
    );
    if let Event::ReportDispatched(d) = &mut dispatched.event {
        d.report_id = report_id;
    }
    dispatched.occurred_at = t_dispatch;
    let hold = Envelope {
        id: lapor_domain::EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: t_hold,
        event: Event::ReportPutOnHold(ReportPutOnHold {
            report_id,
            tracking_id: r.tracking_id.parse().unwrap(),
            reason: "Mohon lengkapi".into(),
            reporter_ref: lapor_domain::ReporterRef::from_uuid(uuid::Uuid::new_v4()),
            held_at: t_hold,
            held_by: "op".into(),
        }),
    };
    env.publish(subjects::REPORT_DISPATCHED, "d", codec::encode(&dispatched))
        .await;
    let view = |c: IntakeServiceClient<tonic::transport::Channel>| {
        let (r, token) = (r.clone(), token.clone());
        async move {
            let mut c = c;
            c.get_submission(authed(
                pi::GetSubmissionRequest {
                    tracking_id: r.tracking_id,
                    access_token: r.access_token,
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner()
        }
    };
    lapor_testkit::eventually("dispatched", std::time::Duration::from_secs(20), || async {
        (view(c.clone()).await.status == ReportStatus::Dispatched as i32).then_some(())
    })
    .await;
    env.publish(subjects::REPORT_PUT_ON_HOLD, "h", codec::encode(&hold))
        .await;
    // Give the late hold time to be applied (or, correctly, ignored).
    let js = async_nats::jetstream::new(env.nats().await.unwrap());
    let name = env.stream_name();
    lapor_testkit::eventually("hold consumed", std::time::Duration::from_secs(20), || async {
        let s = js.get_stream(&name).await.ok()?;
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            s.get_consumer("intake-report-put-on-hold").await.ok()?;
        let info = consumer.info().await.ok()?;
        (info.num_ack_pending == 0 && info.num_pending == 0 && info.delivered.stream_sequence >= 2)
            .then_some(())
    })
    .await;
    let v = view(c.clone()).await;
    assert_eq!(
        v.status,
        ReportStatus::Dispatched as i32,
        "a late, older hold must not move the status back"
    );
    assert!(v.hold_reason.is_empty());
    svc.stop().await;
}

/// Only the notification service gets a reporter's contact, and only e-mail and phone; routing
/// (which may resolve whole identities for authorized people) and anyone else are refused; every
/// request is in the access log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_notification_gets_a_reporters_contact_and_every_request_is_logged() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(Config {
        common: env.common("intake"),
        ..Config::default()
    })
    .await;
    let mut c = IntakeServiceClient::connect(svc.addr.clone()).await.unwrap();
    let r = c
        .submit_report(authed(
            request("contact-1"),
            &env.token("front", Role::Service, None),
        ))
        .await
        .unwrap()
        .into_inner();
    let ask = |purpose: &str| pi::ResolveContactRequest {
        report_id: r.report_id.clone(),
        purpose: purpose.into(),
    };
    let notification = env.token("notification", Role::Service, None);
    let got = c
        .resolve_contact(authed(ask("email report_received"), &notification))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (got.email.as_str(), got.phone.as_str()),
        ("rahma@example.org", "+62 811 5550 202")
    );
    for (who, role) in [("routing", Role::Service), ("notification", Role::Operator)] {
        let e = c
            .resolve_contact(authed(ask("sms report_received"), &env.token(who, role, None)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{who} as {role:?}");
    }
    let e = c
        .resolve_contact(authed(ask(" "), &notification))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["purpose"]);
    // Routing resolves whole identities; notification no longer may.
    let whole = pi::ResolveIdentityRequest {
        report_id: r.report_id.clone(),
        reason: "reveal for the inspector".into(),
        on_behalf_of: "insp".into(),
        on_behalf_of_role: "auditor".into(),
    };
    assert_eq!(
        c.resolve_identity(authed(whole, &notification))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::PermissionDenied
    );
    let db = Database::connect(env.db_url.clone()).await.unwrap();
    let log = texts(
        &db,
        "SELECT caller || ':' || outcome || ':' || reason FROM intake.identity_access_log ORDER BY id",
    )
    .await;
    assert_eq!(
        log,
        [
            "notification:contact:email report_received",
            "routing:refused:sms report_received",
            "notification:refused:sms report_received",
            "notification:invalid: ",
            "notification:refused:reveal for the inspector",
        ]
    );
    db.close().await.unwrap();
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_arriving_together_are_committed_together_each_with_its_own_answer() {
    lapor_testkit::install_trace_context();
    let env = TestEnv::new().await.unwrap();
    let cfg = Config {
        common: env.common("intake"),
        // One writer, so submissions arriving while it commits wait and go in together.
        submit_writers: 1,
        ..Config::default()
    };
    let cipher = IdentityCipher::new(&cfg.identity_key, &cfg.identity_key_id).unwrap();
    let svc = start(cfg).await;
    let token = env.token("front", Role::Service, None);
    let client = IntakeServiceClient::new(channel(&svc.addr).await);

    // 40 distinct submissions (every third anonymous without contact), a key sent twice with the
    // same content (one report, the second answer a replay) and a key sent twice with different
    // content (one report, the other refused). Each request carries its own trace.
    let mut reqs: Vec<(String, pi::SubmitReportRequest)> = Vec::new();
    for i in 0..40u32 {
        let mut r = request(&format!("together-{i}"));
        r.title = format!("Permohonan data nomor {i}");
        if i.is_multiple_of(3) {
            r.anonim = true;
            r.reporter = None;
        }
        reqs.push((format!("{:032x}", 0xa000 + i), r));
    }
    let same = request("twice-same");
    reqs.push((format!("{:032x}", 0xb001), same.clone()));
    reqs.push((format!("{:032x}", 0xb002), same));
    let first = request("twice-other");
    let mut second = first.clone();
    second.title = "Judul lain untuk kunci yang sama".into();
    reqs.push((format!("{:032x}", 0xc001), first));
    reqs.push((format!("{:032x}", 0xc002), second));

    let tasks: Vec<_> = reqs
        .into_iter()
        .map(|(trace, r)| {
            let mut c = client.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let key = r.idempotency_key.clone();
                let mut req = authed(r, &token);
                req.metadata_mut().insert(
                    "traceparent",
                    format!("00-{trace}-00f067aa0ba902b7-01").parse().unwrap(),
                );
                (
                    key,
                    trace,
                    c.submit_report(req).await.map(tonic::Response::into_inner),
                )
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }

    let db = Database::connect(env.db_url.clone()).await.unwrap();
    let q = |sql: String| Statement::from_string(DbBackend::Postgres, sql);
    let mut accepted = std::collections::HashMap::new();
    for (key, trace, answer) in &answers {
        if key.starts_with("twice-") {
            continue;
        }
        let a = answer.as_ref().unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert!(!a.replayed, "{key}");
        // Each answer names its own stored report, written under its own request's trace, with
        // its own event.
        let row = db
            .query_one_raw(q(format!(
                "SELECT tracking_id, trace_id, title, reporter_ref::text FROM intake.reports \
                 WHERE id = '{}'",
                a.report_id
            )))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key}: no report row"));
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), a.tracking_id);
        assert_eq!(
            row.try_get_by_index::<Option<String>>(1).unwrap().as_deref(),
            Some(trace.as_str())
        );
        let i: u32 = key.trim_start_matches("together-").parse().unwrap();
        assert_eq!(
            row.try_get_by_index::<String>(2).unwrap(),
            format!("Permohonan data nomor {i}")
        );
        let reporter_ref: String = row.try_get_by_index(3).unwrap();
        let event = db
            .query_one_raw(q(format!(
                "SELECT traceparent FROM intake.outbox WHERE position('{}' in encode(payload, 'escape')) > 0",
                a.report_id
            )))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key}: no event"));
        let traceparent: Option<String> = event.try_get_by_index(0).unwrap();
        assert!(
            traceparent.as_deref().is_some_and(|t| t.contains(trace.as_str())),
            "{key}: event's trace {traceparent:?}"
        );
        // The identity went in with its own report, sealed to its own pseudonym.
        let identity = db
            .query_one_raw(q(format!(
                "SELECT nonce, ciphertext FROM intake.identities WHERE reporter_ref = '{reporter_ref}'"
            )))
            .await
            .unwrap();
        if i.is_multiple_of(3) {
            assert!(
                identity.is_none(),
                "{key}: anonymous without contact has no identity row"
            );
        } else {
            let identity = identity.unwrap_or_else(|| panic!("{key}: no identity"));
            let opened = cipher
                .open(
                    reporter_ref.parse().unwrap(),
                    &identity.try_get_by_index::<Vec<u8>>(0).unwrap(),
                    &identity.try_get_by_index::<Vec<u8>>(1).unwrap(),
                )
                .unwrap();
            assert_eq!(opened.name, "Rahmawati Intake");
        }
        accepted.insert(a.report_id.clone(), key.clone());
    }
    assert_eq!(accepted.len(), 40);

    let twice = |k: &str| {
        answers
            .iter()
            .filter(|(key, ..)| key == k)
            .map(|(_, _, a)| a)
            .collect::<Vec<_>>()
    };
    let same: Vec<_> = twice("twice-same")
        .into_iter()
        .map(|a| a.as_ref().unwrap())
        .collect();
    assert_eq!(same[0].report_id, same[1].report_id);
    assert_eq!(same[0].tracking_id, same[1].tracking_id);
    assert_eq!(
        same.iter().filter(|a| a.replayed).count(),
        1,
        "exactly one replay"
    );
    let other = twice("twice-other");
    assert_eq!(other.iter().filter(|a| a.is_ok()).count(), 1);
    let refused = other.iter().find_map(|a| a.as_ref().err()).unwrap();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        lapor_platform::status::violated_fields(refused),
        ["idempotency_key"]
    );

    // Nothing more and nothing less was written: 42 reports, one event each, an identity for
    // each one with contact.
    let count = |sql: &str| {
        let db = &db;
        let sql = sql.to_owned();
        async move {
            db.query_one_raw(q(sql))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap()
        }
    };
    assert_eq!(count("SELECT count(*) FROM intake.reports").await, 42);
    assert_eq!(count("SELECT count(*) FROM intake.outbox").await, 42);
    assert_eq!(
        count("SELECT count(DISTINCT event_id) FROM intake.outbox").await,
        42
    );
    assert_eq!(count("SELECT count(*) FROM intake.identities").await, 42 - 14);
    db.close().await.unwrap();
    // Submissions that waited together were written by one statement per table.
    for table in ["intake.reports", "intake.outbox", "intake.identities"] {
        assert!(
            env.most_rows_of_one_statement(table).await > 1,
            "{table}: every row written on its own"
        );
    }
    svc.stop().await;
}

/// Status events arriving together: one statement sets every report's status, each report takes
/// its newest event's, and an event about a report intake does not know is set aside without
/// holding up the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_events_arriving_together_are_applied_at_once_and_the_newest_wins() {
    use lapor_domain::events::Event;
    use lapor_events::{codec, subjects};
    let env = TestEnv::new().await.unwrap();
    let cfg = || Config {
        common: env.common("intake"),
        ..Config::default()
    };
    let svc = start(cfg()).await;
    let token = env.token("front", Role::Service, None);
    let mut c = IntakeServiceClient::connect(svc.addr.clone()).await.unwrap();
    // One at a time: each report row written by its own transaction.
    let mut reports = Vec::new();
    for i in 0..6 {
        let r = c
            .submit_report(authed(request(&format!("status-{i}")), &token))
            .await
            .unwrap()
            .into_inner();
        reports.push(r);
    }
    svc.stop().await;

    let dispatched_at = |r: &pi::SubmitReportResponse, minutes: i64| {
        let submitted = codec::from_ts(r.submitted_at.as_ref()).unwrap();
        let at = submitted + chrono::Duration::minutes(minutes);
        let mut e = lapor_domain::fixtures::dispatched(
            &lapor_domain::fixtures::submitted(lapor_domain::ReportKind::Pengaduan, "", submitted),
            "dinas-pupr",
            at,
        );
        if let Event::ReportDispatched(d) = &mut e.event {
            d.report_id = r.report_id.parse().unwrap();
        }
        e.occurred_at = at;
        e
    };
    // While intake is down: each report dispatched 10 minutes after submission, then an older
    // dispatch of the first one (5 minutes) that must not win.
    for (i, r) in reports.iter().enumerate() {
        env.publish(
            subjects::REPORT_DISPATCHED,
            &format!("d{i}"),
            codec::encode(&dispatched_at(r, 10)),
        )
        .await;
    }
    env.publish(
        subjects::REPORT_DISPATCHED,
        "d-old",
        codec::encode(&dispatched_at(&reports[0], 5)),
    )
    .await;
    let svc = start(cfg()).await;

    let db = Database::connect(env.db_url.clone()).await.unwrap();
    let q = |sql: String| Statement::from_string(DbBackend::Postgres, sql);
    let rows = lapor_testkit::eventually(
        "all six dispatched",
        std::time::Duration::from_secs(20),
        || async {
            let rows = db
                .query_all_raw(q("SELECT id::text, status, status_at FROM intake.reports".into()))
                .await
                .ok()?;
            rows.iter()
                .all(|r| r.try_get_by_index::<String>(1).ok().as_deref() == Some("DISPATCHED"))
                .then_some(rows)
        },
    )
    .await;
    for row in &rows {
        let id: String = row.try_get_by_index(0).unwrap();
        let r = reports.iter().find(|r| r.report_id == id).unwrap();
        let at: chrono::DateTime<chrono::Utc> = row.try_get_by_index(2).unwrap();
        assert_eq!(
            at.timestamp_micros(),
            dispatched_at(r, 10).occurred_at.timestamp_micros(),
            "{id}: the newest dispatch's time"
        );
    }
    assert!(
        env.most_rows_of_one_statement("intake.reports").await > 1,
        "each report's status set by a statement of its own"
    );

    // A dispatch of a report intake never saw is dead-lettered; the next event still applies.
    let mut unknown = dispatched_at(&reports[1], 20);
    if let Event::ReportDispatched(d) = &mut unknown.event {
        d.report_id = lapor_domain::ReportId::from_uuid(uuid::Uuid::now_v7());
    }
    env.publish(subjects::REPORT_DISPATCHED, "d-unknown", codec::encode(&unknown))
        .await;
    env.publish(
        subjects::REPORT_DISPATCHED,
        "d-late",
        codec::encode(&dispatched_at(&reports[2], 30)),
    )
    .await;
    let reason = lapor_testkit::eventually("dead-lettered", std::time::Duration::from_secs(20), || async {
        let row = db
            .query_one_raw(q("SELECT msg_id || ' ' || reason FROM intake.dead_letters".into()))
            .await
            .ok()??;
        row.try_get_by_index::<String>(0).ok()
    })
    .await;
    assert!(
        reason.starts_with("d-unknown ") && reason.contains("no report"),
        "{reason}"
    );
    lapor_testkit::eventually(
        "the later dispatch applied",
        std::time::Duration::from_secs(20),
        || async {
            let row = db
                .query_one_raw(q(format!(
                    "SELECT status_at FROM intake.reports WHERE id = '{}'",
                    reports[2].report_id
                )))
                .await
                .ok()??;
            let at: chrono::DateTime<chrono::Utc> = row.try_get_by_index(0).ok()?;
            (at.timestamp_micros() == dispatched_at(&reports[2], 30).occurred_at.timestamp_micros())
                .then_some(())
        },
    )
    .await;
    db.close().await.unwrap();
    svc.stop().await;
}

/// On PostgreSQL a lone submission's report, sealed identity and `ReportSubmitted` event are
/// written by one statement, committed on its own (one round trip, not BEGIN, three INSERTs and
/// COMMIT); the same key sent again still gets the first answer and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_submission_is_written_by_one_statement() {
    let env = TestEnv::new().await.unwrap();
    let svc = start(Config {
        common: env.common("intake"),
        ..Config::default()
    })
    .await;
    let token = env.token("front", Role::Service, None);
    let mut client = IntakeServiceClient::new(channel(&svc.addr).await);
    let first = client
        .submit_report(authed(request("lone"), &token))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .submit_report(authed(request("lone"), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.report_id, again.report_id,
        "the retry is answered from the first"
    );
    svc.stop().await;
    let db = Database::connect(&env.db_url).await.unwrap();
    // The row versions the statement wrote: the same transaction and the same command.
    let written = texts(
        &db,
        "SELECT 'report ' || xmin::text || ':' || cmin::text FROM intake.reports \
         UNION ALL SELECT 'identity ' || xmin::text || ':' || cmin::text FROM intake.identities",
    )
    .await;
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(
        written[0].trim_start_matches("report "),
        written[1].trim_start_matches("identity "),
        "{written:?}"
    );
    assert_eq!(
        texts(&db, "SELECT event_type FROM intake.outbox").await,
        ["ReportSubmitted"]
    );
    db.close().await.unwrap();
}
