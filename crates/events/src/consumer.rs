//! The idempotent consumer loop. JetStream delivers at least once; each event's effect and its id
//! in `processed_events` commit in one transaction, then the message is acknowledged. A message
//! that can never apply goes to `dead_letters` with its reason and does not block the others.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{AckKind, Message};
use chrono::Utc;
use futures::StreamExt;
use lapor_domain::events::Envelope;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, Set, TransactionTrait,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::bus::{Bus, BusError};
use crate::codec;
use crate::entities::{dead_letter, processed_event};

/// Why a handler could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// It never will (violates an invariant): dead-letter it now.
    #[error("permanent: {0}")]
    Permanent(String),
    /// It may later (a dependency is down): redeliver with backoff, dead-letter after the limit.
    #[error("transient: {0}")]
    Transient(String),
}

impl From<DbErr> for HandlerError {
    fn from(e: DbErr) -> Self {
        HandlerError::Transient(e.to_string())
    }
}

/// Applies events of one subscription inside the consumer's transaction.
pub trait Handler: Send + Sync + 'static {
    /// Applies `env`. Writes go through `txn`, which commits together with the processed-event
    /// record; events to publish go to the outbox through the same `txn`.
    fn handle<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        env: &'a Envelope,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;

    /// Applies several new events of one delivery batch, in delivery order, in one transaction:
    /// the effect must be that of [`Handler::handle`] on each in turn. The default does exactly
    /// that, each event inside its consumer span. A handler overrides it to share statements
    /// between the events (one read of all their reports, one multi-row write), which is where a
    /// consumer under load spends its time.
    ///
    /// On an error the consumer rolls the batch back and applies the events again one by one
    /// with [`Handler::handle`], each in its own savepoint, so a failing event leaves no trace and
    /// the others still commit together. [`BatchError::at`] names the failing event when it is
    /// known (that event is then not run again in this delivery).
    fn handle_batch<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        items: &'a [BatchItem<'a>],
    ) -> impl Future<Output = Result<(), BatchError>> + Send + 'a {
        async move {
            for (i, item) in items.iter().enumerate() {
                self.handle(txn, item.env)
                    .instrument(item.span.clone())
                    .await
                    .map_err(|error| BatchError { at: Some(i), error })?;
            }
            Ok(())
        }
    }
}

/// [`Handler::handle`] of a handler that does its work in [`Handler::handle_batch`]: `env` as a
/// batch of one, in the current (consumer) span.
pub async fn as_batch_of_one<H: Handler>(
    handler: &H,
    txn: &DatabaseTransaction,
    env: &Envelope,
) -> Result<(), HandlerError> {
    let span = tracing::Span::current();
    handler
        .handle_batch(txn, &[BatchItem { env, span: &span }])
        .await
        .map_err(|e| e.error)
}

/// One new event of a delivery batch, with the consumer span opened for it (work done for that
/// event alone, such as writing an outbox row, belongs inside it: the row carries its trace).
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// The event.
    pub env: &'a Envelope,
    /// Its consumer span.
    pub span: &'a tracing::Span,
}

/// Why [`Handler::handle_batch`] failed.
#[derive(Debug)]
pub struct BatchError {
    /// The index in the batch of the event that failed, when it is known.
    pub at: Option<usize>,
    /// The failure.
    pub error: HandlerError,
}

impl BatchError {
    /// A failure of the batch as a whole (a shared statement failed): no event is singled out.
    pub fn whole(error: impl Into<HandlerError>) -> Self {
        Self {
            at: None,
            error: error.into(),
        }
    }
}

/// One durable subscription of a service.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable consumer name, shared by every replica of the service (they split the work).
    pub durable: String,
    /// Subject suffix it filters on, e.g. [`crate::subjects::REPORT_SUBMITTED`].
    pub filter_suffix: &'static str,
}

/// Creates (idempotently) the durable pull consumer of `spec`.
pub async fn ensure_consumer(
    bus: &Bus,
    spec: &ConsumerSpec,
) -> Result<async_nats::jetstream::consumer::Consumer<pull::Config>, BusError> {
    let stream = bus.ensure_stream().await?;
    stream
        .get_or_create_consumer(
            &spec.durable,
            pull::Config {
                durable_name: Some(spec.durable.clone()),
                filter_subject: bus.subjects.subject(spec.filter_suffix),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ack_wait: Duration::from_secs(bus.config.ack_wait_secs),
                // Unlimited at the server: the loop counts deliveries and dead-letters itself.
                max_deliver: -1,
                max_ack_pending: 1000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| BusError::Nats(format!("creating consumer {}: {e}", spec.durable)))
}

/// Runs one subscription until `cancel`: fetches, applies, acknowledges. Messages that have
/// already arrived are applied together in one transaction (see `apply_batch`). After
/// cancellation it stops fetching, finishes the batch in hand and returns.
pub async fn run<H: Handler>(
    bus: Bus,
    db: DatabaseConnection,
    spec: ConsumerSpec,
    handler: Arc<H>,
    relay_wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    while !cancel.is_cancelled() {
        let consumer = match ensure_consumer(&bus, &spec).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "consumer setup failed, retrying");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {},
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let mut messages = match consumer
            .stream()
            .max_messages_per_batch(64)
            .expires(Duration::from_secs(5))
            .heartbeat(Duration::from_secs(2))
            .messages()
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "pull failed, retrying");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        let linger = Duration::from_millis(bus.config.consumer_linger_ms);
        // The previous batch found more than one event waiting: events are arriving faster than
        // they are applied one by one, so waiting a moment for more costs little latency.
        let mut busy = false;
        loop {
            let next = tokio::select! {
                () = cancel.cancelled() => return,
                n = messages.next() => n,
            };
            let first = match next {
                Some(Ok(msg)) => msg,
                Some(Err(e)) => {
                    tracing::warn!(consumer = %spec.durable, error = %e, "message stream error");
                    break;
                }
                None => break,
            };
            let (batch, broken) = gather(
                &mut messages,
                first,
                (busy && !linger.is_zero()).then_some(linger),
                &spec.durable,
            )
            .await;
            busy = batch.len() > 1;
            process_batch(&bus, &db, &spec, handler.as_ref(), &relay_wake, batch).await;
            if broken {
                break;
            }
        }
    }
}

/// Events applied in one transaction at most.
const MAX_BATCH: usize = 64;

/// Completes the batch `first` begins (up to [`MAX_BATCH`]): whatever has already arrived joins
/// it, so events coming one by one are handed over at once and alone, and under load many share
/// one commit. With `linger` (given only when the previous batch found several events waiting)
/// it also waits that long after `first` for more. True with the batch when the stream broke.
async fn gather<T, E: std::fmt::Display>(
    messages: &mut (impl futures::Stream<Item = Result<T, E>> + Unpin),
    first: T,
    linger: Option<Duration>,
    durable: &str,
) -> (Vec<T>, bool) {
    let until = linger.map(|l| tokio::time::Instant::now() + l);
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        let next = match until {
            None => match futures::FutureExt::now_or_never(messages.next()) {
                Some(n) => n,
                None => break,
            },
            Some(t) => match tokio::time::timeout_at(t, messages.next()).await {
                Ok(n) => n,
                Err(_) => break,
            },
        };
        match next {
            Some(Ok(msg)) => batch.push(msg),
            Some(Err(e)) => {
                tracing::warn!(consumer = %durable, error = %e, "message stream error");
                return (batch, true);
            }
            None => return (batch, true),
        }
    }
    (batch, false)
}

/// A message as JetStream delivered it: what acknowledging or dead-lettering it needs.
struct Received {
    msg: Message,
    msg_id: Option<String>,
    stream_seq: u64,
    delivered: i64,
}

/// A decoded delivery on its way through the batch.
struct Delivery {
    received: Received,
    env: Envelope,
    span: tracing::Span,
}

/// The `messaging.consumer.group.name` metric attribute of a subscription.
fn group(spec: &ConsumerSpec) -> opentelemetry::KeyValue {
    lapor_platform::metrics::attr("messaging.consumer.group.name", spec.durable.clone())
}

/// Decodes a message and opens its consumer span; a message that is not an event is
/// dead-lettered here.
async fn prepare(db: &DatabaseConnection, spec: &ConsumerSpec, msg: Message) -> Option<Delivery> {
    let (delivered, stream_seq) = msg
        .info()
        .map(|i| (i.delivered, i.stream_sequence))
        .unwrap_or((1, 0));
    let header = |k: &str| {
        msg.headers
            .as_ref()
            .and_then(|h| h.get(k))
            .map(|v| v.as_str().to_owned())
    };
    let msg_id = header("Nats-Msg-Id");
    let traceparent = header("traceparent");
    let received = Received {
        msg,
        msg_id,
        stream_seq,
        delivered,
    };
    let env = match codec::decode(&received.msg.payload) {
        Ok(env) => env,
        Err(e) => {
            dead_letter(db, spec, &received, &e.to_string()).await;
            return None;
        }
    };
    // A child of the relay's publish span (the message's trace context): one trace per report.
    let span = tracing::info_span!(
        "consume",
        otel.name = %format!("process {}", env.event.type_name()),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "nats",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = %received.msg.subject,
        messaging.consumer.group.name = %spec.durable,
        messaging.message.id = %env.id,
        messaging.nats.delivery_count = delivered,
        lapor.report.id = tracing::field::Empty,
        lapor.opd.id = tracing::field::Empty,
        lapor.event.type = env.event.type_name(),
    );
    if let Some(report) = env.event.report_id() {
        span.record("lapor.report.id", tracing::field::display(report));
    }
    if let Some(opd) = env.event.opd_id() {
        span.record("lapor.opd.id", tracing::field::display(opd));
    }
    lapor_platform::telemetry::set_parent(&span, traceparent.as_deref());
    if delivered > 1 {
        lapor_platform::metrics::get().redeliveries.add(1, &[group(spec)]);
    }
    Some(Delivery { received, env, span })
}

/// Applies a batch of deliveries and settles each: acknowledged once its effect is committed,
/// redelivered later after a transient failure, dead-lettered after a permanent one.
async fn process_batch<H: Handler>(
    bus: &Bus,
    db: &DatabaseConnection,
    spec: &ConsumerSpec,
    handler: &H,
    relay_wake: &Notify,
    msgs: Vec<Message>,
) {
    let mut batch = Vec::with_capacity(msgs.len());
    for msg in msgs {
        if let Some(d) = prepare(db, spec, msg).await {
            batch.push(d);
        }
    }
    if batch.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let outcomes = apply_batch(db, spec, handler, &batch).await;
    let per_event = started.elapsed().as_secs_f64() / batch.len() as f64;
    if outcomes.iter().any(|o| matches!(o, Ok(true))) {
        relay_wake.notify_one();
    }
    let metrics = lapor_platform::metrics::get();
    for (d, outcome) in batch.into_iter().zip(outcomes) {
        let result = match &outcome {
            Ok(true) => "applied",
            Ok(false) => "duplicate",
            Err(HandlerError::Permanent(_)) => "permanent_error",
            Err(HandlerError::Transient(_)) => "transient_error",
        };
        metrics.process_duration.record(
            per_event,
            &[
                group(spec),
                lapor_platform::metrics::attr("lapor.outcome", result),
            ],
        );
        if outcome.is_err() {
            d.span.record("otel.status_code", "ERROR");
        }
        settle(bus, db, spec, &d.received, outcome)
            .instrument(d.span)
            .await;
    }
}

async fn settle(
    bus: &Bus,
    db: &DatabaseConnection,
    spec: &ConsumerSpec,
    received: &Received,
    outcome: Result<bool, HandlerError>,
) {
    let delivered = received.delivered;
    match outcome {
        Ok(applied) => {
            if !applied {
                tracing::debug!("duplicate delivery skipped");
            }
            ack(&received.msg, AckKind::Ack).await;
        }
        Err(HandlerError::Permanent(reason)) => {
            dead_letter(db, spec, received, &reason).await;
        }
        Err(HandlerError::Transient(reason)) => {
            if delivered >= bus.config.max_deliver {
                let reason = format!("gave up after {delivered} deliveries: {reason}");
                dead_letter(db, spec, received, &reason).await;
            } else {
                let delay = Duration::from_millis(200 * 2u64.pow(delivered.clamp(1, 8) as u32));
                tracing::warn!(%reason, delivered, "event not applied, will be redelivered");
                ack(&received.msg, AckKind::Nak(Some(delay))).await;
            }
        }
    }
}

/// Applies every delivery of the batch in one transaction. Optimistically first: one statement
/// records every event id (telling redeliveries apart), then the new events go to
/// [`Handler::handle_batch`] together, without savepoints. If that fails the transaction is
/// rolled back and the batch applied again with each event inside its own savepoint, so a
/// failing event leaves no trace while the others commit together (the failed one, when the
/// handler named it, is not tried twice in one delivery). A failed commit fails them all
/// (transiently: they are redelivered). One delivery is applied on its own.
async fn apply_batch<H: Handler>(
    db: &DatabaseConnection,
    spec: &ConsumerSpec,
    handler: &H,
    batch: &[Delivery],
) -> Vec<Result<bool, HandlerError>> {
    if let [one] = batch {
        return vec![
            apply(db, spec, handler, &one.env)
                .instrument(one.span.clone())
                .await,
        ];
    }
    let all_failed = |e: &DbErr| {
        batch
            .iter()
            .map(|_| Err(HandlerError::Transient(format!("batch transaction: {e}"))))
            .collect()
    };
    let txn = match lapor_platform::db::begin_write(db).await {
        Ok(t) => t,
        Err(e) => return all_failed(&e),
    };
    let ids: Vec<uuid::Uuid> = batch.iter().map(|d| d.env.id.as_uuid()).collect();
    let fresh = match record_ids(&txn, &spec.durable, &ids).await {
        Ok(f) => f,
        Err(e) => return all_failed(&e),
    };
    // The new events go to the handler together; `index[j]` is the batch position of item j.
    let (index, items): (Vec<usize>, Vec<BatchItem<'_>>) = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| fresh[*i])
        .map(|(i, d)| {
            (
                i,
                BatchItem {
                    env: &d.env,
                    span: &d.span,
                },
            )
        })
        .unzip();
    let failed = if items.is_empty() {
        None
    } else {
        handler.handle_batch(&txn, &items).await.err()
    };
    let Some(BatchError { at, error }) = failed else {
        if let Err(e) = txn.commit().await {
            return all_failed(&e);
        }
        return fresh.into_iter().map(Ok).collect();
    };
    let failed_at = at.and_then(|j| index.get(j).copied());
    let failure = error;
    if failed_at.is_none() {
        tracing::warn!(consumer = %spec.durable, error = %failure, "batch failed as a whole, applying its events one by one");
    }
    if let Err(e) = txn.rollback().await {
        return all_failed(&e);
    }
    let txn = match lapor_platform::db::begin_write(db).await {
        Ok(t) => t,
        Err(e) => return all_failed(&e),
    };
    let mut failure = Some(failure);
    let mut outcomes = Vec::with_capacity(batch.len());
    for (i, d) in batch.iter().enumerate() {
        if Some(i) == failed_at {
            if let Some(f) = failure.take() {
                outcomes.push(Err(f));
            }
            continue;
        }
        let outcome = async {
            let savepoint = txn.begin().await?;
            match apply_in(&savepoint, spec, handler, &d.env).await {
                Ok(applied) => {
                    savepoint.commit().await?;
                    Ok(applied)
                }
                Err(e) => {
                    savepoint.rollback().await?;
                    Err(e)
                }
            }
        }
        .instrument(d.span.clone())
        .await;
        outcomes.push(outcome);
    }
    if let Err(e) = txn.commit().await {
        return all_failed(&e);
    }
    outcomes
}

/// Records event `ids` as applied by `consumer` in `processed_events` with one statement; for
/// each id, whether it is new (false: applied before, or earlier in `ids`). PostgreSQL and SQLite.
pub async fn record_ids(
    txn: &impl ConnectionTrait,
    consumer: &str,
    ids: &[uuid::Uuid],
) -> Result<Vec<bool>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let mut insert = Query::insert();
    insert.into_table(processed_event::Entity).columns([
        processed_event::Column::Consumer,
        processed_event::Column::EventId,
        processed_event::Column::ProcessedAt,
    ]);
    for id in ids {
        insert
            .values([consumer.into(), (*id).into(), now.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    insert
        .on_conflict(
            OnConflict::columns([
                processed_event::Column::Consumer,
                processed_event::Column::EventId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .returning_col(processed_event::Column::EventId);
    let mut inserted = std::collections::HashSet::new();
    for row in txn
        .query_all_raw(txn.get_database_backend().build(&insert))
        .await?
    {
        inserted.insert(row.try_get::<uuid::Uuid>("", "event_id")?);
    }
    // The first copy of an inserted id is the new one; a second copy is not.
    Ok(ids.iter().map(|id| inserted.remove(id)).collect())
}

/// Applies one event exactly once in its own transaction; returns false when it had already been
/// applied.
async fn apply<H: Handler>(
    db: &DatabaseConnection,
    spec: &ConsumerSpec,
    handler: &H,
    env: &Envelope,
) -> Result<bool, HandlerError> {
    let txn = lapor_platform::db::begin_write(db).await?;
    let applied = apply_in(&txn, spec, handler, env).await?;
    txn.commit().await?;
    Ok(applied)
}

/// The effect of one event and its `processed_events` row, inside `txn`; false (and nothing
/// written) when the event had already been applied.
async fn apply_in<H: Handler>(
    txn: &DatabaseTransaction,
    spec: &ConsumerSpec,
    handler: &H,
    env: &Envelope,
) -> Result<bool, HandlerError> {
    // The id first: one statement both records it and tells a redelivery (nothing inserted).
    let fresh = record_ids(txn, &spec.durable, &[env.id.as_uuid()]).await?;
    if fresh.first() != Some(&true) {
        return Ok(false);
    }
    handler.handle(txn, env).await?;
    Ok(true)
}

async fn dead_letter(db: &DatabaseConnection, spec: &ConsumerSpec, received: &Received, reason: &str) {
    let Received {
        msg,
        msg_id,
        stream_seq,
        delivered,
    } = received;
    tracing::error!(consumer = %spec.durable, stream_seq, %reason, "event dead-lettered");
    lapor_platform::metrics::get().dead_letters.add(1, &[group(spec)]);
    let row = dead_letter::ActiveModel {
        consumer: Set(spec.durable.clone()),
        subject: Set(msg.subject.to_string()),
        msg_id: Set(msg_id.clone()),
        stream_seq: Set(i64::try_from(*stream_seq).unwrap_or(i64::MAX)),
        deliveries: Set(*delivered),
        reason: Set(reason.to_owned()),
        payload: Set(msg.payload.to_vec()),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    match row.insert(db).await {
        // Recorded: take it out of the stream's delivery for good.
        Ok(_) => ack(msg, AckKind::Term).await,
        // Not recorded: leave it to be redelivered rather than lose it.
        Err(e) => {
            tracing::error!(error = %e, "dead letter not recorded, message will be redelivered");
            ack(msg, AckKind::Nak(Some(Duration::from_secs(5)))).await;
        }
    }
}

async fn ack(msg: &Message, kind: AckKind) {
    if let Err(e) = msg.ack_with(kind).await {
        tracing::warn!(error = %e, "ack failed; the message will be redelivered and skipped as a duplicate");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    type Feed = tokio::sync::mpsc::UnboundedSender<Result<usize, String>>;

    /// A stream fed by hand, standing in for JetStream's message stream.
    fn feed() -> (Feed, impl futures::Stream<Item = Result<usize, String>> + Unpin) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
        (tx, Box::pin(stream))
    }

    /// Sends `items` one by one, `gap` apart, starting `gap` from now.
    fn trickle(tx: &Feed, items: std::ops::Range<usize>, gap: Duration) {
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in items {
                tokio::time::sleep(gap).await;
                let _ = tx.send(Ok(i));
            }
        });
    }

    #[tokio::test]
    async fn without_linger_only_what_has_already_arrived_joins() {
        let (tx, mut s) = feed();
        for i in 1..4 {
            tx.send(Ok(i)).unwrap();
        }
        trickle(&tx, 4..6, Duration::from_millis(200));
        assert_eq!(gather(&mut s, 0, None, "t").await, (vec![0, 1, 2, 3], false));
        // The next lone event is handed over alone, at once.
        let next = s.next().await.unwrap().unwrap();
        assert_eq!(gather(&mut s, next, None, "t").await, (vec![4], false));
    }

    #[tokio::test]
    async fn with_linger_a_trickle_joins_until_the_linger_is_over() {
        let (tx, mut s) = feed();
        // Four events 20 ms apart join; one sent after the 400 ms linger does not.
        trickle(&tx, 1..5, Duration::from_millis(20));
        trickle(&tx, 9..10, Duration::from_millis(900));
        let (batch, broken) = gather(&mut s, 0, Some(Duration::from_millis(400)), "t").await;
        assert_eq!((batch, broken), (vec![0, 1, 2, 3, 4], false));
        assert_eq!(s.next().await.unwrap().unwrap(), 9);
    }

    #[tokio::test]
    async fn a_batch_stops_at_its_limit_and_on_a_broken_stream() {
        let (tx, mut s) = feed();
        for i in 1..(MAX_BATCH + 6) {
            tx.send(Ok(i)).unwrap();
        }
        let (batch, broken) = gather(&mut s, 0, Some(Duration::from_secs(5)), "t").await;
        assert_eq!(batch, (0..MAX_BATCH).collect::<Vec<_>>());
        assert!(!broken);
        // What is left waits for the next batch; an error ends this one (without the error).
        tx.send(Err("connection reset".into())).unwrap();
        let first = s.next().await.unwrap().unwrap();
        let (batch, broken) = gather(&mut s, first, None, "t").await;
        assert_eq!(batch, (MAX_BATCH..MAX_BATCH + 6).collect::<Vec<_>>());
        assert!(broken);
        // A stream that ends while lingering hands over what it has.
        tx.send(Ok(100)).unwrap();
        drop(tx);
        let (batch, broken) = gather(&mut s, 99, Some(Duration::from_secs(5)), "t").await;
        assert_eq!((batch, broken), (vec![99, 100], true));
    }
}
