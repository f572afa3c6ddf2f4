//! Recording facts from events. Every event a deadline depends on is stored as a fact (once per
//! event id) and the report's deadlines are recomputed from its whole history, so any delivery
//! order and any number of deliveries give the same rows.

use std::sync::Arc;

use chrono::Utc;
use lapor_domain::events::Envelope;
use lapor_events::{Handler, HandlerError};
use sea_orm::DatabaseTransaction;

use crate::alerts::Alerts;
use crate::engine::Live;

/// The consumer of every event deadlines depend on.
pub struct DeadlineRecorder {
    pub engine: Arc<Live>,
    pub alerts: Arc<Alerts>,
}

impl Handler for DeadlineRecorder {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let facts = crate::facts::of(env);
        let Some(report) = env.event.report_id().filter(|_| !facts.is_empty()) else {
            // A reply that answers no question, for example: nothing deadlines depend on.
            return Ok(());
        };
        let reason = format!("{} {}", env.event.type_name(), env.id);
        let now = Utc::now();
        let rows = self
            .engine
            .get()
            .record(txn, report.as_uuid(), &facts, &reason, now)
            .await?;
        // A step done late, or a span held past its due time and then transferred: a breach the
        // sweep would not see any more (the deadline is no longer open).
        for row in rows
            .iter()
            .filter(|r| r.met_at.or(r.ended_at).is_some_and(|d| d > r.due_at))
        {
            self.alerts.breach(txn, row, now).await?;
        }
        tracing::info!(report_id = %report, event = env.event.type_name(), deadlines = rows.len(), "deadlines recorded");
        Ok(())
    }
}
