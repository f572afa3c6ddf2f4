//! opd-case's integration suite against real PostgreSQL and NATS: cases opened from dispatch
//! events; the authorization matrix of every RPC by role and OPD; the reporter dialogue; the
//! OPD's clock stopping for a question; auto-close on a settable clock across holidays and a
//! restart; what the reporter and the public may see; attachments.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use lapor_domain::calendar::{CalendarSpec, Holiday};
use lapor_domain::events::{Envelope, Event};
use lapor_domain::lifecycle::{Closer, Replier};
use lapor_domain::{Calendar, ReportKind, fixtures};
use lapor_events::{codec, subjects};
use lapor_opd_case::{AutoCloser, Config, Service};
use lapor_platform::Role;
use lapor_proto::cases::v1::{
    self as pc, case_service_client::CaseServiceClient, public_feed_service_client::PublicFeedServiceClient,
    reporter_case_service_client::ReporterCaseServiceClient,
};
use lapor_proto::common::v1::ReportStatus;
use lapor_testkit::{Spawned, TestEnv, authed, eventually};
use tonic::transport::Channel;
use tonic::{Code, Request};

/// A settable clock shared with the service.
#[derive(Clone)]
struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    fn new(t: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(t)))
    }
    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Bontang's calendar with the year-end holidays the auto-close test crosses.
fn calendar_spec() -> CalendarSpec {
    let h = |m: u32, d: u32, y: i32, name: &str| Holiday {
        date: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
        name: name.into(),
        source: "test".into(),
    };
    CalendarSpec {
        holidays: vec![
            h(12, 24, 2026, "Cuti bersama Natal"),
            h(12, 25, 2026, "Hari Raya Natal"),
            h(1, 1, 2027, "Tahun Baru 2027 Masehi"),
        ],
        ..CalendarSpec::default()
    }
}

/// 10:00 WITA on a date.
fn wita(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Makassar
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

struct Running {
    svc: Spawned,
    closer: AutoCloser,
}

async fn start_with(env: &TestEnv, clock: &TestClock) -> Running {
    start_configured(env, clock, |_| {}).await
}

async fn start_configured(env: &TestEnv, clock: &TestClock, tweak: impl FnOnce(&mut Config)) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config {
        common: env.common("opd_case"),
        calendar: calendar_spec(),
        // Sweeps in these tests run on demand (one also runs at start).
        auto_close_interval_secs: 3600,
        ..Config::default()
    };
    config.attachments.max_bytes = 256 * 1024;
    config.attachments.store.path = env.scratch_dir().join("blobs").display().to_string();
    tweak(&mut config);
    let c = clock.clone();
    let svc = Service::build_with_clock(config, listener, Arc::new(move || c.now()))
        .await
        .unwrap();
    let closer = svc.auto_closer();
    Running {
        svc: Spawned::start(addr, |stop| svc.run_until(stop)),
        closer,
    }
}

async fn start(env: &TestEnv) -> Running {
    start_with(env, &TestClock::new(Utc::now())).await
}

fn req<T>(m: T, token: &str) -> Request<T> {
    if token.is_empty() {
        Request::new(m)
    } else {
        authed(m, token)
    }
}

fn code<T>(r: Result<T, tonic::Status>) -> Code {
    r.map_or_else(|e| e.code(), |_| Code::Ok)
}

fn cred(tracking: &str, token: &str) -> Option<pc::ReporterCredential> {
    Some(pc::ReporterCredential {
        tracking_id: tracking.into(),
        access_token: token.into(),
    })
}

/// A submitted report whose reporter holds `token`, dispatched to `opd` at `at`; returns the
/// tracking id and the case id once the case is open.
async fn open_case(
    env: &TestEnv,
    ch: &Channel,
    opd: &str,
    anonim: bool,
    rahasia: bool,
    token: &str,
    at: DateTime<Utc>,
) -> (String, String) {
    open_titled_case(env, ch, opd, anonim, rahasia, token, at, None).await
}

#[allow(clippy::too_many_arguments)]
async fn open_titled_case(
    env: &TestEnv,
    ch: &Channel,
    opd: &str,
    anonim: bool,
    rahasia: bool,
    token: &str,
    at: DateTime<Utc>,
    title: Option<&str>,
) -> (String, String) {
    let mut s = fixtures::submitted(ReportKind::Pengaduan, "lingkungan-hidup.sampah", at);
    let Event::ReportSubmitted(e) = &mut s.event else {
        panic!()
    };
    if let Some(t) = title {
        e.content.title = t.into();
    }
    e.access_token_hash = lapor_platform::reporter::token_hash(token);
    e.content.privacy.anonim = anonim;
    e.content.privacy.rahasia = rahasia;
    let tracking = e.tracking_id.to_string();
    let d = fixtures::dispatched(&s, opd, at);
    env.publish(subjects::REPORT_SUBMITTED, &s.id.to_string(), codec::encode(&s))
        .await;
    env.publish(subjects::REPORT_DISPATCHED, &d.id.to_string(), codec::encode(&d))
        .await;
    let sup = env.token("sekda", Role::Supervisor, None);
    let c = CaseServiceClient::new(ch.clone());
    let case_id = eventually("the case", Duration::from_secs(20), || {
        let mut c = c.clone();
        let sup = sup.clone();
        let tracking = tracking.clone();
        async move {
            let r = c
                .list_cases(authed(
                    pc::ListCasesRequest {
                        tracking_id: tracking,
                        ..Default::default()
                    },
                    &sup,
                ))
                .await
                .ok()?
                .into_inner();
            r.cases.first().map(|x| x.case_id.clone())
        }
    })
    .await;
    // The credential arrives on its own consumer; wait until the reporter can use it.
    let r = ReporterCaseServiceClient::new(ch.clone());
    let front = env.token("portal", Role::Reporter, None);
    eventually("the reporter credential", Duration::from_secs(20), || {
        let mut r = r.clone();
        let front = front.clone();
        let c = cred(&tracking, token);
        async move {
            r.get_timeline(authed(pc::GetTimelineRequest { credential: c }, &front))
                .await
                .ok()
        }
    })
    .await;
    (tracking, case_id)
}

async fn events_of(env: &TestEnv, suffix: &str, n: usize) -> Vec<Envelope> {
    let msgs = eventually(suffix, Duration::from_secs(20), || async {
        let m = env.messages_on(suffix).await;
        (m.len() >= n).then_some(m)
    })
    .await;
    msgs.iter().map(|m| codec::decode(m).unwrap()).collect()
}

fn upload_stream(
    case_id: &str,
    content_type: &str,
    public: bool,
    data: Vec<u8>,
) -> impl tokio_stream::Stream<Item = pc::UploadAttachmentRequest> + use<> {
    use pc::upload_attachment_request::Part;
    let mut msgs = vec![pc::UploadAttachmentRequest {
        part: Some(Part::Header(pc::OfficerUploadHeader {
            case_id: case_id.into(),
            file: Some(pc::UploadHeader {
                content_type: content_type.into(),
                file_name: "bukti.bin".into(),
                public,
            }),
        })),
    }];
    for c in data.chunks(16 * 1024) {
        msgs.push(pc::UploadAttachmentRequest {
            part: Some(Part::Chunk(c.to_vec())),
        });
    }
    tokio_stream::iter(msgs)
}

trait Piece {
    fn parts(self) -> (Option<pc::Attachment>, Vec<u8>);
}

macro_rules! piece {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            fn parts(self) -> (Option<pc::Attachment>, Vec<u8>) {
                (self.attachment, self.data)
            }
        }
    )*};
}

piece!(
    pc::GetAttachmentResponse,
    pc::ReporterCaseServiceGetAttachmentResponse,
    pc::GetPublicAttachmentResponse
);

async fn download<M: Piece>(
    s: Result<tonic::Response<tonic::Streaming<M>>, tonic::Status>,
) -> Result<(pc::Attachment, Vec<u8>), tonic::Status> {
    let mut s = s?.into_inner();
    let mut desc = None;
    let mut data = Vec::new();
    while let Some(c) = s.message().await? {
        let (a, d) = c.parts();
        if a.is_some() {
            desc = a;
        }
        data.extend_from_slice(&d);
    }
    Ok((desc.unwrap(), data))
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_opens_one_case_and_announces_it() {
    let env = TestEnv::new().await.unwrap();
    let r = start(&env).await;
    let s = fixtures::submitted(ReportKind::Pengaduan, "kesehatan", Utc::now());
    let d = fixtures::dispatched(&s, "dinkes", Utc::now());
    env.publish(subjects::REPORT_DISPATCHED, "d-1", codec::encode(&d))
        .await;
    env.publish(subjects::REPORT_DISPATCHED, "d-1-again", codec::encode(&d))
        .await;
    let opened = events_of(&env, subjects::CASE_OPENED, 1).await;
    let Event::CaseOpened(c) = &opened[0].event else {
        panic!()
    };
    assert_eq!(c.opd_id.as_str(), "dinkes");
    assert_eq!(Some(c.report_id), d.event.report_id());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.messages_on(subjects::CASE_OPENED).await.len(),
        1,
        "one case for one dispatch"
    );
    r.svc.stop().await;
}

/// Dispatches that arrive together open their cases together (one statement for the batch's
/// cases), each case once, with its timeline entry and its announcement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatches_that_arrive_together_open_their_cases_together() {
    use sea_orm::ConnectionTrait;
    let env = TestEnv::new().await.unwrap();
    // A first start makes the stream and the consumers; the events come while it is stopped.
    start(&env).await.svc.stop().await;
    let mut reports = std::collections::BTreeSet::new();
    for i in 0..20 {
        let mut s = fixtures::submitted(ReportKind::Pengaduan, "kesehatan", Utc::now());
        if let Event::ReportSubmitted(e) = &mut s.event {
            e.access_token_hash = format!("token-hash-{i}");
        }
        let d = fixtures::dispatched(&s, "dinkes", Utc::now());
        reports.insert(d.event.report_id().unwrap());
        env.publish(subjects::REPORT_SUBMITTED, &format!("s-{i}"), codec::encode(&s))
            .await;
        env.publish(subjects::REPORT_DISPATCHED, &format!("d-{i}"), codec::encode(&d))
            .await;
        if i == 7 {
            env.publish(subjects::REPORT_DISPATCHED, "d-7-again", codec::encode(&d))
                .await;
        }
    }
    let r = start(&env).await;
    let opened = events_of(&env, subjects::CASE_OPENED, 20).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    r.svc.stop().await;
    assert_eq!(
        env.messages_on(subjects::CASE_OPENED).await.len(),
        20,
        "one case per dispatch"
    );
    let announced: std::collections::BTreeSet<_> =
        opened.iter().map(|e| e.event.report_id().unwrap()).collect();
    assert_eq!(announced, reports);
    let db = sea_orm::Database::connect(&env.db_url).await.unwrap();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap()
        }
    };
    assert_eq!(count("SELECT count(*) AS n FROM opd_case.cases").await, 20);
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM opd_case.timeline t JOIN opd_case.cases c ON c.id = t.case_id \
             WHERE t.kind = 'OPENED'"
        )
        .await,
        20,
        "an opening entry on every case"
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM opd_case.reporter_credentials").await,
        20
    );
    db.close().await.unwrap();
    for table in [
        "opd_case.cases",
        "opd_case.timeline",
        "opd_case.reporter_credentials",
    ] {
        assert!(
            env.most_rows_of_one_statement(table).await > 1,
            "{table}: no two rows written by one statement"
        );
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Own,
    Other,
    Operator,
    Supervisor,
    Auditor,
    Reporter,
    Service,
    Nobody,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rpc {
    GetCase,
    AssignCase,
    AddInternalNote,
    PostFollowUp,
    RequestInformation,
    PostOperatorReply,
    UploadAttachment,
    GetAttachment,
    RequestTransfer,
}

/// What each role gets from each CaseService RPC, on the case (`true`) or on a missing one.
fn expected(rpc: Rpc, who: Who, on_case: bool) -> Code {
    use Who::*;
    let found = if on_case { Code::Ok } else { Code::NotFound };
    match (who, rpc) {
        (Nobody, _) => Code::Unauthenticated,
        (Reporter | Service, _) => Code::PermissionDenied,
        (Other, Rpc::PostOperatorReply) => Code::PermissionDenied,
        (Other, _) => Code::NotFound,
        (Own, Rpc::PostOperatorReply) => Code::PermissionDenied,
        (Own, _) => found,
        (Operator, Rpc::PostOperatorReply) => found,
        (Operator | Supervisor | Auditor, Rpc::GetCase | Rpc::GetAttachment) => found,
        (Operator | Supervisor | Auditor, _) => Code::PermissionDenied,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_of_every_case_rpc() {
    let env = TestEnv::new().await.unwrap();
    let r = start(&env).await;
    let ch = r.svc.channel().await;
    let now = Utc::now();
    let (_, case_a) = open_case(&env, &ch, "disdikbud", false, false, "tok-a", now).await;
    let (_, case_b) = open_case(&env, &ch, "disdikbud", false, false, "tok-b", now).await;
    let roles = [
        (
            Who::Own,
            env.token("pj-disdikbud", Role::OpdOfficer, Some("disdikbud")),
        ),
        (
            Who::Other,
            env.token("pj-dinkes", Role::OpdOfficer, Some("dinkes")),
        ),
        (Who::Operator, env.token("op", Role::Operator, None)),
        (Who::Supervisor, env.token("sekda", Role::Supervisor, None)),
        (Who::Auditor, env.token("inspektorat", Role::Auditor, None)),
        (Who::Reporter, env.token("warga", Role::Reporter, None)),
        (Who::Service, env.token("sys", Role::Service, None)),
        (Who::Nobody, String::new()),
    ];
    let mut c = CaseServiceClient::new(ch.clone());
    // ListCases: scoped, never an error for a reading role.
    for (who, t) in &roles {
        let listed = c.list_cases(req(pc::ListCasesRequest::default(), t)).await;
        let want = match who {
            Who::Own | Who::Operator | Who::Supervisor | Who::Auditor => Ok(2),
            Who::Other => Ok(0),
            Who::Reporter | Who::Service => Err(Code::PermissionDenied),
            Who::Nobody => Err(Code::Unauthenticated),
        };
        assert_eq!(
            listed.map(|l| l.into_inner().cases.len()).map_err(|e| e.code()),
            want,
            "{who:?} ListCases"
        );
    }
    let missing = uuid::Uuid::new_v4().to_string();
    let mut attachment = missing.clone();
    let rpcs = [
        Rpc::GetCase,
        Rpc::AssignCase,
        Rpc::AddInternalNote,
        Rpc::PostFollowUp,
        Rpc::RequestInformation,
        Rpc::PostOperatorReply,
        Rpc::UploadAttachment,
        Rpc::GetAttachment,
        Rpc::RequestTransfer,
    ];
    for rpc in rpcs {
        for (who, t) in &roles {
            for on_case in [false, true] {
                let id = match (rpc, on_case) {
                    (_, false) => missing.clone(),
                    (Rpc::RequestTransfer, true) => case_b.clone(),
                    (Rpc::GetAttachment, true) => attachment.clone(),
                    _ => case_a.clone(),
                };
                let got = match rpc {
                    Rpc::GetCase => code(c.get_case(req(pc::GetCaseRequest { case_id: id }, t)).await),
                    Rpc::AssignCase => code(
                        c.assign_case(req(
                            pc::AssignCaseRequest {
                                case_id: id,
                                assignee: "staf-disdikbud-2".into(),
                            },
                            t,
                        ))
                        .await,
                    ),
                    Rpc::AddInternalNote => code(
                        c.add_internal_note(req(
                            pc::AddInternalNoteRequest {
                                case_id: id,
                                text: "cek ke sekolah".into(),
                            },
                            t,
                        ))
                        .await,
                    ),
                    Rpc::PostFollowUp => code(
                        c.post_follow_up(req(
                            pc::PostFollowUpRequest {
                                case_id: id,
                                text: "Tim sudah meninjau lokasi sekolah".into(),
                            },
                            t,
                        ))
                        .await,
                    ),
                    Rpc::RequestInformation => code(
                        c.request_information(req(
                            pc::RequestInformationRequest {
                                case_id: id,
                                question: "Kelas mana yang atapnya bocor?".into(),
                            },
                            t,
                        ))
                        .await,
                    ),
                    Rpc::PostOperatorReply => code(
                        c.post_operator_reply(req(
                            pc::PostOperatorReplyRequest {
                                case_id: id,
                                text: "Mohon jawaban yang lebih rinci".into(),
                            },
                            t,
                        ))
                        .await,
                    ),
                    Rpc::UploadAttachment => {
                        let r = c
                            .upload_attachment(req(
                                upload_stream(&id, "application/pdf", false, PDF.to_vec()),
                                t,
                            ))
                            .await;
                        if let Ok(ok) = &r {
                            attachment = ok.get_ref().attachment.as_ref().unwrap().attachment_id.clone();
                        }
                        code(r)
                    }
                    Rpc::GetAttachment => code(
                        download(
                            c.get_attachment(req(pc::GetAttachmentRequest { attachment_id: id }, t))
                                .await,
                        )
                        .await,
                    ),
                    Rpc::RequestTransfer => code(
                        c.request_transfer(req(
                            pc::RequestTransferRequest {
                                case_id: id,
                                reason: "bukan kewenangan kami".into(),
                            },
                            t,
                        ))
                        .await,
                    ),
                };
                assert_eq!(
                    got,
                    expected(rpc, *who, on_case),
                    "{rpc:?} by {who:?} on {}",
                    if on_case { "the case" } else { "a missing case" }
                );
            }
        }
    }
    r.svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reporter_and_public_services_check_credentials_and_roles() {
    let env = TestEnv::new().await.unwrap();
    let r = start(&env).await;
    let ch = r.svc.channel().await;
    let (tracking, _) = open_case(&env, &ch, "dlh", false, false, "tok-right", Utc::now()).await;
    let mut rep = ReporterCaseServiceClient::new(ch.clone());
    let mut public = PublicFeedServiceClient::new(ch.clone());
    let front = env.token("portal", Role::Reporter, None);
    let roles = [
        ("reporter front", front.clone(), Code::Ok, Code::Ok),
        (
            "service",
            env.token("lapor-nasional", Role::Service, None),
            Code::Ok,
            Code::Ok,
        ),
        (
            "officer",
            env.token("pj-dlh", Role::OpdOfficer, Some("dlh")),
            Code::PermissionDenied,
            Code::Ok,
        ),
        (
            "operator",
            env.token("op", Role::Operator, None),
            Code::PermissionDenied,
            Code::Ok,
        ),
        (
            "supervisor",
            env.token("sekda", Role::Supervisor, None),
            Code::PermissionDenied,
            Code::Ok,
        ),
        (
            "auditor",
            env.token("insp", Role::Auditor, None),
            Code::PermissionDenied,
            Code::Ok,
        ),
        (
            "nobody",
            String::new(),
            Code::Unauthenticated,
            Code::Unauthenticated,
        ),
    ];
    for (name, t, reporter_side, public_side) in &roles {
        let got = code(
            rep.get_timeline(req(
                pc::GetTimelineRequest {
                    credential: cred(&tracking, "tok-right"),
                },
                t,
            ))
            .await,
        );
        assert_eq!(got, *reporter_side, "{name} GetTimeline");
        let got = code(
            public
                .get_public_report(req(
                    pc::GetPublicReportRequest {
                        tracking_id: tracking.clone(),
                    },
                    t,
                ))
                .await,
        );
        assert_eq!(got, *public_side, "{name} GetPublicReport");
    }
    // Every reporter RPC: a wrong token and an unknown tracking id are the same NOT_FOUND.
    let unknown = fixtures::submitted(ReportKind::Aspirasi, "", Utc::now());
    let Event::ReportSubmitted(u) = &unknown.event else {
        panic!()
    };
    for (label, c) in [
        ("wrong token", cred(&tracking, "tok-wrong")),
        ("unknown tracking id", cred(u.tracking_id.as_str(), "tok-right")),
    ] {
        let codes = [
            code(
                rep.get_timeline(authed(
                    pc::GetTimelineRequest {
                        credential: c.clone(),
                    },
                    &front,
                ))
                .await,
            ),
            code(
                rep.reply(authed(
                    pc::ReplyRequest {
                        credential: c.clone(),
                        text: "halo".into(),
                    },
                    &front,
                ))
                .await,
            ),
            code(
                rep.confirm_resolved(authed(
                    pc::ConfirmResolvedRequest {
                        credential: c.clone(),
                    },
                    &front,
                ))
                .await,
            ),
            code(
                rep.rate_case(authed(
                    pc::RateCaseRequest {
                        credential: c.clone(),
                        rating: 5,
                        comment: String::new(),
                    },
                    &front,
                ))
                .await,
            ),
            code(
                rep.request_ombudsman(authed(
                    pc::RequestOmbudsmanRequest {
                        credential: c.clone(),
                        consent: true,
                    },
                    &front,
                ))
                .await,
            ),
            code(
                rep.set_public_name(authed(
                    pc::SetPublicNameRequest {
                        credential: c.clone(),
                        public_name: "Budi".into(),
                    },
                    &front,
                ))
                .await,
            ),
            code(
                download(
                    rep.get_attachment(authed(
                        pc::ReporterCaseServiceGetAttachmentRequest {
                            credential: c.clone(),
                            attachment_id: uuid::Uuid::new_v4().to_string(),
                        },
                        &front,
                    ))
                    .await,
                )
                .await,
            ),
        ];
        assert!(codes.iter().all(|c| *c == Code::NotFound), "{label}: {codes:?}");
    }
    // A missing credential is a field error, not NOT_FOUND.
    let e = rep
        .get_timeline(authed(pc::GetTimelineRequest { credential: None }, &front))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["credential"]);
    r.svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialogue_follow_up_reply_follow_up_confirm_then_rate_once() {
    let env = TestEnv::new().await.unwrap();
    let r = start(&env).await;
    let ch = r.svc.channel().await;
    let (tracking, case_id) = open_case(&env, &ch, "dlh", false, false, "tok-dialog", Utc::now()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let mut rep = ReporterCaseServiceClient::new(ch.clone());
    let dlh = env.token("pj-dlh", Role::OpdOfficer, Some("dlh"));
    let front = env.token("portal", Role::Reporter, None);
    let me = || cred(&tracking, "tok-dialog");
    let reply = |text: &str| {
        authed(
            pc::ReplyRequest {
                credential: me(),
                text: text.into(),
            },
            &front,
        )
    };
    let rate = |rating: u32| {
        authed(
            pc::RateCaseRequest {
                credential: me(),
                rating,
                comment: "Cepat ditangani, terima kasih".into(),
            },
            &front,
        )
    };
    let follow_up = |text: &str| {
        authed(
            pc::PostFollowUpRequest {
                case_id: case_id.clone(),
                text: text.into(),
            },
            &dlh,
        )
    };
    // Nothing to reply to before the OPD has said anything.
    assert_eq!(
        code(rep.reply(reply("Ada kabar?")).await),
        Code::FailedPrecondition
    );
    let first = c
        .post_follow_up(follow_up("Sampah dijadwalkan diangkut besok pagi"))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(first.status, ReportStatus::InProgress as i32);
    assert!(first.auto_close_at.is_some(), "the reply window runs");
    assert_eq!(
        code(rep.rate_case(rate(5)).await),
        Code::FailedPrecondition,
        "rating before Selesai"
    );
    rep.reply(reply("Belum diangkut sampai sore ini")).await.unwrap();
    let after_reply = c
        .get_case(authed(
            pc::GetCaseRequest {
                case_id: case_id.clone(),
            },
            &dlh,
        ))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert!(after_reply.reply_pending, "the OPD must answer again");
    assert!(
        after_reply.auto_close_at.is_none(),
        "no auto-close while a reply waits"
    );
    assert!(
        after_reply.due_at.is_some(),
        "the OPD's clock runs for its answer"
    );
    c.post_follow_up(follow_up("Sampah sudah diangkut seluruhnya hari ini"))
        .await
        .unwrap();
    let confirmed = rep
        .confirm_resolved(authed(pc::ConfirmResolvedRequest { credential: me() }, &front))
        .await
        .unwrap();
    assert!(confirmed.into_inner().closed_at.is_some());
    let e = rep.rate_case(rate(0)).await.unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["rating"]);
    rep.rate_case(rate(5)).await.unwrap();
    assert_eq!(
        code(rep.rate_case(rate(4)).await),
        Code::FailedPrecondition,
        "rated once"
    );
    assert_eq!(
        code(rep.reply(reply("Satu lagi")).await),
        Code::FailedPrecondition,
        "closed"
    );
    let t = rep
        .get_timeline(authed(pc::GetTimelineRequest { credential: me() }, &front))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.status, ReportStatus::Completed as i32);
    assert_eq!(t.rating, 5);
    use pc::EntryKind as K;
    let kinds: Vec<i32> = t.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            K::Opened,
            K::FollowUp,
            K::ReporterReply,
            K::FollowUp,
            K::Closed,
            K::Rated
        ]
        .map(|k| k as i32)
    );
    let closed = events_of(&env, subjects::CASE_CLOSED, 1).await;
    let Event::CaseClosed(cl) = &closed[0].event else {
        panic!()
    };
    assert_eq!(cl.by, Closer::Reporter);
    let replied = events_of(&env, subjects::CASE_REPLIED, 1).await;
    let Event::CaseReplied(rp) = &replied[0].event else {
        panic!()
    };
    assert_eq!((rp.by, rp.answers_info_request_at), (Replier::Reporter, None));
    let rated = events_of(&env, subjects::CASE_RATED, 1).await;
    let Event::CaseRated(ra) = &rated[0].event else {
        panic!()
    };
    assert_eq!(ra.rating, 5);
    assert_eq!(events_of(&env, subjects::CASE_FOLLOWED_UP, 2).await.len(), 2);
    r.svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_to_the_reporter_stops_the_opd_clock_until_answered() {
    let env = TestEnv::new().await.unwrap();
    let clock = TestClock::new(wita(2026, 12, 7, 9));
    let r = start_with(&env, &clock).await;
    let ch = r.svc.channel().await;
    let (tracking, case_id) = open_case(&env, &ch, "pupr", true, false, "tok-q", clock.now()).await;
    let cal = Calendar::from_spec(&calendar_spec()).unwrap();
    let mut c = CaseServiceClient::new(ch.clone());
    let mut rep = ReporterCaseServiceClient::new(ch.clone());
    let pupr = env.token("pj-pupr", Role::OpdOfficer, Some("pupr"));
    let front = env.token("portal", Role::Reporter, None);
    let get = |c: &mut CaseServiceClient<Channel>| {
        let mut c = c.clone();
        let (id, t) = (case_id.clone(), pupr.clone());
        async move {
            c.get_case(authed(pc::GetCaseRequest { case_id: id }, &t))
                .await
                .unwrap()
                .into_inner()
                .case
                .unwrap()
        }
    };
    let due0 = lapor_events::codec::from_ts(get(&mut c).await.due_at.as_ref()).unwrap();
    assert_eq!(
        due0,
        cal.add_working_days(wita(2026, 12, 7, 9), 5),
        "5 working days from dispatch"
    );
    clock.set(wita(2026, 12, 8, 10));
    let ask = || {
        authed(
            pc::RequestInformationRequest {
                case_id: case_id.clone(),
                question: "Di titik mana tepatnya jalan berlubang?".into(),
            },
            &pupr,
        )
    };
    c.request_information(ask()).await.unwrap();
    assert_eq!(
        code(c.request_information(ask()).await),
        Code::FailedPrecondition,
        "one open question"
    );
    assert!(get(&mut c).await.waiting_for_reporter);
    // While waiting, the case is not overdue even after its old due time.
    clock.set(wita(2026, 12, 15, 10));
    let overdue = c
        .list_cases(authed(
            pc::ListCasesRequest {
                overdue: true,
                ..Default::default()
            },
            &pupr,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(overdue.cases.is_empty(), "a stopped clock is never overdue");
    clock.set(wita(2026, 12, 11, 10));
    let t = rep
        .get_timeline(authed(
            pc::GetTimelineRequest {
                credential: cred(&tracking, "tok-q"),
            },
            &front,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(t.waiting_for_reporter);
    rep.reply(authed(
        pc::ReplyRequest {
            credential: cred(&tracking, "tok-q"),
            text: "Depan SDN 005, sisi timur".into(),
        },
        &front,
    ))
    .await
    .unwrap();
    let after = get(&mut c).await;
    assert!(!after.waiting_for_reporter);
    assert_eq!(
        after.status,
        ReportStatus::Dispatched as i32,
        "an answer is not a follow-up"
    );
    // Open from Tue 8 to Fri 11 December: three working days (9, 10, 11) added.
    let due1 = lapor_events::codec::from_ts(after.due_at.as_ref()).unwrap();
    assert_eq!(due1, cal.add_working_days(due0, 3));
    assert_eq!(
        due1.with_timezone(&chrono_tz::Asia::Makassar).date_naive(),
        NaiveDate::from_ymd_opt(2026, 12, 17).unwrap()
    );
    // Overdue only after the moved deadline; "due within 1 working day" finds it the day before.
    clock.set(wita(2026, 12, 16, 10));
    let soon = c
        .list_cases(authed(
            pc::ListCasesRequest {
                due_within_working_days: 1,
                ..Default::default()
            },
            &pupr,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(soon.cases.len(), 1);
    clock.set(wita(2026, 12, 18, 10));
    let overdue = c
        .list_cases(authed(
            pc::ListCasesRequest {
                overdue: true,
                ..Default::default()
            },
            &pupr,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overdue.cases.len(), 1);
    let asked = events_of(&env, subjects::CASE_INFO_REQUESTED, 1).await;
    let Event::CaseInfoRequested(q) = &asked[0].event else {
        panic!()
    };
    let answered = events_of(&env, subjects::CASE_REPLIED, 1).await;
    let Event::CaseReplied(a) = &answered[0].event else {
        panic!()
    };
    assert_eq!(a.answers_info_request_at, Some(q.requested_at));
    r.svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_close_exactly_after_ten_working_days_across_holidays_once_and_after_a_restart() {
    let env = TestEnv::new().await.unwrap();
    let posted = wita(2026, 12, 17, 10);
    let clock = TestClock::new(posted);
    let r = start_with(&env, &clock).await;
    let ch = r.svc.channel().await;
    let (_, quiet) = open_case(&env, &ch, "dlh", false, false, "tok-quiet", posted).await;
    let (talk_tracking, talkative) = open_case(&env, &ch, "dlh", false, false, "tok-talk", posted).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let dlh = env.token("pj-dlh", Role::OpdOfficer, Some("dlh"));
    for id in [&quiet, &talkative] {
        c.post_follow_up(authed(
            pc::PostFollowUpRequest {
                case_id: id.clone(),
                text: "Sampah akan diangkut minggu ini".into(),
            },
            &dlh,
        ))
        .await
        .unwrap();
    }
    // The reporter of the second case replies within the window: it must stay open.
    clock.set(wita(2026, 12, 22, 9));
    ReporterCaseServiceClient::new(ch.clone())
        .reply(authed(
            pc::ReplyRequest {
                credential: cred(&talk_tracking, "tok-talk"),
                text: "Belum diangkut".into(),
            },
            &env.token("portal", Role::Reporter, None),
        ))
        .await
        .unwrap();
    // Thu 17 Dec + 10 working days, skipping 24-25 Dec and 1 Jan: the end of Tue 5 Jan 2027.
    let cal = Calendar::from_spec(&calendar_spec()).unwrap();
    let window_end = cal.add_working_days(posted, 10);
    assert_eq!(
        window_end.with_timezone(&chrono_tz::Asia::Makassar).date_naive(),
        NaiveDate::from_ymd_opt(2027, 1, 5).unwrap()
    );
    let status = |c: &CaseServiceClient<Channel>, id: &str| {
        let mut c = c.clone();
        let (id, t) = (id.to_owned(), dlh.clone());
        async move {
            c.get_case(authed(pc::GetCaseRequest { case_id: id }, &t))
                .await
                .unwrap()
                .into_inner()
                .case
                .unwrap()
        }
    };
    assert_eq!(
        lapor_events::codec::from_ts(status(&c, &quiet).await.auto_close_at.as_ref()),
        Some(window_end)
    );
    clock.set(window_end);
    assert_eq!(
        r.closer.sweep().await.unwrap(),
        0,
        "not while the window is still open"
    );
    assert_eq!(status(&c, &quiet).await.status, ReportStatus::InProgress as i32);
    // Past the window, after a restart: the stored due time drives the close.
    r.svc.stop().await;
    clock.set(window_end + chrono::Duration::seconds(1));
    let r = start_with(&env, &clock).await;
    let c = CaseServiceClient::new(r.svc.channel().await);
    r.closer.sweep().await.unwrap();
    let closed = status(&c, &quiet).await;
    assert_eq!(closed.status, ReportStatus::Completed as i32);
    assert_eq!(
        lapor_events::codec::from_ts(closed.closed_at.as_ref()),
        Some(window_end + chrono::Duration::seconds(1))
    );
    assert_eq!(
        status(&c, &talkative).await.status,
        ReportStatus::InProgress as i32,
        "a reply keeps it open"
    );
    clock.set(window_end + chrono::Duration::days(30));
    assert_eq!(r.closer.sweep().await.unwrap(), 0, "never twice");
    let events = events_of(&env, subjects::CASE_CLOSED, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.messages_on(subjects::CASE_CLOSED).await.len(),
        1,
        "one CaseClosed"
    );
    let Event::CaseClosed(e) = &events[0].event else {
        panic!()
    };
    assert_eq!(
        (e.by, e.case.case_id.to_string()),
        (Closer::System, quiet.clone())
    );
    r.svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_notes_stay_internal_and_rahasia_reports_stay_out_of_the_feed() {
    let env = TestEnv::new().await.unwrap();
    let r = start(&env).await;
    let ch = r.svc.channel().await;
    let (anon, anon_case) = open_case(&env, &ch, "dlh", true, false, "tok-anon", Utc::now()).await;
    let (secret, _) = open_case(&env, &ch, "dlh", false, true, "tok-secret", Utc::now()).await;
    let (named, _) = open_case(&env, &ch, "dlh", false, false, "tok-named", Utc::now()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let mut rep = ReporterCaseServiceClient::new(ch.clone());
    let mut public = PublicFeedServiceClient::new(ch.clone());
    let dlh = env.token("pj-dlh", Role::OpdOfficer, Some("dlh"));
    let front = env.token("portal", Role::Reporter, None);
    c.add_internal_note(authed(
        pc::AddInternalNoteRequest {
            case_id: anon_case.clone(),
            text: "CANARY-INTERNAL-NOTE kontraktor lama bermasalah".into(),
        },
        &dlh,
    ))
    .await
    .unwrap();
    c.assign_case(authed(
        pc::AssignCaseRequest {
            case_id: anon_case.clone(),
            assignee: "CANARY-ASSIGNEE".into(),
        },
        &dlh,
    ))
    .await
    .unwrap();
    c.request_information(authed(
        pc::RequestInformationRequest {
            case_id: anon_case.clone(),
            question: "CANARY-QUESTION sejak kapan menumpuk?".into(),
        },
        &dlh,
    ))
    .await
    .unwrap();
    c.post_follow_up(authed(
        pc::PostFollowUpRequest {
            case_id: anon_case.clone(),
            text: "Tindak lanjut publik: truk dijadwalkan".into(),
        },
        &dlh,
    ))
    .await
    .unwrap();
    let officer_view = format!(
        "{:?}",
        c.get_case(authed(
            pc::GetCaseRequest {
                case_id: anon_case.clone()
            },
            &dlh
        ))
        .await
        .unwrap()
        .into_inner()
    );
    assert!(
        officer_view.contains("CANARY-INTERNAL-NOTE"),
        "the OPD sees its note"
    );
    assert!(officer_view.contains("reporter_display: \"anonim\""));
    let reporter_view = format!(
        "{:?}",
        rep.get_timeline(authed(
            pc::GetTimelineRequest {
                credential: cred(&anon, "tok-anon")
            },
            &front
        ))
        .await
        .unwrap()
        .into_inner()
    );
    assert!(
        reporter_view.contains("CANARY-QUESTION"),
        "the reporter sees the question"
    );
    assert!(reporter_view.contains("Tindak lanjut publik"));
    assert!(!reporter_view.contains("CANARY-INTERNAL-NOTE") && !reporter_view.contains("CANARY-ASSIGNEE"));
    let public_view = format!(
        "{:?}",
        public
            .get_public_report(authed(
                pc::GetPublicReportRequest {
                    tracking_id: anon.clone()
                },
                &front
            ))
            .await
            .unwrap()
            .into_inner()
    );
    assert!(public_view.contains("Tindak lanjut publik"));
    assert!(public_view.contains("reporter: \"anonim\""));
    for canary in ["CANARY-INTERNAL-NOTE", "CANARY-ASSIGNEE", "CANARY-QUESTION"] {
        assert!(!public_view.contains(canary), "{canary} leaked to the public");
    }
    // The feed: the anonymous and the named report, never the rahasia one.
    let feed = public
        .list_public_reports(authed(pc::ListPublicReportsRequest::default(), &front))
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<&str> = feed.reports.iter().map(|r| r.tracking_id.as_str()).collect();
    assert!(listed.contains(&anon.as_str()) && listed.contains(&named.as_str()));
    assert!(!listed.contains(&secret.as_str()), "rahasia never in the feed");
    assert!(!format!("{feed:?}").contains("CANARY"));
    assert_eq!(
        code(
            public
                .get_public_report(authed(
                    pc::GetPublicReportRequest {
                        tracking_id: secret.clone()
                    },
                    &front
                ))
                .await
        ),
        Code::NotFound
    );
    // Names: an anonymous reporter is always "anonim"; a named one shows only what they chose.
    let set_name = |t: &str, tok: &str, name: &str| {
        authed(
            pc::SetPublicNameRequest {
                credential: cred(t, tok),
                public_name: name.into(),
            },
            &front,
        )
    };
    assert_eq!(
        code(rep.set_public_name(set_name(&anon, "tok-anon", "Budi")).await),
        Code::FailedPrecondition
    );
    let shown = |feed: &pc::ListPublicReportsResponse, t: &str| {
        feed.reports
            .iter()
            .find(|r| r.tracking_id == t)
            .unwrap()
            .reporter
            .clone()
    };
    assert_eq!(shown(&feed, &named), "anonim", "no name chosen yet");
    rep.set_public_name(set_name(&named, "tok-named", "Warga Berbas"))
        .await
        .unwrap();
    let feed = public
        .list_public_reports(authed(pc::ListPublicReportsRequest::default(), &front))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown(&feed, &named), "Warga Berbas");
    assert_eq!(shown(&feed, &anon), "anonim");
    // Dukung: once per reporter credential, once per account.
    let support = |sup: Option<pc::ReporterCredential>, token: &str| {
        authed(
            pc::SupportReportRequest {
                tracking_id: anon.clone(),
                supporter: sup,
            },
            token,
        )
    };
    let s1 = public
        .support_report(support(cred(&named, "tok-named"), &front))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s1.support_count, s1.counted), (1, true));
    let s2 = public
        .support_report(support(cred(&named, "tok-named"), &front))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s2.support_count, s2.counted), (1, false));
    let account = env.token("akun-warga-17", Role::Reporter, None);
    let s3 = public
        .support_report(support(None, &account))
        .await
        .unwrap()
        .into_inner();
    let s4 = public
        .support_report(support(None, &account))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s3.support_count, s4.support_count, s4.counted), (2, 2, false));
    assert_eq!(
        code(
            public
                .support_report(support(cred(&named, "tok-wrong"), &front))
                .await
        ),
        Code::NotFound
    );
    let e = public
        .support_report(support(None, &env.token("sys", Role::Service, None)))
        .await
        .unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["supporter"]);
    let feed = public
        .list_public_reports(authed(pc::ListPublicReportsRequest::default(), &front))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        feed.reports
            .iter()
            .find(|r| r.tracking_id == anon)
            .unwrap()
            .support_count,
        2
    );
    // Counted supports and the chosen name are events too (without who supported).
    let supported = events_of(&env, subjects::REPORT_SUPPORTED, 2).await;
    let counts: Vec<u64> = supported
        .iter()
        .map(|e| match &e.event {
            Event::ReportSupported(s) => s.support_count,
            _ => 0,
        })
        .collect();
    assert_eq!(counts, [1, 2]);
    let named_ev = events_of(&env, subjects::PUBLIC_NAME_CHANGED, 1).await;
    let Event::PublicNameChanged(n) = &named_ev[0].event else {
        panic!()
    };
    assert_eq!(n.shown_as, "Warga Berbas");
    r.svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ombudsman_needs_the_period_and_consent() {
    let env = TestEnv::new().await.unwrap();
    let submitted = wita(2026, 9, 1, 10);
    let clock = TestClock::new(submitted);
    let r = start_with(&env, &clock).await;
    let ch = r.svc.channel().await;
    let (tracking, _) = open_case(&env, &ch, "dinsos", true, false, "tok-omb", submitted).await;
    let mut rep = ReporterCaseServiceClient::new(ch.clone());
    let front = env.token("portal", Role::Reporter, None);
    let ask = |consent: bool| {
        authed(
            pc::RequestOmbudsmanRequest {
                credential: cred(&tracking, "tok-omb"),
                consent,
            },
            &front,
        )
    };
    clock.set(submitted + chrono::Duration::days(59));
    assert_eq!(
        code(rep.request_ombudsman(ask(true)).await),
        Code::FailedPrecondition,
        "too early"
    );
    clock.set(submitted + chrono::Duration::days(60));
    let e = rep.request_ombudsman(ask(false)).await.unwrap_err();
    assert_eq!(lapor_platform::status::violated_fields(&e), ["consent"]);
    let ok = rep.request_ombudsman(ask(true)).await.unwrap().into_inner();
    assert_eq!(
        lapor_events::codec::from_ts(ok.consented_at.as_ref()),
        Some(submitted + chrono::Duration::days(60))
    );
    assert_eq!(
        code(rep.request_ombudsman(ask(true)).await),
        Code::FailedPrecondition,
        "once"
    );
    let ev = events_of(&env, subjects::OMBUDSMAN_REQUESTED, 1).await;
    let Event::OmbudsmanRequested(o) = &ev[0].event else {
        panic!()
    };
    assert_eq!(
        (o.consented_at, o.submitted_at),
        (submitted + chrono::Duration::days(60), submitted)
    );
    r.svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_lose_their_metadata_match_their_type_and_respect_the_limit() {
    let env = TestEnv::new().await.unwrap();
    let r = start(&env).await;
    let ch = r.svc.channel().await;
    let (tracking, case_id) = open_case(&env, &ch, "dlh", true, false, "tok-att", Utc::now()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let mut rep = ReporterCaseServiceClient::new(ch.clone());
    let mut public = PublicFeedServiceClient::new(ch.clone());
    let dlh = env.token("pj-dlh", Role::OpdOfficer, Some("dlh"));
    let front = env.token("portal", Role::Reporter, None);
    let jpeg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gps.jpg")).unwrap();
    // The fixture really carries GPS, XMP and a comment.
    let before = exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(&jpeg))
        .unwrap();
    assert!(
        before
            .get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
            .is_some()
    );
    let up = c
        .upload_attachment(authed(
            upload_stream(&case_id, "image/jpeg", true, jpeg.clone()),
            &dlh,
        ))
        .await
        .unwrap()
        .into_inner()
        .attachment
        .unwrap();
    assert_eq!(up.content_type, "image/jpeg");
    assert!(up.size < jpeg.len() as u64);
    let (_, stored) = download(
        c.get_attachment(authed(
            pc::GetAttachmentRequest {
                attachment_id: up.attachment_id.clone(),
            },
            &dlh,
        ))
        .await,
    )
    .await
    .unwrap();
    // Parse what is served: still a JPEG, with no EXIF at all, no XMP, no comment.
    assert!(stored.starts_with(&[0xFF, 0xD8, 0xFF]));
    img_parts::jpeg::Jpeg::from_bytes(stored.clone().into()).unwrap();
    assert!(matches!(
        exif::Reader::new().read_from_container(&mut std::io::Cursor::new(&stored)),
        Err(exif::Error::NotFound(_))
    ));
    let text = String::from_utf8_lossy(&stored);
    for marker in ["CANARY", "http://ns.adobe.com/xap", "Exif\0"] {
        assert!(!text.contains(marker), "{marker} survived");
    }
    // The bytes on disk are the same cleaned bytes.
    let on_disk: Vec<Vec<u8>> = walk(&env.scratch_dir().join("blobs"));
    assert_eq!(on_disk, vec![stored.clone()]);
    // Public attachment of a public report: the reporter and the public get it too.
    let (_, via_reporter) = download(
        rep.get_attachment(authed(
            pc::ReporterCaseServiceGetAttachmentRequest {
                credential: cred(&tracking, "tok-att"),
                attachment_id: up.attachment_id.clone(),
            },
            &front,
        ))
        .await,
    )
    .await
    .unwrap();
    let (_, via_public) = download(
        public
            .get_public_attachment(authed(
                pc::GetPublicAttachmentRequest {
                    tracking_id: tracking.clone(),
                    attachment_id: up.attachment_id.clone(),
                },
                &front,
            ))
            .await,
    )
    .await
    .unwrap();
    assert_eq!((via_reporter.clone(), via_public), (stored.clone(), stored));
    // Declared types must match the content.
    for (declared, data) in [
        ("image/png", jpeg.clone()),
        ("application/pdf", b"MZ\x90\0\x03\0\0\0 not a pdf at all".to_vec()),
        ("text/html", b"<html><body>hi</body></html>".to_vec()),
    ] {
        let e = c
            .upload_attachment(authed(upload_stream(&case_id, declared, false, data), &dlh))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{declared}");
        assert_eq!(
            lapor_platform::status::violated_fields(&e),
            ["header.file.content_type"]
        );
    }
    // Oversize: refused once past the limit (256 KiB here), long before the client sent it all.
    let produced = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let p = produced.clone();
    let header = upload_stream(&case_id, "application/pdf", false, Vec::new());
    let chunks = tokio_stream::StreamExt::map(tokio_stream::iter(0..1600usize), move |i| {
        p.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut chunk = vec![0u8; 64 * 1024];
        if i == 0 {
            chunk[..PDF.len()].copy_from_slice(PDF);
        }
        pc::UploadAttachmentRequest {
            part: Some(pc::upload_attachment_request::Part::Chunk(chunk)),
        }
    });
    let e = c
        .upload_attachment(authed(tokio_stream::StreamExt::chain(header, chunks), &dlh))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    let sent = produced.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        sent < 800,
        "the server stopped reading at the limit ({sent} of 1600 chunks produced)"
    );
    // A reporter's file: PNG text metadata gone; never public.
    let png = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/meta.png")).unwrap();
    use pc::reporter_case_service_upload_attachment_request::Part;
    let msgs = vec![
        pc::ReporterCaseServiceUploadAttachmentRequest {
            part: Some(Part::Header(pc::ReporterUploadHeader {
                credential: cred(&tracking, "tok-att"),
                file: Some(pc::UploadHeader {
                    content_type: "image/png".into(),
                    file_name: "foto.png".into(),
                    public: true,
                }),
            })),
        },
        pc::ReporterCaseServiceUploadAttachmentRequest {
            part: Some(Part::Chunk(png.clone())),
        },
    ];
    let mine = rep
        .upload_attachment(authed(tokio_stream::iter(msgs), &front))
        .await
        .unwrap()
        .into_inner()
        .attachment
        .unwrap();
    assert!(!mine.public, "a reporter's file is never public");
    let (_, png_stored) = download(
        c.get_attachment(authed(
            pc::GetAttachmentRequest {
                attachment_id: mine.attachment_id.clone(),
            },
            &dlh,
        ))
        .await,
    )
    .await
    .unwrap();
    assert!(png_stored.starts_with(b"\x89PNG"));
    assert!(!String::from_utf8_lossy(&png_stored).contains("CANARY-PNG"));
    assert_eq!(
        code(
            download(
                public
                    .get_public_attachment(authed(
                        pc::GetPublicAttachmentRequest {
                            tracking_id: tracking.clone(),
                            attachment_id: mine.attachment_id.clone(),
                        },
                        &front,
                    ))
                    .await,
            )
            .await
        ),
        Code::NotFound
    );
    let added = events_of(&env, subjects::ATTACHMENT_ADDED, 2).await;
    assert_eq!(
        added.len(),
        2,
        "one event per stored attachment, none for refused uploads"
    );
    r.svc.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(std::fs::read(&p).unwrap());
        }
    }
    out
}

/// m0004 moves the follow-ups of m0003's table into the timeline: nothing posted before the
/// upgrade is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_keeps_follow_ups_posted_before_the_timeline_existed() {
    use sea_orm::{ConnectionTrait, Database};
    use sea_orm_migration::MigratorTrait;
    let env = TestEnv::new().await.unwrap();
    std::fs::create_dir_all(env.scratch_dir()).unwrap();
    let url = format!("sqlite://{}/upgrade.db?mode=rwc", env.scratch_dir().display());
    let db = Database::connect(&url).await.unwrap();
    // Event tables + m0001..m0003: the schema of the previous release.
    lapor_opd_case::migration::Migrator::up(&db, Some(4))
        .await
        .unwrap();
    let case = uuid::Uuid::now_v7();
    let report = uuid::Uuid::now_v7();
    let fu = uuid::Uuid::now_v7();
    db.execute_unprepared(&format!(
        "INSERT INTO cases (id, report_id, tracking_id, opd_id, kind, title, body, anonim, rahasia, \
         reporter_ref, status, submitted_at, opened_at, last_follow_up_at) VALUES ('{case}', '{report}', \
         '7KQ2M9XD4A', 'dlh', 'PENGADUAN', 'Sampah', 'Sampah menumpuk di TPS', false, false, \
         '{}', 'IN_PROGRESS', '2026-11-20 01:00:00+00:00', '2026-11-20 02:00:00+00:00', \
         '2026-11-21 02:00:00+00:00')",
        uuid::Uuid::new_v4()
    ))
    .await
    .unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO follow_ups (id, case_id, opd_id, posted_by, text, posted_at) VALUES ('{fu}', \
         '{case}', 'dlh', 'pj-dlh', 'Sudah diangkut', '2026-11-21 02:00:00+00:00')"
    ))
    .await
    .unwrap();
    lapor_opd_case::migration::Migrator::up(&db, None).await.unwrap();
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT id, report_id, kind, visibility, author, text FROM timeline".to_owned(),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let get = |c: &str| rows[0].try_get::<String>("", c).unwrap();
    assert_eq!(
        [
            get("id"),
            get("report_id"),
            get("kind"),
            get("visibility"),
            get("author"),
            get("text")
        ],
        [
            fu.to_string(),
            report.to_string(),
            "FOLLOW_UP".into(),
            "PUBLIC".into(),
            "pj-dlh".into(),
            "Sudah diangkut".into()
        ]
    );
    db.close().await.unwrap();
}

#[test]
fn the_bontang_seed_configures_calendar_policy_auto_close_and_attachments() {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/bontang.toml");
    let cfg: Config = lapor_platform::config::load("opd-case", &Config::default(), Some(&seed)).unwrap();
    assert_eq!(cfg.auto_close_interval_secs, 60);
    assert_eq!(cfg.policy.reply_window_days, 10);
    assert_eq!(cfg.policy.ombudsman_days, 60);
    assert!(cfg.calendar.holidays.len() > 10);
    assert_eq!(cfg.attachments.max_bytes, 10 * 1024 * 1024);
    assert_eq!(cfg.attachments.store.kind, "fs");
    assert!(cfg.attachments.allowed_types.contains(&"image/jpeg".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_cases_filters_by_status_assignee_and_text_and_pages() {
    let env = TestEnv::new().await.unwrap();
    let r = start(&env).await;
    let ch = r.svc.channel().await;
    let now = Utc::now();
    let (_, a) = open_case(&env, &ch, "dlh", false, false, "tok-1", now).await;
    let (_, b) = open_titled_case(
        &env,
        &ch,
        "dlh",
        false,
        false,
        "tok-2",
        now,
        Some("Sampah 100% menumpuk_di pasar"),
    )
    .await;
    let (_, c3) = open_case(&env, &ch, "dlh", false, false, "tok-3", now).await;
    let dlh = env.token("pj-dlh", Role::OpdOfficer, Some("dlh"));
    let mut c = CaseServiceClient::new(ch.clone());
    c.assign_case(authed(
        pc::AssignCaseRequest {
            case_id: a.clone(),
            assignee: "staf-1".into(),
        },
        &dlh,
    ))
    .await
    .unwrap();
    c.post_follow_up(authed(
        pc::PostFollowUpRequest {
            case_id: b.clone(),
            text: "Truk sampah dikirim sore ini".into(),
        },
        &dlh,
    ))
    .await
    .unwrap();
    let list = |q: pc::ListCasesRequest| {
        let mut c = c.clone();
        let t = dlh.clone();
        async move {
            c.list_cases(authed(q, &t)).await.map(|r| {
                let r = r.into_inner();
                (
                    r.cases.into_iter().map(|x| x.case_id).collect::<Vec<_>>(),
                    r.next_page_token,
                )
            })
        }
    };
    let ids = |q| {
        let f = list(q);
        async move {
            let mut v = f.await.unwrap().0;
            v.sort();
            v
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        ids(pc::ListCasesRequest {
            statuses: vec![ReportStatus::InProgress as i32],
            ..Default::default()
        })
        .await,
        vec![b.clone()]
    );
    assert_eq!(
        ids(pc::ListCasesRequest {
            statuses: vec![ReportStatus::Dispatched as i32],
            ..Default::default()
        })
        .await,
        sorted(vec![a.clone(), c3.clone()])
    );
    assert_eq!(
        ids(pc::ListCasesRequest {
            assignee: "staf-1".into(),
            ..Default::default()
        })
        .await,
        vec![a.clone()]
    );
    for text in ["SAMPAH", "100%", "_di"] {
        assert_eq!(
            ids(pc::ListCasesRequest {
                text: text.into(),
                ..Default::default()
            })
            .await,
            vec![b.clone()],
            "text {text:?} (LIKE wildcards are literal)"
        );
    }
    // Newest first, two per page.
    let (first, token) = list(pc::ListCasesRequest {
        page_size: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(first, [c3.clone(), b.clone()]);
    let (second, end) = list(pc::ListCasesRequest {
        page_size: 2,
        page_token: token,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!((second, end), (vec![a.clone()], String::new()));
    // Bad filters are field errors.
    for (q, field) in [
        (
            pc::ListCasesRequest {
                statuses: vec![99],
                ..Default::default()
            },
            "statuses",
        ),
        (
            pc::ListCasesRequest {
                text: "x".into(),
                ..Default::default()
            },
            "text",
        ),
        (
            pc::ListCasesRequest {
                page_token: "not-a-token".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            pc::ListCasesRequest {
                page_size: 500,
                ..Default::default()
            },
            "page_size",
        ),
    ] {
        let e = list(q).await.unwrap_err();
        assert_eq!(lapor_platform::status::violated_fields(&e), [field]);
    }
    r.svc.stop().await;
}

/// With `policy.pause_on_question = false` (a city may decide questions do not stop the clock),
/// an answer does not move the due time and a case waiting for its reporter still becomes overdue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_questions_do_not_pause_the_clock_the_due_time_stays() {
    let env = TestEnv::new().await.unwrap();
    let clock = TestClock::new(wita(2026, 12, 7, 9));
    let r = start_configured(&env, &clock, |c| c.policy.pause_on_question = false).await;
    let ch = r.svc.channel().await;
    let (tracking, case_id) = open_case(&env, &ch, "pupr", true, false, "tok-np", clock.now()).await;
    let mut c = CaseServiceClient::new(ch.clone());
    let mut rep = ReporterCaseServiceClient::new(ch.clone());
    let pupr = env.token("pj-pupr", Role::OpdOfficer, Some("pupr"));
    let front = env.token("portal", Role::Reporter, None);
    let due_of = |c: &mut CaseServiceClient<Channel>| {
        let mut c = c.clone();
        let (id, t) = (case_id.clone(), pupr.clone());
        async move {
            let case = c
                .get_case(authed(pc::GetCaseRequest { case_id: id }, &t))
                .await
                .unwrap()
                .into_inner()
                .case
                .unwrap();
            lapor_events::codec::from_ts(case.due_at.as_ref()).unwrap()
        }
    };
    let due0 = due_of(&mut c).await;
    clock.set(wita(2026, 12, 8, 10));
    c.request_information(authed(
        pc::RequestInformationRequest {
            case_id: case_id.clone(),
            question: "Di titik mana tepatnya jalan berlubang?".into(),
        },
        &pupr,
    ))
    .await
    .unwrap();
    // Past the due time while still waiting: overdue all the same.
    clock.set(wita(2026, 12, 15, 10));
    let overdue = c
        .list_cases(authed(
            pc::ListCasesRequest {
                overdue: true,
                ..Default::default()
            },
            &pupr,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overdue.cases.len(), 1, "waiting does not stop this clock");
    rep.reply(authed(
        pc::ReplyRequest {
            credential: cred(&tracking, "tok-np"),
            text: "Depan SDN 005, sisi timur".into(),
        },
        &front,
    ))
    .await
    .unwrap();
    assert_eq!(
        due_of(&mut c).await,
        due0,
        "the answer does not move the due time"
    );
    r.svc.stop().await;
}
