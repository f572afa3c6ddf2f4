//! What intake learns from the other services for the reporter's sake: each report's status
//! (only a newer event changes it, so out-of-order delivery cannot move it backwards), that a
//! report is on hold (Tunda) so its reporter can complete it, and that it was marked a duplicate
//! so its reporter follows the original.

use chrono::{DateTime, Utc};
use lapor_domain::events::{Envelope, Event};
use lapor_domain::{ReportId, Status};
use lapor_events::{Handler, HandlerError};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::entities::report;

/// The consumer of the events that change what a reporter sees.
pub struct ReporterView;

async fn set_status(
    txn: &DatabaseTransaction,
    id: ReportId,
    status: Status,
    at: DateTime<Utc>,
) -> Result<(), HandlerError> {
    let res = report::Entity::update_many()
        .col_expr(report::Column::Status, Expr::value(status.code()))
        .col_expr(report::Column::StatusAt, Expr::value(at))
        .filter(report::Column::Id.eq(id.as_uuid()))
        .filter(report::Column::StatusAt.lte(at))
        .exec(txn)
        .await?;
    if res.rows_affected == 0 && report::Entity::find_by_id(id.as_uuid()).one(txn).await?.is_none() {
        return Err(HandlerError::Permanent(format!("no report {id} in intake")));
    }
    Ok(())
}

impl Handler for ReporterView {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let at = env.occurred_at;
        match &env.event {
            Event::ReportPutOnHold(e) => {
                // A later hold replaces an earlier one; an older one arriving late changes nothing.
                report::Entity::update_many()
                    .col_expr(report::Column::HeldAt, Expr::value(e.held_at))
                    .col_expr(report::Column::HoldReason, Expr::value(e.reason.clone()))
                    .filter(report::Column::Id.eq(e.report_id.as_uuid()))
                    .filter(
                        report::Column::HeldAt
                            .is_null()
                            .or(report::Column::HeldAt.lt(e.held_at)),
                    )
                    .filter(report::Column::StatusAt.lte(at))
                    .exec(txn)
                    .await?;
                set_status(txn, e.report_id, Status::OnHold, at).await
            }
            Event::ReportArchived(a) => {
                // A duplicate's reporter follows the original; an archived report waits for nobody.
                let original = a.duplicate_of.as_ref().map(|(_, t)| t.to_string());
                report::Entity::update_many()
                    .col_expr(report::Column::DuplicateOfTrackingId, Expr::value(original))
                    .col_expr(report::Column::HeldAt, Expr::value(Option::<DateTime<Utc>>::None))
                    .filter(report::Column::Id.eq(a.report_id.as_uuid()))
                    .exec(txn)
                    .await?;
                set_status(txn, a.report_id, Status::Archived, at).await
            }
            Event::ReportDispatched(e) => set_status(txn, e.report_id, Status::Dispatched, at).await,
            Event::ReportDeclaredNotAuthorized(e) => {
                set_status(txn, e.report_id, Status::NotAuthorized, at).await
            }
            // Back with the operator: Belum Terverifikasi again.
            Event::CaseTransferRequested(e) => set_status(txn, e.report_id, Status::Submitted, at).await,
            Event::CaseFollowedUp(e) => set_status(txn, e.report_id, Status::InProgress, at).await,
            Event::CaseClosed(e) => set_status(txn, e.case.report_id, Status::Completed, at).await,
            other => Err(HandlerError::Permanent(format!(
                "intake does not consume {}",
                other.type_name()
            ))),
        }
    }
}
