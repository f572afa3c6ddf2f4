//! The reporter's side of Tunda: intake learns that a report is on hold (from routing's
//! `ReportPutOnHold`) and lets its reporter complete it.

use lapor_domain::events::{Envelope, Event};
use lapor_events::{Handler, HandlerError};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::entities::report;

/// The consumer of `ReportPutOnHold`.
pub struct HoldHandler;

impl Handler for HoldHandler {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let Event::ReportPutOnHold(e) = &env.event else {
            return Err(HandlerError::Permanent(format!(
                "intake does not consume {}",
                env.event.type_name()
            )));
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
