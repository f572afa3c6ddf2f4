//! Integration suite of lapor-events against real PostgreSQL and NATS JetStream: the outbox
//! relay, the idempotent consumer, dead letters, and the golden wire samples.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use lapor_domain::content::{Channel, Location, Privacy, ReportContent, ReportKind};
use lapor_domain::events::{
    AttachmentAdded, CalendarChanged, CaseAssigned, CaseClosed, CaseFollowedUp, CaseInfoRequested,
    CaseNoteAdded, CaseOpened, CaseRated, CaseRef, CaseReplied, CaseTransferRequested, DeadlineRef, Envelope,
    Event, OmbudsmanRequested, PublicNameChanged, ReportArchived, ReportDeclaredNotAuthorized,
    ReportDispatched, ReportHoldCompleted, ReportPutOnHold, ReportSubmitted, ReportSupported, ReportVerified,
    SlaBreached, SlaEscalated, SlaWarning,
};
use lapor_domain::lifecycle::{Closer, Replier};
use lapor_domain::{CaseId, EventId, ReportId, ReporterRef};
use lapor_events::consumer::ConsumerSpec;
use lapor_events::entities::{dead_letter, outbox};
use lapor_events::migration::EventTables;
use lapor_events::{BatchError, BatchItem, Bus, Handler, HandlerError, Relay, codec, enqueue, subjects};
use lapor_testkit::{TestEnv, eventually};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, TransactionTrait};
use sea_orm_migration::prelude::*;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(lapor_events::calendar::CalendarTable),
            Box::new(lapor_events::migration::OutboxUnsentIndex),
        ]
    }
}

fn content() -> ReportContent {
    ReportContent {
        kind: ReportKind::Pengaduan,
        title: "Sampah menumpuk".into(),
        body: "Sampah di TPS Jl. Awang Long tidak diangkut selama seminggu.".into(),
        category: Some("lingkungan-hidup.sampah".parse().unwrap()),
        incident_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 20),
        location: Some(Location {
            text: "TPS Jl. Awang Long".into(),
            point: Some((0.1372, 117.5)),
            kecamatan: "Bontang Selatan".into(),
            kelurahan: "Berbas Tengah".into(),
        }),
        privacy: Privacy {
            anonim: true,
            rahasia: false,
        },
    }
}

fn samples() -> Vec<(&'static str, Envelope)> {
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 2, 30, 0).unwrap();
    let id = |n: u128| Uuid::from_u128(n);
    let report = ReportId::from_uuid(id(1));
    let reporter = ReporterRef::from_uuid(id(2));
    let mut v = vec![
        (
            "report_submitted",
            Envelope {
                id: EventId::from_uuid(id(10)),
                occurred_at: t,
                event: Event::ReportSubmitted(ReportSubmitted {
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    content: content(),
                    channel: Channel::Mobile,
                    reporter_ref: reporter,
                    submitted_at: t,
                    access_token_hash: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
                        .into(),
                }),
            },
        ),
        (
            "report_dispatched",
            Envelope {
                id: EventId::from_uuid(id(11)),
                occurred_at: t,
                event: Event::ReportDispatched(ReportDispatched {
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    opd_id: "dlh".parse().unwrap(),
                    content: content(),
                    reporter_ref: reporter,
                    submitted_at: t,
                    dispatched_at: t + chrono::Duration::minutes(5),
                    rule_id: Some("r-lingkungan".into()),
                    dispatched_by: None,
                }),
            },
        ),
        (
            "case_opened",
            Envelope {
                id: EventId::from_uuid(id(12)),
                occurred_at: t,
                event: Event::CaseOpened(CaseOpened {
                    case_id: CaseId::from_uuid(id(3)),
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    opd_id: "dlh".parse().unwrap(),
                    kind: ReportKind::Pengaduan,
                    reporter_ref: reporter,
                    opened_at: t,
                }),
            },
        ),
        (
            "report_verified",
            Envelope {
                id: EventId::from_uuid(id(13)),
                occurred_at: t,
                event: Event::ReportVerified(ReportVerified {
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    kind: ReportKind::Pengaduan,
                    needs_examination: true,
                    category: "lingkungan-hidup.sampah".parse().unwrap(),
                    privacy: Privacy {
                        anonim: true,
                        rahasia: true,
                    },
                    title: "Sampah tidak diangkut di TPS Awang Long".into(),
                    reporter_ref: reporter,
                    verified_at: t,
                    verified_by: "operator-1".into(),
                }),
            },
        ),
        (
            "report_put_on_hold",
            Envelope {
                id: EventId::from_uuid(id(14)),
                occurred_at: t,
                event: Event::ReportPutOnHold(ReportPutOnHold {
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    reason: "Mohon sebutkan lokasi TPS yang tepat".into(),
                    reporter_ref: reporter,
                    held_at: t,
                    held_by: "operator-1".into(),
                }),
            },
        ),
        (
            "report_declared_not_authorized",
            Envelope {
                id: EventId::from_uuid(id(15)),
                occurred_at: t,
                event: Event::ReportDeclaredNotAuthorized(ReportDeclaredNotAuthorized {
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    reason: "Kewenangan Pemerintah Provinsi Kalimantan Timur".into(),
                    reporter_ref: reporter,
                    declared_at: t,
                    declared_by: "operator-1".into(),
                }),
            },
        ),
        (
            "report_archived",
            Envelope {
                id: EventId::from_uuid(id(16)),
                occurred_at: t,
                event: Event::ReportArchived(ReportArchived {
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    reason_code: "terlalu-umum".into(),
                    reason: "Terlalu umum atau tidak jelas".into(),
                    reporter_ref: reporter,
                    archived_at: t,
                    archived_by: "operator-1".into(),
                    duplicate_of: None,
                }),
            },
        ),
        (
            "case_transfer_requested",
            Envelope {
                id: EventId::from_uuid(id(17)),
                occurred_at: t,
                event: Event::CaseTransferRequested(CaseTransferRequested {
                    case_id: CaseId::from_uuid(id(3)),
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    opd_id: "dlh".parse().unwrap(),
                    reason: "Sampah TPS kewenangan Perumda".into(),
                    requested_at: t,
                    requested_by: "pj-dlh".into(),
                }),
            },
        ),
        (
            "report_hold_completed",
            Envelope {
                id: EventId::from_uuid(id(18)),
                occurred_at: t,
                event: Event::ReportHoldCompleted(ReportHoldCompleted {
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    addition: "Lokasi tepatnya di TPS belakang pasar".into(),
                    held_at: t,
                    completed_at: t + chrono::Duration::days(3),
                    reporter_ref: reporter,
                }),
            },
        ),
        (
            "case_followed_up",
            Envelope {
                id: EventId::from_uuid(id(19)),
                occurred_at: t,
                event: Event::CaseFollowedUp(CaseFollowedUp {
                    case_id: CaseId::from_uuid(id(3)),
                    report_id: report,
                    tracking_id: "7KQ2M9XD4A".parse().unwrap(),
                    opd_id: "dlh".parse().unwrap(),
                    follow_up_id: id(4),
                    text: "Petugas kebersihan dijadwalkan mengangkut sampah besok pagi".into(),
                    posted_at: t,
                    posted_by: "pj-dlh".into(),
                    reporter_ref: reporter,
                }),
            },
        ),
    ];
    let case = CaseRef {
        case_id: CaseId::from_uuid(id(3)),
        report_id: report,
        tracking_id: "7KQ2M9XD4A".parse().unwrap(),
        opd_id: "dlh".parse().unwrap(),
        reporter_ref: reporter,
    };
    let at = |n: u128, event: Event| Envelope {
        id: EventId::from_uuid(id(n)),
        occurred_at: t,
        event,
    };
    v.extend([
        (
            "case_assigned",
            at(
                20,
                Event::CaseAssigned(CaseAssigned {
                    case: case.clone(),
                    assignee: "staf-dlh-2".into(),
                    assigned_at: t,
                    assigned_by: "pj-dlh".into(),
                }),
            ),
        ),
        (
            "case_note_added",
            at(
                21,
                Event::CaseNoteAdded(CaseNoteAdded {
                    case: case.clone(),
                    entry_id: id(5),
                    added_at: t,
                    added_by: "pj-dlh".into(),
                }),
            ),
        ),
        (
            "case_info_requested",
            at(
                22,
                Event::CaseInfoRequested(CaseInfoRequested {
                    case: case.clone(),
                    entry_id: id(6),
                    question: "Di sisi jalan yang mana tepatnya?".into(),
                    requested_at: t,
                    requested_by: "pj-dlh".into(),
                }),
            ),
        ),
        (
            "case_replied",
            at(
                23,
                Event::CaseReplied(CaseReplied {
                    case: case.clone(),
                    entry_id: id(7),
                    by: Replier::Reporter,
                    replied_at: t + chrono::Duration::hours(2),
                    answers_info_request_at: Some(t),
                }),
            ),
        ),
        (
            "case_closed",
            at(
                24,
                Event::CaseClosed(CaseClosed {
                    case: case.clone(),
                    by: Closer::System,
                    closed_at: t + chrono::Duration::days(15),
                    last_follow_up_at: t,
                }),
            ),
        ),
        (
            "case_rated",
            at(
                25,
                Event::CaseRated(CaseRated {
                    case: case.clone(),
                    rating: 4,
                    comment: "Cepat ditangani".into(),
                    rated_at: t,
                }),
            ),
        ),
        (
            "ombudsman_requested",
            at(
                26,
                Event::OmbudsmanRequested(OmbudsmanRequested {
                    case: case.clone(),
                    consented_at: t + chrono::Duration::days(61),
                    submitted_at: t,
                }),
            ),
        ),
        (
            "attachment_added",
            at(
                27,
                Event::AttachmentAdded(AttachmentAdded {
                    case: case.clone(),
                    attachment_id: id(8),
                    content_type: "image/jpeg".into(),
                    size: 52_311,
                    public: true,
                    added_at: t,
                    added_by: "pj-dlh".into(),
                }),
            ),
        ),
        (
            "report_supported",
            at(
                28,
                Event::ReportSupported(ReportSupported {
                    case: case.clone(),
                    support_count: 12,
                    supported_at: t,
                }),
            ),
        ),
        (
            "public_name_changed",
            at(
                29,
                Event::PublicNameChanged(PublicNameChanged {
                    case: case.clone(),
                    shown_as: "Warga Berbas".into(),
                    changed_at: t,
                }),
            ),
        ),
    ]);
    let deadline = DeadlineRef {
        report_id: report,
        step: lapor_domain::Step::FirstFollowUp,
        span: 1,
        opd_id: Some("dlh".parse().unwrap()),
        due_at: t + chrono::Duration::days(7),
    };
    v.extend([
        (
            "sla_warning",
            at(
                30,
                Event::SlaWarning(SlaWarning {
                    deadline: deadline.clone(),
                    warned_at: t + chrono::Duration::days(6),
                }),
            ),
        ),
        (
            "sla_breached",
            at(
                31,
                Event::SlaBreached(SlaBreached {
                    deadline: deadline.clone(),
                    detected_at: t + chrono::Duration::days(7),
                    officials: vec!["pj-dlh".into(), "kepala-dlh".into()],
                    ledger_seq: 42,
                }),
            ),
        ),
        (
            "sla_escalated",
            at(
                32,
                Event::SlaEscalated(SlaEscalated {
                    deadline,
                    level: 2,
                    position: "head".into(),
                    officials: vec!["kepala-dlh".into()],
                    overdue_working_days: 3,
                    escalated_at: t + chrono::Duration::days(10),
                }),
            ),
        ),
        (
            "calendar_changed",
            at(
                40,
                Event::CalendarChanged(CalendarChanged {
                    version: 3,
                    calendar: lapor_domain::calendar::CalendarSpec {
                        holidays: vec![lapor_domain::calendar::Holiday {
                            date: chrono::NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
                            name: "Cuti bersama Natal".into(),
                            source: "SKB 3 Menteri 2026".into(),
                        }],
                        ..lapor_domain::calendar::CalendarSpec::default()
                    },
                    reason: "SKB cuti bersama".into(),
                    changed_by: "op-diskominfo".into(),
                }),
            ),
        ),
    ]);
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The wire format is pinned: every sample decodes from its stored bytes to the same event, and
/// encodes to the same bytes. `UPDATE_GOLDEN=1` rewrites the files after a deliberate change.
#[test]
fn golden_samples_decode_and_encode_identically() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (name, env) in samples() {
        let path = dir.join(format!("{name}.hex"));
        let bytes = codec::encode(&env);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, hex(&bytes) + "\n").unwrap();
        }
        let stored =
            unhex(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        assert_eq!(codec::decode(&stored).unwrap(), env, "{name} decodes");
        assert_eq!(bytes, stored, "{name} encodes to the golden bytes");
    }
}

#[test]
fn a_calendar_change_carrying_a_bad_calendar_is_refused() {
    use lapor_proto::events::v1::event_envelope::Payload;
    let (_, env) = samples()
        .into_iter()
        .find(|(n, _)| *n == "calendar_changed")
        .unwrap();
    for (field, spoil) in [
        (
            "time_zone",
            (|c| c.time_zone = "Mars/Olympus".into()) as fn(&mut lapor_proto::events::v1::CalendarChanged),
        ),
        ("holidays.date", |c| c.holidays[0].date = "2026-13-01".into()),
        ("office hours", |c| c.office_close = "07:00".into()),
        ("version", |c| c.version = 0),
    ] {
        let mut p = codec::to_proto(&env);
        let Some(Payload::CalendarChanged(c)) = &mut p.payload else {
            panic!("not a calendar change")
        };
        spoil(c);
        assert!(
            codec::decode(&prost::Message::encode_to_vec(&p)).is_err(),
            "a bad {field} is refused"
        );
    }
}

#[test]
fn garbage_and_unknown_versions_are_refused() {
    assert!(codec::decode(b"\xff\xff\xff").is_err());
    let mut p = codec::to_proto(&samples()[0].1);
    p.schema_version = 2;
    assert!(matches!(
        codec::decode(&prost::Message::encode_to_vec(&p)),
        Err(codec::DecodeError::Version(2))
    ));
    let mut p = codec::to_proto(&samples()[0].1);
    p.payload = None;
    assert!(codec::decode(&prost::Message::encode_to_vec(&p)).is_err());
}

async fn setup(schema: &str) -> (TestEnv, DatabaseConnection, Bus) {
    let env = TestEnv::new().await.unwrap();
    let common = env.common(schema);
    let db = lapor_platform::db::connect_and_migrate::<Migrator>(&common.database)
        .await
        .unwrap();
    let bus = Bus::connect(&common.nats, "events-it").await.unwrap();
    (env, db, bus)
}

fn fresh(mut env: Envelope) -> Envelope {
    env.id = EventId::from_uuid(Uuid::now_v7());
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_publishes_in_order_once_even_when_marking_sent_is_lost() {
    let (env, db, bus) = setup("relay").await;
    let sample = samples().remove(0).1;
    let mut ids = Vec::new();
    let txn = db.begin().await.unwrap();
    for _ in 0..20 {
        let e = fresh(sample.clone());
        ids.push(e.id.to_string());
        enqueue(&txn, &bus, &e).await.unwrap();
    }
    txn.commit().await.unwrap();
    let relay = Relay::new(db.clone(), bus.clone());
    assert_eq!(relay.drain().await.unwrap(), 20);
    assert_eq!(lapor_events::outbox::backlog(&db).await.unwrap(), 0);

    // Crash after publish, before marking sent: the rows are unsent again and get re-published;
    // JetStream's duplicate window drops every one of them.
    db.execute_unprepared("UPDATE outbox SET published_at = NULL")
        .await
        .unwrap();
    assert_eq!(relay.drain().await.unwrap(), 20);

    let js = async_nats::jetstream::new(env.nats().await.unwrap());
    let mut stream = js.get_stream(env.stream_name()).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, 20, "no duplicate in the stream");
    for (i, want) in ids.iter().enumerate() {
        let msg = stream.get_raw_message(i as u64 + 1).await.unwrap();
        assert_eq!(
            msg.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()),
            Some(want.clone())
        );
        assert_eq!(
            msg.subject.as_str(),
            format!("{}.{}", env.prefix, subjects::REPORT_SUBMITTED)
        );
        assert_eq!(codec::decode(&msg.payload).unwrap().id.to_string(), *want);
    }
    // A rolled-back transaction leaves nothing to publish.
    let txn = db.begin().await.unwrap();
    enqueue(&txn, &bus, &fresh(sample)).await.unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(relay.drain().await.unwrap(), 0);
    assert_eq!(outbox::Entity::find().all(&db).await.unwrap().len(), 20);
}

/// Counts applications; fails transiently for the first `fail_first` deliveries of each event, or
/// always when `fail_first` is `usize::MAX`.
struct Counting {
    applied: AtomicUsize,
    attempts: AtomicUsize,
    fail_first: usize,
}

impl Handler for Counting {
    async fn handle(&self, _txn: &DatabaseTransaction, _env: &Envelope) -> Result<(), HandlerError> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_first {
            return Err(HandlerError::Transient(format!(
                "dependency down (attempt {})",
                n + 1
            )));
        }
        self.applied.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn publish_raw(bus: &Bus, msg_id: &str, payload: Vec<u8>) {
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", msg_id);
    bus.js
        .publish_with_headers(
            bus.subjects.subject(subjects::REPORT_SUBMITTED),
            h,
            payload.into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
}

fn run_consumer(bus: &Bus, db: &DatabaseConnection, h: Arc<Counting>) -> CancellationToken {
    let cancel = CancellationToken::new();
    let spec = ConsumerSpec {
        durable: "it-consumer".into(),
        filter_suffix: subjects::REPORT_SUBMITTED,
    };
    tokio::spawn(lapor_events::consumer::run(
        bus.clone(),
        db.clone(),
        spec,
        h,
        Arc::new(tokio::sync::Notify::new()),
        cancel.clone(),
    ));
    cancel
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_apply_once_and_poison_goes_to_dead_letters_without_blocking() {
    let (_env, db, bus) = setup("consumer").await;
    let h = Arc::new(Counting {
        applied: AtomicUsize::new(0),
        attempts: AtomicUsize::new(0),
        fail_first: 0,
    });
    let cancel = run_consumer(&bus, &db, h.clone());
    let e = samples().remove(0).1;
    // The same event delivered three times (as after redeliveries past the duplicate window).
    for i in 0..3 {
        publish_raw(&bus, &format!("dup-{i}"), codec::encode(&e)).await;
    }
    publish_raw(&bus, "poison", b"not protobuf at all \xff\xfe".to_vec()).await;
    let other = fresh(e.clone());
    publish_raw(&bus, "after-poison", codec::encode(&other)).await;

    eventually("two events applied", Duration::from_secs(20), || async {
        (h.applied.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    let dead = eventually("one dead letter", Duration::from_secs(20), || async {
        let d = dead_letter::Entity::find().all(&db).await.ok()?;
        (d.len() == 1).then_some(d)
    })
    .await;
    assert_eq!(dead[0].msg_id.as_deref(), Some("poison"));
    assert!(dead[0].reason.contains("EventEnvelope"), "{}", dead[0].reason);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        h.applied.load(Ordering::SeqCst),
        2,
        "each event applied exactly once"
    );
    cancel.cancel();
}

/// The one statement that records a batch's event ids tells new ids from ids applied before and
/// from a second copy in the same batch, on PostgreSQL and on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_a_batch_of_ids_tells_new_from_seen_on_both_backends() {
    let (env, pg, _bus) = setup("record_ids").await;
    let dir = env.scratch_dir();
    let sqlite =
        lapor_platform::db::connect_and_migrate::<Migrator>(&lapor_platform::config::DatabaseConfig {
            url: format!("sqlite://{}/events.db?mode=rwc", dir.display()),
            ..Default::default()
        })
        .await
        .unwrap();
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for db in [&pg, &sqlite] {
        let txn = db.begin().await.unwrap();
        assert_eq!(
            lapor_events::consumer::record_ids(&txn, "c1", &[a, b])
                .await
                .unwrap(),
            [true, true]
        );
        assert_eq!(
            lapor_events::consumer::record_ids(&txn, "c1", &[b, c, c, a])
                .await
                .unwrap(),
            [false, true, false, false]
        );
        assert_eq!(
            lapor_events::consumer::record_ids(&txn, "c2", &[a])
                .await
                .unwrap(),
            [true],
            "per consumer"
        );
        txn.commit().await.unwrap();
    }
}

/// A batch records the ids of all its events in one statement (rows one statement inserted share
/// its command id, `cmin`), not one statement per event; redeliveries in it are still skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_records_its_event_ids_in_one_statement() {
    let (_env, db, bus) = setup("record_batch").await;
    let base = samples().remove(0).1;
    let events: Vec<Envelope> = (0..30).map(|_| fresh(base.clone())).collect();
    // Published before the consumer starts, so that they arrive in batches; two of them twice.
    for e in &events {
        publish_raw(&bus, &e.id.to_string(), codec::encode(e)).await;
    }
    publish_raw(&bus, "again-1", codec::encode(&events[4])).await;
    publish_raw(&bus, "again-2", codec::encode(&events[29])).await;
    let h = Arc::new(Counting {
        applied: AtomicUsize::new(0),
        attempts: AtomicUsize::new(0),
        fail_first: 0,
    });
    let cancel = run_consumer(&bus, &db, h.clone());
    let rows = eventually("30 ids recorded", Duration::from_secs(20), || async {
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT xmin::text AS x, cmin::text AS c FROM processed_events",
            ))
            .await
            .ok()?;
        (rows.len() == 30).then_some(rows)
    })
    .await;
    let mut statements: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for r in &rows {
        statements
            .entry(r.try_get("", "x").unwrap())
            .or_default()
            .insert(r.try_get("", "c").unwrap());
    }
    assert!(
        statements.values().all(|c| c.len() == 1),
        "one statement per transaction: {statements:?}"
    );
    assert!(
        statements.len() < 15,
        "30 events in {} transactions",
        statements.len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.applied.load(Ordering::SeqCst), 30, "each event applied once");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_then_dead_lettered_after_the_limit() {
    let (env, db, bus) = setup("retry").await;
    // Fails twice, then succeeds: applied once, nothing dead-lettered.
    let h = Arc::new(Counting {
        applied: AtomicUsize::new(0),
        attempts: AtomicUsize::new(0),
        fail_first: 2,
    });
    let cancel = run_consumer(&bus, &db, h.clone());
    publish_raw(&bus, "retry-1", codec::encode(&samples().remove(0).1)).await;
    eventually("applied after retries", Duration::from_secs(20), || async {
        (h.applied.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    assert_eq!(h.attempts.load(Ordering::SeqCst), 3);
    cancel.cancel();
    assert!(dead_letter::Entity::find().all(&db).await.unwrap().is_empty());
    drop(env);

    // Always failing: dead-lettered after max_deliver (5) deliveries, with the reason.
    let (_env, db, bus) = setup("retry2").await;
    let h = Arc::new(Counting {
        applied: AtomicUsize::new(0),
        attempts: AtomicUsize::new(0),
        fail_first: usize::MAX,
    });
    let cancel = run_consumer(&bus, &db, h.clone());
    publish_raw(&bus, "doomed", codec::encode(&samples().remove(0).1)).await;
    let dead = eventually("dead letter after the limit", Duration::from_secs(40), || async {
        let d = dead_letter::Entity::find().all(&db).await.ok()?;
        (d.len() == 1).then_some(d)
    })
    .await;
    assert_eq!(dead[0].deliveries, 5);
    assert!(
        dead[0].reason.contains("gave up after 5 deliveries"),
        "{}",
        dead[0].reason
    );
    assert_eq!(h.applied.load(Ordering::SeqCst), 0);
    cancel.cancel();
}

/// Writes an outbox row for each event it applies, then fails permanently for `poison` and
/// transiently on the first attempt of `flaky`: what a batch must undo for one event alone.
struct Writing {
    bus: Bus,
    poison: EventId,
    flaky: EventId,
    flaky_attempts: AtomicUsize,
    /// Times the handler ran for `poison`.
    poison_calls: AtomicUsize,
    transactions: std::sync::Mutex<std::collections::BTreeSet<i64>>,
}

impl Handler for Writing {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        if env.id == self.poison {
            self.poison_calls.fetch_add(1, Ordering::SeqCst);
        }
        let xid = txn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT txid_current()",
            ))
            .await?
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or_default();
        self.transactions.lock().unwrap().insert(xid);
        enqueue(txn, &self.bus, env).await?;
        if env.id == self.poison {
            return Err(HandlerError::Permanent("violates an invariant".into()));
        }
        if env.id == self.flaky && self.flaky_attempts.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(HandlerError::Transient("dependency down".into()));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_commits_together_and_a_failing_event_leaves_no_trace() {
    let (_env, db, bus) = setup("batch").await;
    let base = samples().remove(0).1;
    let events: Vec<Envelope> = (0..40).map(|_| fresh(base.clone())).collect();
    let (poison, flaky) = (events[7].id, events[23].id);
    // All published before the consumer starts: they arrive together and are applied in batches.
    for e in &events {
        publish_raw(&bus, &e.id.to_string(), codec::encode(e)).await;
    }
    // One of them twice more (redelivery past the duplicate window): applied once.
    publish_raw(&bus, "again", codec::encode(&events[3])).await;
    let h = Arc::new(Writing {
        bus: bus.clone(),
        poison,
        flaky,
        flaky_attempts: AtomicUsize::new(0),
        poison_calls: AtomicUsize::new(0),
        transactions: std::sync::Mutex::default(),
    });
    let cancel = CancellationToken::new();
    tokio::spawn(lapor_events::consumer::run(
        bus.clone(),
        db.clone(),
        ConsumerSpec {
            durable: "batch-consumer".into(),
            filter_suffix: subjects::REPORT_SUBMITTED,
        },
        h.clone(),
        Arc::new(tokio::sync::Notify::new()),
        cancel.clone(),
    ));
    let rows = eventually("39 events applied", Duration::from_secs(30), || async {
        let rows = outbox::Entity::find().all(&db).await.ok()?;
        (rows.len() == 39).then_some(rows)
    })
    .await;
    let written: std::collections::BTreeSet<Uuid> = rows.iter().map(|r| r.event_id).collect();
    let expected: std::collections::BTreeSet<Uuid> = events
        .iter()
        .filter(|e| e.id != poison)
        .map(|e| e.id.as_uuid())
        .collect();
    assert_eq!(written, expected, "every event but the poisoned one, each once");
    // The handler saw the top-level transaction id (the same inside each event's savepoint).
    let transactions = h.transactions.lock().unwrap().len();
    assert!(
        transactions < 20,
        "40 events handled in {transactions} transactions"
    );
    let dead = eventually(
        "the poisoned event dead-lettered",
        Duration::from_secs(20),
        || async {
            let d = dead_letter::Entity::find().all(&db).await.ok()?;
            (d.len() == 1).then_some(d)
        },
    )
    .await;
    assert_eq!(dead[0].msg_id.as_deref(), Some(poison.to_string().as_str()));
    assert!(
        dead[0].reason.contains("violates an invariant"),
        "{}",
        dead[0].reason
    );
    assert_eq!(
        h.flaky_attempts.load(Ordering::SeqCst),
        2,
        "the flaky event retried once"
    );
    // The batch runs optimistically without savepoints and, at the poisoned event, again with a
    // savepoint per event: the failed event itself is not run a second time in that delivery.
    assert_eq!(
        h.poison_calls.load(Ordering::SeqCst),
        1,
        "the poisoned event handled once"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        outbox::Entity::find().all(&db).await.unwrap().len(),
        39,
        "nothing more"
    );
    cancel.cancel();
}

/// Takes whole batches: writes one outbox row per event with one `handle_batch` call, and fails
/// the whole batch (naming no event) when it holds `poison`; event by event, `poison` fails
/// permanently.
struct Sharing {
    bus: Bus,
    poison: EventId,
    /// The events of each `handle_batch` call.
    batches: std::sync::Mutex<Vec<Vec<EventId>>>,
    /// Events applied one by one (after a failed batch).
    singles: std::sync::Mutex<Vec<EventId>>,
}

impl Handler for Sharing {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        self.singles.lock().unwrap().push(env.id);
        if env.id == self.poison {
            return Err(HandlerError::Permanent("violates an invariant".into()));
        }
        enqueue(txn, &self.bus, env).await?;
        Ok(())
    }

    async fn handle_batch(
        &self,
        txn: &DatabaseTransaction,
        items: &[BatchItem<'_>],
    ) -> Result<(), BatchError> {
        self.batches
            .lock()
            .unwrap()
            .push(items.iter().map(|i| i.env.id).collect());
        for item in items {
            enqueue(txn, &self.bus, item.env)
                .await
                .map_err(BatchError::whole)?;
        }
        if items.iter().any(|i| i.env.id == self.poison) {
            // After writing: the rollback must take the batch's rows with it.
            return Err(BatchError::whole(HandlerError::Transient(
                "a shared statement failed".into(),
            )));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_takes_whole_batches_and_a_failed_batch_is_applied_event_by_event() {
    let (_env, db, bus) = setup("sharing").await;
    let base = samples().remove(0).1;
    let events: Vec<Envelope> = (0..40).map(|_| fresh(base.clone())).collect();
    let poison = events[17].id;
    for e in &events {
        publish_raw(&bus, &e.id.to_string(), codec::encode(e)).await;
    }
    // A redelivery (past the duplicate window) of one event: never handed to the handler again.
    publish_raw(&bus, "again", codec::encode(&events[2])).await;
    let h = Arc::new(Sharing {
        bus: bus.clone(),
        poison,
        batches: std::sync::Mutex::default(),
        singles: std::sync::Mutex::default(),
    });
    let cancel = CancellationToken::new();
    tokio::spawn(lapor_events::consumer::run(
        bus.clone(),
        db.clone(),
        ConsumerSpec {
            durable: "sharing-consumer".into(),
            filter_suffix: subjects::REPORT_SUBMITTED,
        },
        h.clone(),
        Arc::new(tokio::sync::Notify::new()),
        cancel.clone(),
    ));
    eventually(
        "the poisoned event dead-lettered",
        Duration::from_secs(30),
        || async {
            let d = dead_letter::Entity::find().all(&db).await.ok()?;
            (d.len() == 1).then_some(())
        },
    )
    .await;
    let rows = eventually("39 events applied", Duration::from_secs(30), || async {
        let rows = outbox::Entity::find().all(&db).await.ok()?;
        (rows.len() == 39).then_some(rows)
    })
    .await;
    cancel.cancel();
    let written: std::collections::BTreeSet<Uuid> = rows.iter().map(|r| r.event_id).collect();
    let expected: std::collections::BTreeSet<Uuid> = events
        .iter()
        .filter(|e| e.id != poison)
        .map(|e| e.id.as_uuid())
        .collect();
    assert_eq!(written, expected, "every event but the poisoned one, each once");
    let batches = h.batches.lock().unwrap().clone();
    let singles = h.singles.lock().unwrap().clone();
    assert!(
        batches.iter().any(|b| b.len() > 1),
        "events that arrived together were handed over together: {:?}",
        batches.iter().map(Vec::len).collect::<Vec<_>>()
    );
    // Only the failed batch was applied again, event by event; every other event was handled
    // exactly once (in a batch, or on its own when it arrived alone), and the redelivered copy
    // never reached the handler.
    let failed: Vec<EventId> = batches
        .iter()
        .filter(|b| b.contains(&poison))
        .flatten()
        .copied()
        .collect();
    assert!(
        batches.iter().filter(|b| b.contains(&poison)).count() <= 1,
        "the poisoned batch failed once: {batches:?}"
    );
    for e in &events {
        let in_batches = batches.iter().flatten().filter(|x| **x == e.id).count();
        let alone = singles.iter().filter(|x| **x == e.id).count();
        let expected = if failed.contains(&e.id) { 2 } else { 1 };
        assert_eq!(
            in_batches + alone,
            expected,
            "event {} handled {in_batches} times in a batch and {alone} on its own",
            e.id
        );
    }
}

/// The relay's query (unsent rows in `seq` order) reads the partial index of unsent rows, not
/// every published row before them (what made the relay slow down as the outbox grew).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_query_reads_only_unsent_rows() {
    let (_env, db, bus) = setup("outbox_index").await;
    db.execute_unprepared(
        "INSERT INTO outbox (event_id, event_type, subject, payload, created_at, published_at) \
         SELECT gen_random_uuid(), 'ReportSubmitted', 's', '\\x00', now(), now() \
         FROM generate_series(1, 20000)",
    )
    .await
    .unwrap();
    let sample = samples().remove(0).1;
    for _ in 0..3 {
        enqueue(&db, &bus, &fresh(sample.clone())).await.unwrap();
    }
    db.execute_unprepared("ANALYZE outbox").await.unwrap();
    let plan = lapor_testkit::explain_analyze(
        &db,
        "SELECT * FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 256",
    )
    .await;
    let text = plan.to_string();
    assert!(text.contains("\"Index Name\":\"outbox_unsent\""), "{text}");
    assert!(
        !text.contains("idx-outbox-published_at"),
        "the old index is gone: {text}"
    );
    assert!(text.contains("\"Actual Rows\":3"), "{text}");
    assert_eq!(lapor_events::outbox::backlog(&db).await.unwrap(), 3);
}

fn calendar_version(version: u64, holiday: Option<(u32, u32)>) -> Envelope {
    let spec = lapor_domain::calendar::CalendarSpec {
        holidays: holiday
            .map(|(m, d)| lapor_domain::calendar::Holiday {
                date: chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap(),
                name: format!("libur versi {version}"),
                source: "uji".into(),
            })
            .into_iter()
            .collect(),
        ..lapor_domain::calendar::CalendarSpec::default()
    };
    Envelope {
        id: EventId::from_uuid(Uuid::now_v7()),
        occurred_at: Utc::now(),
        event: Event::CalendarChanged(CalendarChanged {
            version,
            calendar: spec,
            reason: format!("versi {version}"),
            changed_by: "op".into(),
        }),
    }
}

/// The newest announced calendar wins whatever the delivery order and however often a version
/// arrives; a restart keeps it; another replica picks it up from the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_calendar_version_wins_in_any_order_and_survives_a_restart() {
    use lapor_events::calendar::{CalendarFollower, LiveCalendar};
    let (env, db, _bus) = setup("calendar_it").await;
    let config = lapor_domain::calendar::CalendarSpec::default();
    let live = Arc::new(LiveCalendar::load(&db, &config).await.unwrap());
    assert_eq!(live.version(), 0, "nothing stored: the configuration's calendar");
    // Another replica, started before any announcement.
    let other = LiveCalendar::load(&db, &config).await.unwrap();
    let follower = CalendarFollower { live: live.clone() };
    // Fri 25 Dec 2026 is a holiday in version 3 only; version 2 has Thu 24 Dec.
    let (v2, v3) = (
        calendar_version(2, Some((12, 24))),
        calendar_version(3, Some((12, 25))),
    );
    for e in [&v3, &v2, &v3, &v2] {
        let txn = db.begin().await.unwrap();
        follower.handle(&txn, e).await.unwrap();
        txn.commit().await.unwrap();
    }
    let is_holiday = |l: &LiveCalendar, d: u32| {
        !l.get()
            .is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 12, d).unwrap())
    };
    assert_eq!(live.version(), 3);
    assert!(is_holiday(&live, 25) && !is_holiday(&live, 24));
    // The other replica sees it at its next refresh; a restart loads it.
    assert!(other.refresh(&db).await.unwrap());
    assert_eq!(other.version(), 3);
    assert!(is_holiday(&other, 25));
    assert!(!other.refresh(&db).await.unwrap(), "nothing newer");
    let restarted = LiveCalendar::load(&db, &config).await.unwrap();
    assert_eq!(restarted.version(), 3);
    assert!(is_holiday(&restarted, 25) && !is_holiday(&restarted, 24));
    drop(env);
}

/// A stream the server refuses for a moment is created once the refusal ends (the service starts);
/// a lasting refusal is returned after the last attempt. The refusal here: another stream holds the
/// subjects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_the_stream_is_tried_again_while_the_server_refuses() {
    let js = async_nats::jetstream::new(async_nats::connect(lapor_testkit::nats_url()).await.unwrap());
    let block = |env: &TestEnv| async_nats::jetstream::stream::Config {
        name: format!("{}_BLOCK", env.prefix),
        subjects: vec![subjects::Subjects::new(&env.prefix).unwrap().all()],
        storage: async_nats::jetstream::stream::StorageType::Memory,
        ..Default::default()
    };
    // For a moment: the blocking stream goes after half a second.
    let env = TestEnv::new().await.unwrap();
    let common = env.common("bus_retry");
    js.create_stream(block(&env)).await.unwrap();
    let unblock = {
        let js = js.clone();
        let name = block(&env).name;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            js.delete_stream(&name).await.unwrap();
        })
    };
    let bus = Bus::connect(&common.nats, "events-it").await.unwrap();
    unblock.await.unwrap();
    let name = bus.subjects.stream_name();
    let mut stream = js.get_stream(&name).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().config.subjects,
        vec![bus.subjects.all()]
    );
    // For good: the error comes back, after every attempt.
    let env = TestEnv::new().await.unwrap();
    let common = env.common("bus_retry");
    js.create_stream(block(&env)).await.unwrap();
    let err = Bus::connect(&common.nats, "events-it")
        .await
        .unwrap_err()
        .to_string();
    js.delete_stream(&block(&env).name).await.unwrap();
    assert!(
        err.contains(&format!("({} attempts)", lapor_events::bus::STREAM_ATTEMPTS)),
        "{err}"
    );
}
