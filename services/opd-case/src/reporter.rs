//! ReporterCaseService: the reporter's side, authenticated by tracking id and access token (the
//! token's SHA-256 arrived with `ReportSubmitted`). Works the same for anonymous reports.

use std::sync::Arc;

use chrono::Duration;
use lapor_domain::events::{CaseClosed, CaseRated, Event, OmbudsmanRequested, PublicNameChanged};
use lapor_domain::lifecycle::{Closer, Replier};
use lapor_domain::{Command, Status, TrackingId, Violations, decide};
use lapor_events::codec::ts;
use lapor_platform::{Caller, Role};
use lapor_proto::cases::v1::{self as pb, reporter_case_service_server::ReporterCaseService};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tonic::{Request, Response, Status as GrpcStatus, Streaming};

use crate::api::{
    ChunkStream, attachment_to_proto, byte_chunks, entry_to_proto, reply, store_upload, stream_attachment,
    timeline_of,
};
use crate::core::{Core, Entry, REPORTER_AUTHOR, SYSTEM_AUTHOR, Visibility, case_ref, kind};
use crate::entities::{attachment, case, credential, timeline};
use crate::error::{Error, invalid};

/// The ReporterCaseService.
pub struct ReporterApi {
    pub core: Arc<Core>,
}

/// Checks a reporter credential; returns the report's credential row. A wrong token and an
/// unknown tracking id are the same NOT_FOUND.
pub async fn verify(
    db: &impl sea_orm::ConnectionTrait,
    c: Option<&pb::ReporterCredential>,
    field: &str,
) -> Result<credential::Model, Error> {
    let c = c.ok_or_else(|| invalid(field, "the tracking id and access token are required"))?;
    let mut v = Violations::new();
    let tracking = v.check(
        &format!("{field}.tracking_id"),
        c.tracking_id.parse::<TrackingId>(),
    );
    if c.access_token.trim().is_empty() {
        v.add(format!("{field}.access_token"), "required");
    }
    v.into_result().map_err(Error::InvalidArgument)?;
    let tracking = tracking.ok_or_else(|| Error::Internal("validated tracking id missing".into()))?;
    let row = credential::Entity::find()
        .filter(credential::Column::TrackingId.eq(tracking.as_str()))
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    if lapor_platform::reporter::token_matches(&c.access_token, &row.token_hash) {
        Ok(row)
    } else {
        Err(Error::NotFound)
    }
}

fn front(caller: &Caller) -> Result<(), GrpcStatus> {
    caller.require(&[Role::Reporter, Role::Service])
}

/// Why the reporter's side has nothing yet.
const NOT_AT_AN_OPD: &str =
    "the report has not reached an OPD yet; its status is with intake (GetSubmission)";

/// The newest case row of a report, locked for update.
async fn newest_case(txn: &DatabaseTransaction, report_id: uuid::Uuid) -> Result<case::Model, Error> {
    case::Entity::find()
        .filter(case::Column::ReportId.eq(report_id))
        .order_by_desc(case::Column::Id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| Error::FailedPrecondition(NOT_AT_AN_OPD.into()))
}

/// The case currently holding the report (not one that ended by a transfer).
async fn holding_case(txn: &DatabaseTransaction, report_id: uuid::Uuid) -> Result<case::Model, Error> {
    let row = newest_case(txn, report_id).await?;
    if row.transferred_at.is_some() {
        return Err(Error::FailedPrecondition(
            "the report is back with the operator to be sent to the right OPD".into(),
        ));
    }
    Ok(row)
}

impl ReporterApi {
    async fn begin(
        &self,
        c: Option<&pb::ReporterCredential>,
    ) -> Result<(DatabaseTransaction, credential::Model), Error> {
        let txn = lapor_platform::db::begin_write(&self.core.db).await?;
        let cred = verify(&txn, c, "credential").await?;
        Ok((txn, cred))
    }

    async fn finish(&self, txn: DatabaseTransaction) -> Result<(), Error> {
        txn.commit().await?;
        self.core.committed();
        Ok(())
    }
}

#[tonic::async_trait]
impl ReporterCaseService for ReporterApi {
    async fn get_timeline(
        &self,
        req: Request<pb::GetTimelineRequest>,
    ) -> Result<Response<pb::GetTimelineResponse>, GrpcStatus> {
        front(&Caller::of(&req)?)?;
        let db = &self.core.db;
        let cred = verify(db, req.get_ref().credential.as_ref(), "credential").await?;
        let newest = case::Entity::find()
            .filter(case::Column::ReportId.eq(cred.report_id))
            .order_by_desc(case::Column::Id)
            .one(db)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::FailedPrecondition(NOT_AT_AN_OPD.into()))?;
        let timeline = timeline_of(
            db,
            Condition::all().add(timeline::Column::ReportId.eq(cred.report_id)),
            Visibility::Reporter,
        )
        .await?;
        let attachments = attachment::Entity::find()
            .filter(attachment::Column::ReportId.eq(cred.report_id))
            .filter(
                Condition::any()
                    .add(attachment::Column::Public.eq(true))
                    .add(attachment::Column::UploadedBy.eq(REPORTER_AUTHOR)),
            )
            .order_by_asc(attachment::Column::Id)
            .all(db)
            .await
            .map_err(Error::from)?
            .iter()
            .map(attachment_to_proto)
            .collect();
        let back_with_operator = newest.transferred_at.is_some();
        let ombudsman_at = cred.submitted_at + Duration::days(i64::from(self.core.policy.ombudsman_days));
        Ok(Response::new(pb::GetTimelineResponse {
            tracking_id: cred.tracking_id,
            status: if back_with_operator {
                lapor_events::codec::status_to_proto(Status::Submitted) as i32
            } else {
                lapor_events::codec::status_code_to_proto(&newest.status)
            },
            opd_id: if back_with_operator {
                String::new()
            } else {
                newest.opd_id.clone()
            },
            timeline,
            attachments,
            waiting_for_reporter: !back_with_operator && newest.info_requested_at.is_some(),
            auto_close_at: newest.auto_close_at.filter(|_| !back_with_operator).map(ts),
            rating: newest.rating.and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
            ombudsman_available_at: Some(ts(ombudsman_at)),
            ombudsman_requested_at: newest.ombudsman_requested_at.map(ts),
        }))
    }

    async fn reply(&self, req: Request<pb::ReplyRequest>) -> Result<Response<pb::ReplyResponse>, GrpcStatus> {
        front(&Caller::of(&req)?)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let text = crate::core::text_field(&mut v, "text", &r.text, 1, 5000);
        v.into_result().map_err(Error::InvalidArgument)?;
        let (txn, cred) = self.begin(r.credential.as_ref()).await?;
        let row = holding_case(&txn, cred.report_id).await?;
        let (entry, _) = reply(&self.core, &txn, row, Replier::Reporter, REPORTER_AUTHOR, &text).await?;
        self.finish(txn).await?;
        Ok(Response::new(pb::ReplyResponse {
            entry: Some(entry_to_proto(entry)),
        }))
    }

    async fn confirm_resolved(
        &self,
        req: Request<pb::ConfirmResolvedRequest>,
    ) -> Result<Response<pb::ConfirmResolvedResponse>, GrpcStatus> {
        front(&Caller::of(&req)?)?;
        let (txn, cred) = self.begin(req.get_ref().credential.as_ref()).await?;
        let row = holding_case(&txn, cred.report_id).await?;
        let now = self.core.now();
        decide(
            &crate::core::lifecycle(&row)?,
            &Command::Confirm,
            &self.core.ctx(now).view(),
        )
        .map_err(Error::from)?;
        close(&self.core, &txn, &row, Closer::Reporter, now).await?;
        self.finish(txn).await?;
        Ok(Response::new(pb::ConfirmResolvedResponse {
            closed_at: Some(ts(now)),
        }))
    }

    async fn rate_case(
        &self,
        req: Request<pb::RateCaseRequest>,
    ) -> Result<Response<pb::RateCaseResponse>, GrpcStatus> {
        front(&Caller::of(&req)?)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        if !(1..=5).contains(&r.rating) {
            v.add("rating", "must be 1 to 5");
        }
        let comment = crate::core::text_field(&mut v, "comment", &r.comment, 0, 2000);
        v.into_result().map_err(Error::InvalidArgument)?;
        let (txn, cred) = self.begin(r.credential.as_ref()).await?;
        let row = newest_case(&txn, cred.report_id).await?;
        if row.transferred_at.is_some() || row.status != Status::Completed.code() {
            return Err(Error::FailedPrecondition(
                "a case can be rated only once it is completed (Selesai)".into(),
            )
            .into());
        }
        if row.rating.is_some() {
            return Err(Error::FailedPrecondition("the case is already rated".into()).into());
        }
        let now = self.core.now();
        let rating = u8::try_from(r.rating).map_err(|_| invalid("rating", "must be 1 to 5"))?;
        let mut m: case::ActiveModel = row.clone().into();
        m.rating = Set(Some(i32::from(rating)));
        m.rating_comment = Set(Some(comment.clone()));
        m.rated_at = Set(Some(now));
        m.update(&txn).await.map_err(Error::from)?;
        self.core
            .record(
                &txn,
                &row,
                Entry {
                    kind: kind::RATED,
                    visibility: Visibility::Reporter,
                    author: REPORTER_AUTHOR,
                    text: format!("{rating}/5 {comment}").trim(),
                    at: now,
                    attachment_id: None,
                },
                |_| {
                    Ok(Event::CaseRated(CaseRated {
                        case: case_ref(&row)?,
                        rating,
                        comment,
                        rated_at: now,
                    }))
                },
            )
            .await?;
        self.finish(txn).await?;
        tracing::info!(case_id = %row.id, report_id = %row.report_id, opd_id = %row.opd_id, rating, "case rated");
        Ok(Response::new(pb::RateCaseResponse {
            rated_at: Some(ts(now)),
        }))
    }

    async fn request_ombudsman(
        &self,
        req: Request<pb::RequestOmbudsmanRequest>,
    ) -> Result<Response<pb::RequestOmbudsmanResponse>, GrpcStatus> {
        front(&Caller::of(&req)?)?;
        let r = req.into_inner();
        if !r.consent {
            return Err(invalid(
                "consent",
                "the reporter must agree that the report goes to the Ombudsman",
            )
            .into());
        }
        let (txn, cred) = self.begin(r.credential.as_ref()).await?;
        let row = newest_case(&txn, cred.report_id).await?;
        let now = self.core.now();
        let available = cred.submitted_at + Duration::days(i64::from(self.core.policy.ombudsman_days));
        if now < available {
            return Err(Error::FailedPrecondition(format!(
                "the Ombudsman can be asked from {} ({} days after submission)",
                available.to_rfc3339(),
                self.core.policy.ombudsman_days
            ))
            .into());
        }
        if row.closed_by.as_deref() == Some("REPORTER") {
            return Err(Error::FailedPrecondition("the reporter confirmed this case resolved".into()).into());
        }
        if row.ombudsman_requested_at.is_some() {
            return Err(Error::FailedPrecondition("the Ombudsman was already asked".into()).into());
        }
        let mut m: case::ActiveModel = row.clone().into();
        m.ombudsman_requested_at = Set(Some(now));
        m.update(&txn).await.map_err(Error::from)?;
        self.core
            .record(
                &txn,
                &row,
                Entry {
                    kind: kind::OMBUDSMAN_REQUESTED,
                    visibility: Visibility::Reporter,
                    author: REPORTER_AUTHOR,
                    text: "pelapor menyetujui laporan diteruskan ke Ombudsman",
                    at: now,
                    attachment_id: None,
                },
                |_| {
                    Ok(Event::OmbudsmanRequested(OmbudsmanRequested {
                        case: case_ref(&row)?,
                        consented_at: now,
                        submitted_at: cred.submitted_at,
                    }))
                },
            )
            .await?;
        self.finish(txn).await?;
        tracing::info!(case_id = %row.id, report_id = %row.report_id, opd_id = %row.opd_id, "ombudsman requested");
        Ok(Response::new(pb::RequestOmbudsmanResponse {
            consented_at: Some(ts(now)),
        }))
    }

    async fn set_public_name(
        &self,
        req: Request<pb::SetPublicNameRequest>,
    ) -> Result<Response<pb::SetPublicNameResponse>, GrpcStatus> {
        front(&Caller::of(&req)?)?;
        let r = req.into_inner();
        let name = r.public_name.trim().to_owned();
        if !name.is_empty() && !(2..=50).contains(&name.chars().count()) {
            return Err(invalid("public_name", "must have 2 to 50 characters, or be empty").into());
        }
        let (txn, cred) = self.begin(r.credential.as_ref()).await?;
        let row = newest_case(&txn, cred.report_id).await?;
        if row.anonim {
            return Err(Error::FailedPrecondition(
                "an anonymous report is always shown as \"anonim\"".into(),
            )
            .into());
        }
        let mut m: credential::ActiveModel = cred.into();
        m.public_name = Set((!name.is_empty()).then(|| name.clone()));
        m.update(&txn).await.map_err(Error::from)?;
        let shown_as = if name.is_empty() {
            "anonim".to_owned()
        } else {
            name
        };
        let now = self.core.now();
        self.core
            .emit(
                &txn,
                now,
                Event::PublicNameChanged(PublicNameChanged {
                    case: case_ref(&row)?,
                    shown_as: shown_as.clone(),
                    changed_at: now,
                }),
            )
            .await?;
        self.finish(txn).await?;
        Ok(Response::new(pb::SetPublicNameResponse { shown_as }))
    }

    async fn upload_attachment(
        &self,
        req: Request<Streaming<pb::ReporterCaseServiceUploadAttachmentRequest>>,
    ) -> Result<Response<pb::ReporterCaseServiceUploadAttachmentResponse>, GrpcStatus> {
        use pb::reporter_case_service_upload_attachment_request::Part;
        front(&Caller::of(&req)?)?;
        let mut stream = req.into_inner();
        let first = stream
            .message()
            .await?
            .ok_or_else(|| invalid("header", "the upload is empty"))?;
        let Some(Part::Header(h)) = first.part else {
            return Err(invalid("header", "the first message must be the header").into());
        };
        let cred = verify(&self.core.db, h.credential.as_ref(), "header.credential").await?;
        let row = crate::core::current_case(&self.core.db, cred.report_id)
            .await?
            .ok_or_else(|| Error::FailedPrecondition("no OPD holds the report now".into()))?;
        if row.status == Status::Completed.code() {
            return Err(Error::FailedPrecondition("the case is completed (Selesai)".into()).into());
        }
        let chunks = byte_chunks(
            stream,
            |m: pb::ReporterCaseServiceUploadAttachmentRequest| match m.part {
                Some(Part::Chunk(b)) => Some(b),
                _ => None,
            },
        );
        // A reporter's file goes to the OPD and back to the reporter, never to the public.
        let a = store_upload(
            &self.core,
            &row,
            &h.file.unwrap_or_default(),
            REPORTER_AUTHOR,
            Visibility::Reporter,
            chunks,
        )
        .await?;
        Ok(Response::new(pb::ReporterCaseServiceUploadAttachmentResponse {
            attachment: Some(attachment_to_proto(&a)),
        }))
    }

    type GetAttachmentStream = ChunkStream<pb::ReporterCaseServiceGetAttachmentResponse>;

    async fn get_attachment(
        &self,
        req: Request<pb::ReporterCaseServiceGetAttachmentRequest>,
    ) -> Result<Response<Self::GetAttachmentStream>, GrpcStatus> {
        front(&Caller::of(&req)?)?;
        let r = req.into_inner();
        let cred = verify(&self.core.db, r.credential.as_ref(), "credential").await?;
        let id: uuid::Uuid = r
            .attachment_id
            .parse()
            .map_err(|_| invalid("attachment_id", "not a UUID"))?;
        let a = attachment::Entity::find_by_id(id)
            .filter(attachment::Column::ReportId.eq(cred.report_id))
            .one(&self.core.db)
            .await
            .map_err(Error::from)?
            .filter(|a| a.public || a.uploaded_by == REPORTER_AUTHOR)
            .ok_or(Error::NotFound)?;
        Ok(Response::new(stream_attachment(&self.core, a).await?))
    }
}

/// Completes a case (Selesai) in `txn`: by the reporter's confirmation or by the system.
pub async fn close(
    core: &Core,
    txn: &DatabaseTransaction,
    row: &case::Model,
    by: Closer,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    let (code, author, text) = match by {
        Closer::Reporter => ("REPORTER", REPORTER_AUTHOR, "pelapor menyatakan laporan selesai"),
        Closer::System => (
            "SYSTEM",
            SYSTEM_AUTHOR,
            "ditutup otomatis: tidak ada tanggapan dalam batas waktu setelah tindak lanjut terakhir",
        ),
    };
    let mut m: case::ActiveModel = row.clone().into();
    m.status = Set(Status::Completed.code().to_owned());
    m.closed_at = Set(Some(now));
    m.closed_by = Set(Some(code.to_owned()));
    m.auto_close_at = Set(None);
    m.due_at = Set(None);
    m.update(txn).await?;
    core.record(
        txn,
        row,
        Entry {
            kind: kind::CLOSED,
            visibility: Visibility::Public,
            author,
            text,
            at: now,
            attachment_id: None,
        },
        |_| {
            Ok(Event::CaseClosed(CaseClosed {
                case: case_ref(row)?,
                by,
                closed_at: now,
                last_follow_up_at: row.last_follow_up_at.unwrap_or(row.opened_at),
            }))
        },
    )
    .await?;
    tracing::info!(case_id = %row.id, report_id = %row.report_id, opd_id = %row.opd_id, by = code, "case completed");
    Ok(())
}
