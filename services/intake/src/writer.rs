//! Group commit for submissions. Each accepted submission's rows (identity, report, outbox
//! event) are handed to a writer task; a writer takes every submission waiting at that moment
//! (up to `submit_batch_max`) and writes them in one transaction, with one statement per table,
//! before any of them is answered. Under load that turns five round trips and a commit per
//! report into a handful per batch; an idle service writes a lone submission at once, as before.
//!
//! A report whose idempotency key (or, rarely, tracking id) is already taken, by an earlier
//! submission or by one in the same batch, is skipped (`ON CONFLICT DO NOTHING`) with its
//! identity and event, and its caller told so; the rest of the batch is written. A batch that
//! fails otherwise (a lost connection) is rolled back and each of its submissions written again
//! on its own, so each caller gets its own outcome.

use std::collections::HashSet;
use std::sync::Arc;

use lapor_domain::events::Envelope;
use lapor_events::Bus;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, TryInsertResult};
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

use crate::entities::{identity, report};

/// What one submission writes.
pub(crate) struct Rows {
    /// The report's id (the `report` row's key).
    pub report_id: Uuid,
    /// The reporter's sealed identity, unless the report is anonymous without contact.
    pub identity: Option<identity::ActiveModel>,
    /// The report row.
    pub report: report::ActiveModel,
    /// `ReportSubmitted`, with the trace context of the request that submitted it.
    pub event: (Envelope, Option<String>),
}

struct Pending {
    rows: Rows,
    done: oneshot::Sender<Result<Written, DbErr>>,
}

/// What became of a submission handed to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Committed: report, identity and event.
    Stored,
    /// Nothing written: a report with the same idempotency key or tracking id exists.
    Taken,
}

/// The handle the API writes through; writer tasks stop once every handle is dropped, after
/// writing what was already handed over.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Pending>,
}

impl Writer {
    /// Starts `writers` writer tasks (transactions in flight at once), each writing at most
    /// `batch_max` submissions per transaction.
    pub fn start(db: DatabaseConnection, bus: Bus, writers: usize, batch_max: usize) -> Self {
        let writers = writers.max(1);
        let batch_max = batch_max.max(1);
        // Bounded: when the database falls behind, callers wait here rather than piling up.
        let (tx, rx) = mpsc::channel(writers * batch_max * 2);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers {
            tokio::spawn(run(db.clone(), bus.clone(), rx.clone(), batch_max));
        }
        Self { tx }
    }

    /// Writes one submission's rows durably (committed), or says its key was taken, or returns
    /// why not.
    pub async fn write(&self, rows: Rows) -> Result<Written, DbErr> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Pending { rows, done })
            .await
            .map_err(|_| DbErr::Custom("intake's submission writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| DbErr::Custom("intake's submission writer stopped before writing".into()))?
    }
}

async fn run(db: DatabaseConnection, bus: Bus, rx: Arc<Mutex<mpsc::Receiver<Pending>>>, batch_max: usize) {
    loop {
        let batch = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < batch_max {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            batch
        };
        let span = tracing::debug_span!("intake.write_submissions", submissions = batch.len());
        async {
            let rows: Vec<&Rows> = batch.iter().map(|p| &p.rows).collect();
            match write(&db, &bus, &rows).await {
                Ok(written) => {
                    for (p, w) in batch.into_iter().zip(written) {
                        let _ = p.done.send(Ok(w));
                    }
                }
                Err(e) if batch.len() == 1 => {
                    if let Some(p) = batch.into_iter().next() {
                        let _ = p.done.send(Err(e));
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a batch of submissions failed; writing each on its own");
                    for p in batch {
                        let outcome = write(&db, &bus, &[&p.rows]).await;
                        let _ = p
                            .done
                            .send(outcome.map(|w| w.first().copied().unwrap_or(Written::Taken)));
                    }
                }
            }
        }
        .instrument(span)
        .await;
    }
}

/// Writes `rows` in one transaction, one statement per table, and says of each whether it was
/// stored (in the order given).
async fn write(db: &DatabaseConnection, bus: &Bus, rows: &[&Rows]) -> Result<Vec<Written>, DbErr> {
    let txn = lapor_platform::db::begin_write(db).await?;
    // Any unique key taken (idempotency, tracking id, id) skips the row, not the batch.
    let stored: HashSet<Uuid> = match report::Entity::insert_many(rows.iter().map(|r| r.report.clone()))
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .try_insert()
        .exec_with_returning_keys(&txn)
        .await?
    {
        TryInsertResult::Inserted(keys) => keys.into_iter().collect(),
        TryInsertResult::Empty | TryInsertResult::Conflicted => HashSet::new(),
    };
    let written: Vec<Written> = rows
        .iter()
        .map(|r| {
            if stored.contains(&r.report_id) {
                Written::Stored
            } else {
                Written::Taken
            }
        })
        .collect();
    let kept: Vec<&Rows> = rows
        .iter()
        .zip(&written)
        .filter(|(_, w)| **w == Written::Stored)
        .map(|(r, _)| *r)
        .collect();
    let identities: Vec<identity::ActiveModel> = kept.iter().filter_map(|r| r.identity.clone()).collect();
    if !identities.is_empty() {
        identity::Entity::insert_many(identities)
            .exec_without_returning(&txn)
            .await?;
    }
    if !kept.is_empty() {
        let events: Vec<(Envelope, Option<String>)> = kept.iter().map(|r| r.event.clone()).collect();
        lapor_events::enqueue_many(&txn, bus, &events).await?;
    }
    txn.commit().await?;
    Ok(written)
}
