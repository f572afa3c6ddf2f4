//! What intake learns from the other services for the reporter's sake: each report's status
//! (only a newer event changes it, so out-of-order delivery cannot move it backwards), that a
//! report is on hold (Tunda) so its reporter can complete it, and that it was marked a duplicate
//! so its reporter follows the original.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use lapor_domain::events::{Envelope, Event};
use lapor_domain::{ReportId, Status};
use lapor_events::{BatchError, BatchItem, Handler, HandlerError};
use sea_orm::sea_query::{CaseStatement, Condition, Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};
use tracing::Instrument;
use uuid::Uuid;

use crate::entities::report;

/// The consumer of the events that change what a reporter sees.
pub struct ReporterView;

/// Sets one report's status if `at` is not older than what it shows ([`set_statuses`] of one).
async fn set_status(
    txn: &DatabaseTransaction,
    id: ReportId,
    status: Status,
    at: DateTime<Utc>,
) -> Result<(), HandlerError> {
    set_statuses(txn, &[(0, id, status, at)])
        .await
        .map_err(|e| e.error)
}

/// The report and status of an event that changes nothing but the status.
fn plain_status(event: &Event) -> Option<(ReportId, Status)> {
    match event {
        Event::ReportDispatched(e) => Some((e.report_id, Status::Dispatched)),
        Event::ReportDeclaredNotAuthorized(e) => Some((e.report_id, Status::NotAuthorized)),
        // Back with the operator: Belum Terverifikasi again.
        Event::CaseTransferRequested(e) => Some((e.report_id, Status::Submitted)),
        Event::CaseFollowedUp(e) => Some((e.report_id, Status::InProgress)),
        Event::CaseClosed(e) => Some((e.case.report_id, Status::Completed)),
        _ => None,
    }
}

/// Sets the status of several reports with one statement: `run` holds consecutive batch items
/// (index, report, status, time) of events that change nothing else. Each report takes the status
/// of its newest event (the later one on a tie), and only if that is not older than what it
/// shows: the effect of setting each in turn. An event whose report intake does not
/// know fails permanently.
async fn set_statuses(
    txn: &DatabaseTransaction,
    run: &[(usize, ReportId, Status, DateTime<Utc>)],
) -> Result<(), BatchError> {
    let mut newest: HashMap<Uuid, (Status, DateTime<Utc>)> = HashMap::new();
    for &(_, id, status, at) in run {
        let slot = newest.entry(id.as_uuid()).or_insert((status, at));
        if at >= slot.1 {
            *slot = (status, at);
        }
    }
    let (mut statuses, mut times, mut newer) = (CaseStatement::new(), CaseStatement::new(), Condition::any());
    for (id, (status, at)) in &newest {
        statuses = statuses.case(report::Column::Id.eq(*id), Expr::value(status.code()));
        times = times.case(report::Column::Id.eq(*id), Expr::value(*at));
        newer = newer.add(report::Column::Id.eq(*id).and(report::Column::StatusAt.lte(*at)));
    }
    let res = report::Entity::update_many()
        .col_expr(report::Column::Status, statuses.into())
        .col_expr(report::Column::StatusAt, times.into())
        .filter(newer)
        .exec(txn)
        .await
        .map_err(BatchError::whole)?;
    if res.rows_affected as usize == newest.len() {
        return Ok(());
    }
    // Some were older than what the reporter sees (nothing to do), or unknown here.
    let known: HashSet<Uuid> = report::Entity::find()
        .select_only()
        .column(report::Column::Id)
        .filter(report::Column::Id.is_in(newest.keys().copied()))
        .into_tuple::<Uuid>()
        .all(txn)
        .await
        .map_err(BatchError::whole)?
        .into_iter()
        .collect();
    match run.iter().find(|(_, id, ..)| !known.contains(&id.as_uuid())) {
        Some((i, id, ..)) => Err(BatchError {
            at: Some(*i),
            error: HandlerError::Permanent(format!("no report {id} in intake")),
        }),
        None => Ok(()),
    }
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
            other => match plain_status(other) {
                Some((id, status)) => set_status(txn, id, status, at).await,
                None => Err(HandlerError::Permanent(format!(
                    "intake does not consume {}",
                    other.type_name()
                ))),
            },
        }
    }

    /// Runs of events that only set a status take one statement each (each subscription carries
    /// one kind of event, so a batch is usually one run); holds and archives go one by one, in
    /// their place.
    async fn handle_batch(
        &self,
        txn: &DatabaseTransaction,
        items: &[BatchItem<'_>],
    ) -> Result<(), BatchError> {
        let mut run = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some((id, status)) = plain_status(&item.env.event) {
                run.push((i, id, status, item.env.occurred_at));
                continue;
            }
            if !run.is_empty() {
                set_statuses(txn, &run).await?;
                run.clear();
            }
            self.handle(txn, item.env)
                .instrument(item.span.clone())
                .await
                .map_err(|error| BatchError { at: Some(i), error })?;
        }
        if !run.is_empty() {
            set_statuses(txn, &run).await?;
        }
        Ok(())
    }
}
