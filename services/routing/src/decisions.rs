//! Every change to a report in routing goes through here: a rule's dispatch and each operator
//! decision (verify, Tunda, Bukan Wewenang, Arsip, dispatch). Each is checked by the domain's
//! `decide`, written with optimistic concurrency (the row's `version`), recorded in
//! `report_history` with actor, role, reason and the changed fields, and announced through the
//! outbox, all in the caller's transaction.

use chrono::{DateTime, Utc};
use lapor_domain::content::{Location, Privacy, ReportContent};
use lapor_domain::events::{
    Envelope, Event, ReportArchived, ReportDeclaredNotAuthorized, ReportDispatched, ReportPutOnHold,
    ReportSubmitted, ReportVerified,
};
use lapor_domain::lifecycle::{Closer, Context, ReturnedFrom, TransitionError, apply, decide};
use lapor_domain::{
    CategoryId, Command, EventId, Lifecycle, OpdId, ReportId, ReportKind, ReporterRef, Status, TrackingId,
    Violations,
};
use lapor_events::{Bus, enqueue};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use uuid::Uuid;

use crate::config::Config;
use crate::entities::{queue_report, report_history};
use crate::error::Error;
use crate::rules::{Routing, RuleSpec, Subject, route};

/// Who decides.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Subject (`rule:<id>` for a routing rule).
    pub subject: String,
    /// Role name.
    pub role: String,
}

/// What is decided.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Classify (stays Belum Terverifikasi).
    Verify {
        /// Kind.
        kind: ReportKind,
        /// Complaint sub-type.
        needs_examination: bool,
        /// Category.
        category: CategoryId,
        /// Privacy flags.
        privacy: Privacy,
        /// New summary title, if rewritten.
        title: Option<String>,
    },
    /// Tunda.
    Hold {
        /// What is missing.
        reason: String,
    },
    /// Bukan Wewenang.
    NotAuthorized {
        /// Why.
        reason: String,
    },
    /// Arsip.
    Archive {
        /// Configured reason code.
        code: String,
        /// Label plus note.
        reason: String,
        /// For a duplicate: the original and its tracking id.
        duplicate_of: Option<(uuid::Uuid, String)>,
    },
    /// The reporter completed a held report: back to the queue, the clock extended by the pause.
    CompleteHold {
        /// What the reporter added.
        addition: String,
        /// When the hold began.
        held_at: DateTime<Utc>,
        /// When it was completed.
        completed_at: DateTime<Utc>,
    },
    /// The holding OPD said it is not theirs: back to the operator, flagged.
    Return {
        /// OPD that returned it.
        opd: OpdId,
        /// Its reason.
        reason: String,
    },
    /// Disposisi to an OPD.
    Dispatch {
        /// Target.
        opd: OpdId,
        /// Rule (id, version) that decided, if any.
        rule: Option<(String, i64)>,
    },
}

impl Decision {
    fn action(&self) -> &'static str {
        match self {
            Self::Verify { .. } => "verify",
            Self::Hold { .. } => "hold",
            Self::NotAuthorized { .. } => "declare_not_authorized",
            Self::Archive { .. } => "archive",
            Self::Dispatch { .. } => "dispatch",
            Self::Return { .. } => "transfer",
            Self::CompleteHold { .. } => "complete_hold",
        }
    }

    fn command(&self) -> Command {
        match self {
            Self::Verify { .. } => Command::Verify,
            Self::Hold { reason } => Command::Hold {
                reason: reason.clone(),
            },
            Self::NotAuthorized { reason } => Command::DeclareNotAuthorized {
                reason: reason.clone(),
            },
            Self::Archive { reason, .. } => Command::Archive {
                reason: reason.clone(),
            },
            Self::Dispatch { opd, .. } => Command::Dispatch { opd: opd.clone() },
            Self::Return { opd, reason } => Command::RequestTransfer {
                opd: opd.clone(),
                reason: reason.clone(),
            },
            Self::CompleteHold { .. } => Command::CompleteHold,
        }
    }
}

/// Routing's decision desk: configuration, calendar and bus. The service builds one; tests may
/// drive it directly inside transactions of their own.
pub struct Desk {
    /// Routing's settings.
    pub config: Config,
    /// The working-day calendar in force.
    pub calendar: std::sync::Arc<lapor_events::calendar::LiveCalendar>,
    /// Where the events it announces go (through the outbox).
    pub bus: Bus,
}

/// Rebuilds the lifecycle state from the stored row. Routing does not see OPD follow-ups, so a
/// report at an OPD is `Dispatched` here until it comes back.
pub fn lifecycle_of(row: &queue_report::Model) -> Lifecycle {
    let opd = row.opd_id.as_deref().and_then(|o| o.parse::<OpdId>().ok());
    let reason = || row.close_reason.clone().unwrap_or_default();
    match Status::from_code(&row.status) {
        Some(Status::Submitted) => Lifecycle::Submitted {
            verified: row.verified_at.is_some(),
            returned_from: match (
                row.returned_from_opd.as_deref().and_then(|o| o.parse().ok()),
                &row.return_reason,
            ) {
                (Some(opd), Some(reason)) => Some(ReturnedFrom {
                    opd,
                    reason: reason.clone(),
                }),
                _ => None,
            },
        },
        Some(Status::OnHold) => Lifecycle::OnHold {
            reason: row.hold_reason.clone().unwrap_or_default(),
            since: row.hold_since.unwrap_or(row.submitted_at),
        },
        Some(Status::NotAuthorized) => Lifecycle::NotAuthorized { reason: reason() },
        Some(Status::Archived) => Lifecycle::Archived { reason: reason() },
        Some(Status::Dispatched | Status::InProgress) => match (opd, row.dispatched_at) {
            (Some(opd), Some(since)) => Lifecycle::Dispatched { opd, since },
            _ => Lifecycle::Completed { by: Closer::System },
        },
        Some(Status::Completed) | None => Lifecycle::Completed { by: Closer::System },
    }
}

/// Writes a lifecycle state into the row's status columns.
fn project(row: &mut queue_report::Model, state: &Lifecycle) {
    if let Some(status) = state.status() {
        row.status = status.code().to_owned();
    }
    match state {
        Lifecycle::Submitted { returned_from, .. } => {
            row.hold_reason = None;
            row.hold_since = None;
            row.opd_id = None;
            row.dispatched_at = None;
            row.returned_from_opd = returned_from.as_ref().map(|r| r.opd.to_string());
            row.return_reason = returned_from.as_ref().map(|r| r.reason.clone());
        }
        Lifecycle::OnHold { reason, since } => {
            row.hold_reason = Some(reason.clone());
            row.hold_since = Some(*since);
        }
        Lifecycle::NotAuthorized { reason } | Lifecycle::Archived { reason } => {
            row.close_reason = Some(reason.clone());
            row.hold_reason = None;
            row.hold_since = None;
        }
        Lifecycle::Dispatched { opd, since } => {
            row.opd_id = Some(opd.to_string());
            row.dispatched_at = Some(*since);
            row.returned_from_opd = None;
            row.return_reason = None;
            row.routing_note = String::new();
        }
        Lifecycle::New | Lifecycle::InProgress { .. } | Lifecycle::Completed { .. } => {}
    }
}

fn bad(what: &str) -> Error {
    Error::FailedPrecondition(format!("stored report has a bad {what}"))
}

/// The report's content as stored.
pub fn content_of(row: &queue_report::Model) -> Result<ReportContent, Error> {
    Ok(ReportContent {
        kind: ReportKind::from_code(&row.kind).ok_or_else(|| bad("kind"))?,
        title: row.title.clone(),
        body: row.body.clone(),
        category: row
            .category_id
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| bad("category"))?,
        incident_date: row.incident_date,
        location: row
            .location
            .clone()
            .map(serde_json::from_value::<Location>)
            .transpose()
            .map_err(|_| bad("location"))?,
        privacy: Privacy {
            anonim: row.anonim,
            rahasia: row.rahasia,
        },
    })
}

/// `{"field": [before, after]}` for every field that changed (the version aside).
fn changes(before: &queue_report::Model, after: &queue_report::Model) -> serde_json::Value {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return serde_json::Value::Null;
    };
    let mut out = serde_json::Map::new();
    for (k, va) in &a {
        if k == "version" {
            continue;
        }
        let vb = b.get(k).cloned().unwrap_or(serde_json::Value::Null);
        if *va != vb {
            out.insert(k.clone(), serde_json::json!([va, vb]));
        }
    }
    serde_json::Value::Object(out)
}

fn transition_error(e: TransitionError) -> Error {
    match e {
        TransitionError::ReasonRequired => {
            let mut v = Violations::new();
            v.add("reason", "a reason is required");
            Error::InvalidArgument(v)
        }
        other => Error::FailedPrecondition(other.to_string()),
    }
}

/// The earlier reports a new one is compared with: same category (or both none), inside the
/// window, newest first, at most `max_scan`; only the columns the comparison reads. A report with a
/// point farther than `max_distance_m` is never a candidate, so for a report with a point the scan
/// is two queries, each a range of SQLite's index (category, latitude, longitude, submitted_at)
/// (m0006): the reports inside the bounding box of the circle, and those without a point (a
/// point is both columns or neither). Two plain conjunctions rather than one `OR`: PostgreSQL's
/// generic plan for the prepared `OR` (no values known) walked the whole category on the index
/// (measured in make bench); each of these is an index range whatever the plan.
/// [`merge_scans`] puts the answers together. PostgreSQL runs [`duplicate_scan_batch`] instead
/// (since m0008 its indexes serve that statement, not these queries), which a test checks
/// against these.
pub fn duplicate_scan(
    spec: &crate::duplicates::DuplicateSpec,
    row: &queue_report::Model,
) -> Vec<sea_orm::Select<queue_report::Entity>> {
    use sea_orm::{QueryOrder, QuerySelect};
    let window = chrono::Duration::days(i64::from(spec.window_days));
    let base = || {
        let q = queue_report::Entity::find()
            .select_only()
            .columns([
                queue_report::Column::ReportId,
                queue_report::Column::TrackingId,
                queue_report::Column::Title,
                queue_report::Column::OriginalTitle,
                queue_report::Column::Body,
                queue_report::Column::Latitude,
                queue_report::Column::Longitude,
                queue_report::Column::SubmittedAt,
            ])
            .filter(queue_report::Column::ReportId.ne(row.report_id))
            .filter(queue_report::Column::SubmittedAt.gte(row.submitted_at - window))
            .filter(queue_report::Column::SubmittedAt.lte(row.submitted_at + window));
        let q = match &row.category_id {
            Some(c) => q.filter(queue_report::Column::CategoryId.eq(c.clone())),
            None => q.filter(queue_report::Column::CategoryId.is_null()),
        };
        q.order_by_desc(queue_report::Column::SubmittedAt)
            .limit(spec.max_scan)
    };
    match row.latitude.zip(row.longitude) {
        None => vec![base()],
        Some(point) => {
            let [la0, la1, lo0, lo1] = bounding_box(spec, point);
            vec![
                base()
                    .filter(queue_report::Column::Latitude.between(la0, la1))
                    .filter(queue_report::Column::Longitude.between(lo0, lo1)),
                base().filter(queue_report::Column::Latitude.is_null()),
            ]
        }
    }
}

/// The box around `point` that holds every point within `max_distance_m` of it: latitude from,
/// to, longitude from, to.
fn bounding_box(spec: &crate::duplicates::DuplicateSpec, (lat, lon): (f64, f64)) -> [f64; 4] {
    let dlat = spec.max_distance_m / 111_000.0;
    let dlon = spec.max_distance_m / (111_000.0 * lat.to_radians().cos().abs().max(0.01));
    [lat - dlat, lat + dlat, lon - dlon, lon + dlon]
}

/// [`duplicate_scan`] for many reports in one PostgreSQL statement (a fixed text, prepared once):
/// the reports as one `jsonb` parameter, and for each of them, laterally, index ranges that hold
/// what [`duplicate_scan`]'s queries read (a branch that does not apply to a report is skipped by
/// its one-time filter). Each row comes with `i`, the position in `rows` of the report it was
/// read for. `None` when `rows` is empty. Two statements per new report each paid a statement's
/// fixed cost, in the backend (about 55 us of PostgreSQL CPU for a one-row statement, measured
/// with pgbench) and in the driver; a delivery batch now reads its neighbours with one (routing's
/// CPU per report under load: BENCHMARKS.md, seventeenth session).
///
/// The box is read through the index on `(category_id, floor(latitude * 100), longitude,
/// latitude, submitted_at)` (m0008): one range of longitudes in each latitude cell of 0.01
/// degree that the box touches ([`scan_cells`]), instead of the box's whole band of latitude
/// across the city, in which the longitude was only a filter (16 times the box's entries in
/// Bontang; at 470,000 reports the statement for 64 reports took 21.4 ms instead of 30.4:
/// BENCHMARKS.md, twenty-fifth session). Neighbours without a point come from the partial index on
/// `(category_id, submitted_at) WHERE latitude IS NULL`.
pub fn duplicate_scan_batch(
    spec: &crate::duplicates::DuplicateSpec,
    rows: &[&queue_report::Model],
) -> Option<sea_orm::Statement> {
    use chrono::SecondsFormat;
    let window = chrono::Duration::days(i64::from(spec.window_days));
    // Microseconds, as PostgreSQL stores a timestamp and as the driver binds one (truncated).
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let probes: Vec<serde_json::Value> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let (bounds, cells) = match row.latitude.zip(row.longitude) {
                Some(point) => {
                    let b = bounding_box(spec, point);
                    (b.map(Some), scan_cells(b[0], b[1]))
                }
                None => ([None; 4], None),
            };
            let [la0, la1, lo0, lo1] = bounds;
            // A float goes through JSON unchanged: serde_json writes the shortest decimal that
            // reads back as the same f64, and PostgreSQL reads it correctly rounded.
            serde_json::json!({
                "i": i,
                "id": row.report_id,
                "cat": row.category_id,
                "t0": at(row.submitted_at - window),
                "t1": at(row.submitted_at + window),
                "la0": la0,
                "la1": la1,
                "lo0": lo0,
                "lo1": lo1,
                "cells": cells,
            })
        })
        .collect();
    if probes.is_empty() {
        return None;
    }
    let limit = i64::try_from(spec.max_scan).unwrap_or(i64::MAX);
    Some(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        BATCH_SCAN_SQL,
        [
            sea_orm::Value::Json(Some(Box::new(serde_json::Value::Array(probes)))),
            limit.into(),
        ],
    ))
}

/// Latitude cells per degree of the index the batched scan reads (m0008's
/// `floor(latitude * 100)`; the SQL here and there spells the number out).
const LAT_CELLS_PER_DEGREE: f64 = 100.0;

/// A box spanning more latitude cells than this (`duplicates.max_distance_m` above about 35 km)
/// is read as its band of latitude, without the cells.
const MAX_SCAN_CELLS: usize = 64;

/// The latitude cells (`floor(latitude * 100)`, as PostgreSQL computes it) of every latitude
/// from `la0` to `la1`, or `None` when they are more than [`MAX_SCAN_CELLS`]. Exact: multiplying
/// by a positive number and rounding, then `floor`, never decrease, so a latitude inside the box
/// has a cell from the first to the last.
fn scan_cells(la0: f64, la1: f64) -> Option<Vec<f64>> {
    let (c0, c1) = (
        (la0 * LAT_CELLS_PER_DEGREE).floor(),
        (la1 * LAT_CELLS_PER_DEGREE).floor(),
    );
    // Counted as floats, so that no radius however large (nor a NaN) turns into a short list.
    #[allow(clippy::cast_precision_loss)]
    let fits = c1 >= c0 && c1 - c0 < MAX_SCAN_CELLS as f64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fits.then(|| (0..=(c1 - c0) as usize).map(|k| c0 + k as f64).collect())
}

/// The columns the comparison reads, from `queue_reports q`.
macro_rules! batch_scan_columns {
    () => {
        "q.report_id, q.tracking_id, q.title, q.original_title, q.body, q.latitude, q.longitude, \
         q.submitted_at"
    };
}

/// What every branch of [`BATCH_SCAN_SQL`] asks of a report `q` besides `$cond`: `k`'s category
/// (`$category`: the same, or both none), inside its window, not itself; then the newest first,
/// at most `$2`.
macro_rules! batch_scan_where {
    ($category:literal, $cond:literal) => {
        concat!(
            " WHERE ",
            $category,
            " AND ",
            $cond,
            " AND q.submitted_at >= k.t0 AND q.submitted_at <= k.t1 AND q.report_id <> k.id",
            " ORDER BY q.submitted_at DESC LIMIT $2"
        )
    };
}

/// One branch of [`BATCH_SCAN_SQL`]: the reports `$cond` selects.
macro_rules! batch_scan_branch {
    ($category:literal, $cond:literal) => {
        concat!(
            "SELECT ",
            batch_scan_columns!(),
            " FROM queue_reports q",
            batch_scan_where!($category, $cond)
        )
    };
}

/// The four branches of [`BATCH_SCAN_SQL`] for one way of matching the category, for a report
/// with a point: the box, one latitude cell at a time (each cell's newest `$2` in a subquery of
/// its own, so the cell is an equality of the index's second column whatever the planner knows
/// of the table; with the cells as one `= ANY(k.cells)`, PostgreSQL 15 made it a filter on a
/// table never analyzed and walked the whole category), a box of too many cells by its band of
/// latitude, and the reports without a point; and for a report without one, the whole category.
macro_rules! batch_scan_branches {
    ($category:literal) => {
        concat!(
            "(SELECT q.* FROM unnest(k.cells) AS c(cell) CROSS JOIN LATERAL (SELECT ",
            batch_scan_columns!(),
            " FROM queue_reports q",
            batch_scan_where!(
                $category,
                "floor(q.latitude * 100) = c.cell AND q.latitude BETWEEN k.la0 AND k.la1 AND q.longitude BETWEEN k.lo0 AND k.lo1"
            ),
            ") q WHERE k.cells IS NOT NULL ORDER BY q.submitted_at DESC LIMIT $2",
            ") UNION ALL (",
            batch_scan_branch!(
                $category,
                "k.la0 IS NOT NULL AND k.cells IS NULL AND q.latitude BETWEEN k.la0 AND k.la1 AND q.longitude BETWEEN k.lo0 AND k.lo1"
            ),
            ") UNION ALL (",
            batch_scan_branch!($category, "k.la0 IS NOT NULL AND q.latitude IS NULL"),
            ") UNION ALL (",
            batch_scan_branch!($category, "k.la0 IS NULL"),
            ")"
        )
    };
}

/// The statement of [`duplicate_scan_batch`]: [`batch_scan_branches`] for a report with a
/// category (the same category) and for one without (the reports without one).
const BATCH_SCAN_SQL: &str = concat!(
    "SELECT k.i, s.* FROM jsonb_to_recordset($1) AS k(i bigint, id uuid, cat text, ",
    "t0 timestamptz, t1 timestamptz, la0 float8, la1 float8, lo0 float8, lo1 float8, ",
    "cells float8[]) CROSS JOIN LATERAL (",
    batch_scan_branches!("q.category_id = k.cat"),
    " UNION ALL ",
    batch_scan_branches!("k.cat IS NULL AND q.category_id IS NULL"),
    ") s"
);

/// The earlier reports each of `rows` is compared with (in the order of `rows`), as
/// [`duplicate_scan`] reads them: on PostgreSQL in one statement ([`duplicate_scan_batch`]), on
/// SQLite one report at a time.
pub async fn scan_neighbours<C: ConnectionTrait>(
    db: &C,
    spec: &crate::duplicates::DuplicateSpec,
    rows: &[&queue_report::Model],
) -> Result<Vec<Vec<DuplicateScanRow>>, sea_orm::DbErr> {
    use sea_orm::FromQueryResult;
    let mut out: Vec<Vec<DuplicateScanRow>> = rows.iter().map(|_| Vec::new()).collect();
    let batched = db.get_database_backend() == sea_orm::DbBackend::Postgres;
    if batched && let Some(stmt) = duplicate_scan_batch(spec, rows) {
        for r in db.query_all_raw(stmt).await? {
            let i: i64 = r.try_get("", "i")?;
            let slot = usize::try_from(i)
                .ok()
                .and_then(|i| out.get_mut(i))
                .ok_or_else(|| sea_orm::DbErr::Custom(format!("duplicate scan: no report at {i}")))?;
            slot.push(DuplicateScanRow::from_query_result(&r, "")?);
        }
    }
    if !batched {
        for (row, slot) in rows.iter().zip(&mut out) {
            for q in duplicate_scan(spec, row) {
                slot.extend(q.into_model::<DuplicateScanRow>().all(db).await?);
            }
        }
    }
    for slot in &mut out {
        *slot = merge_scans(std::mem::take(slot), spec.max_scan);
    }
    Ok(out)
}

/// Takes, on PostgreSQL, the transaction-level advisory locks that let the duplicate scans of
/// concurrent transactions (routing replicas sharing the consumer) see each other's reports.
/// Without them two look-alike reports applied at the same moment by two replicas were never
/// paired: each was inserted, then scanned for, inside its own uncommitted transaction, so
/// neither scan saw the other report. Call it after `rows` are inserted and before they are
/// scanned for, in the same transaction; the locks are held until it ends.
///
/// The rule: a report with a point takes its category's lock shared and, exclusively, the lock
/// of every cell of a grid (squares as high as its bounding box) that its box touches; a report
/// without a point (its scan covers the whole category) takes the category's lock exclusively,
/// as does one whose box touches more than [`MAX_LOCK_CELLS`] cells. Two reports one of whose
/// scans can find the other then always want one lock in conflicting modes: with points, both
/// boxes touch the cell of the report found (a point lies in its own box, and in the box of a
/// scan that finds it); otherwise the category's. The second to get it scans after the first
/// has committed (each statement reads what is committed when it starts), so the outcome is
/// that of applying the two one after the other, as a single replica does. A
/// batch takes all its locks in one statement, in key order, so two batches never wait for each
/// other in a cycle (a transaction that locks again, such as a batch replayed one event at a
/// time after a failure, can: PostgreSQL then aborts one and it is redelivered). SQLite, one
/// writer at a time, needs none of this.
pub async fn lock_neighbourhoods<C: ConnectionTrait>(
    db: &C,
    spec: &crate::duplicates::DuplicateSpec,
    rows: &[&queue_report::Model],
) -> Result<(), sea_orm::DbErr> {
    let mut locks = Vec::new();
    for row in rows {
        let category = row.category_id.as_deref();
        let cells = row
            .latitude
            .zip(row.longitude)
            .and_then(|point| lock_cells(spec, point));
        match cells {
            Some(cells) => {
                locks.push((lock_key(category, None), false));
                locks.extend(
                    cells
                        .into_iter()
                        .map(|cell| (lock_key(category, Some(cell)), true)),
                );
            }
            None => locks.push((lock_key(category, None), true)),
        }
    }
    lapor_platform::db::advisory_locks(db, &locks).await
}

/// A report whose bounding box touches more cells than this (a very large
/// `duplicates.max_distance_m` near a pole) locks its whole category instead.
const MAX_LOCK_CELLS: i64 = 64;

/// The cells of the lock grid that the bounding box of `point` touches (latitude index,
/// longitude index), or `None` when they are more than [`MAX_LOCK_CELLS`]. A cell is a square
/// of the box's height in degrees, so a box touches two or three a side.
fn lock_cells(spec: &crate::duplicates::DuplicateSpec, point: (f64, f64)) -> Option<Vec<(i64, i64)>> {
    let [la0, la1, lo0, lo1] = bounding_box(spec, point);
    let size = (2.0 * spec.max_distance_m / 111_000.0).max(1e-6);
    // Monotonic in the coordinate: a point inside a box falls in one of the box's cells.
    #[allow(clippy::cast_possible_truncation)]
    let cell = |deg: f64| (deg / size).floor() as i64;
    let (i0, i1, j0, j1) = (cell(la0), cell(la1), cell(lo0), cell(lo1));
    ((i1 - i0 + 1).saturating_mul(j1 - j0 + 1) <= MAX_LOCK_CELLS)
        .then(|| (i0..=i1).flat_map(|i| (j0..=j1).map(move |j| (i, j))).collect())
}

/// The advisory lock key of a category (no cell) or of one cell of it: FNV-1a over the names,
/// so that every replica and every build computes the same key (std's hasher is seeded per
/// process).
fn lock_key(category: Option<&str>, cell: Option<(i64, i64)>) -> i64 {
    fn eat(h: u64, bytes: &[u8]) -> u64 {
        bytes
            .iter()
            .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    }
    let mut h = eat(0xcbf2_9ce4_8422_2325, b"lapor.routing.duplicates");
    // Category ids are dotted names: no NUL inside one.
    h = match category {
        Some(c) => eat(eat(h, b"\x01"), c.as_bytes()),
        None => eat(h, b"\x02"),
    };
    h = eat(h, b"\x00");
    if let Some((i, j)) = cell {
        h = eat(eat(h, &i.to_le_bytes()), &j.to_le_bytes());
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// The answers of [`duplicate_scan`]'s queries as one: newest first, at most `max_scan` (what a
/// single query over their union would give).
fn merge_scans(mut rows: Vec<DuplicateScanRow>, max_scan: u64) -> Vec<DuplicateScanRow> {
    rows.sort_by(|a, b| {
        b.submitted_at
            .cmp(&a.submitted_at)
            .then_with(|| a.report_id.cmp(&b.report_id))
    });
    rows.truncate(usize::try_from(max_scan).unwrap_or(usize::MAX));
    rows
}

/// A decision worked out by [`Desk::plan`], not yet written.
struct Planned {
    /// The row after it.
    next: queue_report::Model,
    /// Its `report_history` entry.
    history: report_history::ActiveModel,
    /// What it announces, if anything.
    event: Option<Envelope>,
}

/// The `report_history` entry of a change of a report to `next` (from status `from`).
#[allow(clippy::too_many_arguments)]
fn history_entry(
    from: &str,
    next: &queue_report::Model,
    opd: Option<String>,
    action: &str,
    actor: &Actor,
    reason: Option<String>,
    changes: serde_json::Value,
    now: DateTime<Utc>,
) -> report_history::ActiveModel {
    report_history::ActiveModel {
        report_id: Set(next.report_id),
        at: Set(now),
        actor: Set(actor.subject.clone()),
        role: Set(actor.role.clone()),
        action: Set(action.to_owned()),
        from_status: Set(from.to_owned()),
        to_status: Set(next.status.clone()),
        opd_id: Set(opd),
        reason: Set(reason),
        changes: Set(changes),
        ..Default::default()
    }
}

impl Desk {
    /// Applies `decision` to `row` as `actor` at `now`; returns the updated row.
    pub async fn decide<C: ConnectionTrait>(
        &self,
        db: &C,
        row: queue_report::Model,
        decision: Decision,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<queue_report::Model, Error> {
        let Planned { next, history, event } = self.plan(&row, &decision, actor, now)?;
        let res = queue_report::Entity::update_many()
            .set(next.clone().into_active_model().reset_all())
            .filter(queue_report::Column::ReportId.eq(row.report_id))
            .filter(queue_report::Column::Version.eq(row.version))
            .exec(db)
            .await?;
        if res.rows_affected != 1 {
            return Err(Error::FailedPrecondition(
                "the report was changed by someone else meanwhile; reload it and decide again".into(),
            ));
        }
        history.insert(db).await?;
        if let Some(env) = &event {
            enqueue(db, &self.bus, env).await?;
        }
        tracing::info!(report_id = %row.report_id, action = decision.action(), status = %next.status, opd_id = next.opd_id.as_deref().unwrap_or(""), "report decided");
        Ok(next)
    }

    /// [`Desk::decide`] without the writes: the row after `decision` (its version one up), the
    /// history entry and the event to announce, if any.
    fn plan(
        &self,
        row: &queue_report::Model,
        decision: &Decision,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Planned, Error> {
        let state = lifecycle_of(row);
        let calendar = self.calendar.get();
        let ctx = Context {
            now,
            calendar: &calendar,
            policy: &self.config.policy,
        };
        let event = decide(&state, &decision.command(), &ctx).map_err(transition_error)?;
        let mut next = row.clone();
        project(&mut next, &apply(state, &event));
        next.version = row.version + 1;
        let (tracking_id, reporter_ref) = (
            row.tracking_id
                .parse::<TrackingId>()
                .map_err(|_| bad("tracking id"))?,
            ReporterRef::from_uuid(row.reporter_ref),
        );
        let report_id = ReportId::from_uuid(row.report_id);
        let mut reason: Option<String> = None;
        let mut span_opd: Option<String> = None;
        let bus_event = match decision {
            Decision::Verify {
                kind,
                needs_examination,
                category,
                privacy,
                title,
            } => {
                next.kind = kind.code().to_owned();
                next.needs_examination = *needs_examination;
                next.category_id = Some(category.to_string());
                next.anonim = privacy.anonim;
                next.rahasia = privacy.rahasia;
                if let Some(t) = title.as_ref().filter(|t| **t != row.title) {
                    next.original_title =
                        Some(row.original_title.clone().unwrap_or_else(|| row.title.clone()));
                    next.title = t.clone();
                }
                next.verified_at = Some(now);
                next.verified_by = Some(actor.subject.clone());
                Some(Event::ReportVerified(ReportVerified {
                    report_id,
                    tracking_id,
                    kind: *kind,
                    needs_examination: *needs_examination,
                    category: category.clone(),
                    privacy: *privacy,
                    title: next.title.clone(),
                    reporter_ref,
                    verified_at: now,
                    verified_by: actor.subject.clone(),
                }))
            }
            Decision::Hold { reason: r } => {
                reason = Some(r.trim().to_owned());
                Some(Event::ReportPutOnHold(ReportPutOnHold {
                    report_id,
                    tracking_id,
                    reason: r.trim().to_owned(),
                    reporter_ref,
                    held_at: now,
                    held_by: actor.subject.clone(),
                }))
            }
            Decision::NotAuthorized { reason: r } => {
                reason = Some(r.trim().to_owned());
                Some(Event::ReportDeclaredNotAuthorized(ReportDeclaredNotAuthorized {
                    report_id,
                    tracking_id,
                    reason: r.trim().to_owned(),
                    reporter_ref,
                    declared_at: now,
                    declared_by: actor.subject.clone(),
                }))
            }
            Decision::Archive {
                code,
                reason: r,
                duplicate_of,
            } => {
                reason = Some(r.trim().to_owned());
                next.duplicate_of = duplicate_of.as_ref().map(|d| d.0);
                let duplicate_of = match duplicate_of {
                    Some((id, t)) => Some((
                        ReportId::from_uuid(*id),
                        t.parse::<TrackingId>().map_err(|_| bad("tracking id"))?,
                    )),
                    None => None,
                };
                Some(Event::ReportArchived(ReportArchived {
                    report_id,
                    tracking_id,
                    reason_code: code.clone(),
                    reason: r.trim().to_owned(),
                    reporter_ref,
                    archived_at: now,
                    archived_by: actor.subject.clone(),
                    duplicate_of,
                }))
            }
            Decision::CompleteHold {
                addition,
                held_at,
                completed_at,
            } => {
                next.body = format!("{}\n\n[Tambahan pelapor]\n{addition}", row.body);
                // Time on hold does not count: the operator's deadline moves by the whole working
                // days the report waited for its reporter.
                let paused = calendar.working_days_between(*held_at, *completed_at);
                if paused > 0 {
                    next.verification_due_at = calendar.add_working_days(row.verification_due_at, paused);
                }
                reason = Some(format!("paused {paused} working day(s)"));
                None
            }
            Decision::Return { opd, reason: r } => {
                reason = Some(r.trim().to_owned());
                span_opd = Some(opd.to_string());
                next.routing_note = format!("returned by {opd}: {}", r.trim());
                // The operator's step starts again: re-dispatch within the verification days.
                next.verification_due_at =
                    calendar.add_working_days(now, self.config.policy.verification_days);
                // opd-case published the transfer request; routing has nothing more to announce.
                None
            }
            Decision::Dispatch { opd, rule } => {
                let rule_id = rule.as_ref().map(|r| r.0.clone());
                next.rule_id = rule_id.clone();
                next.rule_version = rule.as_ref().map(|r| r.1);
                next.dispatched_by = rule.is_none().then(|| actor.subject.clone());
                Some(Event::ReportDispatched(ReportDispatched {
                    report_id,
                    tracking_id,
                    opd_id: opd.clone(),
                    content: content_of(&next)?,
                    reporter_ref,
                    submitted_at: row.submitted_at,
                    dispatched_at: now,
                    rule_id,
                    dispatched_by: next.dispatched_by.clone(),
                }))
            }
        };
        let opd = span_opd.or_else(|| next.opd_id.clone());
        let history = history_entry(
            &row.status,
            &next,
            opd,
            decision.action(),
            actor,
            reason,
            changes(row, &next),
            now,
        );
        let event = bus_event.map(|event| Envelope {
            id: EventId::from_uuid(Uuid::now_v7()),
            occurred_at: now,
            event,
        });
        Ok(Planned { next, history, event })
    }

    /// Stores the possible duplicates of newly received reports (already stored), one row per
    /// pair. Only the columns the comparison needs are read, and far-away reports not at
    /// all. Reports received together find each other (a pair is stored once).
    async fn find_duplicates<C: ConnectionTrait>(
        &self,
        db: &C,
        received: &[&queue_report::Model],
    ) -> Result<(), Error> {
        use crate::duplicates::{Report, best_matches};
        use crate::entities::duplicate_pair;
        let spec = self.config.duplicates;
        if spec.max_candidates == 0 {
            // No pair is ever stored: nothing to look for.
            return Ok(());
        }
        let now = Utc::now();
        // Every pair written together: one statement per 500 rows, not one per candidate.
        let mut rows = Vec::new();
        let mut pairs_seen = std::collections::HashSet::new();
        lock_neighbourhoods(db, &spec, received).await?;
        let scans = scan_neighbours(db, &spec, received).await?;
        for (row, others) in received.iter().zip(scans) {
            // The reporter's own title: an operator's rewrite does not change what was reported.
            let me = Report {
                title: row.original_title.as_deref().unwrap_or(&row.title),
                body: &row.body,
                point: row.latitude.zip(row.longitude),
            };
            let found = best_matches(
                &spec,
                &me,
                others.iter().map(|o| Report {
                    title: o.original_title.as_deref().unwrap_or(&o.title),
                    body: &o.body,
                    point: o.latitude.zip(o.longitude),
                }),
            );
            for (i, m) in found {
                let other = &others[i];
                if !pairs_seen.insert((
                    row.report_id.min(other.report_id),
                    row.report_id.max(other.report_id),
                )) {
                    continue;
                }
                rows.push(duplicate_pair::ActiveModel {
                    report_id: Set(row.report_id),
                    candidate_id: Set(other.report_id),
                    report_tracking_id: Set(row.tracking_id.clone()),
                    candidate_tracking_id: Set(other.tracking_id.clone()),
                    score: Set(m.score),
                    reason: Set(m.reason()),
                    found_at: Set(now),
                });
            }
        }
        for chunk in rows.chunks(500) {
            duplicate_pair::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    sea_orm::sea_query::OnConflict::columns([
                        duplicate_pair::Column::ReportId,
                        duplicate_pair::Column::CandidateId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }

    /// Records an action that changes nothing (e.g. an identity reveal) in the audit trail.
    pub async fn audit_only<C: ConnectionTrait>(
        &self,
        db: &C,
        row: &queue_report::Model,
        action: &str,
        caller: &lapor_platform::Caller,
        reason: &str,
    ) -> Result<(), Error> {
        let actor = Actor {
            subject: caller.subject.clone(),
            role: caller.role.as_str().to_owned(),
        };
        history_entry(
            &row.status,
            row,
            row.opd_id.clone(),
            action,
            &actor,
            Some(reason.to_owned()),
            serde_json::json!({}),
            Utc::now(),
        )
        .insert(db)
        .await?;
        Ok(())
    }

    /// Stores a newly submitted report and dispatches it when a rule says so.
    pub async fn receive<C: ConnectionTrait>(&self, db: &C, e: &ReportSubmitted) -> Result<(), Error> {
        let stored = crate::rule_store::load(db).await?;
        let span = tracing::Span::current();
        self.receive_many(db, &[(e, &span)], &stored).await
    }

    /// Stores newly submitted reports (each with its consumer span) under the rules in force
    /// `stored`, read once for a batch (its reports are routed by the rules as they were when it
    /// began, as one report is by those of its own start), and dispatches those a rule routes.
    /// A report a rule dispatches is stored as the dispatch leaves it: what storing it and then
    /// dispatching it wrote before (version 1, a `submit` and a `dispatch` history entry, its
    /// `ReportDispatched`), with one statement each for the reports, the history and the outbox
    /// of up to [`RECEIVE_CHUNK`] reports; the duplicate scan is per report. A report already
    /// stored (submitted again under another event id) changes nothing.
    pub async fn receive_many<C: ConnectionTrait>(
        &self,
        db: &C,
        events: &[(&ReportSubmitted, &tracing::Span)],
        stored: &[crate::rule_store::StoredRule],
    ) -> Result<(), Error> {
        let rules: Vec<RuleSpec> = stored.iter().map(|r| r.spec.clone()).collect();
        for part in events.chunks(RECEIVE_CHUNK) {
            self.receive_chunk(db, part, stored, &rules).await?;
        }
        Ok(())
    }

    async fn receive_chunk<C: ConnectionTrait>(
        &self,
        db: &C,
        events: &[(&ReportSubmitted, &tracing::Span)],
        stored: &[crate::rule_store::StoredRule],
        rules: &[RuleSpec],
    ) -> Result<(), Error> {
        let intake = Actor {
            subject: "intake".into(),
            role: "service".into(),
        };
        let now = Utc::now();
        let mut received: Vec<Received<'_>> = Vec::with_capacity(events.len());
        for &(e, span) in events {
            if received.iter().any(|r| r.row.report_id == e.report_id.as_uuid()) {
                continue;
            }
            let (row, routing) = self.submitted_row(e, rules);
            let submit = history_entry(
                "",
                &row,
                None,
                "submit",
                &intake,
                None,
                serde_json::json!({}),
                e.submitted_at,
            );
            let dispatch = match routing {
                Routing::Dispatch(rule) => {
                    let version = stored
                        .iter()
                        .find(|s| s.spec.id == rule.id)
                        .map_or(0, |s| s.version);
                    let actor = Actor {
                        subject: format!("rule:{}", rule.id),
                        role: "system".into(),
                    };
                    let decision = Decision::Dispatch {
                        opd: rule.opd.clone(),
                        rule: Some((rule.id.clone(), version)),
                    };
                    Some(self.plan(&row, &decision, &actor, now)?)
                }
                Routing::Queue(_) => None,
            };
            received.push(Received {
                row,
                submit,
                dispatch,
                span,
            });
        }
        // Stored once: one statement both checks and inserts; the keys it returns are the
        // reports new here.
        let rows: Vec<queue_report::ActiveModel> = received
            .iter()
            .map(|r| {
                let row = r.dispatch.as_ref().map_or(&r.row, |d| &d.next);
                row.clone().into_active_model().reset_all()
            })
            .collect();
        let inserted: std::collections::HashSet<Uuid> = match queue_report::Entity::insert_many(rows)
            .on_conflict_do_nothing()
            .exec_with_returning_keys(db)
            .await?
        {
            sea_orm::TryInsertResult::Inserted(keys) => keys.into_iter().collect(),
            sea_orm::TryInsertResult::Empty | sea_orm::TryInsertResult::Conflicted => return Ok(()),
        };
        received.retain(|r| inserted.contains(&r.row.report_id));
        if received.is_empty() {
            return Ok(());
        }
        let mut history = Vec::with_capacity(received.len() * 2);
        let mut announced = Vec::new();
        let mut stored_rows = Vec::with_capacity(received.len());
        for r in received {
            history.push(r.submit);
            let dispatched = r.dispatch.is_some();
            let row = match r.dispatch {
                Some(Planned {
                    next,
                    history: entry,
                    event,
                }) => {
                    history.push(entry);
                    if let Some(env) = event {
                        announced.push((env, lapor_platform::telemetry::traceparent_of(r.span)));
                    }
                    next
                }
                None => r.row,
            };
            stored_rows.push((row, dispatched, r.span));
        }
        report_history::Entity::insert_many(history)
            .exec_without_returning(db)
            .await?;
        let rows: Vec<&queue_report::Model> = stored_rows.iter().map(|(row, _, _)| row).collect();
        self.find_duplicates(db, &rows).await?;
        lapor_events::enqueue_many(db, &self.bus, &announced).await?;
        for (row, dispatched, span) in &stored_rows {
            span.in_scope(|| {
                if *dispatched {
                    tracing::info!(report_id = %row.report_id, action = "dispatch", status = %row.status, opd_id = row.opd_id.as_deref().unwrap_or(""), "report decided");
                } else {
                    tracing::info!(report_id = %row.report_id, note = %row.routing_note, "report queued for the operator");
                }
            });
        }
        Ok(())
    }

    /// A newly submitted report's row as it is stored before any decision (status submitted,
    /// version 0), and where the rules route it.
    fn submitted_row<'r>(
        &self,
        e: &ReportSubmitted,
        rules: &'r [RuleSpec],
    ) -> (queue_report::Model, Routing<'r>) {
        let calendar = self.calendar.get();
        let due = calendar.add_working_days(e.submitted_at, self.config.policy.verification_days);
        let known = |c: &CategoryId| {
            self.config.categories.is_empty() || self.config.categories.iter().any(|k| &k.id == c)
        };
        let subject = Subject {
            kind: e.content.kind,
            category: e.content.category.as_ref(),
            title: &e.content.title,
            body: &e.content.body,
            location: e.content.location.as_ref(),
        };
        let routing = match &e.content.category {
            Some(c) if !known(c) => Routing::Queue(format!(
                "category {c} is not in the category tree: the operator classifies it"
            )),
            _ => route(rules, &subject),
        };
        let note = match &routing {
            Routing::Queue(n) => n.clone(),
            Routing::Dispatch(_) => String::new(),
        };
        let row = queue_report::Model {
            report_id: e.report_id.as_uuid(),
            tracking_id: e.tracking_id.to_string(),
            kind: e.content.kind.code().to_owned(),
            title: e.content.title.clone(),
            body: e.content.body.clone(),
            category_id: e.content.category.as_ref().map(ToString::to_string),
            incident_date: e.content.incident_date,
            location: e
                .content
                .location
                .as_ref()
                .and_then(|l| serde_json::to_value(l).ok()),
            anonim: e.content.privacy.anonim,
            rahasia: e.content.privacy.rahasia,
            reporter_ref: e.reporter_ref.as_uuid(),
            submitted_at: e.submitted_at,
            status: Status::Submitted.code().to_owned(),
            verification_due_at: due,
            routing_note: note.clone(),
            opd_id: None,
            dispatched_at: None,
            rule_id: None,
            dispatched_by: None,
            needs_examination: false,
            verified_at: None,
            verified_by: None,
            original_title: None,
            hold_reason: None,
            hold_since: None,
            close_reason: None,
            returned_from_opd: None,
            return_reason: None,
            version: 0,
            rule_version: None,
            duplicate_of: None,
            latitude: e.content.location.as_ref().and_then(|l| l.point).map(|p| p.0),
            longitude: e.content.location.as_ref().and_then(|l| l.point).map(|p| p.1),
        };
        (row, routing)
    }
}

/// At most this many reports go into one statement of [`Desk::receive_many`] (a consumer's
/// delivery batch is at most 64).
const RECEIVE_CHUNK: usize = 200;

/// A report of [`Desk::receive_chunk`]: its row as submitted, its `submit` history entry, the
/// rule's dispatch when one routes it, and its consumer span.
struct Received<'a> {
    row: queue_report::Model,
    submit: report_history::ActiveModel,
    dispatch: Option<Planned>,
    span: &'a tracing::Span,
}

/// The consumer of `ReportSubmitted`.
pub struct SubmittedHandler(pub std::sync::Arc<Desk>);

impl lapor_events::Handler for SubmittedHandler {
    async fn handle(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        env: &Envelope,
    ) -> Result<(), lapor_events::HandlerError> {
        match &env.event {
            Event::ReportSubmitted(e) => Ok(self.0.receive(txn, e).await?),
            other => Err(lapor_events::HandlerError::Permanent(format!(
                "routing does not consume {}",
                other.type_name()
            ))),
        }
    }

    /// The batch's reports are received together ([`Desk::receive_many`]): the rules in force
    /// read once, one statement each for the reports, their history and their announcements.
    async fn handle_batch(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        items: &[lapor_events::BatchItem<'_>],
    ) -> Result<(), lapor_events::BatchError> {
        let stored = crate::rule_store::load(txn)
            .await
            .map_err(|e| lapor_events::BatchError::whole(lapor_events::HandlerError::from(e)))?;
        let mut events = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match &item.env.event {
                Event::ReportSubmitted(e) => events.push((e, item.span)),
                other => {
                    return Err(lapor_events::BatchError {
                        at: Some(i),
                        error: lapor_events::HandlerError::Permanent(format!(
                            "routing does not consume {}",
                            other.type_name()
                        )),
                    });
                }
            }
        }
        self.0
            .receive_many(txn, &events, &stored)
            .await
            .map_err(|e| lapor_events::BatchError::whole(lapor_events::HandlerError::from(e)))
    }
}

/// The consumer of `CaseTransferRequested`: the report comes back to the queue, flagged.
pub struct TransferHandler(pub std::sync::Arc<Desk>);

impl lapor_events::Handler for TransferHandler {
    async fn handle(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        env: &Envelope,
    ) -> Result<(), lapor_events::HandlerError> {
        let Event::CaseTransferRequested(e) = &env.event else {
            return Err(lapor_events::HandlerError::Permanent(format!(
                "routing's transfer consumer does not take {}",
                env.event.type_name()
            )));
        };
        let row = queue_report::Entity::find_by_id(e.report_id.as_uuid())
            .one(txn)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(format!("no report {}", e.report_id)))?;
        let actor = Actor {
            subject: e.requested_by.clone(),
            role: "opd_officer".into(),
        };
        let decision = Decision::Return {
            opd: e.opd_id.clone(),
            reason: e.reason.clone(),
        };
        self.0.decide(txn, row, decision, &actor, e.requested_at).await?;
        Ok(())
    }
}

/// The consumer of `ReportHoldCompleted`: the report returns to the queue.
pub struct HoldCompletedHandler(pub std::sync::Arc<Desk>);

impl lapor_events::Handler for HoldCompletedHandler {
    async fn handle(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        env: &Envelope,
    ) -> Result<(), lapor_events::HandlerError> {
        let Event::ReportHoldCompleted(e) = &env.event else {
            return Err(lapor_events::HandlerError::Permanent(format!(
                "routing's hold consumer does not take {}",
                env.event.type_name()
            )));
        };
        let row = queue_report::Entity::find_by_id(e.report_id.as_uuid())
            .one(txn)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(format!("no report {}", e.report_id)))?;
        let actor = Actor {
            subject: format!("reporter:{}", e.reporter_ref),
            role: "reporter".into(),
        };
        let decision = Decision::CompleteHold {
            addition: e.addition.clone(),
            held_at: e.held_at,
            completed_at: e.completed_at,
        };
        self.0.decide(txn, row, decision, &actor, e.completed_at).await?;
        Ok(())
    }
}

/// The columns of another report the duplicate scan compares.
#[derive(Debug, Clone, PartialEq, sea_orm::FromQueryResult)]
pub struct DuplicateScanRow {
    /// Its id.
    pub report_id: uuid::Uuid,
    /// Its tracking id.
    pub tracking_id: String,
    /// Its title now.
    pub title: String,
    /// The reporter's title, when the operator rewrote it.
    pub original_title: Option<String>,
    /// Its body.
    pub body: String,
    /// Map point: latitude.
    pub latitude: Option<f64>,
    /// Map point: longitude.
    pub longitude: Option<f64>,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duplicates::DuplicateSpec;

    /// Repeatable numbers in [0, 1) (xorshift from `seed`).
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1_000_000) as f64 / 1_000_000.0
        }
    }

    /// The locking rule's premise: whenever one report's bounding box holds another's point, the
    /// cell of that point is among the cells both lock (north and south of the equator, across
    /// cell edges, at several radii).
    #[test]
    fn two_reports_one_scan_can_find_share_a_locked_cell() {
        let mut next = uniform(0x9E37_79B9_7F4A_7C15);
        let mut shared = 0;
        for radius in [100.0, 500.0, 2_000.0] {
            let spec = DuplicateSpec {
                max_distance_m: radius,
                ..DuplicateSpec::default()
            };
            for _ in 0..20_000 {
                let a = (-8.0 + 16.0 * next(), 95.0 + 46.0 * next());
                let d = 2.5 * radius / 111_000.0;
                let b = (a.0 + d * (2.0 * next() - 1.0), a.1 + d * (2.0 * next() - 1.0));
                let [la0, la1, lo0, lo1] = bounding_box(&spec, a);
                if !(la0..=la1).contains(&b.0) || !(lo0..=lo1).contains(&b.1) {
                    continue;
                }
                let cells_a = lock_cells(&spec, a).unwrap();
                let cells_b = lock_cells(&spec, b).unwrap();
                assert!(
                    cells_a.len() <= 9 && cells_b.len() <= 9,
                    "{cells_a:?} {cells_b:?}"
                );
                let size = 2.0 * radius / 111_000.0;
                #[allow(clippy::cast_possible_truncation)]
                let cell_of = |p: (f64, f64)| ((p.0 / size).floor() as i64, (p.1 / size).floor() as i64);
                assert!(cells_a.contains(&cell_of(b)), "{a:?} {b:?}");
                assert!(cells_b.contains(&cell_of(b)), "{a:?} {b:?}");
                shared += 1;
            }
        }
        assert!(shared > 5_000, "{shared} pairs checked");
    }

    /// The batched scan's latitude cells hold every latitude of the box: its edges, the floats
    /// just inside them, points spread over it, and latitudes on the cells' own edges (north
    /// and south of the equator, at several radii); they are consecutive, and a box of more
    /// than [`MAX_SCAN_CELLS`] has none (it is read as its band of latitude).
    #[test]
    fn the_scan_cells_hold_every_latitude_of_the_box() {
        let mut next = uniform(0x2545_F491_4F6C_DD1D);
        let cell = |lat: f64| (lat * 100.0).floor();
        let mut checked = 0;
        for radius in [50.0, 500.0, 5_000.0] {
            let spec = DuplicateSpec {
                max_distance_m: radius,
                ..DuplicateSpec::default()
            };
            for k in 0..5_000 {
                // Every tenth centre on a cell's edge, so that the box's edges land near others.
                let lat = if k % 10 == 0 {
                    f64::from(k % 1_600 - 800) / 100.0
                } else {
                    -11.0 + 18.0 * next()
                };
                let [la0, la1, ..] = bounding_box(&spec, (lat, 117.0));
                let cells = scan_cells(la0, la1).unwrap();
                assert!(cells.windows(2).all(|w| w[1] == w[0] + 1.0), "{cells:?}");
                let mut inside = vec![la0, la1, la0.next_up(), la1.next_down(), lat];
                inside.extend((0..8).map(|_| la0 + (la1 - la0) * next()));
                // The cells' own edges inside the box, and the floats beside them.
                let mut edge = (la0 * 100.0).ceil();
                while edge / 100.0 <= la1 {
                    let e = edge / 100.0;
                    inside.extend([e.next_down(), e, e.next_up()]);
                    edge += 1.0;
                }
                for p in inside.into_iter().filter(|p| (la0..=la1).contains(p)) {
                    assert!(cells.contains(&cell(p)), "{p} in [{la0}, {la1}]: {cells:?}");
                    checked += 1;
                }
                // No cell beyond the box's: nothing read that the box cannot hold.
                assert_eq!((cells[0], cells[cells.len() - 1]), (cell(la0), cell(la1)));
            }
        }
        assert!(checked > 150_000, "{checked} latitudes checked");
        // About 35 km and more: too many cells; likewise a radius no city would set, and no box.
        for radius in [40_000.0, 1e12, f64::INFINITY, f64::NAN] {
            let wide = DuplicateSpec {
                max_distance_m: radius,
                ..DuplicateSpec::default()
            };
            let [la0, la1, ..] = bounding_box(&wide, (0.13, 117.5));
            assert_eq!(scan_cells(la0, la1), None, "{radius}");
        }
        assert_eq!(scan_cells(0.1292, 0.1382), Some(vec![12.0, 13.0]));
        assert_eq!(scan_cells(0.1201, 0.1299), Some(vec![12.0]));
        // The statement computes the cell as m0008's index does, with the same number.
        assert!(BATCH_SCAN_SQL.contains("floor(q.latitude * 100) = c.cell"));
        assert!((LAT_CELLS_PER_DEGREE - 100.0).abs() < f64::EPSILON);
    }

    #[test]
    fn lock_keys_tell_categories_and_cells_apart_and_never_change() {
        let jalan = lock_key(Some("infrastruktur.jalan"), None);
        assert_ne!(jalan, lock_key(None, None));
        assert_ne!(jalan, lock_key(Some("infrastruktur.jalan"), Some((0, 0))));
        assert_ne!(
            lock_key(Some("infrastruktur.jalan"), Some((1, 2))),
            lock_key(Some("infrastruktur.jalan"), Some((2, 1)))
        );
        // Replicas of different builds must agree: the key is fixed by its inputs alone (this
        // value checked against an FNV-1a written apart from this code).
        assert_eq!(jalan, lock_key(Some("infrastruktur.jalan"), None));
        assert_eq!(lock_key(None, None), -580_253_240_485_318_821);
    }
}
