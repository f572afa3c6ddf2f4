//! `lapor-loadgen`: the workspace's load generator for `make bench` (scripts/bench.sh).
//!
//! - `ready`: waits until a service answers SERVING, prints the wait in ms.
//! - `submit`: submits N reports to intake over gRPC, closed loop at concurrency C or open loop at
//!   a fixed arrival rate, then waits until each report has been dispatched by routing, opened as
//!   a case by opd-case, notified to its reporter by notification and given its follow-up
//!   deadline by sla-monitor ("reporter notified" = the reporter's `case_opened` message), and prints one JSON object: submit latency percentiles (open loop:
//!   from the scheduled time, so a stall is not hidden), throughput, errors, and the end-to-end
//!   percentiles of each stage from the services' own commit timestamps.
//! - `delete-stream`: removes a benchmark's stream afterwards.
//! - `js-baseline`: JetStream publish-with-ack rate on a scratch stream, same message size and
//!   concurrency, for the ratio of the relay's throughput to the bus's.
#![allow(clippy::print_stdout)] // a benchmark tool reports on stdout

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use lapor_proto::intake::v1 as pi;
use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "lapor load generator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Wait until a gRPC endpoint answers SERVING; print the wait in ms.
    Ready {
        #[arg(long)]
        endpoint: String,
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// Submit reports and measure.
    Submit {
        /// intake's gRPC endpoint.
        #[arg(long)]
        intake: String,
        /// PostgreSQL URL of the database the services share (one schema each); required unless
        /// --intake-only.
        #[arg(long)]
        db: Option<String>,
        /// Measure intake alone: do not wait for (or read) the rest of the pipeline.
        #[arg(long)]
        intake_only: bool,
        /// Reports to submit.
        #[arg(long, default_value_t = 2000)]
        reports: usize,
        /// Requests in flight at most.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Open loop: arrivals per second (0 = closed loop).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// A name for this run in the JSON.
        #[arg(long, default_value = "run")]
        label: String,
        /// How long to wait for the pipeline to finish after the last submission.
        #[arg(long, default_value_t = 300)]
        drain_timeout_secs: u64,
        /// Side, in degrees, of the square the reports' map points are spread over, centred on
        /// Bontang. 0.15 (the default) is the city itself: hundreds of thousands of reports in
        /// it are far denser than the city's own, and routing's duplicate scan grows with that
        /// (BENCHMARKS.md, twenty-third session); a larger square spreads them as a province's
        /// or a nation's service would receive them.
        #[arg(long, default_value_t = 0.15, value_parser = area_deg)]
        area_deg: f64,
    },
    /// JetStream publish-with-ack baseline.
    JsBaseline {
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats: String,
        #[arg(long, default_value_t = 20000)]
        messages: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 700)]
        bytes: usize,
    },
    /// Delete a JetStream stream (a benchmark's, afterwards).
    DeleteStream {
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats: String,
        #[arg(long)]
        name: String,
    },
}

/// Percentiles of a sample, in ms.
fn percentiles(mut v: Vec<f64>) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::json!({"n": 0});
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    let r = |x: f64| (x * 100.0).round() / 100.0;
    serde_json::json!({
        "n": v.len(),
        "p50_ms": r(at(0.5)),
        "p90_ms": r(at(0.9)),
        "p99_ms": r(at(0.99)),
        "max_ms": r(at(1.0)),
    })
}

/// Leaf categories the Bontang rules dispatch automatically.
const CATEGORIES: [&str; 12] = [
    "infrastruktur.jalan",
    "infrastruktur.drainase",
    "infrastruktur.penerangan",
    "kesehatan.puskesmas",
    "kesehatan.rumah-sakit",
    "pendidikan",
    "adminduk.ktp-el",
    "adminduk.akta",
    "perizinan",
    "lingkungan-hidup.sampah",
    "perhubungan",
    "air-minum",
];

/// `--area-deg`: a side between 0.000001 and 10 degrees (the square stays inside valid
/// coordinates, and a point has a micro-degree resolution).
fn area_deg(s: &str) -> Result<f64, String> {
    let side: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.000_001..=10.0).contains(&side) {
        Ok(side)
    } else {
        Err(format!("{side} is not between 0.000001 and 10"))
    }
}

/// A pseudo-random stream from `seed` (xorshift), for varied but reproducible content.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Report `i` of a run: realistic size, its own words (unlike any other report's), the next of
/// the 12 categories, and a place in the square of `area_deg` around Bontang.
fn request(i: usize, run: &str, area_deg: f64) -> pi::SubmitReportRequest {
    // Seeded by the run too: runs in one database must not repeat each other's reports (they
    // would be found as duplicates of one another).
    let run_seed = run.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut next = rng(run_seed ^ (i as u64 + 1));
    let word = |next: &mut dyn FnMut() -> u64| -> String {
        let n = 4 + (next() % 6) as usize;
        (0..n).map(|_| char::from(b'a' + (next() % 26) as u8)).collect()
    };
    let title: Vec<String> = (0..5).map(|_| word(&mut next)).collect();
    let body: Vec<String> = (0..28).map(|_| word(&mut next)).collect();
    // Bontang spans roughly 0.05-0.20 N, 117.40-117.55 E: a square of `area_deg` around its
    // centre, in micro-degrees (the default 0.15 gives the points it gave before the option, to
    // within rounding).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let steps = ((area_deg * 1_000_000.0).round() as u64).max(1);
    let lat = 0.125 - area_deg / 2.0 + (next() % steps) as f64 / 1_000_000.0;
    let lon = 117.475 - area_deg / 2.0 + (next() % steps) as f64 / 1_000_000.0;
    pi::SubmitReportRequest {
        idempotency_key: format!("bench-{run}-{i}"),
        kind: lapor_proto::common::v1::ReportKind::Pengaduan as i32,
        title: format!("Laporan {}", title.join(" ")),
        body: format!("Mohon ditindaklanjuti: {}.", body.join(" ")),
        category_id: CATEGORIES[i % CATEGORIES.len()].into(),
        incident_date: String::new(),
        location: Some(lapor_proto::common::v1::Location {
            text: format!("Jl. {} no. {}", word(&mut next), next() % 200),
            latitude: Some(lat),
            longitude: Some(lon),
            kecamatan: "Bontang Utara".into(),
            kelurahan: "Api-Api".into(),
        }),
        anonim: false,
        rahasia: false,
        channel: lapor_proto::common::v1::Channel::Web as i32,
        reporter: Some(pi::ReporterContact {
            name: "Warga Uji Beban".into(),
            nik: String::new(),
            phone: "0812 5555 0101".into(),
            email: "warga@example.org".into(),
        }),
    }
}

struct Outcome {
    latencies_ms: Vec<f64>,
    report_ids: Vec<String>,
    errors: usize,
}

async fn submit(
    intake: &str,
    reports: usize,
    concurrency: usize,
    rate: f64,
    run: &str,
    area_deg: f64,
) -> anyhow::Result<(Outcome, Duration)> {
    let auth = lapor_platform::config::AuthConfig::default();
    let token = lapor_platform::auth::mint(&auth, "loadgen", lapor_platform::Role::Reporter, None, 7200)?;
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    let channel = tonic::transport::Channel::from_shared(intake.to_owned())?
        .connect()
        .await
        .context("connecting to intake")?;
    let out = Arc::new(Mutex::new(Outcome {
        latencies_ms: Vec::with_capacity(reports),
        report_ids: Vec::with_capacity(reports),
        errors: 0,
    }));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, bearer, out, next, run) = (
            IntakeServiceClient::new(channel.clone()),
            bearer.clone(),
            out.clone(),
            next.clone(),
            run.to_owned(),
        );
        workers.push(tokio::spawn(async move {
            let mut client = client;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= reports {
                    return;
                }
                // Open loop: request i is due at i / rate; latency counts from then.
                let due = if rate > 0.0 {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                    due
                } else {
                    Instant::now()
                };
                let mut req = tonic::Request::new(request(i, &run, area_deg));
                req.metadata_mut().insert("authorization", bearer.clone());
                let answer = client.submit_report(req).await;
                let ms = due.elapsed().as_secs_f64() * 1000.0;
                let mut o = out.lock().await;
                match answer {
                    Ok(r) => {
                        o.latencies_ms.push(ms);
                        o.report_ids.push(r.into_inner().report_id);
                    }
                    Err(_) => o.errors += 1,
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let elapsed = started.elapsed();
    let out = Arc::try_unwrap(out)
        .map_err(|_| anyhow::anyhow!("workers still hold the outcome"))?
        .into_inner();
    Ok((out, elapsed))
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// What the services' own commit timestamps say about a run's reports.
struct Stages {
    /// Percentiles of each stage's time from submission.
    json: serde_json::Value,
    /// The earliest submission, the latest submission and the latest last stage (epoch
    /// seconds), when every report has passed all four stages.
    span: Option<(f64, f64, f64)>,
}

/// End-to-end times of every stage, from the services' own commit timestamps.
async fn stages(db: &sea_orm::DatabaseConnection, ids: &[String]) -> anyhow::Result<Stages> {
    let list = ids.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT extract(epoch FROM t.dispatched - t.submitted)::float8 * 1000, \
                extract(epoch FROM t.opened - t.submitted)::float8 * 1000, \
                extract(epoch FROM t.notified - t.submitted)::float8 * 1000, \
                extract(epoch FROM t.deadline - t.submitted)::float8 * 1000, \
                extract(epoch FROM t.submitted)::float8, \
                extract(epoch FROM greatest(t.dispatched, t.opened, t.notified, t.deadline))::float8 \
         FROM (SELECT r.submitted_at AS submitted, q.dispatched_at AS dispatched, \
                c.opened_at AS opened, \
                (SELECT min(m.created_at) FROM notification.messages m \
                    WHERE m.report_id = r.id AND m.recipient_kind = 'reporter' \
                    AND m.template = 'case_opened') AS notified, \
                (SELECT min(d.computed_at) FROM sla_monitor.deadlines d \
                    WHERE d.report_id = r.id AND d.opd_id IS NOT NULL) AS deadline \
             FROM intake.reports r \
             JOIN routing.queue_reports q ON q.report_id = r.id \
             JOIN opd_case.cases c ON c.report_id = r.id \
             WHERE r.id IN ({list})) t"
    );
    let rows = db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    let mut cols: [Vec<f64>; 4] = Default::default();
    let (mut first, mut last, mut done) = (f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for row in rows {
        for (k, col) in cols.iter_mut().enumerate() {
            if let Ok(Some(v)) = row.try_get_by_index::<Option<f64>>(k) {
                col.push(v);
            }
        }
        let submitted = row.try_get_by_index::<f64>(4)?;
        first = first.min(submitted);
        last = last.max(submitted);
        if let Some(d) = row.try_get_by_index::<Option<f64>>(5)? {
            done = done.max(d);
        }
    }
    // greatest() skips NULLs: the span counts only when every report has all four stages.
    let all_done = !ids.is_empty() && cols.iter().all(|c| c.len() == ids.len());
    let [dispatched, opened, notified, deadline] = cols;
    Ok(Stages {
        json: serde_json::json!({
            "submit_to_dispatched": percentiles(dispatched),
            "submit_to_case_opened": percentiles(opened),
            "submit_to_reporter_notified": percentiles(notified),
            "submit_to_deadline_recorded": percentiles(deadline),
        }),
        span: all_done.then_some((first, last, done)),
    })
}

/// Reports [`wait_pipeline`] checks in one poll.
const POLL_BATCH: u64 = 2000;

/// Waits until every report of `ids` has passed all four stages, or `timeout`. The ids go once
/// into a scratch table; each poll looks at the oldest [`POLL_BATCH`] still pending and removes
/// those that are done, so a poll costs the same whatever the run's size; the next poll follows
/// at once when this one removed a full batch, otherwise after 100 ms. (It used to
/// count over the whole list in an `IN (...)` every poll: with 90,000 reports the polling itself
/// took a core of PostgreSQL and slowed the drain it measured.)
async fn wait_pipeline(
    db: &sea_orm::DatabaseConnection,
    run: &str,
    ids: &[String],
    timeout: Duration,
) -> anyhow::Result<(bool, Duration)> {
    let table = format!("public.loadgen_pending_{}", run.replace('-', "_"));
    db.execute_unprepared(&format!(
        "CREATE UNLOGGED TABLE {table} (seq bigint PRIMARY KEY, report_id uuid NOT NULL)"
    ))
    .await?;
    for (n, chunk) in ids.chunks(10_000).enumerate() {
        let values = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| format!("({}, '{id}')", n * 10_000 + i))
            .collect::<Vec<_>>()
            .join(",");
        db.execute_unprepared(&format!("INSERT INTO {table} (seq, report_id) VALUES {values}"))
            .await?;
    }
    let started = Instant::now();
    let probe = format!(
        "WITH oldest AS (SELECT seq, report_id FROM {table} ORDER BY seq LIMIT {POLL_BATCH}) \
         DELETE FROM {table} WHERE seq IN (SELECT o.seq FROM oldest o WHERE \
         EXISTS (SELECT 1 FROM routing.queue_reports q WHERE q.report_id = o.report_id \
           AND q.dispatched_at IS NOT NULL) \
         AND EXISTS (SELECT 1 FROM opd_case.cases c WHERE c.report_id = o.report_id) \
         AND EXISTS (SELECT 1 FROM notification.messages m WHERE m.report_id = o.report_id \
           AND m.recipient_kind = 'reporter' AND m.template = 'case_opened') \
         AND EXISTS (SELECT 1 FROM sla_monitor.deadlines d WHERE d.report_id = o.report_id \
           AND d.opd_id IS NOT NULL))"
    );
    let pending = format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1) x");
    let outcome = loop {
        let removed = db.execute_unprepared(&probe).await?.rows_affected();
        if count(db, &pending).await? == 0 {
            break (true, started.elapsed());
        }
        if started.elapsed() > timeout {
            break (false, started.elapsed());
        }
        if removed < POLL_BATCH {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    db.execute_unprepared(&format!("DROP TABLE {table}")).await?;
    Ok(outcome)
}

async fn js_baseline(
    url: &str,
    messages: usize,
    concurrency: usize,
    bytes: usize,
) -> anyhow::Result<serde_json::Value> {
    let client = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(client);
    let name = format!("LAPOR_BENCH_{}", uuid::Uuid::new_v4().simple());
    let subject = format!("{}.events", name.to_lowercase());
    js.create_stream(async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let payload = bytes::Bytes::from(vec![b'x'; bytes]);
    let started = Instant::now();
    let mut acks = futures::stream::FuturesOrdered::new();
    let mut done = 0usize;
    use futures::StreamExt as _;
    for i in 0..messages {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{name}-{i}").as_str());
        acks.push_back(std::future::IntoFuture::into_future(
            js.publish_with_headers(subject.clone(), headers, payload.clone())
                .await?,
        ));
        if acks.len() >= concurrency.max(1)
            && let Some(a) = acks.next().await
        {
            a?;
            done += 1;
        }
    }
    while let Some(a) = acks.next().await {
        a?;
        done += 1;
    }
    let elapsed = started.elapsed();
    js.delete_stream(&name).await?;
    Ok(serde_json::json!({
        "bench": "jetstream_publish_ack",
        "messages": done,
        "concurrency": concurrency,
        "bytes": bytes,
        "seconds": elapsed.as_secs_f64(),
        "msgs_per_sec": (done as f64 / elapsed.as_secs_f64()).round(),
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Ready {
            endpoint,
            timeout_secs,
        } => {
            use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
            let started = Instant::now();
            loop {
                if let Ok(ch) = tonic::transport::Channel::from_shared(endpoint.clone())?
                    .connect()
                    .await
                    && let Ok(r) = HealthClient::new(ch)
                        .check(HealthCheckRequest {
                            service: String::new(),
                        })
                        .await
                    && r.into_inner().status == 1
                {
                    break;
                }
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(timeout_secs),
                    "{endpoint} not SERVING after {timeout_secs} s"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            println!("{}", started.elapsed().as_millis());
        }
        Cmd::Submit {
            intake,
            db,
            reports,
            concurrency,
            rate,
            label,
            drain_timeout_secs,
            intake_only,
            area_deg,
        } => {
            let run = format!("{label}-{}", uuid::Uuid::new_v4().simple());
            anyhow::ensure!(
                intake_only || db.is_some(),
                "--db is required unless --intake-only"
            );
            let (out, elapsed) = submit(&intake, reports, concurrency, rate, &run, area_deg).await?;
            let accepted_per_sec = out.report_ids.len() as f64 / elapsed.as_secs_f64();
            let mut result = serde_json::json!({
                "bench": if intake_only { "intake_only" } else { "system_submit" },
                "label": label,
                "reports": reports,
                "concurrency": concurrency,
                "rate_per_sec": rate,
                "area_deg": area_deg,
                "accepted": out.report_ids.len(),
                "errors": out.errors,
                "submit_seconds": elapsed.as_secs_f64(),
                "accepted_per_sec": accepted_per_sec.round(),
                "submit_latency": percentiles(out.latencies_ms),
            });
            let Some(db) = db.filter(|_| !intake_only) else {
                println!("{result}");
                return Ok(());
            };
            let db = Database::connect(db).await?;
            let (complete, drain) = wait_pipeline(
                &db,
                &run,
                &out.report_ids,
                Duration::from_secs(drain_timeout_secs),
            )
            .await?;
            let stages = stages(&db, &out.report_ids).await?;
            if let Some(fields) = result.as_object_mut() {
                fields.insert("pipeline_complete".into(), complete.into());
                // From the services' commit timestamps: the first submission to the last
                // report's last stage. (Until the twenty-second session both figures came from
                // `wait_pipeline`, whose own pace put a floor under the drain: 19.5 s for
                // 300,000 reports that had all finished within 0.42 s of their submission.)
                if let Some((first, last, done)) = stages.span {
                    fields.insert(
                        "end_to_end_per_sec".into(),
                        (out.report_ids.len() as f64 / (done - first)).round().into(),
                    );
                    fields.insert(
                        "drain_seconds_after_last_submit".into(),
                        (done - last).max(0.0).into(),
                    );
                } else {
                    // Some report never finished (see pipeline_complete): no rate to give.
                    fields.insert("end_to_end_per_sec".into(), serde_json::Value::Null);
                    fields.insert("drain_seconds_after_last_submit".into(), serde_json::Value::Null);
                }
                // How long the load generator took to see every report through (its polling
                // included): no measure of the pipeline, a check that it finished.
                fields.insert("completion_check_seconds".into(), drain.as_secs_f64().into());
                fields.insert("stages".into(), stages.json);
            }
            println!("{result}");
        }
        Cmd::JsBaseline {
            nats,
            messages,
            concurrency,
            bytes,
        } => println!("{}", js_baseline(&nats, messages, concurrency, bytes).await?),
        Cmd::DeleteStream { nats, name } => {
            let js = async_nats::jetstream::new(async_nats::connect(nats).await?);
            js.delete_stream(&name).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every point inside the square asked for, and the default's square is Bontang's.
    #[test]
    fn points_stay_in_the_square_around_bontang() {
        for side in [0.15, 0.75, 0.000_001, 10.0] {
            for i in 0..2_000 {
                let p = request(i, "t", side)
                    .location
                    .and_then(|l| l.latitude.zip(l.longitude));
                let (lat, lon) = p.unwrap();
                assert!((lat - 0.125).abs() <= side / 2.0 + 1e-9, "{side}: {lat}");
                assert!((lon - 117.475).abs() <= side / 2.0 + 1e-9, "{side}: {lon}");
                if side == 0.15 {
                    assert!((0.05..0.20).contains(&lat) && (117.40..117.55).contains(&lon));
                }
            }
        }
    }

    #[test]
    fn the_area_is_a_sane_number_of_degrees() {
        assert_eq!(area_deg("0.75"), Ok(0.75));
        assert!(area_deg("0").is_err());
        assert!(area_deg("-1").is_err());
        assert!(area_deg("11").is_err());
        assert!(area_deg("NaN").is_err());
        assert!(area_deg("wide").is_err());
    }
}
