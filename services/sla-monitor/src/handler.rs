//! Recording deadlines from events. Each deadline is a function of the events alone (their
//! times, the calendar and the policy): the verification deadline is the policy's working days
//! after submission plus the whole working days of every completed pause (Tunda). Any delivery
//! order, and any number of deliveries, gives the same rows.

use chrono::{DateTime, Utc};
use lapor_domain::events::{Envelope, Event};
use lapor_domain::{Calendar, ReportId, SlaPolicy, Step};
use lapor_events::{Handler, HandlerError};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    IntoActiveModel, QueryFilter, Set, Statement,
};

use crate::entities::{deadline, pause};

/// The consumer of the events that start, pause, resume and meet deadlines.
pub struct DeadlineRecorder {
    pub calendar: Calendar,
    pub policy: SlaPolicy,
}

fn key(report: ReportId, step: Step) -> String {
    format!("{report}:{}", step.code())
}

/// Whole working days a pause adds: the working days after the day it began, up to and including
/// the day it ended.
pub fn paused_days(calendar: &Calendar, p: &pause::Model) -> u32 {
    p.resumed_at
        .map_or(0, |r| calendar.working_days_between(p.held_at, r))
}

impl DeadlineRecorder {
    async fn pauses(
        &self,
        txn: &DatabaseTransaction,
        report: ReportId,
        step: Step,
    ) -> Result<Vec<pause::Model>, HandlerError> {
        Ok(pause::Entity::find()
            .filter(pause::Column::ReportId.eq(report.as_uuid()))
            .filter(pause::Column::Step.eq(step.code()))
            .all(txn)
            .await?)
    }

    /// Due time of a step started at `started`, with the completed pauses of that step that began
    /// before `met_at`.
    async fn due(
        &self,
        txn: &DatabaseTransaction,
        report: ReportId,
        step: Step,
        started: DateTime<Utc>,
        met_at: Option<DateTime<Utc>>,
    ) -> Result<DateTime<Utc>, HandlerError> {
        // Only pauses that began before the deadline was met count: a question asked after the
        // first follow-up does not move a met deadline, whatever order the events arrive in.
        let days = self.policy.working_days(step)
            + self
                .pauses(txn, report, step)
                .await?
                .iter()
                .filter(|p| met_at.is_none_or(|m| p.held_at < m))
                .map(|p| paused_days(&self.calendar, p))
                .sum::<u32>();
        Ok(self.calendar.add_working_days(started, days))
    }

    /// Inserts the deadline if missing; marks it met at `met_at` if given and not yet met.
    async fn record(
        &self,
        txn: &DatabaseTransaction,
        report: ReportId,
        step: Step,
        opd: Option<String>,
        started_at: DateTime<Utc>,
        met_at: Option<DateTime<Utc>>,
    ) -> Result<(), HandlerError> {
        let id = key(report, step);
        match deadline::Entity::find_by_id(id.clone()).one(txn).await? {
            Some(row) => {
                if row.met_at.is_none() && met_at.is_some() {
                    let mut m = row.into_active_model();
                    m.met_at = Set(met_at);
                    m.update(txn).await?;
                }
            }
            None => {
                let days = self.policy.working_days(step);
                deadline::ActiveModel {
                    id: Set(id),
                    report_id: Set(report.as_uuid()),
                    step: Set(step.code().to_owned()),
                    opd_id: Set(opd),
                    started_at: Set(started_at),
                    due_at: Set(self.due(txn, report, step, started_at, met_at).await?),
                    met_at: Set(met_at),
                    working_days: Set(i32::try_from(days).unwrap_or(i32::MAX)),
                }
                .insert(txn)
                .await?;
            }
        }
        Ok(())
    }

    /// Records a pause of `step`'s clock (or its end) and recomputes that step's deadline.
    async fn pause(
        &self,
        txn: &DatabaseTransaction,
        report: ReportId,
        step: Step,
        held_at: DateTime<Utc>,
        resumed_at: Option<DateTime<Utc>>,
    ) -> Result<(), HandlerError> {
        let id = format!("{report}:{}", held_at.timestamp_micros());
        match pause::Entity::find_by_id(id.clone()).one(txn).await? {
            Some(p) => {
                if p.resumed_at.is_none() && resumed_at.is_some() {
                    let mut m = p.into_active_model();
                    m.resumed_at = Set(resumed_at);
                    m.update(txn).await?;
                }
            }
            None => {
                pause::ActiveModel {
                    id: Set(id),
                    report_id: Set(report.as_uuid()),
                    held_at: Set(held_at),
                    resumed_at: Set(resumed_at),
                    step: Set(step.code().to_owned()),
                }
                .insert(txn)
                .await?;
            }
        }
        if let Some(d) = deadline::Entity::find_by_id(key(report, step)).one(txn).await? {
            let due = self.due(txn, report, step, d.started_at, d.met_at).await?;
            if due != d.due_at {
                let mut m = d.into_active_model();
                m.due_at = Set(due);
                m.update(txn).await?;
            }
        }
        Ok(())
    }
}

/// Serializes the work on one report: a deadline depends on several events (submission, pauses)
/// applied by different consumers, and two transactions that each read before the other commits
/// would otherwise miss each other's rows. On PostgreSQL a transaction-scoped advisory lock keyed
/// by the report; SQLite serializes writers already (the loser fails and is redelivered).
async fn lock_report(txn: &DatabaseTransaction, report: ReportId) -> Result<(), HandlerError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let bytes = report.as_uuid().as_u128().to_be_bytes();
        let mut key = [0u8; 8];
        key.copy_from_slice(&bytes[8..]);
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [i64::from_be_bytes(key).into()],
        ))
        .await?;
    }
    Ok(())
}

impl Handler for DeadlineRecorder {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        lock_report(txn, env.event.report_id()).await?;
        match &env.event {
            Event::ReportSubmitted(e) => {
                self.record(txn, e.report_id, Step::Verification, None, e.submitted_at, None)
                    .await
            }
            Event::ReportDispatched(e) => {
                self.record(
                    txn,
                    e.report_id,
                    Step::Verification,
                    None,
                    e.submitted_at,
                    Some(e.dispatched_at),
                )
                .await?;
                self.record(
                    txn,
                    e.report_id,
                    Step::FirstFollowUp,
                    Some(e.opd_id.to_string()),
                    e.dispatched_at,
                    None,
                )
                .await?;
                tracing::info!(report_id = %e.report_id, opd_id = %e.opd_id, "deadlines recorded");
                Ok(())
            }
            Event::ReportPutOnHold(e) => {
                self.pause(txn, e.report_id, Step::Verification, e.held_at, None)
                    .await
            }
            Event::ReportHoldCompleted(e) => {
                self.pause(
                    txn,
                    e.report_id,
                    Step::Verification,
                    e.held_at,
                    Some(e.completed_at),
                )
                .await
            }
            // The OPD's question to the reporter stops its first-follow-up clock until answered.
            // A question after the first follow-up stops nothing here: that deadline is met.
            Event::CaseInfoRequested(e) => {
                self.pause(txn, e.case.report_id, Step::FirstFollowUp, e.requested_at, None)
                    .await
            }
            Event::CaseReplied(e) => match e.answers_info_request_at {
                Some(asked) => {
                    self.pause(
                        txn,
                        e.case.report_id,
                        Step::FirstFollowUp,
                        asked,
                        Some(e.replied_at),
                    )
                    .await
                }
                None => Ok(()),
            },
            Event::CaseFollowedUp(e) => {
                // The first follow-up meets the OPD's deadline; later ones change nothing here.
                let id = key(e.report_id, Step::FirstFollowUp);
                let Some(row) = deadline::Entity::find_by_id(id).one(txn).await? else {
                    // The dispatch that starts the deadline is consumed separately: retry until it is in.
                    return Err(HandlerError::Transient(
                        "first follow-up deadline not recorded yet".into(),
                    ));
                };
                if row.met_at.is_none() {
                    let due = self
                        .due(
                            txn,
                            e.report_id,
                            Step::FirstFollowUp,
                            row.started_at,
                            Some(e.posted_at),
                        )
                        .await?;
                    let mut m = row.into_active_model();
                    m.met_at = Set(Some(e.posted_at));
                    m.due_at = Set(due);
                    m.update(txn).await?;
                }
                Ok(())
            }
            other => Err(HandlerError::Permanent(format!(
                "sla-monitor does not consume {}",
                other.type_name()
            ))),
        }
    }
}
