//! PublicFeedService: reports that reached an OPD and are not rahasia, their public follow-ups
//! and their support (dukung) counts. The reporter appears as "anonim" or the name they chose.

use std::collections::HashMap;
use std::sync::Arc;

use lapor_domain::content::Location;
use lapor_domain::{ReportKind, TrackingId, Violations};
use lapor_events::codec::{kind_to_proto, location_to_proto, ts};
use lapor_platform::{Caller, Role};
use lapor_proto::cases::v1::{self as pb, public_feed_service_server::PublicFeedService};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set,
};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status as GrpcStatus};

use crate::api::{ChunkStream, attachment_to_proto, stream_attachment, timeline_of};
use crate::core::{Core, Visibility, case_ref};
use crate::entities::{attachment, case, credential, support, timeline};
use crate::error::{Error, invalid};
use lapor_domain::events::{Event, ReportSupported};

/// The PublicFeedService.
pub struct PublicApi {
    pub core: Arc<Core>,
}

/// Cases the public may see: the current case of each non-rahasia report.
fn public_cases() -> Select<case::Entity> {
    case::Entity::find()
        .filter(case::Column::Rahasia.eq(false))
        .filter(case::Column::TransferredAt.is_null())
}

impl PublicApi {
    async fn public_case(&self, tracking: &str) -> Result<case::Model, Error> {
        let t: TrackingId = tracking
            .parse()
            .map_err(|e: lapor_domain::ids::IdError| invalid("tracking_id", e.to_string()))?;
        public_cases()
            .filter(case::Column::TrackingId.eq(t.as_str()))
            .one(&self.core.db)
            .await?
            .ok_or(Error::NotFound)
    }

    async fn support_counts(&self, reports: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, u64>, Error> {
        let rows: Vec<(uuid::Uuid, i64)> = support::Entity::find()
            .select_only()
            .column(support::Column::ReportId)
            .column_as(support::Column::Id.count(), "n")
            .filter(support::Column::ReportId.is_in(reports.iter().copied()))
            .group_by(support::Column::ReportId)
            .into_tuple()
            .all(&self.core.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(r, n)| (r, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    async fn to_public(&self, rows: Vec<case::Model>) -> Result<Vec<pb::PublicReport>, Error> {
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.report_id).collect();
        let counts = self.support_counts(&ids).await?;
        let names: HashMap<uuid::Uuid, Option<String>> = credential::Entity::find()
            .filter(credential::Column::ReportId.is_in(ids.iter().copied()))
            .all(&self.core.db)
            .await?
            .into_iter()
            .map(|c| (c.report_id, c.public_name))
            .collect();
        Ok(rows
            .into_iter()
            .map(|m| {
                // Only a name the reporter chose, and never for an anonymous report.
                let reporter = if m.anonim {
                    None
                } else {
                    names.get(&m.report_id).cloned().flatten()
                };
                pb::PublicReport {
                    tracking_id: m.tracking_id,
                    kind: ReportKind::from_code(&m.kind).map_or(0, |k| kind_to_proto(k) as i32),
                    title: m.title,
                    body: m.body,
                    category_id: m.category_id.unwrap_or_default(),
                    location: m
                        .location
                        .and_then(|l| serde_json::from_value::<Location>(l).ok())
                        .map(|l| location_to_proto(&l)),
                    status: lapor_events::codec::status_code_to_proto(&m.status),
                    opd_id: m.opd_id,
                    reporter: reporter.unwrap_or_else(|| "anonim".into()),
                    submitted_at: Some(ts(m.submitted_at)),
                    support_count: counts.get(&m.report_id).copied().unwrap_or(0),
                }
            })
            .collect())
    }
}

/// Hex SHA-256 of a supporter key, so supports do not store which report or account gave them.
fn supporter_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tonic::async_trait]
impl PublicFeedService for PublicApi {
    async fn list_public_reports(
        &self,
        req: Request<pb::ListPublicReportsRequest>,
    ) -> Result<Response<pb::ListPublicReportsResponse>, GrpcStatus> {
        Caller::of(&req)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let limit = lapor_platform::paging::page_size(r.page_size, 20, 100, &mut v);
        let mut q = public_cases();
        if !r.category_id.is_empty()
            && let Some(c) = v.check("category_id", r.category_id.parse::<lapor_domain::CategoryId>())
        {
            q = q.filter(
                Condition::any()
                    .add(case::Column::CategoryId.eq(c.to_string()))
                    .add(case::Column::CategoryId.starts_with(format!("{c}."))),
            );
        }
        if !r.page_token.is_empty() {
            match r.page_token.parse::<uuid::Uuid>() {
                Ok(after) => q = q.filter(case::Column::Id.lt(after)),
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
        Ok(Response::new(pb::ListPublicReportsResponse {
            reports: self.to_public(rows).await?,
            next_page_token,
        }))
    }

    async fn get_public_report(
        &self,
        req: Request<pb::GetPublicReportRequest>,
    ) -> Result<Response<pb::GetPublicReportResponse>, GrpcStatus> {
        Caller::of(&req)?;
        let row = self.public_case(&req.get_ref().tracking_id).await?;
        let report_id = row.report_id;
        let timeline = timeline_of(
            &self.core.db,
            Condition::all().add(timeline::Column::ReportId.eq(report_id)),
            Visibility::Public,
        )
        .await?;
        let attachments = attachment::Entity::find()
            .filter(attachment::Column::ReportId.eq(report_id))
            .filter(attachment::Column::Public.eq(true))
            .order_by_asc(attachment::Column::Id)
            .all(&self.core.db)
            .await
            .map_err(Error::from)?
            .iter()
            .map(attachment_to_proto)
            .collect();
        let report = self.to_public(vec![row]).await?.pop();
        Ok(Response::new(pb::GetPublicReportResponse {
            report,
            timeline,
            attachments,
        }))
    }

    async fn support_report(
        &self,
        req: Request<pb::SupportReportRequest>,
    ) -> Result<Response<pb::SupportReportResponse>, GrpcStatus> {
        let caller = Caller::of(&req)?;
        let r = req.into_inner();
        let row = self.public_case(&r.tracking_id).await?;
        let key = match r.supporter.as_ref() {
            Some(c) => {
                let cred = crate::reporter::verify(&self.core.db, Some(c), "supporter").await?;
                format!("report:{}", cred.report_id)
            }
            None if caller.role == Role::Reporter => format!("account:{}", caller.subject),
            None => {
                return Err(invalid(
                    "supporter",
                    "a reporter credential is required unless the caller is a citizen's account",
                )
                .into());
            }
        };
        let supporter = supporter_hash(&key);
        let now = self.core.now();
        let txn = lapor_platform::db::begin_write(&self.core.db)
            .await
            .map_err(Error::from)?;
        let inserted = support::Entity::insert(support::ActiveModel {
            id: Set(format!("{}:{supporter}", row.report_id)),
            report_id: Set(row.report_id),
            supporter: Set(supporter),
            at: Set(now),
        })
        .on_conflict(OnConflict::column(support::Column::Id).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await
        .map_err(Error::from)?;
        let count = support::Entity::find()
            .filter(support::Column::ReportId.eq(row.report_id))
            .count(&txn)
            .await
            .map_err(Error::from)?;
        if inserted == 1 {
            self.core
                .emit(
                    &txn,
                    now,
                    Event::ReportSupported(ReportSupported {
                        case: case_ref(&row)?,
                        support_count: count,
                        supported_at: now,
                    }),
                )
                .await?;
        }
        txn.commit().await.map_err(Error::from)?;
        self.core.committed();
        Ok(Response::new(pb::SupportReportResponse {
            support_count: count,
            counted: inserted == 1,
        }))
    }

    type GetPublicAttachmentStream = ChunkStream<pb::GetPublicAttachmentResponse>;

    async fn get_public_attachment(
        &self,
        req: Request<pb::GetPublicAttachmentRequest>,
    ) -> Result<Response<Self::GetPublicAttachmentStream>, GrpcStatus> {
        Caller::of(&req)?;
        let r = req.into_inner();
        let row = self.public_case(&r.tracking_id).await?;
        let id: uuid::Uuid = r
            .attachment_id
            .parse()
            .map_err(|_| invalid("attachment_id", "not a UUID"))?;
        let a = attachment::Entity::find_by_id(id)
            .filter(attachment::Column::ReportId.eq(row.report_id))
            .filter(attachment::Column::Public.eq(true))
            .one(&self.core.db)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        Ok(Response::new(stream_attachment(&self.core, a).await?))
    }
}
