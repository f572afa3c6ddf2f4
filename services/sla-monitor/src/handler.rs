//! Recording deadlines from events. Each deadline is a function of the events alone (their
//! times, the calendar and the policy), and either delivery order gives the same rows.

use chrono::{DateTime, Utc};
use lapor_domain::events::{Envelope, Event};
use lapor_domain::{Calendar, ReportId, SlaPolicy, Step};
use lapor_events::{Handler, HandlerError};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, Set};

use crate::entities::deadline;

/// The consumer of `ReportSubmitted` and `ReportDispatched`.
pub struct DeadlineRecorder {
    pub calendar: Calendar,
    pub policy: SlaPolicy,
}

fn key(report: ReportId, step: Step) -> String {
    format!("{report}:{}", step.code())
}

impl DeadlineRecorder {
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
                    due_at: Set(self.calendar.add_working_days(started_at, days)),
                    met_at: Set(met_at),
                    working_days: Set(i32::try_from(days).unwrap_or(i32::MAX)),
                }
                .insert(txn)
                .await?;
            }
        }
        Ok(())
    }
}

impl Handler for DeadlineRecorder {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
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
            other => Err(HandlerError::Permanent(format!(
                "sla-monitor does not consume {}",
                other.type_name()
            ))),
        }
    }
}
