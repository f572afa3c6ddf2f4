//! Recording facts from events. Every event a deadline depends on is stored as a fact (once per
//! event id) and the report's deadlines are recomputed from its whole history, so any delivery
//! order and any number of deliveries give the same rows.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use lapor_domain::deadlines::Recorded;
use lapor_domain::events::Envelope;
use lapor_events::{BatchError, BatchItem, Handler, HandlerError};
use sea_orm::DatabaseTransaction;
use tracing::Instrument;
use uuid::Uuid;

use crate::alerts::Alerts;
use crate::engine::Live;

/// The consumer of every event deadlines depend on.
pub struct DeadlineRecorder {
    pub engine: Arc<Live>,
    pub alerts: Arc<Alerts>,
}

impl Handler for DeadlineRecorder {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        lapor_events::consumer::as_batch_of_one(self, txn, env).await
    }

    /// The facts of the whole batch in one statement, their reports recomputed together (one
    /// lock statement, one read of their facts, one of their deadlines, one write of what
    /// changed): the same rows as event by event, in about six statements per batch instead of
    /// six per event.
    async fn handle_batch(
        &self,
        txn: &DatabaseTransaction,
        items: &[BatchItem<'_>],
    ) -> Result<(), BatchError> {
        // Each report's facts, the events that brought them (the reason of any due-time move)
        // and the span of its last event (where its breaches are raised).
        let mut facts: Vec<(Uuid, Vec<Recorded>)> = Vec::new();
        let mut reasons: HashMap<Uuid, String> = HashMap::new();
        let mut last: HashMap<Uuid, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let env = item.env;
            let recorded = crate::facts::of(env);
            let Some(report) = env.event.report_id().filter(|_| !recorded.is_empty()) else {
                // A reply that answers no question, for example: nothing deadlines depend on.
                continue;
            };
            let report = report.as_uuid();
            let reason = format!("{} {}", env.event.type_name(), env.id);
            reasons
                .entry(report)
                .and_modify(|r| {
                    r.push_str("; ");
                    r.push_str(&reason);
                })
                .or_insert(reason);
            match facts.iter_mut().find(|(r, _)| *r == report) {
                Some((_, f)) => f.extend(recorded),
                None => facts.push((report, recorded)),
            }
            last.insert(report, i);
        }
        if facts.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let span = batch_span(items);
        let mut stored = self
            .engine
            .get()
            .record_many(txn, &facts, &reasons, now)
            .instrument(span)
            .await
            .map_err(BatchError::whole)?;
        for (report, _) in &facts {
            let i = last[report];
            let item = &items[i];
            let rows = stored.remove(report).unwrap_or_default();
            // A step done late, or a span held past its due time and then transferred: a breach
            // the sweep would not see any more (the deadline is no longer open). Raised in the
            // event's span, so the breach event continues the report's trace.
            async {
                for row in rows
                    .iter()
                    .filter(|r| r.met_at.or(r.ended_at).is_some_and(|d| d > r.due_at))
                {
                    self.alerts.breach(txn, row, now).await?;
                }
                tracing::info!(report_id = %report, event = item.env.event.type_name(), deadlines = rows.len(), "deadlines recorded");
                Ok::<_, sea_orm::DbErr>(())
            }
            .instrument(item.span.clone())
            .await
            .map_err(|e| BatchError {
                at: Some(i),
                error: e.into(),
            })?;
        }
        Ok(())
    }
}

/// The span of the statements a batch shares: a child of the only event's span, or, for several
/// events (several traces), a root linked to each of their spans.
fn batch_span(items: &[BatchItem<'_>]) -> tracing::Span {
    if let [one] = items {
        return one.span.clone();
    }
    let span = tracing::info_span!(
        parent: None,
        "record deadlines",
        otel.name = "record deadlines",
        lapor.batch.size = items.len(),
    );
    for item in items {
        lapor_platform::telemetry::link(&span, item.span);
    }
    span
}
