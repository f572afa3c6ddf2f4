//! Warnings, breaches and escalations, each raised exactly once: the `alerts` table's key
//! (deadline, kind, level) admits one row, and the row, the ledger entry and the event commit
//! together. The sweep reads only open deadlines by due time (a partial index), so it costs the
//! number of due deadlines, not the size of the history.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lapor_domain::events::{DeadlineRef, Envelope, Event, SlaBreached, SlaEscalated, SlaWarning};
use lapor_domain::{EventId, ReportId, Step};
use lapor_events::{Bus, enqueue};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tokio::sync::Notify;

use crate::config::Config;
use crate::entities::{alert, deadline};

/// Rows handled per query of a sweep.
const BATCH: u64 = 500;

/// What one sweep raised.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Warnings raised.
    pub warnings: usize,
    /// Breaches raised.
    pub breaches: usize,
    /// Escalations raised.
    pub escalations: usize,
}

/// Raises alerts.
pub struct Alerts {
    pub config: Arc<Config>,
    pub live: Arc<crate::engine::Live>,
    pub bus: Bus,
    pub relay_wake: Arc<Notify>,
}

fn deadline_ref(row: &deadline::Model) -> Result<DeadlineRef, DbErr> {
    Ok(DeadlineRef {
        report_id: ReportId::from_uuid(row.report_id),
        step: Step::from_code(&row.step).ok_or_else(|| DbErr::Custom(format!("stored step {}", row.step)))?,
        span: u32::try_from(row.span).unwrap_or(0),
        opd_id: row.opd_id.as_deref().and_then(|o| o.parse().ok()),
        due_at: row.due_at,
    })
}

async fn emit(txn: &impl ConnectionTrait, bus: &Bus, at: DateTime<Utc>, event: Event) -> Result<(), DbErr> {
    let env = Envelope {
        id: EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: at,
        event,
    };
    enqueue(txn, bus, &env)
        .await
        .map_err(|e| DbErr::Custom(format!("outbox: {e}")))
}

/// Inserts the alert's row unless it exists; true when this call raised it.
async fn raise(
    txn: &impl ConnectionTrait,
    row: &deadline::Model,
    kind: &str,
    level: u32,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let n = alert::Entity::insert(alert::ActiveModel {
        id: Set(format!("{}:{kind}:{level}", row.id)),
        deadline_id: Set(row.id.clone()),
        kind: Set(kind.to_owned()),
        level: Set(i32::try_from(level).unwrap_or(i32::MAX)),
        due_at: Set(row.due_at),
        at: Set(now),
    })
    .on_conflict(OnConflict::column(alert::Column::Id).do_nothing().to_owned())
    .exec_without_returning(txn)
    .await?;
    Ok(n == 1)
}

/// The next page of `q` after `after`, in due-time order (what the partial due-time index
/// serves), by keyset on (due_at, id).
fn page(
    q: sea_orm::Select<deadline::Entity>,
    after: Option<&(DateTime<Utc>, String)>,
    limit: u64,
) -> sea_orm::Select<deadline::Entity> {
    let q = q
        .order_by_asc(deadline::Column::DueAt)
        .order_by_asc(deadline::Column::Id)
        .limit(limit);
    match after {
        Some((due, id)) => q.filter(
            sea_orm::Condition::any()
                .add(deadline::Column::DueAt.gt(*due))
                .add(
                    sea_orm::Condition::all()
                        .add(deadline::Column::DueAt.eq(*due))
                        .add(deadline::Column::Id.gt(id.clone())),
                ),
        ),
        None => q,
    }
}

/// Open deadlines (not met, not ended, clock running).
fn open() -> sea_orm::Select<deadline::Entity> {
    deadline::Entity::find()
        .filter(deadline::Column::MetAt.is_null())
        .filter(deadline::Column::EndedAt.is_null())
        .filter(deadline::Column::Paused.eq(false))
}

impl Alerts {
    /// Records a breach once: the alert, the ledger entry with its evidence, and `SlaBreached`.
    pub async fn breach(
        &self,
        txn: &impl ConnectionTrait,
        row: &deadline::Model,
        now: DateTime<Utc>,
    ) -> Result<bool, DbErr> {
        if !raise(txn, row, "BREACH", 0, now).await? {
            return Ok(false);
        }
        let officials = self.config.officials_of(row.opd_id.as_deref());
        let done = row.met_at.or(row.ended_at).unwrap_or(now);
        let body = serde_json::json!({
            "deadline_id": row.id,
            "report_id": row.report_id.to_string(),
            "step": row.step,
            "span": row.span,
            "opd_id": row.opd_id,
            "officials": officials,
            "started_at": row.started_at,
            "allowance": row.allowance,
            "unit": row.unit,
            "pauses": serde_json::from_str::<serde_json::Value>(&row.pauses).unwrap_or_default(),
            "due_at": row.due_at,
            "met_at": row.met_at,
            "ended_at": row.ended_at,
            "detected_at": now,
            "late_seconds": (done - row.due_at).num_seconds().max(0),
            "settings": row.settings,
        });
        let seq = crate::ledger::append(txn, "breach", &body, now).await?;
        emit(
            txn,
            &self.bus,
            now,
            Event::SlaBreached(SlaBreached {
                deadline: deadline_ref(row)?,
                detected_at: now,
                officials,
                ledger_seq: u64::try_from(seq).unwrap_or(0),
            }),
        )
        .await?;
        tracing::info!(report_id = %row.report_id, deadline = %row.id, ledger_seq = seq, "sla breach recorded");
        Ok(true)
    }

    /// Raises the escalation levels a breached, still open deadline has reached by `now`.
    async fn escalate(
        &self,
        txn: &impl ConnectionTrait,
        row: &deadline::Model,
        now: DateTime<Utc>,
    ) -> Result<usize, DbErr> {
        let overdue = self.live.get().calendar.working_days_between(row.due_at, now);
        let esc = &self.config.escalation;
        let mut raised = 0;
        for (i, level) in esc.levels.iter().enumerate() {
            let after = esc.after_working_days.get(i).copied().unwrap_or(u32::MAX);
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if overdue < after || !raise(txn, row, "ESCALATION", n, now).await? {
                continue;
            }
            let officials = self.config.officials_at(level, row.opd_id.as_deref());
            emit(
                txn,
                &self.bus,
                now,
                Event::SlaEscalated(SlaEscalated {
                    deadline: deadline_ref(row)?,
                    level: n,
                    position: level.clone(),
                    officials,
                    overdue_working_days: overdue,
                    escalated_at: now,
                }),
            )
            .await?;
            raised += 1;
        }
        Ok(raised)
    }

    /// The sweep's first page of overdue open deadlines, for the benchmark.
    #[doc(hidden)]
    pub async fn overdue_ids(
        db: &DatabaseConnection,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<String>, DbErr> {
        page(open().filter(deadline::Column::DueAt.lt(now)), None, limit)
            .select_only()
            .column(deadline::Column::Id)
            .into_tuple()
            .all(db)
            .await
    }

    /// The sweep's query for deadlines due within `lead`, for the benchmark.
    #[doc(hidden)]
    pub async fn due_soon_ids(
        db: &DatabaseConnection,
        now: DateTime<Utc>,
        lead: Duration,
        limit: u64,
    ) -> Result<Vec<String>, DbErr> {
        page(
            open()
                .filter(deadline::Column::DueAt.gt(now))
                .filter(deadline::Column::DueAt.lte(now + lead)),
            None,
            limit,
        )
        .select_only()
        .column(deadline::Column::Id)
        .into_tuple()
        .all(db)
        .await
    }

    /// Finds due-soon and overdue deadlines at `now` and raises what has not been raised.
    pub async fn sweep(&self, db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Swept, DbErr> {
        let mut out = Swept::default();
        let lead = Duration::hours(i64::from(self.config.alerts.warning_lead_hours));
        let warn = open()
            .filter(deadline::Column::DueAt.gt(now))
            .filter(deadline::Column::DueAt.lte(now + lead));
        let mut after: Option<(DateTime<Utc>, String)> = None;
        loop {
            let rows = page(warn.clone(), after.as_ref(), BATCH).all(db).await?;
            let Some(last) = rows.last() else { break };
            after = Some((last.due_at, last.id.clone()));
            let txn = lapor_platform::db::begin_write(db).await?;
            for row in &rows {
                if raise(&txn, row, "WARNING", 0, now).await? {
                    emit(
                        &txn,
                        &self.bus,
                        now,
                        Event::SlaWarning(SlaWarning {
                            deadline: deadline_ref(row)?,
                            warned_at: now,
                        }),
                    )
                    .await?;
                    out.warnings += 1;
                }
            }
            txn.commit().await?;
        }
        let overdue = open().filter(deadline::Column::DueAt.lt(now));
        let mut after: Option<(DateTime<Utc>, String)> = None;
        loop {
            let rows = page(overdue.clone(), after.as_ref(), BATCH).all(db).await?;
            let Some(last) = rows.last() else { break };
            after = Some((last.due_at, last.id.clone()));
            let txn = lapor_platform::db::begin_write(db).await?;
            for row in &rows {
                if self.breach(&txn, row, now).await? {
                    out.breaches += 1;
                }
                out.escalations += self.escalate(&txn, row, now).await?;
            }
            txn.commit().await?;
        }
        if out != Swept::default() {
            self.relay_wake.notify_one();
            tracing::info!(
                warnings = out.warnings,
                breaches = out.breaches,
                escalations = out.escalations,
                "sla sweep"
            );
        }
        Ok(out)
    }
}

/// Samples `lapor.sla.deadlines.open` (not met, not ended; paused ones included) and
/// `lapor.sla.deadlines.overdue` (running and past due) per OPD into their gauges. `opd.id` is
/// `diskominfo` for the operator desk's verification deadlines. An OPD seen before and absent
/// now is recorded as 0, so that a gauge never keeps a stale count.
pub async fn sample_deadline_gauges(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    seen: &std::sync::Mutex<std::collections::BTreeSet<String>>,
) -> Result<(), DbErr> {
    use sea_orm::QuerySelect;
    let per_opd = |q: sea_orm::Select<deadline::Entity>| {
        q.select_only()
            .column(deadline::Column::OpdId)
            .column_as(deadline::Column::Id.count(), "n")
            .group_by(deadline::Column::OpdId)
            .into_tuple::<(Option<String>, i64)>()
    };
    let all_open = per_opd(
        deadline::Entity::find()
            .filter(deadline::Column::MetAt.is_null())
            .filter(deadline::Column::EndedAt.is_null()),
    )
    .all(db)
    .await?;
    let overdue = per_opd(open().filter(deadline::Column::DueAt.lt(now)))
        .all(db)
        .await?;
    let name = |o: Option<String>| o.unwrap_or_else(|| "diskominfo".to_owned());
    let open_by: std::collections::BTreeMap<String, i64> =
        all_open.into_iter().map(|(o, n)| (name(o), n)).collect();
    let overdue_by: std::collections::BTreeMap<String, i64> =
        overdue.into_iter().map(|(o, n)| (name(o), n)).collect();
    let mut seen = seen
        .lock()
        .map_err(|_| DbErr::Custom("gauge state poisoned".into()))?;
    seen.extend(open_by.keys().cloned());
    let m = lapor_platform::metrics::get();
    for opd in seen.iter() {
        let attrs = [lapor_platform::metrics::attr("lapor.opd.id", opd.clone())];
        let count = |by: &std::collections::BTreeMap<String, i64>| {
            u64::try_from(by.get(opd).copied().unwrap_or(0)).unwrap_or(0)
        };
        m.deadlines_open.record(count(&open_by), &attrs);
        m.deadlines_overdue.record(count(&overdue_by), &attrs);
    }
    Ok(())
}
