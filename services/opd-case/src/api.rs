//! The CaseService gRPC API. Scoping by OPD happens in the query, so another OPD's case is
//! indistinguishable from a missing one. Anonymous reporters appear only as "anonim".

use lapor_domain::content::Location;
use std::sync::Arc;

use chrono::Utc;
use lapor_domain::calendar::CalendarSpec;
use lapor_domain::events::{CaseTransferRequested, Envelope, Event};
use lapor_domain::lifecycle::{Context, decide};
use lapor_domain::{
    Calendar, CaseId, Command, EventId, Lifecycle, ReportId, ReportKind, SlaPolicy, Status, TrackingId,
    Violations,
};
use lapor_events::codec::{kind_to_proto, location_to_proto, ts};
use lapor_events::{Bus, enqueue};
use lapor_platform::{Caller, Role};
use lapor_proto::cases::v1 as pc_transfer;
use lapor_proto::cases::v1::{self as pb, case_service_server::CaseService};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, TransactionTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use tokio::sync::Notify;
use tonic::{Request, Response};

use crate::entities::case;
use crate::error::Error;

/// The API state.
pub struct Api {
    pub db: DatabaseConnection,
    pub bus: Bus,
    pub relay_wake: Arc<Notify>,
}

/// Restricts a query to what the caller may see; `None` when the role may see no case.
fn scoped(caller: &Caller) -> Result<Select<case::Entity>, tonic::Status> {
    caller.require(&[Role::OpdOfficer, Role::Supervisor, Role::Auditor])?;
    let q = case::Entity::find();
    Ok(match (&caller.role, &caller.opd) {
        (Role::OpdOfficer, Some(opd)) => q.filter(case::Column::OpdId.eq(opd.as_str())),
        (Role::OpdOfficer, None) => {
            return Err(tonic::Status::permission_denied("officer token without OPD"));
        }
        _ => q,
    })
}

fn to_proto(m: case::Model) -> pb::Case {
    let reporter_display = if m.anonim {
        "anonim".to_owned()
    } else {
        format!("pelapor-{}", &m.reporter_ref.simple().to_string()[..8])
    };
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
    }
}

#[tonic::async_trait]
impl CaseService for Api {
    async fn list_cases(
        &self,
        req: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, tonic::Status> {
        let mut q = scoped(&Caller::of(&req)?)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let limit = lapor_platform::paging::page_size(r.page_size, 50, 200, &mut v);
        if !r.tracking_id.is_empty()
            && let Some(t) = v.check("tracking_id", r.tracking_id.parse::<TrackingId>())
        {
            q = q.filter(case::Column::TrackingId.eq(t.as_str()));
        }
        if !r.page_token.is_empty() {
            match r.page_token.parse::<CaseId>() {
                // Case ids are UUIDv7: ordering by id is ordering by opening time.
                Ok(after) => q = q.filter(Condition::all().add(case::Column::Id.lt(after.as_uuid()))),
                Err(_) => v.add("page_token", "not a page token from this API"),
            }
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let rows = q
            .order_by_desc(case::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
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
    ) -> Result<Response<pb::GetCaseResponse>, tonic::Status> {
        let q = scoped(&Caller::of(&req)?)?;
        let id: CaseId = req
            .get_ref()
            .case_id
            .parse()
            .map_err(|e: lapor_domain::ids::IdError| {
                lapor_platform::status::invalid_field("case_id", e.to_string())
            })?;
        let row = q
            .filter(case::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        Ok(Response::new(pb::GetCaseResponse {
            case: Some(to_proto(row)),
        }))
    }

    async fn request_transfer(
        &self,
        req: Request<pc_transfer::RequestTransferRequest>,
    ) -> Result<Response<pc_transfer::RequestTransferResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::OpdOfficer])?;
        let Some(opd) = caller.opd.clone() else {
            return Err(tonic::Status::permission_denied("officer token without OPD"));
        };
        let r = req.into_inner();
        let mut v = Violations::new();
        let case_id = v.check("case_id", r.case_id.parse::<CaseId>());
        let reason = r.reason.trim().to_owned();
        if reason.is_empty() {
            v.add("reason", "a reason is required");
        } else if reason.chars().count() > 1000 {
            v.add("reason", "must have at most 1000 characters");
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let Some(case_id) = case_id else {
            return Err(tonic::Status::internal("validated id missing"));
        };
        let txn = self.db.begin().await.map_err(Error::from)?;
        let row = case::Entity::find_by_id(case_id.as_uuid())
            .filter(case::Column::OpdId.eq(opd.as_str()))
            .one(&txn)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        if row.transferred_at.is_some() {
            return Err(tonic::Status::failed_precondition(
                "the case already ended: its transfer was requested",
            ));
        }
        // The lifecycle decides, as everywhere: only the holder of a dispatched or followed-up
        // report may ask for its transfer.
        let now = Utc::now();
        let state = Lifecycle::Dispatched {
            opd: opd.clone(),
            since: row.opened_at,
        };
        let calendar = Calendar::from_spec(&CalendarSpec::default())
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        let policy = SlaPolicy::default();
        let ctx = Context {
            now,
            calendar: &calendar,
            policy: &policy,
        };
        decide(
            &state,
            &Command::RequestTransfer {
                opd: opd.clone(),
                reason: reason.clone(),
            },
            &ctx,
        )
        .map_err(|e| tonic::Status::failed_precondition(e.to_string()))?;
        let res = case::Entity::update_many()
            .col_expr(case::Column::TransferredAt, Expr::value(now))
            .col_expr(case::Column::TransferReason, Expr::value(reason.clone()))
            .col_expr(case::Column::TransferredBy, Expr::value(caller.subject.clone()))
            .col_expr(case::Column::Status, Expr::value(Status::Submitted.code()))
            .filter(case::Column::Id.eq(row.id))
            .filter(case::Column::TransferredAt.is_null())
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        if res.rows_affected != 1 {
            return Err(tonic::Status::failed_precondition("the case changed meanwhile"));
        }
        let tracking_id = row
            .tracking_id
            .parse()
            .map_err(|_| tonic::Status::internal("stored case has a bad tracking id"))?;
        let env = Envelope {
            id: EventId::from_uuid(uuid::Uuid::now_v7()),
            occurred_at: now,
            event: Event::CaseTransferRequested(CaseTransferRequested {
                case_id,
                report_id: ReportId::from_uuid(row.report_id),
                tracking_id,
                opd_id: opd.clone(),
                reason: reason.clone(),
                requested_at: now,
                requested_by: caller.subject.clone(),
            }),
        };
        enqueue(&txn, &self.bus, &env).await.map_err(Error::from)?;
        let updated = case::Entity::find_by_id(row.id)
            .one(&txn)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        txn.commit().await.map_err(Error::from)?;
        self.relay_wake.notify_one();
        tracing::info!(case_id = %case_id, report_id = %row.report_id, opd_id = %opd, "transfer requested");
        Ok(Response::new(pc_transfer::RequestTransferResponse {
            case: Some(to_proto(updated)),
        }))
    }

    async fn post_follow_up(
        &self,
        req: Request<pc_transfer::PostFollowUpRequest>,
    ) -> Result<Response<pc_transfer::PostFollowUpResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::OpdOfficer])?;
        let Some(opd) = caller.opd.clone() else {
            return Err(tonic::Status::permission_denied("officer token without OPD"));
        };
        let r = req.into_inner();
        let mut v = Violations::new();
        let case_id = v.check("case_id", r.case_id.parse::<CaseId>());
        let text = r.text.trim().to_owned();
        if !(10..=5000).contains(&text.chars().count()) {
            v.add("text", "must have 10 to 5000 characters");
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let Some(case_id) = case_id else {
            return Err(tonic::Status::internal("validated id missing"));
        };
        let txn = self.db.begin().await.map_err(Error::from)?;
        let row = case::Entity::find_by_id(case_id.as_uuid())
            .filter(case::Column::OpdId.eq(opd.as_str()))
            .one(&txn)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        if row.transferred_at.is_some() {
            return Err(tonic::Status::failed_precondition(
                "the case ended: its transfer was requested",
            ));
        }
        let now = Utc::now();
        let state = match (Status::from_code(&row.status), row.last_follow_up_at) {
            (Some(Status::InProgress), Some(last)) => Lifecycle::InProgress {
                opd: opd.clone(),
                last_follow_up_at: last,
                reply_pending: None,
            },
            (Some(Status::Dispatched), _) => Lifecycle::Dispatched {
                opd: opd.clone(),
                since: row.opened_at,
            },
            _ => Lifecycle::Completed {
                by: lapor_domain::lifecycle::Closer::System,
            },
        };
        let calendar = Calendar::from_spec(&CalendarSpec::default())
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        let policy = SlaPolicy::default();
        let ctx = Context {
            now,
            calendar: &calendar,
            policy: &policy,
        };
        decide(&state, &Command::FollowUp { opd: opd.clone() }, &ctx)
            .map_err(|e| tonic::Status::failed_precondition(e.to_string()))?;
        let follow_up_id = uuid::Uuid::now_v7();
        crate::entities::follow_up::ActiveModel {
            id: sea_orm::Set(follow_up_id),
            case_id: sea_orm::Set(row.id),
            opd_id: sea_orm::Set(opd.to_string()),
            posted_by: sea_orm::Set(caller.subject.clone()),
            text: sea_orm::Set(text.clone()),
            posted_at: sea_orm::Set(now),
        }
        .insert(&txn)
        .await
        .map_err(Error::from)?;
        let res = case::Entity::update_many()
            .col_expr(case::Column::Status, Expr::value(Status::InProgress.code()))
            .col_expr(case::Column::LastFollowUpAt, Expr::value(now))
            .filter(case::Column::Id.eq(row.id))
            .filter(case::Column::TransferredAt.is_null())
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        if res.rows_affected != 1 {
            return Err(tonic::Status::failed_precondition("the case changed meanwhile"));
        }
        let tracking_id = row
            .tracking_id
            .parse()
            .map_err(|_| tonic::Status::internal("stored case has a bad tracking id"))?;
        let env = Envelope {
            id: EventId::from_uuid(uuid::Uuid::now_v7()),
            occurred_at: now,
            event: Event::CaseFollowedUp(lapor_domain::events::CaseFollowedUp {
                case_id,
                report_id: ReportId::from_uuid(row.report_id),
                tracking_id,
                opd_id: opd.clone(),
                follow_up_id,
                text,
                posted_at: now,
                posted_by: caller.subject.clone(),
                reporter_ref: lapor_domain::ReporterRef::from_uuid(row.reporter_ref),
            }),
        };
        enqueue(&txn, &self.bus, &env).await.map_err(Error::from)?;
        let updated = case::Entity::find_by_id(row.id)
            .one(&txn)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        txn.commit().await.map_err(Error::from)?;
        self.relay_wake.notify_one();
        tracing::info!(case_id = %case_id, report_id = %row.report_id, opd_id = %opd, "follow-up posted");
        Ok(Response::new(pc_transfer::PostFollowUpResponse {
            follow_up_id: follow_up_id.to_string(),
            case: Some(to_proto(updated)),
        }))
    }
}
