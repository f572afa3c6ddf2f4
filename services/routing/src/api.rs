//! The RoutingService gRPC API.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lapor_domain::{OpdId, ReportId, ReportKind, Status, Violations};
use lapor_events::codec::{kind_to_proto, ts};
use lapor_platform::{Caller, Role};
use lapor_proto::common::v1::ReportStatus;
use lapor_proto::routing::v1::{self as pb, routing_service_server::RoutingService};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use tokio::sync::Notify;
use tonic::{Request, Response};

use crate::dispatch::Dispatcher;
use crate::entities::queue_report;
use crate::error::Error;

/// The API state.
pub struct Api {
    pub db: DatabaseConnection,
    pub dispatcher: Arc<Dispatcher>,
    pub relay_wake: Arc<Notify>,
}

/// Maps a status code to the wire enum.
pub fn status_to_proto(code: &str) -> i32 {
    (match Status::from_code(code) {
        Some(Status::Submitted) => ReportStatus::Submitted,
        Some(Status::OnHold) => ReportStatus::OnHold,
        Some(Status::NotAuthorized) => ReportStatus::NotAuthorized,
        Some(Status::Archived) => ReportStatus::Archived,
        Some(Status::Dispatched) => ReportStatus::Dispatched,
        Some(Status::InProgress) => ReportStatus::InProgress,
        Some(Status::Completed) => ReportStatus::Completed,
        None => ReportStatus::Unspecified,
    }) as i32
}

fn cursor_encode(due: DateTime<Utc>, id: uuid::Uuid) -> String {
    format!("{}~{}", due.timestamp_micros(), id)
}

fn cursor_decode(s: &str) -> Result<(DateTime<Utc>, uuid::Uuid), Error> {
    let bad = || {
        let mut v = Violations::new();
        v.add("page_token", "not a page token from this API");
        Error::InvalidArgument(v)
    };
    let (a, b) = s.split_once('~').ok_or_else(bad)?;
    let micros: i64 = a.parse().map_err(|_| bad())?;
    Ok((
        DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
        b.parse().map_err(|_| bad())?,
    ))
}

fn page_size(n: u32) -> Result<u64, Error> {
    match n {
        0 => Ok(50),
        1..=200 => Ok(u64::from(n)),
        _ => {
            let mut v = Violations::new();
            v.add("page_size", "must be between 0 and 200");
            Err(Error::InvalidArgument(v))
        }
    }
}

#[tonic::async_trait]
impl RoutingService for Api {
    async fn list_queue(
        &self,
        req: Request<pb::ListQueueRequest>,
    ) -> Result<Response<pb::ListQueueResponse>, tonic::Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor])?;
        let r = req.into_inner();
        let limit = page_size(r.page_size)?;
        let mut q =
            queue_report::Entity::find().filter(queue_report::Column::Status.eq(Status::Submitted.code()));
        if !r.page_token.is_empty() {
            let (due, id) = cursor_decode(&r.page_token)?;
            q = q.filter(
                Condition::any()
                    .add(queue_report::Column::VerificationDueAt.gt(due))
                    .add(
                        Condition::all()
                            .add(queue_report::Column::VerificationDueAt.eq(due))
                            .add(queue_report::Column::ReportId.gt(id)),
                    ),
            );
        }
        let rows = q
            .order_by_asc(queue_report::Column::VerificationDueAt)
            .order_by_asc(queue_report::Column::ReportId)
            .limit(limit + 1)
            .all(&self.db)
            .await
            .map_err(Error::from)?;
        let more = rows.len() as u64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => cursor_encode(last.verification_due_at, last.report_id),
            _ => String::new(),
        };
        let items = rows
            .into_iter()
            .map(|row| pb::QueueItem {
                report_id: row.report_id.to_string(),
                tracking_id: row.tracking_id,
                kind: ReportKind::from_code(&row.kind).map_or(0, |k| kind_to_proto(k) as i32),
                title: row.title,
                body: row.body,
                category_id: row.category_id.unwrap_or_default(),
                status: status_to_proto(&row.status),
                anonim: row.anonim,
                rahasia: row.rahasia,
                submitted_at: Some(ts(row.submitted_at)),
                verification_due_at: Some(ts(row.verification_due_at)),
                routing_note: row.routing_note,
            })
            .collect();
        Ok(Response::new(pb::ListQueueResponse {
            items,
            next_page_token,
        }))
    }

    async fn dispatch(
        &self,
        req: Request<pb::DispatchRequest>,
    ) -> Result<Response<pb::DispatchResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator])?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let report_id = v.check("report_id", r.report_id.parse::<ReportId>());
        let opd = v.check("opd_id", r.opd_id.parse::<OpdId>());
        v.into_result().map_err(Error::InvalidArgument)?;
        let (Some(report_id), Some(opd)) = (report_id, opd) else {
            return Err(tonic::Status::internal("validated ids missing"));
        };
        if !self.dispatcher.config.opds.iter().any(|o| o.id == opd) {
            return Err(Error::NotFound(format!("no OPD {opd} in the registry")).into());
        }
        let txn = self.db.begin().await.map_err(Error::from)?;
        let row = queue_report::Entity::find_by_id(report_id.as_uuid())
            .one(&txn)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(format!("no report {report_id}")))?;
        let at = self
            .dispatcher
            .dispatch(
                &txn,
                row,
                opd.clone(),
                None,
                Some(caller.subject.clone()),
                Utc::now(),
            )
            .await?;
        txn.commit().await.map_err(Error::from)?;
        self.relay_wake.notify_one();
        Ok(Response::new(pb::DispatchResponse {
            report_id: report_id.to_string(),
            opd_id: opd.to_string(),
            dispatched_at: Some(ts(at)),
        }))
    }

    async fn list_opds(
        &self,
        req: Request<pb::ListOpdsRequest>,
    ) -> Result<Response<pb::ListOpdsResponse>, tonic::Status> {
        Caller::of(&req)?;
        let mut opds: Vec<pb::Opd> = self
            .dispatcher
            .config
            .opds
            .iter()
            .map(|o| pb::Opd {
                opd_id: o.id.to_string(),
                name: o.name.clone(),
            })
            .collect();
        opds.sort_by(|a, b| a.opd_id.cmp(&b.opd_id));
        Ok(Response::new(pb::ListOpdsResponse { opds }))
    }
}
