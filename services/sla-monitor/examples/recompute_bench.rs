//! Benchmark of recomputing every open deadline after a calendar change (`make bench`). Loads
//! `LAPOR_BENCH_REPORTS` reports (default 500,000) as facts (submitted + dispatched: three
//! deadlines each, two of them open: 1,000,000 open deadlines by default), computes them all once,
//! then times the recompute of every open deadline after two changes: a holiday added on the
//! first working day 20 or more days ahead (moves the deadlines that span it) and Friday made a non-working day (moves nearly all).
//! `LAPOR_BENCH_BATCH` and `LAPOR_BENCH_PARALLEL` set the recompute's batch size and parallel
//! transactions (the service's defaults otherwise). Prints one JSON object.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use chrono::Utc;
use lapor_domain::SlaPolicy;
use lapor_domain::calendar::{Calendar, CalendarSpec, Holiday};
use lapor_sla_monitor::engine::Engine;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: i64 = std::env::var("LAPOR_BENCH_REPORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let mut tuning = lapor_sla_monitor::config::RecomputeConfig::default();
    if let Some(b) = std::env::var("LAPOR_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tuning.batch_reports = b;
    }
    if let Some(p) = std::env::var("LAPOR_BENCH_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tuning.parallel = p;
    }
    let env = lapor_testkit::TestEnv::new().await?;
    let common = env.common("sla_monitor");
    let db =
        lapor_platform::db::connect_and_migrate::<lapor_sla_monitor::migration::Migrator>(&common.database)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let load = Instant::now();
    // Submitted at some instant in the coming 60 days, dispatched a day later.
    db.execute_unprepared(&format!(
        "INSERT INTO facts (event_id, report_id, at, kind, body, recorded_at) \
         SELECT md5('s' || g)::uuid, md5(g::text)::uuid, t, 'submitted', \
           json_build_object('type', 'submitted', 'at', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'kind', 'PENGADUAN')::text, now() \
         FROM (SELECT g, date_trunc('minute', now()) + (g % 86400) * interval '1 minute' AS t FROM generate_series(1, {n}) g) x; \
         INSERT INTO facts (event_id, report_id, at, kind, body, recorded_at) \
         SELECT md5('d' || g)::uuid, md5(g::text)::uuid, t + interval '1 day', 'dispatched', \
           json_build_object('type', 'dispatched', 'opd', 'opd-' || (g % 40), \
             'at', to_char((t + interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
             'submitted_at', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'kind', 'PENGADUAN')::text, now() \
         FROM (SELECT g, date_trunc('minute', now()) + (g % 86400) * interval '1 minute' AS t FROM generate_series(1, {n}) g) x; \
         ANALYZE facts"
    ))
    .await?;
    let load_s = load.elapsed().as_secs_f64();
    let base = CalendarSpec::default();
    let first = Engine::new(base.clone(), SlaPolicy::default())?;
    let t = Instant::now();
    let reports_first = first.adopt_settings(&db, &tuning, Utc::now(), None).await?;
    let first_s = t.elapsed().as_secs_f64();
    let deadlines = count(&db, "SELECT count(*) AS n FROM deadlines").await?;
    let open = count(
        &db,
        "SELECT count(*) AS n FROM deadlines WHERE met_at IS NULL AND ended_at IS NULL",
    )
    .await?;
    // A holiday in the middle of the due dates: many open deadlines move. The first working day
    // 20 or more days ahead: a date that is already a day off (a weekend, a holiday) moves nothing,
    // and the benchmark would measure a different case depending on the day it runs.
    let holiday = Calendar::from_spec(&base)?
        .nth_working_day_after((Utc::now() + chrono::Duration::days(20)).date_naive(), 0);
    let mut changed = base.clone();
    changed.holidays.push(Holiday {
        date: holiday,
        name: "Libur uji".into(),
        source: "bench".into(),
    });
    let second = Engine::new(changed.clone(), SlaPolicy::default())?;
    let t = Instant::now();
    let reports_second = second
        .adopt_settings(&db, &tuning, Utc::now(), Some("bench"))
        .await?;
    let second_s = t.elapsed().as_secs_f64();
    let moved = count(&db, "SELECT count(*) AS n FROM deadline_changes").await?;
    // Friday no longer a working day: nearly every open due time moves.
    changed.working_weekdays.retain(|d| d != "Fri");
    let third = Engine::new(changed, SlaPolicy::default())?;
    let t = Instant::now();
    let reports_third = third
        .adopt_settings(&db, &tuning, Utc::now(), Some("bench"))
        .await?;
    let third_s = t.elapsed().as_secs_f64();
    let moved_third = count(&db, "SELECT count(*) AS n FROM deadline_changes").await? - moved;
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "sla_full_recompute",
            "reports": n,
            "deadlines": deadlines,
            "open_deadlines": open,
            "batch_reports": tuning.batch_reports,
            "parallel": tuning.parallel,
            "load_seconds": load_s,
            "first_computation": {"reports": reports_first, "seconds": first_s},
            "after_calendar_change": {"reports": reports_second, "seconds": second_s, "deadlines_moved": moved},
            "after_friday_off": {"reports": reports_third, "seconds": third_s, "deadlines_moved": moved_third},
        })
    );
    db.close().await?;
    Ok(())
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?
        .try_get("", "n")?)
}
