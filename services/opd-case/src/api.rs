//! CaseService: the OPD's side of a case. Scoping by OPD happens in the query, so another OPD's
//! case is indistinguishable from a missing one. Anonymous reporters appear only as "anonim".

use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use lapor_domain::content::Location;
use lapor_domain::events::{
    AttachmentAdded, CaseAssigned, CaseFollowedUp, CaseInfoRequested, CaseNoteAdded, CaseReplied,
    CaseTransferRequested, Event,
};
use lapor_domain::lifecycle::Replier;
use lapor_domain::{CaseId, Command, ReportKind, Status, TrackingId, Violations, decide};
use lapor_events::codec::{kind_to_proto, location_to_proto, status_from_proto, ts};
use lapor_platform::{Caller, Role};
use lapor_proto::cases::v1::{self as pb, case_service_server::CaseService};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set,
};
use tonic::{Request, Response, Status as GrpcStatus, Streaming};

use crate::core::{self, Core, Entry, Visibility, case_ref, kind, lifecycle, text_field};
use crate::entities::{attachment, case, timeline};
use crate::error::{Error, invalid};

/// The CaseService.
pub struct Api {
    pub core: Arc<Core>,
}

/// A stream of attachment chunks of the message type `M`.
pub type ChunkStream<M> = Pin<Box<dyn Stream<Item = Result<M, GrpcStatus>> + Send>>;

/// The download messages of the three services (one shape, one type per RPC).
pub trait Chunk: Send + 'static {
    /// A message with the description (first message only) and some bytes.
    fn make(attachment: Option<pb::Attachment>, data: Vec<u8>) -> Self;
}

macro_rules! chunk {
    ($($t:ty),*) => {$(
        impl Chunk for $t {
            fn make(attachment: Option<pb::Attachment>, data: Vec<u8>) -> Self {
                Self { attachment, data }
            }
        }
    )*};
}

chunk!(
    pb::GetAttachmentResponse,
    pb::ReporterCaseServiceGetAttachmentResponse,
    pb::GetPublicAttachmentResponse
);

/// Restricts a query to the cases the caller may read: an officer its own OPD's, the operator,
/// supervisors and auditors every OPD's. Reporters and services may read none here.
pub fn scoped(caller: &Caller) -> Result<Select<case::Entity>, GrpcStatus> {
    caller.require(&[Role::OpdOfficer, Role::Operator, Role::Supervisor, Role::Auditor])?;
    let q = case::Entity::find();
    Ok(match (&caller.role, &caller.opd) {
        (Role::OpdOfficer, Some(opd)) => q.filter(case::Column::OpdId.eq(opd.as_str())),
        (Role::OpdOfficer, None) => return Err(GrpcStatus::permission_denied("officer token without OPD")),
        _ => q,
    })
}

fn parse_case_id(s: &str) -> Result<CaseId, Error> {
    s.parse::<CaseId>().map_err(|e| invalid("case_id", e.to_string()))
}

/// The acting officer's subject and OPD.
fn officer(caller: &Caller) -> Result<(String, String), GrpcStatus> {
    caller.require(&[Role::OpdOfficer])?;
    let opd = caller
        .opd
        .as_ref()
        .ok_or_else(|| GrpcStatus::permission_denied("officer token without OPD"))?;
    Ok((caller.subject.clone(), opd.to_string()))
}

/// Loads the officer's own case for update; NOT_FOUND for another OPD's or a missing one.
async fn own_case(txn: &DatabaseTransaction, opd: &str, id: CaseId) -> Result<case::Model, Error> {
    lapor_platform::telemetry::record_opd(opd);
    let row = case::Entity::find_by_id(id.as_uuid())
        .filter(case::Column::OpdId.eq(opd))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(Error::NotFound)?;
    lapor_platform::telemetry::record_report(row.report_id, None);
    Ok(row)
}

/// Refuses work on a case that ended for its OPD (transferred) or is completed.
fn require_open(row: &case::Model) -> Result<(), Error> {
    if row.transferred_at.is_some() {
        return Err(Error::FailedPrecondition(
            "the case ended for this OPD: its transfer was requested".into(),
        ));
    }
    if row.status == Status::Completed.code() {
        return Err(Error::FailedPrecondition(
            "the case is completed (Selesai)".into(),
        ));
    }
    Ok(())
}

/// How the reporter is shown to the OPD: never an identity.
pub fn reporter_display(m: &case::Model) -> String {
    if m.anonim {
        "anonim".to_owned()
    } else {
        format!("pelapor-{}", &m.reporter_ref.simple().to_string()[..8])
    }
}

/// A case row as the API shows it.
pub fn to_proto(m: case::Model) -> pb::Case {
    let reporter_display = reporter_display(&m);
    pb::Case {
        case_id: m.id.to_string(),
        report_id: m.report_id.to_string(),
        tracking_id: m.tracking_id,
        opd_id: m.opd_id,
        kind: ReportKind::from_code(&m.kind).map_or(0, |k| kind_to_proto(k) as i32),
        title: m.title,
        body: m.body,
        category_id: m.category_id.unwrap_or_default(),
        location: m
            .location
            .and_then(|l| serde_json::from_value::<Location>(l).ok())
            .map(|l| location_to_proto(&l)),
        status: lapor_events::codec::status_code_to_proto(&m.status),
        reporter_display,
        anonim: m.anonim,
        rahasia: m.rahasia,
        submitted_at: Some(ts(m.submitted_at)),
        opened_at: Some(ts(m.opened_at)),
        transferred_at: m.transferred_at.map(ts),
        transfer_reason: m.transfer_reason.unwrap_or_default(),
        assignee: m.assignee.unwrap_or_default(),
        due_at: m.due_at.map(ts),
        waiting_for_reporter: m.info_requested_at.is_some(),
        reply_pending: m.reply_pending_by.is_some(),
        auto_close_at: m.auto_close_at.map(ts),
        closed_at: m.closed_at.map(ts),
        rating: m.rating.and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
        last_follow_up_at: m.last_follow_up_at.map(ts),
        ombudsman_requested_at: m.ombudsman_requested_at.map(ts),
    }
}

/// A timeline entry as the API shows it.
pub fn entry_to_proto(e: timeline::Model) -> pb::TimelineEntry {
    use pb::EntryKind as K;
    let k = match e.kind.as_str() {
        kind::OPENED => K::Opened,
        kind::FOLLOW_UP => K::FollowUp,
        kind::NOTE => K::Note,
        kind::ASSIGNED => K::Assigned,
        kind::INFO_REQUEST => K::InfoRequest,
        kind::REPORTER_REPLY => K::ReporterReply,
        kind::OPERATOR_REPLY => K::OperatorReply,
        kind::TRANSFER_REQUESTED => K::TransferRequested,
        kind::CLOSED => K::Closed,
        kind::RATED => K::Rated,
        kind::OMBUDSMAN_REQUESTED => K::OmbudsmanRequested,
        kind::ATTACHMENT => K::Attachment,
        _ => K::Unspecified,
    };
    let v = match e.visibility.as_str() {
        "PUBLIC" => pb::Visibility::Public,
        "REPORTER" => pb::Visibility::Reporter,
        "INTERNAL" => pb::Visibility::Internal,
        _ => pb::Visibility::Unspecified,
    };
    pb::TimelineEntry {
        entry_id: e.id.to_string(),
        kind: k as i32,
        visibility: v as i32,
        author: e.author,
        text: e.text,
        at: Some(ts(e.at)),
        attachment_id: e.attachment_id.map(|a| a.to_string()).unwrap_or_default(),
        opd_id: e.opd_id,
    }
}

/// An attachment row as the API shows it.
pub fn attachment_to_proto(a: &attachment::Model) -> pb::Attachment {
    pb::Attachment {
        attachment_id: a.id.to_string(),
        content_type: a.content_type.clone(),
        size: u64::try_from(a.size).unwrap_or(0),
        sha256: a.sha256.clone(),
        file_name: a.file_name.clone(),
        public: a.public,
        uploaded_by: a.uploaded_by.clone(),
        uploaded_at: Some(ts(a.uploaded_at)),
    }
}

/// Conditions of "the OPD's clock runs and has passed `limit`".
/// Open cases due by `limit`; with `pause_on_question`, not those waiting for the reporter
/// (their clock stands still).
fn due_before(limit: DateTime<Utc>, pause_on_question: bool) -> Condition {
    let c = Condition::all()
        .add(case::Column::DueAt.lte(limit))
        .add(case::Column::TransferredAt.is_null())
        .add(case::Column::Status.ne(Status::Completed.code()));
    if pause_on_question {
        c.add(case::Column::InfoRequestedAt.is_null())
    } else {
        c
    }
}

/// Entries of a report's timeline visible at `clearance`, oldest first.
pub async fn timeline_of(
    db: &impl sea_orm::ConnectionTrait,
    filter: Condition,
    clearance: Visibility,
) -> Result<Vec<pb::TimelineEntry>, Error> {
    Ok(timeline::Entity::find()
        .filter(filter)
        .filter(timeline::Column::Visibility.is_in(clearance.readable_by().iter().copied()))
        .order_by_asc(timeline::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(entry_to_proto)
        .collect())
}

/// Streams an attachment: the description first, then the bytes in bounded chunks.
pub async fn stream_attachment<M: Chunk>(core: &Core, a: attachment::Model) -> Result<ChunkStream<M>, Error> {
    let data = core.blobs.get(&a.storage_key).await?;
    let desc = attachment_to_proto(&a);
    let parts = crate::attachments::chunks(data);
    let s = futures::stream::iter(
        parts
            .into_iter()
            .enumerate()
            .map(move |(i, data)| Ok(M::make((i == 0).then(|| desc.clone()), data.to_vec()))),
    );
    Ok(Box::pin(s))
}

/// Receives an upload for `row`'s case and stores it: the blob first, then (in one transaction)
/// its row, its timeline entry and `AttachmentAdded`. A failure after the blob leaves only an
/// unreferenced blob, never a row without bytes.
pub async fn store_upload<S>(
    core: &Core,
    row: &case::Model,
    header: &pb::UploadHeader,
    uploaded_by: &str,
    visibility: Visibility,
    chunks: S,
) -> Result<attachment::Model, Error>
where
    S: Stream<Item = Result<bytes::Bytes, Error>> + Unpin,
{
    let file_name = header.file_name.trim().to_owned();
    if file_name.chars().count() > 200 {
        return Err(invalid(
            "header.file.file_name",
            "must have at most 200 characters",
        ));
    }
    let got = crate::attachments::receive(&core.attachments, &header.content_type, chunks).await?;
    let id = uuid::Uuid::now_v7();
    let key = format!("{}/{id}", row.report_id);
    core.blobs.put(&key, got.data.clone()).await?;
    let now = core.now();
    let public = visibility == Visibility::Public;
    let txn = lapor_platform::db::begin_write(&core.db).await?;
    let a = attachment::ActiveModel {
        id: Set(id),
        case_id: Set(row.id),
        report_id: Set(row.report_id),
        opd_id: Set(row.opd_id.clone()),
        content_type: Set(got.content_type.clone()),
        size: Set(i64::try_from(got.data.len()).unwrap_or(i64::MAX)),
        sha256: Set(got.sha256),
        file_name: Set(file_name.clone()),
        public: Set(public),
        uploaded_by: Set(uploaded_by.to_owned()),
        storage_key: Set(key),
        uploaded_at: Set(now),
    }
    .insert(&txn)
    .await?;
    core.record(
        &txn,
        row,
        Entry {
            kind: kind::ATTACHMENT,
            visibility,
            author: uploaded_by,
            text: &file_name,
            at: now,
            attachment_id: Some(id),
        },
        |_| {
            Ok(Event::AttachmentAdded(AttachmentAdded {
                case: case_ref(row)?,
                attachment_id: id,
                content_type: got.content_type,
                size: u64::try_from(got.data.len()).unwrap_or(u64::MAX),
                public,
                added_at: now,
                added_by: uploaded_by.to_owned(),
            }))
        },
    )
    .await?;
    txn.commit().await?;
    core.committed();
    tracing::info!(case_id = %row.id, report_id = %row.report_id, attachment_id = %id, size = a.size, content_type = %a.content_type, "attachment stored");
    Ok(a)
}

/// Turns an upload's remaining messages into byte chunks (a second header is an error).
pub fn byte_chunks<M, F>(
    stream: Streaming<M>,
    chunk_of: F,
) -> impl Stream<Item = Result<bytes::Bytes, Error>> + Unpin
where
    M: Send + 'static,
    F: Fn(M) -> Option<Vec<u8>> + Send + 'static,
{
    stream.map(move |m| match m {
        Ok(m) => chunk_of(m)
            .map(bytes::Bytes::from)
            .ok_or_else(|| invalid("header", "only the first message may be a header")),
        Err(s) => Err(Error::FailedPrecondition(format!(
            "upload interrupted: {}",
            s.message()
        ))),
    })
}

impl Api {
    /// Runs `f` on the officer's own open case in one transaction, then commits and wakes the relay.
    async fn act<T, F>(&self, caller: &Caller, case_id: CaseId, f: F) -> Result<T, Error>
    where
        F: for<'a> FnOnce(
            &'a DatabaseTransaction,
            case::Model,
        )
            -> Pin<Box<dyn std::future::Future<Output = Result<T, Error>> + Send + 'a>>,
    {
        let opd = caller.opd.as_ref().map(ToString::to_string).unwrap_or_default();
        let txn = lapor_platform::db::begin_write(&self.core.db).await?;
        let row = own_case(&txn, &opd, case_id).await?;
        let out = f(&txn, row).await?;
        txn.commit().await?;
        self.core.committed();
        Ok(out)
    }
}

#[tonic::async_trait]
impl CaseService for Api {
    async fn list_cases(
        &self,
        req: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, GrpcStatus> {
        let caller = Caller::of(&req)?;
        let mut q = scoped(&caller)?;
        let r = req.into_inner();
        let now = self.core.now();
        let mut v = Violations::new();
        let limit = lapor_platform::paging::page_size(r.page_size, 50, 200, &mut v);
        if !r.tracking_id.is_empty()
            && let Some(t) = v.check("tracking_id", r.tracking_id.parse::<TrackingId>())
        {
            q = q.filter(case::Column::TrackingId.eq(t.as_str()));
        }
        if !r.statuses.is_empty() {
            let mut codes = Vec::new();
            for s in &r.statuses {
                match status_from_proto(*s) {
                    Some(s) => codes.push(s.code()),
                    None => v.add("statuses", format!("unknown status {s}")),
                }
            }
            q = q.filter(case::Column::Status.is_in(codes));
        }
        if !r.assignee.trim().is_empty() {
            q = q.filter(case::Column::Assignee.eq(r.assignee.trim()));
        }
        if r.overdue {
            q = q
                .filter(due_before(now, self.core.policy.pause_on_question).add(case::Column::DueAt.lt(now)));
        }
        if r.due_within_working_days > 0 {
            let limit = self
                .core
                .calendar
                .get()
                .add_working_days(now, r.due_within_working_days);
            q = q.filter(due_before(limit, self.core.policy.pause_on_question));
        }
        let text = r.text.trim().to_lowercase();
        if !text.is_empty() {
            if !(2..=100).contains(&text.chars().count()) {
                v.add("text", "must have 2 to 100 characters");
            }
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\');
            q = q.filter(
                Condition::any()
                    .add(Expr::expr(Func::lower(Expr::col(case::Column::Title))).like(pattern.clone()))
                    .add(Expr::expr(Func::lower(Expr::col(case::Column::Body))).like(pattern)),
            );
        }
        if !r.opd_id.is_empty()
            && caller.role != Role::OpdOfficer
            && let Some(o) = v.check("opd_id", r.opd_id.parse::<lapor_domain::OpdId>())
        {
            q = q.filter(case::Column::OpdId.eq(o.as_str()));
        }
        if !r.page_token.is_empty() {
            match r.page_token.parse::<CaseId>() {
                // Case ids are UUIDv7: ordering by id is ordering by opening time.
                Ok(after) => q = q.filter(case::Column::Id.lt(after.as_uuid())),
                Err(_) => v.add("page_token", "not a page token from this API"),
            }
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let rows = q
            .order_by_desc(case::Column::Id)
            .limit(limit + 1)
            .all(&self.core.db)
            .await
            .map_err(Error::from)?;
        let (rows, next_page_token) =
            lapor_platform::paging::split_page(rows, limit, |last| last.id.to_string());
        Ok(Response::new(pb::ListCasesResponse {
            cases: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_case(
        &self,
        req: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::GetCaseResponse>, GrpcStatus> {
        let q = scoped(&Caller::of(&req)?)?;
        let id = parse_case_id(&req.get_ref().case_id)?;
        let row = q
            .filter(case::Column::Id.eq(id.as_uuid()))
            .one(&self.core.db)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        let timeline = timeline_of(
            &self.core.db,
            Condition::all().add(timeline::Column::CaseId.eq(row.id)),
            Visibility::Internal,
        )
        .await?;
        let attachments = attachment::Entity::find()
            .filter(attachment::Column::CaseId.eq(row.id))
            .order_by_asc(attachment::Column::Id)
            .all(&self.core.db)
            .await
            .map_err(Error::from)?
            .iter()
            .map(attachment_to_proto)
            .collect();
        Ok(Response::new(pb::GetCaseResponse {
            case: Some(to_proto(row)),
            timeline,
            attachments,
        }))
    }

    async fn assign_case(
        &self,
        req: Request<pb::AssignCaseRequest>,
    ) -> Result<Response<pb::AssignCaseResponse>, GrpcStatus> {
        let caller = Caller::of(&req)?;
        let (subject, _) = officer(&caller)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let id = v.check("case_id", r.case_id.parse::<CaseId>());
        let assignee = text_field(&mut v, "assignee", &r.assignee, 1, 128);
        v.into_result().map_err(Error::InvalidArgument)?;
        let id = id.ok_or_else(|| GrpcStatus::internal("validated id missing"))?;
        let core = self.core.clone();
        let row = self
            .act(&caller, id, move |txn, row| {
                Box::pin(async move {
                    require_open(&row)?;
                    let now = core.now();
                    let mut m: case::ActiveModel = row.clone().into();
                    m.assignee = Set(Some(assignee.clone()));
                    let updated = m.update(txn).await?;
                    core.record(
                        txn,
                        &row,
                        Entry {
                            kind: kind::ASSIGNED,
                            visibility: Visibility::Internal,
                            author: &subject,
                            text: &assignee,
                            at: now,
                            attachment_id: None,
                        },
                        |_| {
                            Ok(Event::CaseAssigned(CaseAssigned {
                                case: case_ref(&row)?,
                                assignee: assignee.clone(),
                                assigned_at: now,
                                assigned_by: subject.clone(),
                            }))
                        },
                    )
                    .await?;
                    Ok(updated)
                })
            })
            .await?;
        tracing::info!(case_id = %row.id, report_id = %row.report_id, opd_id = %row.opd_id, "case assigned");
        Ok(Response::new(pb::AssignCaseResponse {
            case: Some(to_proto(row)),
        }))
    }

    async fn add_internal_note(
        &self,
        req: Request<pb::AddInternalNoteRequest>,
    ) -> Result<Response<pb::AddInternalNoteResponse>, GrpcStatus> {
        let caller = Caller::of(&req)?;
        let (subject, _) = officer(&caller)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let id = v.check("case_id", r.case_id.parse::<CaseId>());
        let text = text_field(&mut v, "text", &r.text, 1, 5000);
        v.into_result().map_err(Error::InvalidArgument)?;
        let id = id.ok_or_else(|| GrpcStatus::internal("validated id missing"))?;
        let core = self.core.clone();
        let entry = self
            .act(&caller, id, move |txn, row| {
                Box::pin(async move {
                    // Notes may document a case after it ended, too.
                    let now = core.now();
                    let e = core
                        .record(
                            txn,
                            &row,
                            Entry {
                                kind: kind::NOTE,
                                visibility: Visibility::Internal,
                                author: &subject,
                                text: &text,
                                at: now,
                                attachment_id: None,
                            },
                            |e| {
                                Ok(Event::CaseNoteAdded(CaseNoteAdded {
                                    case: case_ref(&row)?,
                                    entry_id: e.id,
                                    added_at: now,
                                    added_by: subject.clone(),
                                }))
                            },
                        )
                        .await?;
                    Ok(e)
                })
            })
            .await?;
        Ok(Response::new(pb::AddInternalNoteResponse {
            entry: Some(entry_to_proto(entry)),
        }))
    }

    async fn request_information(
        &self,
        req: Request<pb::RequestInformationRequest>,
    ) -> Result<Response<pb::RequestInformationResponse>, GrpcStatus> {
        let caller = Caller::of(&req)?;
        let (subject, _) = officer(&caller)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let id = v.check("case_id", r.case_id.parse::<CaseId>());
        let question = text_field(&mut v, "question", &r.question, 10, 2000);
        v.into_result().map_err(Error::InvalidArgument)?;
        let id = id.ok_or_else(|| GrpcStatus::internal("validated id missing"))?;
        let core = self.core.clone();
        let (entry, row) = self
            .act(&caller, id, move |txn, row| {
                Box::pin(async move {
                    require_open(&row)?;
                    if row.info_requested_at.is_some() {
                        return Err(Error::FailedPrecondition(
                            "an earlier question to the reporter is still unanswered".into(),
                        ));
                    }
                    let now = core.now();
                    let mut m: case::ActiveModel = row.clone().into();
                    m.info_requested_at = Set(Some(now));
                    if row.status == Status::InProgress.code() && row.reply_pending_by.is_none() {
                        // The question restarts the reporter's reply window.
                        m.auto_close_at = Set(Some(core.auto_close_at(now)));
                    }
                    let updated = m.update(txn).await?;
                    let e = core
                        .record(
                            txn,
                            &row,
                            Entry {
                                kind: kind::INFO_REQUEST,
                                visibility: Visibility::Reporter,
                                author: &subject,
                                text: &question,
                                at: now,
                                attachment_id: None,
                            },
                            |e| {
                                Ok(Event::CaseInfoRequested(CaseInfoRequested {
                                    case: case_ref(&row)?,
                                    entry_id: e.id,
                                    question: question.clone(),
                                    requested_at: now,
                                    requested_by: subject.clone(),
                                }))
                            },
                        )
                        .await?;
                    Ok((e, updated))
                })
            })
            .await?;
        tracing::info!(case_id = %row.id, report_id = %row.report_id, opd_id = %row.opd_id, "information requested from the reporter");
        Ok(Response::new(pb::RequestInformationResponse {
            entry: Some(entry_to_proto(entry)),
            case: Some(to_proto(row)),
        }))
    }

    async fn post_follow_up(
        &self,
        req: Request<pb::PostFollowUpRequest>,
    ) -> Result<Response<pb::PostFollowUpResponse>, GrpcStatus> {
        let caller = Caller::of(&req)?;
        let (subject, opd) = officer(&caller)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let id = v.check("case_id", r.case_id.parse::<CaseId>());
        let text = text_field(&mut v, "text", &r.text, 10, 5000);
        v.into_result().map_err(Error::InvalidArgument)?;
        let id = id.ok_or_else(|| GrpcStatus::internal("validated id missing"))?;
        let core = self.core.clone();
        let (entry, row) = self
            .act(&caller, id, move |txn, row| {
                Box::pin(async move {
                    if row.transferred_at.is_some() {
                        return Err(Error::FailedPrecondition(
                            "the case ended for this OPD: its transfer was requested".into(),
                        ));
                    }
                    let now = core.now();
                    let opd_id = opd
                        .parse()
                        .map_err(|_| Error::Internal("token OPD is not an OPD id".into()))?;
                    decide(
                        &lifecycle(&row)?,
                        &Command::FollowUp { opd: opd_id },
                        &core.ctx(now).view(),
                    )?;
                    let mut m: case::ActiveModel = row.clone().into();
                    m.status = Set(Status::InProgress.code().to_owned());
                    m.last_follow_up_at = Set(Some(now));
                    m.reply_pending_by = Set(None);
                    m.due_at = Set(None);
                    m.auto_close_at = Set(Some(core.auto_close_at(now)));
                    let updated = m.update(txn).await?;
                    let e = core
                        .record(
                            txn,
                            &row,
                            Entry {
                                kind: kind::FOLLOW_UP,
                                visibility: Visibility::Public,
                                author: &subject,
                                text: &text,
                                at: now,
                                attachment_id: None,
                            },
                            |e| {
                                let c = case_ref(&row)?;
                                Ok(Event::CaseFollowedUp(CaseFollowedUp {
                                    case_id: c.case_id,
                                    report_id: c.report_id,
                                    tracking_id: c.tracking_id,
                                    opd_id: c.opd_id,
                                    follow_up_id: e.id,
                                    text: text.clone(),
                                    posted_at: now,
                                    posted_by: subject.clone(),
                                    reporter_ref: c.reporter_ref,
                                }))
                            },
                        )
                        .await?;
                    Ok((e, updated))
                })
            })
            .await?;
        tracing::info!(case_id = %row.id, report_id = %row.report_id, opd_id = %row.opd_id, "follow-up posted");
        Ok(Response::new(pb::PostFollowUpResponse {
            follow_up_id: entry.id.to_string(),
            case: Some(to_proto(row)),
        }))
    }

    async fn request_transfer(
        &self,
        req: Request<pb::RequestTransferRequest>,
    ) -> Result<Response<pb::RequestTransferResponse>, GrpcStatus> {
        let caller = Caller::of(&req)?;
        let (subject, opd) = officer(&caller)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let id = v.check("case_id", r.case_id.parse::<CaseId>());
        let reason = text_field(&mut v, "reason", &r.reason, 1, 1000);
        v.into_result().map_err(Error::InvalidArgument)?;
        let id = id.ok_or_else(|| GrpcStatus::internal("validated id missing"))?;
        let core = self.core.clone();
        let row = self
            .act(&caller, id, move |txn, row| {
                Box::pin(async move {
                    if row.transferred_at.is_some() {
                        return Err(Error::FailedPrecondition(
                            "the case already ended: its transfer was requested".into(),
                        ));
                    }
                    let now = core.now();
                    let opd_id: lapor_domain::OpdId = opd
                        .parse()
                        .map_err(|_| Error::Internal("token OPD is not an OPD id".into()))?;
                    // The lifecycle decides, as everywhere: only the holder of a dispatched or
                    // followed-up report may ask for its transfer.
                    decide(
                        &lifecycle(&row)?,
                        &Command::RequestTransfer {
                            opd: opd_id.clone(),
                            reason: reason.clone(),
                        },
                        &core.ctx(now).view(),
                    )?;
                    let mut m: case::ActiveModel = row.clone().into();
                    m.transferred_at = Set(Some(now));
                    m.transfer_reason = Set(Some(reason.clone()));
                    m.transferred_by = Set(Some(subject.clone()));
                    m.status = Set(Status::Submitted.code().to_owned());
                    m.due_at = Set(None);
                    m.auto_close_at = Set(None);
                    let updated = m.update(txn).await?;
                    core.record(
                        txn,
                        &row,
                        Entry {
                            kind: kind::TRANSFER_REQUESTED,
                            visibility: Visibility::Internal,
                            author: &subject,
                            text: &reason,
                            at: now,
                            attachment_id: None,
                        },
                        |_| {
                            let c = case_ref(&row)?;
                            Ok(Event::CaseTransferRequested(CaseTransferRequested {
                                case_id: c.case_id,
                                report_id: c.report_id,
                                tracking_id: c.tracking_id,
                                opd_id: opd_id.clone(),
                                reason: reason.clone(),
                                requested_at: now,
                                requested_by: subject.clone(),
                            }))
                        },
                    )
                    .await?;
                    Ok(updated)
                })
            })
            .await?;
        tracing::info!(case_id = %row.id, report_id = %row.report_id, opd_id = %row.opd_id, "transfer requested");
        Ok(Response::new(pb::RequestTransferResponse {
            case: Some(to_proto(row)),
        }))
    }

    async fn post_operator_reply(
        &self,
        req: Request<pb::PostOperatorReplyRequest>,
    ) -> Result<Response<pb::PostOperatorReplyResponse>, GrpcStatus> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator])?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let id = v.check("case_id", r.case_id.parse::<CaseId>());
        let text = text_field(&mut v, "text", &r.text, 10, 5000);
        v.into_result().map_err(Error::InvalidArgument)?;
        let id = id.ok_or_else(|| GrpcStatus::internal("validated id missing"))?;
        let txn = lapor_platform::db::begin_write(&self.core.db)
            .await
            .map_err(Error::from)?;
        let row = case::Entity::find_by_id(id.as_uuid())
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        let (entry, row) = reply(&self.core, &txn, row, Replier::Operator, &caller.subject, &text).await?;
        txn.commit().await.map_err(Error::from)?;
        self.core.committed();
        Ok(Response::new(pb::PostOperatorReplyResponse {
            entry: Some(entry_to_proto(entry)),
            case: Some(to_proto(row)),
        }))
    }

    async fn upload_attachment(
        &self,
        req: Request<Streaming<pb::UploadAttachmentRequest>>,
    ) -> Result<Response<pb::UploadAttachmentResponse>, GrpcStatus> {
        use pb::upload_attachment_request::Part;
        let caller = Caller::of(&req)?;
        let (subject, opd) = officer(&caller)?;
        let mut stream = req.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| invalid("header", "the upload is empty"))?;
        let Some(Part::Header(h)) = first.part else {
            return Err(invalid("header", "the first message must be the header").into());
        };
        let id = parse_case_id(&h.case_id)?;
        let file = h.file.unwrap_or_default();
        let row = case::Entity::find_by_id(id.as_uuid())
            .filter(case::Column::OpdId.eq(opd.as_str()))
            .one(&self.core.db)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        if row.transferred_at.is_some() {
            return Err(Error::FailedPrecondition(
                "the case ended for this OPD: its transfer was requested".into(),
            )
            .into());
        }
        let visibility = if file.public {
            Visibility::Public
        } else {
            Visibility::Internal
        };
        let chunks = byte_chunks(stream, |m: pb::UploadAttachmentRequest| match m.part {
            Some(Part::Chunk(b)) => Some(b),
            _ => None,
        });
        let a = store_upload(&self.core, &row, &file, &subject, visibility, chunks).await?;
        Ok(Response::new(pb::UploadAttachmentResponse {
            attachment: Some(attachment_to_proto(&a)),
        }))
    }

    type GetAttachmentStream = ChunkStream<pb::GetAttachmentResponse>;

    async fn get_attachment(
        &self,
        req: Request<pb::GetAttachmentRequest>,
    ) -> Result<Response<Self::GetAttachmentStream>, GrpcStatus> {
        let caller = Caller::of(&req)?;
        scoped(&caller)?;
        let id: uuid::Uuid = req
            .get_ref()
            .attachment_id
            .parse()
            .map_err(|_| invalid("attachment_id", "not a UUID"))?;
        let a = attachment::Entity::find_by_id(id)
            .one(&self.core.db)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        if let (Role::OpdOfficer, Some(opd)) = (&caller.role, &caller.opd) {
            // An officer reads its own OPD's attachments, and those the reporter may see of a
            // report its OPD holds a case of.
            let own = a.opd_id == opd.as_str();
            let shared = (a.public || a.uploaded_by == core::REPORTER_AUTHOR)
                && case::Entity::find()
                    .filter(case::Column::ReportId.eq(a.report_id))
                    .filter(case::Column::OpdId.eq(opd.as_str()))
                    .one(&self.core.db)
                    .await
                    .map_err(Error::from)?
                    .is_some();
            if !own && !shared {
                return Err(Error::NotFound.into());
            }
        }
        Ok(Response::new(stream_attachment(&self.core, a).await?))
    }
}

/// A reply (reporter's or operator's) on a case, in `txn`. In Proses it obliges the OPD to answer
/// again (its clock starts) and stops the auto-close; a reporter's reply also answers an open
/// question, which restarts the OPD's stopped clock where it left off.
pub async fn reply(
    core: &Core,
    txn: &DatabaseTransaction,
    row: case::Model,
    by: Replier,
    author: &str,
    text: &str,
) -> Result<(timeline::Model, case::Model), Error> {
    let now = core.now();
    let answers = match by {
        Replier::Reporter => row.info_requested_at,
        Replier::Operator => None,
    };
    let in_progress = row.status == Status::InProgress.code() && row.transferred_at.is_none();
    if in_progress {
        decide(&lifecycle(&row)?, &Command::Reply { by }, &core.ctx(now).view())?;
    } else if answers.is_none() || row.transferred_at.is_some() || row.status == Status::Completed.code() {
        // Before the first follow-up the reporter may only answer the OPD's question.
        decide(&lifecycle(&row)?, &Command::Reply { by }, &core.ctx(now).view())?;
    }
    let mut m: case::ActiveModel = row.clone().into();
    if let Some(asked) = answers {
        m.info_requested_at = Set(None);
        if let Some(due) = row.due_at.filter(|_| core.policy.pause_on_question) {
            // The clock stood still while the OPD waited: its deadline moves by the working
            // days the question was open.
            let calendar = core.calendar.get();
            let paused = calendar.working_days_between(asked, now);
            m.due_at = Set(Some(calendar.add_working_days(due, paused)));
        }
    }
    if in_progress {
        m.reply_pending_by = Set(Some(core::replier_code(by).to_owned()));
        m.last_reply_at = Set(Some(now));
        m.auto_close_at = Set(None);
        if row.reply_pending_by.is_none() {
            m.due_at = Set(Some(core.answer_due(now)));
        }
    }
    let updated = m.update(txn).await?;
    let e = core
        .record(
            txn,
            &row,
            Entry {
                kind: match by {
                    Replier::Reporter => kind::REPORTER_REPLY,
                    Replier::Operator => kind::OPERATOR_REPLY,
                },
                visibility: Visibility::Reporter,
                author,
                text,
                at: now,
                attachment_id: None,
            },
            |e| {
                Ok(Event::CaseReplied(CaseReplied {
                    case: case_ref(&row)?,
                    entry_id: e.id,
                    by,
                    replied_at: now,
                    answers_info_request_at: answers,
                }))
            },
        )
        .await?;
    tracing::info!(case_id = %row.id, report_id = %row.report_id, opd_id = %row.opd_id, by = core::replier_code(by), "reply recorded");
    Ok((e, updated))
}
