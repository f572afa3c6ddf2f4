//! What intake learns from routing for the reporter's sake: that a report is on hold (Tunda) so
//! its reporter can complete it, and that it was marked a duplicate so its reporter follows the
//! original.

use lapor_domain::events::{Envelope, Event};
use lapor_events::{Handler, HandlerError};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::entities::report;

/// The consumer of `ReportPutOnHold` and `ReportArchived`.
pub struct HoldHandler;

impl Handler for HoldHandler {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let e = match &env.event {
            Event::ReportPutOnHold(e) => e,
            Event::ReportArchived(a) => {
                // A duplicate's reporter follows the original; an archived report waits for nobody.
                let original = a.duplicate_of.as_ref().map(|(_, t)| t.to_string());
                report::Entity::update_many()
                    .col_expr(report::Column::DuplicateOfTrackingId, Expr::value(original))
                    .col_expr(
                        report::Column::HeldAt,
                        Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
                    )
                    .filter(report::Column::Id.eq(a.report_id.as_uuid()))
                    .exec(txn)
                    .await?;
                return Ok(());
            }
            other => {
                return Err(HandlerError::Permanent(format!(
                    "intake does not consume {}",
                    other.type_name()
                )));
            }
        };
        // A later hold replaces an earlier one; an older one arriving late changes nothing.
        let res = report::Entity::update_many()
            .col_expr(report::Column::HeldAt, Expr::value(e.held_at))
            .col_expr(report::Column::HoldReason, Expr::value(e.reason.clone()))
            .filter(report::Column::Id.eq(e.report_id.as_uuid()))
            .filter(
                report::Column::HeldAt
                    .is_null()
                    .or(report::Column::HeldAt.lt(e.held_at)),
            )
            .exec(txn)
            .await?;
        if res.rows_affected == 0 {
            let known = report::Entity::find_by_id(e.report_id.as_uuid())
                .one(txn)
                .await?
                .is_some();
            if !known {
                return Err(HandlerError::Permanent(format!(
                    "no report {} in intake",
                    e.report_id
                )));
            }
        }
        Ok(())
    }
}
