//! Database connection (SQLite by default, PostgreSQL by configuration) and migration.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, TransactionTrait};
use sea_orm_migration::MigratorTrait;

use crate::config::DatabaseConfig;

/// Returns true for a PostgreSQL URL.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Connects to the configured database. On PostgreSQL the service's schema is created if missing
/// and put first on the search path; on SQLite the file's folder is created if missing.
pub async fn connect(cfg: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    let mut opts = options(cfg);
    if is_postgres(&cfg.url) {
        if !valid_schema(&cfg.schema) {
            return Err(DbErr::Custom(format!(
                "database.schema must be lowercase letters, digits or '_', got {:?}",
                cfg.schema
            )));
        }
        let mut admin_opts = options(cfg);
        admin_opts.max_connections(1).min_connections(0);
        let admin = Database::connect(admin_opts).await?;
        admin
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", cfg.schema))
            .await?;
        admin.close().await?;
        opts.set_schema_search_path(cfg.schema.clone());
    } else if let Some(path) = sqlite_path(&cfg.url)
        && let Some(dir) = std::path::Path::new(&path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbErr::Custom(format!("creating {}: {e}", dir.display())))?;
    }
    let db = Database::connect(opts).await?;
    if !is_postgres(&cfg.url) {
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        db.execute_unprepared("PRAGMA foreign_keys=ON").await?;
    }
    Ok(db)
}

/// Begins a transaction that will write after reading. On SQLite it takes the write lock at
/// BEGIN (IMMEDIATE), so it waits for other writers instead of failing when its read snapshot
/// turns stale ("database is locked", SQLITE_BUSY_SNAPSHOT); PostgreSQL needs nothing special.
pub async fn begin_write(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    if db.get_database_backend() == sea_orm::DbBackend::Sqlite {
        db.begin_with_options(sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
    } else {
        db.begin().await
    }
}

fn options(cfg: &DatabaseConfig) -> ConnectOptions {
    let mut opts = ConnectOptions::new(cfg.url.clone());
    opts.max_connections(cfg.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // Spans per query carry db.system and db.operation, never the statement: a statement built
        // with inline values could hold what a reporter wrote.
        .record_stmt_in_spans(false);
    // sqlx pings every connection it hands out unless told otherwise: one more round trip per
    // transaction. Only a connection idle long enough to have been dropped (by the server, a
    // proxy, a firewall) is checked.
    if cfg.check_idle_secs > 0 {
        opts.test_before_acquire_if_idle_for(Duration::from_secs(cfg.check_idle_secs));
    }
    if !cfg.jit && is_postgres(&cfg.url) {
        // A startup option of every connection (`-c jit=off`), so it holds from the first
        // statement, with no round trip of its own.
        opts.map_sqlx_postgres_opts(|o| o.options([("jit", "off")]));
    }
    opts
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

/// Takes transaction-scoped advisory locks on PostgreSQL, each `(key, exclusive)` exclusively or
/// shared (a key asked for both ways is taken exclusively), all in one statement and in ascending
/// key order, so that two transactions taking theirs this way never wait for each other in a
/// cycle. They are held until the transaction ends. Nothing on SQLite, which serializes writers.
pub async fn advisory_locks<C: ConnectionTrait>(txn: &C, locks: &[(i64, bool)]) -> Result<(), DbErr> {
    if txn.get_database_backend() != sea_orm::DbBackend::Postgres || locks.is_empty() {
        return Ok(());
    }
    let mut wanted = std::collections::BTreeMap::<i64, bool>::new();
    for &(key, exclusive) in locks {
        *wanted.entry(key).or_insert(false) |= exclusive;
    }
    let (keys, exclusive): (Vec<i64>, Vec<bool>) = wanted.into_iter().unzip();
    // unnest gives the rows in array order, and each lock is taken as its row is produced.
    txn.query_one_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT count(CASE WHEN x THEN pg_advisory_xact_lock(k) ELSE pg_advisory_xact_lock_shared(k) END) \
         FROM unnest($1::bigint[], $2::boolean[]) AS t(k, x)",
        [keys.into(), exclusive.into()],
    ))
    .await?;
    Ok(())
}

/// Connects and applies every pending migration of `M`. On PostgreSQL the migration runs in one
/// transaction holding an advisory lock keyed by the schema, so replicas starting together apply
/// it once and the others wait, then find nothing to do.
pub async fn connect_and_migrate<M: MigratorTrait>(
    cfg: &DatabaseConfig,
) -> Result<DatabaseConnection, DbErr> {
    connect_and_migrate_with::<M>(cfg, &[]).await
}

/// [`connect_and_migrate`], with tables that the running service may only read and append to.
/// With `database.migration_url` set (PostgreSQL), migrations run as that (owner) role and the
/// service's role gets SELECT, INSERT, UPDATE, DELETE on its schema's tables except UPDATE,
/// DELETE and TRUNCATE on `append_only`; not owning them, it cannot switch their triggers off.
pub async fn connect_and_migrate_with<M: MigratorTrait>(
    cfg: &DatabaseConfig,
    append_only: &[&str],
) -> Result<DatabaseConnection, DbErr> {
    if cfg.migration_url.is_empty() {
        let db = connect(cfg).await?;
        migrate::<M>(&db, cfg).await?;
        return Ok(db);
    }
    if !is_postgres(&cfg.url) || !is_postgres(&cfg.migration_url) {
        return Err(DbErr::Custom(
            "database.migration_url is for PostgreSQL: set it (and url) to postgres:// URLs, or leave it empty".into(),
        ));
    }
    let owner_cfg = DatabaseConfig {
        url: cfg.migration_url.clone(),
        max_connections: 1,
        migration_url: String::new(),
        ..cfg.clone()
    };
    let owner = connect(&owner_cfg).await?;
    migrate::<M>(&owner, cfg).await?;
    let mut opts = options(cfg);
    opts.set_schema_search_path(cfg.schema.clone());
    let db = Database::connect(opts).await?;
    let role = single_text(&db, "SELECT current_user::text").await?;
    let owner_role = single_text(&owner, "SELECT current_user::text").await?;
    if role == owner_role {
        tracing::warn!(role = %role, "database.migration_url uses the same role as database.url: no separation");
    } else {
        owner
            .execute_unprepared(&grants(&cfg.schema, &role, append_only))
            .await?;
    }
    owner.close().await?;
    Ok(db)
}

async fn migrate<M: MigratorTrait>(db: &DatabaseConnection, cfg: &DatabaseConfig) -> Result<(), DbErr> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let txn = db.begin().await?;
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock(hashtext('lapor-migrate:{}'))",
            cfg.schema
        ))
        .await?;
        M::up(&txn, None).await?;
        txn.commit().await
    } else {
        M::up(db, None).await
    }
}

async fn single_text(db: &DatabaseConnection, sql: &str) -> Result<String, DbErr> {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await?
    .ok_or_else(|| DbErr::Custom(format!("no row from {sql}")))?
    .try_get_by_index(0)
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The grants that give `role` what a running service needs in `schema`.
fn grants(schema: &str, role: &str, append_only: &[&str]) -> String {
    let (s, r) = (ident(schema), ident(role));
    let mut sql = format!(
        "GRANT USAGE ON SCHEMA {s} TO {r}; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}; \
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {r}; "
    );
    for t in append_only {
        sql.push_str(&format!(
            "REVOKE UPDATE, DELETE, TRUNCATE ON {s}.{} FROM {r}; ",
            ident(t)
        ));
    }
    sql
}
