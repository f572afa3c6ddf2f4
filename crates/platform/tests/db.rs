//! lapor-platform's database plumbing against the real PostgreSQL. (Apart from the telemetry
//! suite, which installs the process-wide subscriber.)
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lapor_platform::config::DatabaseConfig;
use lapor_testkit::TestEnv;
use sea_orm::{ConnectionTrait, TransactionTrait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TCP proxy in front of PostgreSQL that counts the client's flights: reads of what the
/// client sent. A client that waits for an answer before sending more (a ping before the
/// transaction) makes two flights where one would do.
async fn counting_proxy(upstream: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let flights = Arc::new(AtomicUsize::new(0));
    let counted = flights.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
            });
        }
    });
    (addr.to_string(), flights)
}

/// Flights the client makes for 20 transactions of one statement each, after warming up.
async fn flights_for_20_transactions(env: &TestEnv, check_idle_secs: u64) -> usize {
    let host_port = env
        .db_url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let (proxy, flights) = counting_proxy(host_port.clone()).await;
    let cfg = DatabaseConfig {
        url: env.db_url.replacen(&host_port, &proxy, 1),
        schema: "pool".into(),
        max_connections: 1,
        check_idle_secs,
        ..DatabaseConfig::default()
    };
    let db = lapor_platform::db::connect(&cfg).await.unwrap();
    let one = async || {
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("SELECT 1").await.unwrap();
        txn.commit().await.unwrap();
    };
    one().await;
    let before = flights.load(Ordering::SeqCst);
    for _ in 0..20 {
        one().await;
    }
    let n = flights.load(Ordering::SeqCst) - before;
    db.close().await.unwrap();
    n
}

/// A pooled connection in steady use goes straight to work: no ping (a round trip) before each
/// transaction, as sqlx does by default and as `check_idle_secs = 0` asks, and none when it goes
/// back to the pool with nothing left to send (vendor/README.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_in_steady_use_is_not_pinged_around_each_transaction() {
    let env = TestEnv::new().await.unwrap();
    // BEGIN, the statement, COMMIT: three flights a transaction; a ping on checkout makes four.
    let checked_always = flights_for_20_transactions(&env, 0).await;
    let default = flights_for_20_transactions(&env, DatabaseConfig::default().check_idle_secs).await;
    assert!(
        checked_always >= 80,
        "a ping per checkout was not seen: {checked_always} flights"
    );
    assert!(
        default <= 65,
        "{default} flights for 20 transactions of three statements each"
    );
}

/// A transaction dropped without commit or rollback (its future cancelled, a handler's early
/// return) is rolled back as its connection goes back to the pool, not when the connection is
/// next used: its locks are free at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_releases_its_locks_at_once() {
    let env = TestEnv::new().await.unwrap();
    let cfg = DatabaseConfig {
        url: env.db_url.clone(),
        schema: "pool".into(),
        max_connections: 1,
        ..DatabaseConfig::default()
    };
    let db = lapor_platform::db::connect(&cfg).await.unwrap();
    let other = lapor_platform::db::connect(&cfg).await.unwrap();
    let free = || async {
        other
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock(4242) AS free",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<bool>("", "free")
            .unwrap()
    };
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("SELECT pg_advisory_xact_lock(4242)")
        .await
        .unwrap();
    assert!(!free().await, "held by the open transaction");
    drop(txn);
    // The pool does its release in the background; nothing else uses `db` from here on.
    lapor_testkit::eventually("the lock released", std::time::Duration::from_secs(2), || async {
        free().await.then_some(())
    })
    .await;
    db.close().await.unwrap();
    other.close().await.unwrap();
}

/// What `jit` is on a pooled connection, and where the setting came from.
async fn jit_on_connection(env: &TestEnv, jit: bool) -> (String, String) {
    let cfg = DatabaseConfig {
        url: env.db_url.clone(),
        schema: "jit".into(),
        max_connections: 1,
        jit,
        ..DatabaseConfig::default()
    };
    let db = lapor_platform::db::connect(&cfg).await.unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT setting, source FROM pg_settings WHERE name = 'jit'",
        ))
        .await
        .unwrap()
        .unwrap();
    let got = (
        row.try_get::<String>("", "setting").unwrap(),
        row.try_get::<String>("", "source").unwrap(),
    );
    db.close().await.unwrap();
    got
}

/// The services' connections run with PostgreSQL's JIT off (on an analyzed table, compiling
/// routing's scan took 28.5 ms an execution against 0.6 ms of work), set by the client at
/// connection start; with `database.jit = true` the server's own setting holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_run_without_jit_unless_configured() {
    let env = TestEnv::new().await.unwrap();
    let (setting, source) = jit_on_connection(&env, DatabaseConfig::default().jit).await;
    assert_eq!((setting.as_str(), source.as_str()), ("off", "client"));
    let (_, source) = jit_on_connection(&env, true).await;
    assert_ne!(
        source, "client",
        "database.jit = true still set jit on the connection"
    );
}
