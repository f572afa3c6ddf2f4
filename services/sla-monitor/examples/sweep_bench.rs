//! Benchmark of the SLA sweep's queries over 1,000,000 open deadlines on PostgreSQL (`make bench`).
//! Creates a scratch database, applies sla-monitor's migrations, loads the rows with one
//! `generate_series` insert, and times the two queries the sweep runs (overdue, due within 24 h)
//! as the sweep runs them, plus the plan PostgreSQL chooses. Prints one JSON object.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;

const ROWS: i64 = 1_000_000;
const RUNS: usize = 30;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = lapor_testkit::TestEnv::new().await?;
    let common = env.common("sla_monitor");
    let db =
        lapor_platform::db::connect_and_migrate::<lapor_sla_monitor::migration::Migrator>(&common.database)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = lapor_sla_monitor::migration::Migrator::get_pending_migrations(&db).await?;
    let load = Instant::now();
    // Due times spread over 60 days before and after now; 2% are due within 24 hours.
    db.execute_unprepared(&format!(
        "INSERT INTO deadlines (id, report_id, step, span, opd_id, started_at, due_at, met_at, ended_at, \
         allowance, unit, pauses, paused, settings, computed_at) \
         SELECT 'r' || g || ':FIRST_FOLLOW_UP:1', md5(g::text)::uuid, 'FIRST_FOLLOW_UP', 1, 'opd-' || (g % 40), \
         now() - interval '10 days', now() + ((g % 120000) - 60000) * interval '1 minute' * 1.44, NULL, NULL, \
         5, 'WORKING_DAYS', '[]', false, 'bench', now() FROM generate_series(1, {ROWS}) g"
    ))
    .await?;
    db.execute_unprepared("ANALYZE deadlines").await?;
    let load_s = load.elapsed().as_secs_f64();
    let now = Utc::now();
    let mut overdue = Vec::new();
    let mut soon = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let a = lapor_sla_monitor::alerts::Alerts::overdue_ids(&db, now, 500).await?;
        overdue.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let b = lapor_sla_monitor::alerts::Alerts::due_soon_ids(&db, now, chrono::Duration::hours(24), 500)
            .await?;
        soon.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!((a.len(), b.len()), (500, 500));
    }
    let plan: Vec<String> = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "EXPLAIN SELECT id FROM deadlines WHERE met_at IS NULL AND ended_at IS NULL AND paused = false \
             AND due_at < now() ORDER BY due_at, id LIMIT 500"
                .to_owned(),
        ))
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "QUERY PLAN").ok())
        .collect();
    let uses_index = plan.iter().any(|l| l.contains("idx_deadlines_open_due"));
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "sla_sweep_queries",
            "open_deadlines": ROWS,
            "load_seconds": load_s,
            "runs": RUNS,
            "overdue_first_500_ms": {"p50": percentile(&mut overdue.clone(), 0.5), "max": percentile(&mut overdue, 1.0)},
            "due_within_24h_first_500_ms": {"p50": percentile(&mut soon.clone(), 0.5), "max": percentile(&mut soon, 1.0)},
            "plan_uses_partial_due_index": uses_index,
            "plan": plan,
        })
    );
    db.close().await?;
    Ok(())
}
