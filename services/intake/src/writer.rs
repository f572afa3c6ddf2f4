//! Group commit for submissions. Each accepted submission's rows (identity, report, outbox
//! event) are handed to a writer task; a writer takes every submission waiting at that moment
//! (up to `submit_batch_max`) and writes them together before any of them is answered: on
//! PostgreSQL as one statement (one round trip), otherwise in one transaction with one statement
//! per table. Under load that turns five round trips and a commit per report into one or a
//! handful per batch; an idle service writes a lone submission at once.
//!
//! A report whose idempotency key (or, rarely, tracking id) is already taken, by an earlier
//! submission or by one in the same batch, makes PostgreSQL's one statement fail (writing
//! nothing); the transaction then skips it (`ON CONFLICT DO NOTHING`) with its identity and
//! event, and its caller is told so; the rest of the batch is written. A batch that
//! fails otherwise (a lost connection) is rolled back and each of its submissions written again
//! on its own, so each caller gets its own outcome.

use std::collections::HashSet;
use std::sync::Arc;

use lapor_domain::events::Envelope;
use lapor_events::Bus;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryTrait, Statement,
    TryInsertResult,
};
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

/// Writes `rows` and says of each whether it was stored (in the order given). On PostgreSQL a
/// batch with no key taken is one statement, committed on its own: one round trip instead of
/// five (BEGIN, three INSERTs, COMMIT), which matters most for a lone submission's latency when
/// the machine is busy. A statement that fails (a key taken, a lost connection) has written
/// nothing; the batch is then written in a transaction that skips taken keys.
async fn write(db: &DatabaseConnection, bus: &Bus, rows: &[&Rows]) -> Result<Vec<Written>, DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        match write_at_once(db, bus, rows).await {
            Ok(()) => return Ok(vec![Written::Stored; rows.len()]),
            Err(e) => tracing::debug!(error = %e, "one-statement write refused; writing in a transaction"),
        }
    }
    write_in_transaction(db, bus, rows).await
}

/// `rows` as one PostgreSQL statement: `WITH w0 AS (INSERT reports), w1 AS (INSERT identities)
/// INSERT outbox` (no `w1` when no report has an identity). Data-modifying CTEs all run, in one
/// snapshot, whether or not the statement reads them; the statement is atomic.
async fn write_at_once(db: &DatabaseConnection, bus: &Bus, rows: &[&Rows]) -> Result<(), DbErr> {
    use lapor_events::entities::outbox;
    let pg = DbBackend::Postgres;
    let mut parts = vec![report::Entity::insert_many(rows.iter().map(|r| r.report.clone())).build(pg)];
    let identities: Vec<identity::ActiveModel> = rows.iter().filter_map(|r| r.identity.clone()).collect();
    if !identities.is_empty() {
        parts.push(identity::Entity::insert_many(identities).build(pg));
    }
    let events: Vec<(Envelope, Option<String>)> = rows.iter().map(|r| r.event.clone()).collect();
    parts.push(outbox::Entity::insert_many(lapor_events::outbox_rows(bus, &events)).build(pg));
    db.execute_raw(one_statement(parts)).await?;
    Ok(())
}

/// PostgreSQL statements (parameters `$1`..`$n` each, no literal holding a `$`) as one: all but
/// the last as CTEs, the last as the statement, with the parameters renumbered in order.
fn one_statement(parts: Vec<Statement>) -> Statement {
    let mut sql = String::new();
    let mut values = Vec::new();
    let n = parts.len();
    for (k, part) in parts.into_iter().enumerate() {
        let shifted = shift_parameters(&part.sql, values.len());
        if k + 1 == n {
            if k > 0 {
                sql.push(' ');
            }
            sql.push_str(&shifted);
        } else {
            sql.push_str(if k == 0 { "WITH " } else { ", " });
            sql.push_str(&format!("w{k} AS ({shifted})"));
        }
        values.extend(part.values.map(|v| v.0).unwrap_or_default());
    }
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// `sql` with every parameter `$n` renumbered `$(n + by)`.
fn shift_parameters(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            n.push(*d);
            chars.next();
        }
        match n.parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&n),
        }
    }
    out
}

/// Writes `rows` in one transaction, one statement per table, skipping any whose key is taken.
async fn write_in_transaction(
    db: &DatabaseConnection,
    bus: &Bus,
    rows: &[&Rows],
) -> Result<Vec<Written>, DbErr> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_become_one_with_their_parameters_renumbered() {
        let part = |sql: &str, n: i32| {
            Statement::from_sql_and_values(DbBackend::Postgres, sql, (0..n).map(sea_orm::Value::from))
        };
        let one = one_statement(vec![
            part("INSERT INTO \"a\" (\"x\", \"y\") VALUES ($1, $2)", 2),
            part("INSERT INTO \"b\" (\"x\") VALUES ($1), ($2), ($3)", 3),
            part("INSERT INTO \"c\" (\"x\") VALUES ($1)", 1),
        ]);
        assert_eq!(
            one.sql,
            "WITH w0 AS (INSERT INTO \"a\" (\"x\", \"y\") VALUES ($1, $2)), \
             w1 AS (INSERT INTO \"b\" (\"x\") VALUES ($3), ($4), ($5)) \
             INSERT INTO \"c\" (\"x\") VALUES ($6)"
        );
        assert_eq!(one.values.unwrap().0.len(), 6);
        let alone = one_statement(vec![part("INSERT INTO \"c\" (\"x\") VALUES ($1), ($12)", 0)]);
        assert_eq!(alone.sql, "INSERT INTO \"c\" (\"x\") VALUES ($1), ($12)");
        assert_eq!(shift_parameters("$9 $10 $ x$", 10), "$19 $20 $ x$");
    }
}
