//! The transactional outbox: [`enqueue`] writes an event in the caller's transaction; the
//! [`Relay`] publishes unsent rows in order with `Nats-Msg-Id` = event id, then marks them sent.
//! A crash between publish and mark re-publishes, and JetStream's duplicate window drops it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use chrono::Utc;
use lapor_domain::events::Envelope;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::bus::Bus;
use crate::entities::outbox;
use crate::{SCHEMA_HEADER, SCHEMA_VERSION, TYPE_HEADER, codec};

/// Writes `env` to the outbox inside the caller's transaction, with the current trace context.
pub async fn enqueue<C: ConnectionTrait>(db: &C, bus: &Bus, env: &Envelope) -> Result<(), DbErr> {
    outbox::ActiveModel {
        event_id: Set(env.id.as_uuid()),
        event_type: Set(env.event.type_name().to_owned()),
        subject: Set(bus.subjects.for_event(&env.event)),
        payload: Set(codec::encode(env)),
        traceparent: Set(lapor_platform::telemetry::current_traceparent()),
        created_at: Set(Utc::now()),
        published_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Writes several events to the outbox inside the caller's transaction, with one statement per
/// 500, in the given order; each row carries the trace context given with its event (the span
/// of what caused it: [`lapor_platform::telemetry::traceparent_of`]).
pub async fn enqueue_many<C: ConnectionTrait>(
    db: &C,
    bus: &Bus,
    events: &[(Envelope, Option<String>)],
) -> Result<(), DbErr> {
    let rows = outbox_rows(bus, events);
    for chunk in rows.chunks(500) {
        outbox::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The outbox rows of `events` (unsent, each with its trace context), for a caller that writes
/// them in a statement of its own making; [`enqueue_many`] writes them.
pub fn outbox_rows(bus: &Bus, events: &[(Envelope, Option<String>)]) -> Vec<outbox::ActiveModel> {
    let now = Utc::now();
    events
        .iter()
        .map(|(env, traceparent)| outbox::ActiveModel {
            event_id: Set(env.id.as_uuid()),
            event_type: Set(env.event.type_name().to_owned()),
            subject: Set(bus.subjects.for_event(&env.event)),
            payload: Set(codec::encode(env)),
            traceparent: Set(traceparent.clone()),
            created_at: Set(now),
            published_at: Set(None),
            ..Default::default()
        })
        .collect()
}

/// Counts unsent outbox rows (the relay's backlog).
pub async fn backlog(db: &DatabaseConnection) -> Result<u64, DbErr> {
    outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .count(db)
        .await
}

/// Publishes outbox rows.
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    bus: Bus,
    wake: Arc<Notify>,
    batch: u64,
}

impl Relay {
    /// A relay over `db`'s outbox.
    pub fn new(db: DatabaseConnection, bus: Bus) -> Self {
        Self {
            db,
            bus,
            wake: Arc::new(Notify::new()),
            batch: 256,
        }
    }

    /// Handle that wakes the relay right after a commit that wrote outbox rows.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Publishes every unsent row in order; returns how many were published.
    pub async fn drain(&self) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            let n = self.publish_batch().await?;
            total += n;
            if (n as u64) < self.batch {
                return Ok(total);
            }
        }
    }

    async fn publish_batch(&self) -> Result<usize, RelayError> {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::Seq)
            .limit(self.batch)
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        // Pipelined: send every publish, then await the acks in order. The first failure stops
        // the batch; only rows acknowledged before it are marked.
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            // One producer span per event, a child of the span that wrote the row (its stored
            // trace context); the message carries this span's context, so consumers are its
            // children. Untraced, the stored context is passed on unchanged.
            let span = tracing::info_span!(
                "publish",
                otel.name = %format!("send {}", row.event_type),
                otel.kind = "producer",
                otel.status_code = tracing::field::Empty,
                messaging.system = "nats",
                messaging.operation.type = "send",
                messaging.operation.name = "publish",
                messaging.destination.name = %row.subject,
                messaging.message.id = %row.event_id,
                lapor.event.type = %row.event_type,
            );
            lapor_platform::telemetry::set_parent(&span, row.traceparent.as_deref());
            let traceparent =
                lapor_platform::telemetry::traceparent_of(&span).or_else(|| row.traceparent.clone());
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", row.event_id.to_string().as_str());
            headers.insert(SCHEMA_HEADER, SCHEMA_VERSION.to_string().as_str());
            headers.insert(TYPE_HEADER, row.event_type.as_str());
            if let Some(tp) = &traceparent {
                headers.insert("traceparent", tp.as_str());
            }
            match self
                .bus
                .js
                .publish_with_headers(row.subject.clone(), headers, row.payload.clone().into())
                .instrument(span.clone())
                .await
            {
                Ok(ack) => pending.push((row.seq, row.created_at, span, ack)),
                Err(e) => {
                    span.record("otel.status_code", "ERROR");
                    let _in = span.enter();
                    tracing::warn!(error = %e, seq = row.seq, "outbox publish failed");
                    break;
                }
            }
        }
        let metrics = lapor_platform::metrics::get();
        let mut acked = Vec::with_capacity(pending.len());
        for (seq, created_at, span, ack) in pending {
            match ack.await {
                Ok(_) => {
                    acked.push(seq);
                    let lag = (Utc::now() - created_at).to_std().unwrap_or_default();
                    metrics.relay_lag.record(lag.as_secs_f64(), &[]);
                    metrics.published.add(1, &[]);
                }
                Err(e) => {
                    span.record("otel.status_code", "ERROR");
                    let _in = span.enter();
                    tracing::warn!(error = %e, seq, "outbox publish not acknowledged");
                    break;
                }
            }
        }
        if !acked.is_empty() {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::PublishedAt, Expr::value(Utc::now()))
                .filter(outbox::Column::Seq.is_in(acked.clone()))
                .exec(&self.db)
                .await?;
        }
        if acked.len() < rows.len() {
            return Err(RelayError::Publish(format!(
                "{} of {} rows published",
                acked.len(),
                rows.len()
            )));
        }
        Ok(acked.len())
    }

    /// Runs until `cancel`: drains on every wake-up and every `poll`; retries with backoff after
    /// errors; drains once more before returning.
    pub async fn run(self, poll: Duration, cancel: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.drain().await {
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(published = n, "outbox relayed");
                    }
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = self.wake.notified() => {},
                        () = tokio::time::sleep(poll) => {},
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay error, retrying");
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {},
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        if let Err(e) = self.drain().await {
            tracing::warn!(error = %e, "final outbox drain failed; rows stay for the next start");
        }
    }
}

/// A relay pass that did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Database error.
    #[error("outbox database: {0}")]
    Db(#[from] DbErr),
    /// JetStream did not take every row.
    #[error("outbox publish: {0}")]
    Publish(String),
}
