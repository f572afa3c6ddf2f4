//! Criterion benchmarks of the SLA monitor over 1,000,000 open deadlines on PostgreSQL
//! (`make bench`; `cargo bench -p lapor-sla-monitor --bench sla [-- sweep|recompute]`). Each part
//! makes its own scratch database, applies sla-monitor's migrations and loads its rows with
//! `generate_series`, so it needs the PostgreSQL that the tests use (`TEST_DATABASE_URL`).
//!
//! - **sweep**: 1,000,000 open first-follow-up deadlines (due times spread over 60 days around
//!   now, 2 % due within 24 hours); the two queries the sweep runs, as it runs them: the first 500
//!   overdue, and the first 500 due within 24 hours.
//! - **recompute**: `LAPOR_BENCH_REPORTS` reports (default 500,000) as facts (submitted, then
//!   dispatched a day later: three deadlines each, two open: 1,000,000 open deadlines), computed
//!   once (the first computation), then a holiday added on the first working day 20 or more days
//!   ahead (moves the due times that span it); those two are one-off and timed once. Criterion
//!   then times the worst case: Friday made a day off, then a working day again, in turn, each
//!   change moving every open due time. `LAPOR_BENCH_LAYOUT` is how the facts lie in the table
//!   (`recorded`, the default, as the service stores them; `scattered`, see [`load_facts`]);
//!   `LAPOR_BENCH_BATCH` and `LAPOR_BENCH_PARALLEL` set the recompute's batch size and parallel
//!   transactions (the service's defaults otherwise). Before it loads anything it runs the
//!   same-run PostgreSQL baseline of the whole-system benchmark (`../shared/bench/anchor.sh`,
//!   pgbench on an intake-shaped transaction), so that the absolute target (< 30 s) can be read
//!   against the machine's speed at the time.
//!
//! Besides criterion's own report (and its JSON under `target/criterion/`), each part writes a
//! summary with every timed run to `$LAPOR_BENCH_JSON_DIR/sla-sweep.json` and
//! `sla-recompute.json` when that variable is set (`make bench` sets it), and prints it.
#![allow(clippy::print_stdout, clippy::unwrap_used)] // a benchmark reports on stdout and fails loudly

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use criterion::{Criterion, SamplingMode};
use lapor_domain::SlaPolicy;
use lapor_domain::calendar::{Calendar, CalendarSpec, Holiday};
use lapor_sla_monitor::alerts::Alerts;
use lapor_sla_monitor::config::RecomputeConfig;
use lapor_sla_monitor::engine::Engine;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

const SWEEP_ROWS: i64 = 1_000_000;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    // The name filter criterion is given (`cargo bench ... -- sweep`) also decides which parts
    // load their rows at all.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |part: &str| {
        filter
            .as_deref()
            .is_none_or(|f| part.contains(f) || f.contains(part))
    };
    let mut c = Criterion::default().configure_from_args();
    if wanted("sweep") {
        let summary = sweep(&rt, &mut c)?;
        report("sla-sweep.json", &summary)?;
    }
    if wanted("recompute") {
        let summary = recompute(&rt, &mut c)?;
        report("sla-recompute.json", &summary)?;
    }
    c.final_summary();
    Ok(())
}

/// Prints `summary` and writes it to `$LAPOR_BENCH_JSON_DIR/name` when that is set.
fn report(name: &str, summary: &serde_json::Value) -> anyhow::Result<()> {
    println!("{summary}");
    if let Ok(dir) = std::env::var("LAPOR_BENCH_JSON_DIR") {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(std::path::Path::new(&dir).join(name), format!("{summary}\n"))?;
    }
    Ok(())
}

/// A scratch database with sla-monitor's schema (dropped with the returned `TestEnv`). With
/// `LAPOR_BENCH_JIT=on` its connections leave the server's JIT setting in force
/// (`database.jit = true`), to compare with the services' default (JIT off).
async fn scratch() -> anyhow::Result<(lapor_testkit::TestEnv, DatabaseConnection)> {
    let env = lapor_testkit::TestEnv::new().await?;
    let mut common = env.common("sla_monitor");
    common.database.jit = std::env::var("LAPOR_BENCH_JIT").is_ok_and(|v| v == "on");
    let db =
        lapor_platform::db::connect_and_migrate::<lapor_sla_monitor::migration::Migrator>(&common.database)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((env, db))
}

/// Every timed run of one benchmark, in milliseconds (criterion's warm-up runs included).
#[derive(Default)]
struct Runs(Mutex<Vec<f64>>);

impl Runs {
    fn push(&self, d: Duration) {
        self.0.lock().unwrap().push(d.as_secs_f64() * 1000.0);
    }

    /// Count, p50, p90 and max, in milliseconds, and (`all`) every run.
    fn summary(&self, all: bool) -> serde_json::Value {
        let mut v = self.0.lock().unwrap().clone();
        let every = v.clone();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied();
        let mut s =
            serde_json::json!({"runs": v.len(), "p50_ms": at(0.5), "p90_ms": at(0.9), "max_ms": at(1.0)});
        if all {
            s["every_run_ms"] = serde_json::json!(every);
        }
        s
    }
}

fn sweep(rt: &tokio::runtime::Runtime, c: &mut Criterion) -> anyhow::Result<serde_json::Value> {
    let (env, db) = rt.block_on(scratch())?;
    let load = Instant::now();
    // Due times spread over 60 days before and after now; 2% are due within 24 hours.
    rt.block_on(db.execute_unprepared(&format!(
        "INSERT INTO deadlines (id, report_id, step, span, opd_id, started_at, due_at, met_at, ended_at, \
         allowance, unit, pauses, paused, settings, computed_at) \
         SELECT 'r' || g || ':FIRST_FOLLOW_UP:1', md5(g::text)::uuid, 'FIRST_FOLLOW_UP', 1, 'opd-' || (g % 40), \
         now() - interval '10 days', now() + ((g % 120000) - 60000) * interval '1 minute' * 1.44, NULL, NULL, \
         5, 'WORKING_DAYS', '[]', false, 'bench', now() FROM generate_series(1, {SWEEP_ROWS}) g; \
         ANALYZE deadlines"
    )))?;
    let load_s = load.elapsed().as_secs_f64();
    let now = Utc::now();
    let (overdue, soon) = (Runs::default(), Runs::default());
    let mut group = c.benchmark_group("sweep over 1,000,000 open deadlines");
    let db_ref = &db;
    group.bench_function("first 500 overdue", |b| {
        b.iter_custom(|iters| {
            timed(rt, &overdue, iters, move || async move {
                Alerts::overdue_ids(db_ref, now, 500).await.unwrap().len()
            })
        });
    });
    group.bench_function("first 500 due within 24 h", |b| {
        b.iter_custom(|iters| {
            timed(rt, &soon, iters, move || async move {
                Alerts::due_soon_ids(db_ref, now, chrono::Duration::hours(24), 500)
                    .await
                    .unwrap()
                    .len()
            })
        });
    });
    group.finish();
    let plan: Vec<String> = rt
        .block_on(db.query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "EXPLAIN SELECT id FROM deadlines WHERE met_at IS NULL AND ended_at IS NULL AND paused = false \
             AND due_at < now() ORDER BY due_at, id LIMIT 500"
                .to_owned(),
        )))?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "QUERY PLAN").ok())
        .collect();
    rt.block_on(db.close())?;
    drop(env);
    Ok(serde_json::json!({
        "benchmark": "sla_sweep_queries",
        "open_deadlines": SWEEP_ROWS,
        "load_seconds": load_s,
        "overdue_first_500": overdue.summary(false),
        "due_within_24h_first_500": soon.summary(false),
        "plan_uses_partial_due_index": plan.iter().any(|l| l.contains("idx_deadlines_open_due")),
        "plan": plan,
    }))
}

/// Criterion's measurement of `iters` runs of a sweep query (`query` gives how many ids it
/// found: always a full page of 500 here), each run also kept in `runs`.
fn timed<F, Fut>(rt: &tokio::runtime::Runtime, runs: &Runs, iters: u64, query: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let t = Instant::now();
            let found = query().await;
            let d = t.elapsed();
            assert_eq!(found, 500);
            runs.push(d);
            total += d;
        }
        total
    })
}

fn recompute(rt: &tokio::runtime::Runtime, c: &mut Criterion) -> anyhow::Result<serde_json::Value> {
    let var = |name: &str| std::env::var(name).ok();
    let n: i64 = var("LAPOR_BENCH_REPORTS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let layout = var("LAPOR_BENCH_LAYOUT").unwrap_or_else(|| "recorded".into());
    let mut tuning = RecomputeConfig::default();
    if let Some(b) = var("LAPOR_BENCH_BATCH").and_then(|v| v.parse().ok()) {
        tuning.batch_reports = b;
    }
    if let Some(p) = var("LAPOR_BENCH_PARALLEL").and_then(|v| v.parse().ok()) {
        tuning.parallel = p;
    }
    // The machine's speed right now, for the absolute target (< 30 s): measured before the
    // recompute's own rows exist, so the two do not compete.
    let anchor = pgbench_anchor();
    let (env, db) = rt.block_on(scratch())?;
    let load = Instant::now();
    rt.block_on(db.execute_unprepared(&load_facts(n, &layout)?))?;
    let load_s = load.elapsed().as_secs_f64();
    let base = CalendarSpec::default();
    let adopt = |spec: &CalendarSpec, note: Option<&str>| -> anyhow::Result<(usize, Duration)> {
        let engine = Engine::new(spec.clone(), SlaPolicy::default())?;
        let t = Instant::now();
        let reports = rt.block_on(engine.adopt_settings(&db, &tuning, Utc::now(), note))?;
        Ok((reports, t.elapsed()))
    };
    let (first_reports, first) = adopt(&base, None)?;
    let deadlines = rt.block_on(count(&db, "SELECT count(*) AS n FROM deadlines"))?;
    let open = rt.block_on(count(
        &db,
        "SELECT count(*) AS n FROM deadlines WHERE met_at IS NULL AND ended_at IS NULL",
    ))?;
    // A holiday in the middle of the due dates: many open deadlines move. The first working day
    // 20 or more days ahead: a date that is already a day off (a weekend, a holiday) moves nothing,
    // and the benchmark would measure a different case depending on the day it runs.
    let holiday_date = Calendar::from_spec(&base)?
        .nth_working_day_after((Utc::now() + chrono::Duration::days(20)).date_naive(), 0);
    let mut with_holiday = base.clone();
    with_holiday.holidays.push(Holiday {
        date: holiday_date,
        name: "Libur uji".into(),
        source: "bench".into(),
    });
    // Before each timed recompute, outside its time: what autovacuum does to `deadlines` between
    // two calendar changes in production (they are months apart; the project's machines run
    // PostgreSQL without autovacuum). Without it every run found the dead versions of the
    // million due times each run before it had moved, and the eleven runs grew from about 23 s
    // to 30 s (twenty-fifth session).
    let vacuum = || rt.block_on(db.execute_unprepared("VACUUM (ANALYZE) deadlines"));
    vacuum()?;
    let (holiday_reports, holiday) = adopt(&with_holiday, Some("bench"))?;
    let moves = || rt.block_on(count(&db, "SELECT count(*) AS n FROM deadline_changes"));
    let holiday_moved = moves()?;
    // Friday off, then on again, in turn: each change moves every open due time (the worst case).
    let mut friday_off = with_holiday.clone();
    friday_off.working_weekdays.retain(|d| d != "Fri");
    let calendars = [friday_off, with_holiday];
    let mut turn = 0usize;
    let runs = Runs::default();
    let mut moved_per_run = Vec::new();
    let mut moved_so_far = holiday_moved;
    let mut group = c.benchmark_group("recompute");
    // Criterion's least: one warm-up run and ten samples of one run each. A measurement time
    // that fits ten runs would let criterion put two runs in a sample when one is a little
    // faster, so it is kept short, and criterion's warning that ten samples do not fit in it is
    // expected.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    let name = format!("every open deadline moves ({open} open, {n} reports)");
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                vacuum().unwrap();
                let (_, d) = adopt(&calendars[turn % 2], Some("bench")).unwrap();
                turn += 1;
                let recorded = moves().unwrap();
                moved_per_run.push(recorded - moved_so_far);
                moved_so_far = recorded;
                runs.push(d);
                total += d;
            }
            total
        });
    });
    group.finish();
    rt.block_on(db.close())?;
    drop(env);
    let worst = runs.summary(true);
    // The worst case's median in pgbench transactions: how much work it is for this machine,
    // closer between machines of different speed than seconds are, though not equal (29.4 s at
    // 2,806 TPS and 17.6 s at 4,664 TPS were about 82,000 transactions both times; 48.0 s at
    // 1,275 TPS, on a machine whose pgbench is held back by its disk, 61,000).
    let in_anchor_transactions = anchor
        .as_ref()
        .ok()
        .zip(worst["p50_ms"].as_f64())
        .map(|((tps, _), ms)| (tps * ms / 1000.0).round());
    Ok(serde_json::json!({
        "benchmark": "sla_full_recompute",
        "pgbench_anchor": match &anchor {
            Ok((tps, line)) => serde_json::json!({"tps": tps, "line": line}),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        },
        "worst_case_p50_in_anchor_transactions": in_anchor_transactions,
        "reports": n,
        "deadlines": deadlines,
        "open_deadlines": open,
        "batch_reports": tuning.batch_reports,
        "parallel": tuning.parallel,
        "layout": layout,
        "load_seconds": load_s,
        "first_computation": {"reports": first_reports, "seconds": first.as_secs_f64()},
        "after_holiday_added": {"reports": holiday_reports, "seconds": holiday.as_secs_f64(), "deadlines_moved": holiday_moved},
        "friday_off_or_on_again": worst,
        "deadlines_moved_per_run": moved_per_run,
    }))
}

/// The same-run PostgreSQL baseline (`../shared/bench/anchor.sh`, or `$LAPOR_SHARED/bench/anchor.sh`:
/// pgbench on an intake-shaped transaction, the baseline of the whole-system benchmark): its TPS
/// and the line it printed. An error (no script, no pgbench) is reported in the JSON, and the
/// benchmark goes on without it.
fn pgbench_anchor() -> anyhow::Result<(f64, String)> {
    let shared = std::env::var("LAPOR_SHARED").map_or_else(
        |_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        std::path::PathBuf::from,
    );
    let script = shared.join("bench/anchor.sh");
    anyhow::ensure!(
        script.exists(),
        "{} not found (set LAPOR_SHARED)",
        script.display()
    );
    let out = std::process::Command::new("bash").arg(&script).output()?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let tps = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("anchor_tps="))
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no anchor_tps in {line:?}"))?;
    println!("{line}");
    Ok((tps, line))
}

/// The SQL that loads `n` reports' facts: submitted at some minute of the coming 60 days,
/// dispatched a day later. `layout` is how the rows lie:
/// - `recorded`: as the service stores them. Report ids are UUIDv7 from the submission time, as
///   intake assigns them (`Uuid::now_v7`), and facts are inserted in the order of their time, as
///   the consumer records them when the events arrive. A batch of reports taken in id order then
///   reads facts that lie together.
/// - `scattered` (the benchmark's only layout until the thirteenth session): random report ids and
///   every submission inserted before every dispatch, so a batch's facts lie all over the table.
fn load_facts(n: i64, layout: &str) -> anyhow::Result<String> {
    let report_id = match layout {
        "recorded" => {
            "(lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7' \
             || substr(md5(g::text), 14, 3) || '8' || substr(md5(g::text), 18, 15))::uuid"
        }
        "scattered" => "md5(g::text)::uuid",
        other => anyhow::bail!("LAPOR_BENCH_LAYOUT={other}: expected recorded or scattered"),
    };
    let order = if layout == "recorded" {
        "ORDER BY at, report_id"
    } else {
        "ORDER BY kind DESC"
    };
    Ok(format!(
        "WITH r AS (SELECT g, t, {report_id} AS report_id \
           FROM (SELECT g, date_trunc('minute', now()) + (g % 86400) * interval '1 minute' AS t \
                 FROM generate_series(1, {n}) g) x) \
         INSERT INTO facts (event_id, report_id, at, kind, body, recorded_at) \
         SELECT event_id, report_id, at, kind, body, now() FROM ( \
           SELECT md5('s' || g)::uuid AS event_id, report_id, t AS at, 'submitted' AS kind, \
             json_build_object('type', 'submitted', 'at', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'kind', 'PENGADUAN')::text AS body \
           FROM r \
           UNION ALL \
           SELECT md5('d' || g)::uuid, report_id, t + interval '1 day', 'dispatched', \
             json_build_object('type', 'dispatched', 'opd', 'opd-' || (g % 40), \
               'at', to_char((t + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
               'submitted_at', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'kind', 'PENGADUAN')::text \
           FROM r) f {order}; \
         ANALYZE facts"
    ))
}

async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?
        .try_get("", "n")?)
}
