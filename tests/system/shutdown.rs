//! Graceful shutdown, as Kubernetes does it: under a stream of submissions, SIGTERM to each
//! service process in turn. Health answers NOT_SERVING before the listener closes, the process
//! exits 0 within its grace period, it starts again on the same port, and every report intake
//! accepted reaches every service.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapor_platform::Role;
use lapor_proto::common::v1::ReportKind;
use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use lapor_system_tests::process::{ProcessOptions, health};
use lapor_system_tests::{SERVICES, System, authed, eventually};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::submission;

const DRAIN_MS: u64 = 700;
const GRACE_SECS: u64 = 10;

/// Submits reports one after another (two clients), retrying each with its idempotency key until
/// intake answers; returns the ids of those accepted.
fn load(
    endpoint: String,
    token: String,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<String>>>,
    client: usize,
) {
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let key = format!("sigterm-{client}-{n}");
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let answer = match IntakeServiceClient::connect(endpoint.clone()).await {
                    Ok(mut c) => c
                        .submit_report(authed(
                            submission(&key, ReportKind::Pengaduan as i32, "infrastruktur.jalan"),
                            &token,
                        ))
                        .await
                        .map_err(|e| e.code()),
                    Err(_) => Err(tonic::Code::Unavailable),
                };
                match answer {
                    Ok(r) => {
                        accepted.lock().unwrap().push(r.into_inner().report_id);
                        break;
                    }
                    // Draining or restarting: the client retries with the same key.
                    Err(tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(other) => panic!("submission {key} refused: {other:?}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_nothing_and_drains_cleanly() {
    let mut sys = System::start_processes_with(ProcessOptions {
        drain_ms: DRAIN_MS,
        shutdown_grace_secs: GRACE_SECS,
        ..ProcessOptions::default()
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let token = sys.token(Role::Reporter, None);
    for client in 0..2 {
        load(
            sys.addr("intake"),
            token.clone(),
            stop.clone(),
            accepted.clone(),
            client,
        );
    }
    let count = || accepted.lock().unwrap().len();

    for name in SERVICES {
        // Reports keep flowing before the signal.
        let before = count();
        eventually(
            &format!("submissions before stopping {name}"),
            Duration::from_secs(60),
            || {
                let n = count();
                async move { (n >= before + 5).then_some(()) }
            },
        )
        .await;
        let endpoint = sys.addr(name);
        let mut child = sys.take_process(name);

        // Watch health from just before the signal until the port stops answering.
        let watcher = tokio::spawn(async move {
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(GRACE_SECS + 10);
            while tokio::time::Instant::now() < deadline {
                let h = health(&endpoint).await;
                if seen.last() != Some(&h) {
                    seen.push(h);
                }
                if h.is_none() && seen.len() > 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        child.sigterm();
        let code = child
            .wait(Duration::from_secs(GRACE_SECS + DRAIN_MS / 1000 + 10))
            .await;
        assert_eq!(
            code,
            Some(0),
            "{name} exits 0 within its grace period: {:?}",
            sys.lines_of(name).last()
        );
        let seen = watcher.await.unwrap();
        assert_eq!(
            seen,
            [
                Some(ServingStatus::Serving),
                Some(ServingStatus::NotServing),
                None
            ],
            "{name}: SERVING, then NOT_SERVING while the listener still answers, then closed"
        );
        let logs = sys.lines_of(name);
        assert!(
            logs.iter().any(|l| l.contains("health set to NOT_SERVING")),
            "{name} logged its drain: {logs:?}"
        );
        sys.spawn_process(name).await;
    }

    // Load keeps going after the last restart, then stops.
    let before = count();
    eventually("submissions after the restarts", Duration::from_secs(60), || {
        let n = count();
        async move { (n >= before + 5).then_some(()) }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted: BTreeSet<String> = accepted.lock().unwrap().iter().cloned().collect();
    assert!(
        accepted.len() >= 30,
        "a real stream of submissions: {}",
        accepted.len()
    );

    // Every accepted report reached every service.
    for (what, sql) in [
        ("intake", "SELECT id::text FROM intake.reports"),
        ("routing", "SELECT report_id::text FROM routing.queue_reports"),
        ("opd-case", "SELECT report_id::text FROM opd_case.cases"),
        (
            "notification",
            "SELECT DISTINCT report_id::text FROM notification.messages",
        ),
        (
            "sla-monitor",
            "SELECT DISTINCT report_id::text FROM sla_monitor.deadlines",
        ),
    ] {
        eventually(
            &format!("every accepted report at {what}"),
            Duration::from_secs(90),
            || {
                let accepted = &accepted;
                let sys = &sys;
                async move {
                    let have: BTreeSet<String> = sys.sql(sql).await.into_iter().collect();
                    accepted.is_subset(&have).then_some(())
                }
            },
        )
        .await;
    }
    let dead = sys
        .count(
            "SELECT ((SELECT count(*) FROM intake.dead_letters) + (SELECT count(*) FROM routing.dead_letters) \
             + (SELECT count(*) FROM opd_case.dead_letters) + (SELECT count(*) FROM notification.dead_letters) \
             + (SELECT count(*) FROM sla_monitor.dead_letters))::text",
        )
        .await;
    assert_eq!(dead, 0, "nothing dead-lettered across the restarts");
    sys.stop().await;
}
