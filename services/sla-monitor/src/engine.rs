//! Keeping the stored deadlines equal to what the facts say: after every new fact the report's
//! deadlines are recomputed from its whole history; after a calendar or policy change every
//! report with an open deadline is. Each move of an open deadline's due time is recorded with its
//! reason. A deadline that was met or ended under earlier settings keeps the due time it had.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use futures::{StreamExt, TryStreamExt};
use lapor_domain::calendar::CalendarSpec;
use lapor_domain::deadlines::{Deadline, Recorded, compute};
use lapor_domain::{Calendar, SlaPolicy};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect, Set, Statement,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::RecomputeConfig;
use crate::entities::{change, deadline, fact, settings};

/// The calendar and policy in force, and their fingerprint.
pub struct Engine {
    pub spec: CalendarSpec,
    pub calendar: Calendar,
    pub policy: SlaPolicy,
    pub fingerprint: String,
}

impl Engine {
    /// An engine for these settings.
    pub fn new(spec: CalendarSpec, policy: SlaPolicy) -> anyhow::Result<Self> {
        let calendar = Calendar::from_spec(&spec)?;
        let canonical = serde_json::to_string(&(&spec, &policy))?;
        let fingerprint = Sha256::digest(canonical.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            spec,
            calendar,
            policy,
            fingerprint,
        })
    }

    /// Records the facts of several reports with one statement per 500 facts (a redelivered
    /// event adds nothing) and recomputes those reports together; each report's moves of a due
    /// time carry its reason in `reasons`. Returns each report's deadlines as stored.
    pub async fn record_many(
        &self,
        txn: &impl ConnectionTrait,
        facts: &[(Uuid, Vec<Recorded>)],
        reasons: &HashMap<Uuid, String>,
        now: DateTime<Utc>,
    ) -> Result<HashMap<Uuid, Vec<deadline::Model>>, DbErr> {
        let mut rows = Vec::new();
        for (report, recorded) in facts {
            for r in recorded {
                let body = serde_json::to_string(&r.fact).map_err(|e| DbErr::Custom(e.to_string()))?;
                rows.push(fact::ActiveModel {
                    event_id: Set(r.event_id),
                    report_id: Set(*report),
                    at: Set(r.fact.at()),
                    kind: Set(crate::facts::kind_of(&r.fact).to_owned()),
                    body: Set(body),
                    recorded_at: Set(now),
                });
            }
        }
        for chunk in rows.chunks(500) {
            fact::Entity::insert_many(chunk.to_vec())
                .on_conflict(OnConflict::column(fact::Column::EventId).do_nothing().to_owned())
                .exec_without_returning(txn)
                .await?;
        }
        let mut reports: Vec<Uuid> = facts.iter().map(|(r, _)| *r).collect();
        reports.sort_unstable();
        reports.dedup();
        self.recompute_many(txn, &reports, Reasons::Each(reasons), now)
            .await
    }

    /// A report's history.
    pub async fn history(&self, db: &impl ConnectionTrait, report: Uuid) -> Result<Vec<Recorded>, DbErr> {
        fact::Entity::find()
            .filter(fact::Column::ReportId.eq(report))
            .all(db)
            .await?
            .into_iter()
            .map(|f| recorded(f.event_id, &f.body))
            .collect()
    }

    /// Recomputes one report's deadlines from its facts; returns them as stored.
    pub async fn recompute(
        &self,
        txn: &impl ConnectionTrait,
        report: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<deadline::Model>, DbErr> {
        Ok(self
            .recompute_many(txn, &[report], Reasons::All(reason), now)
            .await?
            .remove(&report)
            .unwrap_or_default())
    }

    /// Recomputes several reports' deadlines with one read of their facts and one of their
    /// deadlines, writing only what changed; returns each report's deadlines as stored.
    pub async fn recompute_many(
        &self,
        txn: &impl ConnectionTrait,
        reports: &[Uuid],
        reasons: Reasons<'_>,
        now: DateTime<Utc>,
    ) -> Result<HashMap<Uuid, Vec<deadline::Model>>, DbErr> {
        self.recompute_batch(txn, reports, reasons, now, true).await
    }

    /// [`Self::recompute_many`]; the deadlines as stored are returned only if `keep` (a settings
    /// change recomputes every open report and reads none of them back: no copy of every row).
    async fn recompute_batch(
        &self,
        txn: &impl ConnectionTrait,
        reports: &[Uuid],
        reasons: Reasons<'_>,
        now: DateTime<Utc>,
        keep: bool,
    ) -> Result<HashMap<Uuid, Vec<deadline::Model>>, DbErr> {
        lock_reports(txn, reports).await?;
        let mut histories: HashMap<Uuid, Vec<Recorded>> = HashMap::new();
        // The body holds the whole fact; the other columns are for people and indexes.
        let rows: Vec<(Uuid, Uuid, String)> = fact::Entity::find()
            .select_only()
            .columns([fact::Column::EventId, fact::Column::ReportId, fact::Column::Body])
            .filter(fact::Column::ReportId.is_in(reports.iter().copied()))
            .into_tuple()
            .all(txn)
            .await?;
        for (event_id, report_id, body) in rows {
            histories
                .entry(report_id)
                .or_default()
                .push(recorded(event_id, &body)?);
        }
        let mut stored: HashMap<String, deadline::Model> = deadline::Entity::find()
            .filter(deadline::Column::ReportId.is_in(reports.iter().copied()))
            .all(txn)
            .await?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
        let mut result: HashMap<Uuid, Vec<deadline::Model>> = HashMap::new();
        // New and changed rows, and the moves of due times, written together below.
        let mut w = Writes::default();
        let micros_now = now.trunc_subsecs(6);
        for report in reports {
            let empty = Vec::new();
            let computed = compute(
                histories.get(report).unwrap_or(&empty),
                &self.calendar,
                &self.policy,
            );
            let mut out = Vec::new();
            for d in computed {
                let id = format!("{report}:{}", d.key());
                let mut row = self.model(&id, *report, &d, now)?;
                match stored.remove(&id) {
                    None => {
                        if keep {
                            out.push(row.clone());
                        }
                        w.puts.push(row);
                    }
                    Some(old) => {
                        let closed_before = old.met_at.is_some() || old.ended_at.is_some();
                        let same_closure = old.met_at == row.met_at && old.ended_at == row.ended_at;
                        if closed_before && same_closure && old.settings != self.fingerprint {
                            // Met or ended under earlier settings: its due time stands.
                            row.due_at = old.due_at;
                            row.settings = old.settings.clone();
                        }
                        if row.due_at != old.due_at {
                            w.moves.push(change::Model {
                                id: Uuid::now_v7(),
                                deadline_id: id.clone(),
                                report_id: *report,
                                from_due: old.due_at,
                                to_due: row.due_at,
                                reason: reasons.of(report).to_owned(),
                                at: micros_now,
                            });
                        }
                        // A recompute that gives the same deadline leaves the row as it is, with
                        // the fingerprint of the settings that computed it: after a calendar change
                        // only the deadlines it moves are rewritten.
                        row.computed_at = old.computed_at;
                        let same = deadline::Model {
                            settings: old.settings.clone(),
                            ..row.clone()
                        } == old;
                        if same {
                            out.push(old);
                        } else {
                            row.computed_at = micros_now;
                            if keep {
                                out.push(row.clone());
                            }
                            w.puts.push(row);
                        }
                    }
                }
            }
            if keep {
                result.insert(*report, out);
            }
        }
        // Rows the history no longer gives (none in normal operation).
        w.gone = stored.into_keys().collect();
        w.write(txn).await?;
        Ok(result)
    }

    fn model(
        &self,
        id: &str,
        report: Uuid,
        d: &Deadline,
        now: DateTime<Utc>,
    ) -> Result<deadline::Model, DbErr> {
        // At the precision the databases keep (microseconds): facts carry the events' times to
        // the nanosecond, and a row computed finer than it is stored never equals its stored
        // self: every recompute would rewrite it, and a deadline met under earlier settings would
        // not be recognised as met the same way, so a calendar change would move its due time.
        let micros = |t: DateTime<Utc>| t.trunc_subsecs(6);
        Ok(deadline::Model {
            id: id.to_owned(),
            report_id: report,
            step: d.step.code().to_owned(),
            span: i32::try_from(d.span).unwrap_or(i32::MAX),
            opd_id: d.opd.as_ref().map(ToString::to_string),
            started_at: micros(d.started_at),
            due_at: micros(d.due_at),
            met_at: d.met_at.map(micros),
            ended_at: d.ended_at.map(micros),
            allowance: i32::try_from(d.allowance.amount).unwrap_or(i32::MAX),
            unit: d.allowance.unit.code().to_owned(),
            pauses: serde_json::to_string(&d.pauses).map_err(|e| DbErr::Custom(e.to_string()))?,
            paused: d.pauses.iter().any(|p| p.to.is_none()),
            settings: self.fingerprint.clone(),
            computed_at: micros(now),
        })
    }

    /// Brings every report with an open deadline to the settings in force, if they changed since
    /// the last start, recording what changed as the reason of every move. Returns the number of
    /// reports recomputed.
    pub async fn adopt_settings(
        &self,
        db: &sea_orm::DatabaseConnection,
        tuning: &RecomputeConfig,
        now: DateTime<Utc>,
        note: Option<&str>,
    ) -> Result<usize, DbErr> {
        let current = settings::Entity::find_by_id(1).one(db).await?;
        if current
            .as_ref()
            .is_some_and(|c| c.fingerprint == self.fingerprint)
        {
            return Ok(0);
        }
        let mut reason = match &current {
            None => "first computation from the recorded facts".to_owned(),
            Some(old) => describe_change(old, &self.spec, &self.policy),
        };
        if let Some(n) = note {
            reason = format!("{reason} ({n})");
        }
        // Reports with an open deadline (met and ended ones keep their due times).
        let mut reports: Vec<Uuid> = deadline::Entity::find()
            .select_only()
            .column(deadline::Column::ReportId)
            .filter(deadline::Column::MetAt.is_null())
            .filter(deadline::Column::EndedAt.is_null())
            .distinct()
            .into_tuple()
            .all(db)
            .await?;
        if current.is_none() {
            // The first computation (a new installation, or the upgrade that turned the stored
            // deadlines into facts, m0004): also the reports with facts but no deadlines. Once
            // settings are stored this is never needed, and it is costly (a join of the whole
            // history, 1.5 s of three processes with 500,000 reports): a history gives no
            // deadline at all only when it has neither a submission nor a dispatch, whatever the
            // calendar and policy.
            let without: Vec<Uuid> = db
                .query_all_raw(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT DISTINCT f.report_id FROM facts f WHERE NOT EXISTS \
                     (SELECT 1 FROM deadlines d WHERE d.report_id = f.report_id)"
                        .to_owned(),
                ))
                .await?
                .iter()
                .map(|r| r.try_get::<Uuid>("", "report_id"))
                .collect::<Result<_, _>>()?;
            reports.extend(without);
        }
        reports.sort();
        reports.dedup();
        // Batches of reports in their own transactions, several at a time: the batches are
        // disjoint and each locks its reports in order, so they cannot deadlock each other. A
        // consumer locks its events' reports one event at a time, so it can meet a batch in a
        // deadlock that PostgreSQL breaks by aborting one of them: a batch is tried up to three
        // times (a recompute is idempotent). If one still fails the settings stay unadopted and
        // the next start does it again (a recompute of an up-to-date report writes nothing).
        let parallel = match db.get_database_backend() {
            DbBackend::Sqlite => 1,
            _ => tuning.parallel.max(1),
        };
        let batches: Vec<Vec<Uuid>> = reports
            .chunks(tuning.batch_reports.max(1))
            .map(<[Uuid]>::to_vec)
            .collect();
        let reason = &reason;
        futures::stream::iter(batches)
            .map(|batch| async move {
                let mut attempt = 1;
                loop {
                    let done = async {
                        let txn = lapor_platform::db::begin_write(db).await?;
                        self.recompute_batch(&txn, &batch, Reasons::All(reason), now, false)
                            .await?;
                        txn.commit().await
                    }
                    .await;
                    match done {
                        Err(e) if attempt < 3 => {
                            tracing::warn!(error = %e, attempt, "recompute batch failed, trying again");
                            tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                            attempt += 1;
                        }
                        other => return other,
                    }
                }
            })
            .buffer_unordered(parallel)
            .try_collect::<Vec<()>>()
            .await?;
        let row = settings::ActiveModel {
            id: Set(1),
            fingerprint: Set(self.fingerprint.clone()),
            calendar: Set(serde_json::to_string(&self.spec).map_err(|e| DbErr::Custom(e.to_string()))?),
            policy: Set(serde_json::to_string(&self.policy).map_err(|e| DbErr::Custom(e.to_string()))?),
            since: Set(now),
        };
        settings::Entity::insert(row)
            .on_conflict(
                OnConflict::column(settings::Column::Id)
                    .update_columns([
                        settings::Column::Fingerprint,
                        settings::Column::Calendar,
                        settings::Column::Policy,
                        settings::Column::Since,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        tracing::info!(reports = reports.len(), reason = %reason, "deadlines recomputed for new settings");
        Ok(reports.len())
    }
}

/// A stored fact (its `body`) as the history holds it.
fn recorded(event_id: Uuid, body: &str) -> Result<Recorded, DbErr> {
    Ok(Recorded {
        event_id,
        fact: serde_json::from_str(body).map_err(|e| DbErr::Custom(format!("fact {event_id}: {e}")))?,
    })
}

/// The columns of `deadlines` other than `id`, as a row replaced in place updates them.
const DEADLINE_COLUMNS: [deadline::Column; 14] = [
    deadline::Column::ReportId,
    deadline::Column::Step,
    deadline::Column::Span,
    deadline::Column::OpdId,
    deadline::Column::StartedAt,
    deadline::Column::DueAt,
    deadline::Column::MetAt,
    deadline::Column::EndedAt,
    deadline::Column::Allowance,
    deadline::Column::Unit,
    deadline::Column::Pauses,
    deadline::Column::Paused,
    deadline::Column::Settings,
    deadline::Column::ComputedAt,
];

/// What a recompute writes.
#[derive(Default)]
struct Writes {
    /// Deadlines new or changed (a changed one is replaced whole, by id).
    puts: Vec<deadline::Model>,
    /// Ids of stored deadlines the history no longer gives.
    gone: Vec<String>,
    /// The moves of due times.
    moves: Vec<change::Model>,
}

impl Writes {
    /// The new and changed deadlines and the moves: on PostgreSQL one statement whatever the
    /// number of rows, each column handed over as one array (binary, like any parameter: the
    /// statement is parsed and planned once per batch, and the client builds no SQL per row); on
    /// SQLite a statement per 500 rows.
    async fn write(self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        // Rows the history no longer gives are rare: deleted by their own statement, only when
        // there are some. (An empty DELETE sent with every write ran as a sequential scan, likely
        // a generic plan: 1,752 scans of `deadlines` in a 2-minute benchmark, doubling the CPU of
        // this service's PostgreSQL backends.)
        for chunk in self.gone.chunks(500) {
            deadline::Entity::delete_many()
                .filter(deadline::Column::Id.is_in(chunk.iter().cloned()))
                .exec(txn)
                .await?;
        }
        if self.puts.is_empty() {
            return Ok(());
        }
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                WRITE_POSTGRES,
                self.parameters(),
            ))
            .await?;
            return Ok(());
        }
        for chunk in self.puts.chunks(500) {
            deadline::Entity::insert_many(chunk.iter().map(|d| d.clone().into_active_model().reset_all()))
                .on_conflict(
                    OnConflict::column(deadline::Column::Id)
                        .update_columns(DEADLINE_COLUMNS)
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }
        for chunk in self.moves.chunks(500) {
            change::Entity::insert_many(chunk.iter().map(|c| c.clone().into_active_model().reset_all()))
                .exec_without_returning(txn)
                .await?;
        }
        Ok(())
    }

    /// The parameters of [`WRITE_POSTGRES`]: one array per column. sea-query binds an array only
    /// if none of its elements is NULL, so each nullable column comes with a `present` array (its
    /// placeholder elements are ignored).
    fn parameters(&self) -> Vec<sea_orm::Value> {
        fn col<T, U>(rows: &[T], f: impl Fn(&T) -> U) -> sea_orm::Value
        where
            Vec<U>: Into<sea_orm::Value>,
        {
            rows.iter().map(f).collect::<Vec<U>>().into()
        }
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        let puts = &self.puts;
        let moves = &self.moves;
        vec![
            col(puts, |d| d.id.clone()),
            col(puts, |d| d.report_id),
            col(puts, |d| d.step.clone()),
            col(puts, |d| d.span),
            col(puts, |d| d.opd_id.is_some()),
            col(puts, |d| d.opd_id.clone().unwrap_or_default()),
            col(puts, |d| d.started_at),
            col(puts, |d| d.due_at),
            col(puts, |d| d.met_at.is_some()),
            col(puts, |d| d.met_at.unwrap_or(epoch)),
            col(puts, |d| d.ended_at.is_some()),
            col(puts, |d| d.ended_at.unwrap_or(epoch)),
            col(puts, |d| d.allowance),
            col(puts, |d| d.unit.clone()),
            col(puts, |d| d.pauses.clone()),
            col(puts, |d| d.paused),
            col(puts, |d| d.settings.clone()),
            col(puts, |d| d.computed_at),
            col(moves, |c| c.id),
            col(moves, |c| c.deadline_id.clone()),
            col(moves, |c| c.report_id),
            col(moves, |c| c.from_due),
            col(moves, |c| c.to_due),
            col(moves, |c| c.reason.clone()),
            col(moves, |c| c.at),
        ]
    }
}

/// [`Writes::write`] on PostgreSQL: `$1`-`$18` the deadlines new or changed (replaced in place),
/// `$19`-`$25` the moves ([`Writes::parameters`]).
const WRITE_POSTGRES: &str = "\
WITH put AS (INSERT INTO deadlines (id, report_id, step, span, opd_id, started_at, due_at, met_at, \
  ended_at, allowance, unit, pauses, paused, settings, computed_at) \
  SELECT id, report_id, step, span, CASE WHEN has_opd THEN opd_id END, started_at, due_at, \
    CASE WHEN met THEN met_at END, CASE WHEN ended THEN ended_at END, allowance, unit, pauses, \
    paused, settings, computed_at \
  FROM unnest($1::text[], $2::uuid[], $3::text[], $4::int[], $5::bool[], $6::text[], \
    $7::timestamptz[], $8::timestamptz[], $9::bool[], $10::timestamptz[], $11::bool[], \
    $12::timestamptz[], $13::int[], $14::text[], $15::text[], $16::bool[], $17::text[], \
    $18::timestamptz[]) \
    AS r(id, report_id, step, span, has_opd, opd_id, started_at, due_at, met, met_at, ended, \
      ended_at, allowance, unit, pauses, paused, settings, computed_at) \
  ON CONFLICT (id) DO UPDATE SET report_id = excluded.report_id, step = excluded.step, \
    span = excluded.span, opd_id = excluded.opd_id, started_at = excluded.started_at, \
    due_at = excluded.due_at, met_at = excluded.met_at, ended_at = excluded.ended_at, \
    allowance = excluded.allowance, unit = excluded.unit, pauses = excluded.pauses, \
    paused = excluded.paused, settings = excluded.settings, computed_at = excluded.computed_at) \
INSERT INTO deadline_changes (id, deadline_id, report_id, from_due, to_due, reason, at) \
SELECT * FROM unnest($19::uuid[], $20::text[], $21::uuid[], $22::timestamptz[], \
  $23::timestamptz[], $24::text[], $25::timestamptz[])";

/// Why deadlines are recomputed, as recorded with each move of a due time.
#[derive(Debug, Clone, Copy)]
pub enum Reasons<'a> {
    /// One reason for every report (a change of settings).
    All(&'a str),
    /// A reason for each report (the events that brought it new facts).
    Each(&'a HashMap<Uuid, String>),
}

impl Reasons<'_> {
    fn of(&self, report: &Uuid) -> &str {
        match self {
            Reasons::All(r) => r,
            Reasons::Each(m) => m.get(report).map_or("recomputed", String::as_str),
        }
    }
}

/// What changed between the stored settings and the new ones, in words.
pub fn describe_change(old: &settings::Model, spec: &CalendarSpec, policy: &SlaPolicy) -> String {
    let mut parts = Vec::new();
    if let Ok(o) = serde_json::from_str::<CalendarSpec>(&old.calendar) {
        for h in &spec.holidays {
            if !o.holidays.iter().any(|x| x.date == h.date) {
                parts.push(format!("holiday added {} {} ({})", h.date, h.name, h.source));
            }
        }
        for h in &o.holidays {
            if !spec.holidays.iter().any(|x| x.date == h.date) {
                parts.push(format!("holiday removed {} {}", h.date, h.name));
            }
        }
        if o.time_zone != spec.time_zone {
            parts.push(format!("time zone {} -> {}", o.time_zone, spec.time_zone));
        }
        if o.working_weekdays != spec.working_weekdays {
            parts.push(format!(
                "working weekdays {} -> {}",
                o.working_weekdays.join(","),
                spec.working_weekdays.join(",")
            ));
        }
        if o.office_hours != spec.office_hours {
            parts.push(format!(
                "office hours {}-{} -> {}-{}",
                o.office_hours.open, o.office_hours.close, spec.office_hours.open, spec.office_hours.close
            ));
        }
    } else {
        parts.push("calendar changed".into());
    }
    match serde_json::from_str::<SlaPolicy>(&old.policy) {
        Ok(p) if &p == policy => {}
        _ => parts.push("policy changed".into()),
    }
    if parts.is_empty() {
        parts.push("settings changed".into());
    }
    format!("calendar/policy change: {}", parts.join("; "))
}

/// The PostgreSQL advisory-lock key of a report (the low 64 bits of its id).
pub fn lock_key(report: Uuid) -> i64 {
    // Truncation intended: the low 64 bits of a UUIDv7 are its random part.
    let low = report.as_u128() as u64;
    i64::from_be_bytes(low.to_be_bytes())
}

/// Serializes the work on each report (several consumers record facts of one report): one
/// transaction-scoped advisory lock per report on PostgreSQL, taken in a fixed order so that two
/// batches cannot deadlock; SQLite serializes writers already.
async fn lock_reports(txn: &impl ConnectionTrait, reports: &[Uuid]) -> Result<(), DbErr> {
    let locks: Vec<(i64, bool)> = reports.iter().map(|r| (lock_key(*r), true)).collect();
    lapor_platform::db::advisory_locks(txn, &locks).await
}

/// The engine in force, swapped whole when the calendar changes (readers keep the snapshot they
/// started with).
pub struct Live(std::sync::RwLock<std::sync::Arc<Engine>>);

impl Live {
    /// Starts with `engine`.
    pub fn new(engine: Engine) -> Self {
        Self(std::sync::RwLock::new(std::sync::Arc::new(engine)))
    }

    /// The engine in force now.
    pub fn get(&self) -> std::sync::Arc<Engine> {
        self.0
            .read()
            .map_or_else(|p| p.into_inner().clone(), |g| g.clone())
    }

    /// Puts `engine` in force.
    pub fn set(&self, engine: Engine) {
        let new = std::sync::Arc::new(engine);
        match self.0.write() {
            Ok(mut g) => *g = new,
            Err(p) => *p.into_inner() = new,
        }
    }
}
