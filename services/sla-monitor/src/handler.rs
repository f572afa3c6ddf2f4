//! Recording facts from events. Every event a deadline depends on is stored as a fact (once per
//! event id) and the report's deadlines are recomputed from its whole history, so any delivery
//! order and any number of deliveries give the same rows.

use std::sync::Arc;

use chrono::Utc;
use lapor_domain::events::Envelope;
use lapor_events::{Handler, HandlerError};
use sea_orm::DatabaseTransaction;

use crate::engine::Engine;

/// The consumer of every event deadlines depend on.
pub struct DeadlineRecorder {
    pub engine: Arc<Engine>,
}

impl Handler for DeadlineRecorder {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let facts = crate::facts::of(env);
        if facts.is_empty() {
            // A reply that answers no question, for example: nothing deadlines depend on.
            return Ok(());
        }
        let report = env.event.report_id();
        let reason = format!("{} {}", env.event.type_name(), env.id);
        self.engine
            .record(txn, report.as_uuid(), &facts, &reason, Utc::now())
            .await?;
        tracing::debug!(report_id = %report, event = env.event.type_name(), "deadlines recomputed");
        Ok(())
    }
}
