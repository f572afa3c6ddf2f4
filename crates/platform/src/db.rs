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
    let mut opts = ConnectOptions::new(cfg.url.clone());
    opts.max_connections(cfg.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if is_postgres(&cfg.url) {
        if !valid_schema(&cfg.schema) {
            return Err(DbErr::Custom(format!(
                "database.schema must be lowercase letters, digits or '_', got {:?}",
                cfg.schema
            )));
        }
        let admin = Database::connect(cfg.url.clone()).await?;
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

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

/// Connects and applies every pending migration of `M`. On PostgreSQL the migration runs in one
/// transaction holding an advisory lock keyed by the schema, so replicas starting together apply
/// it once and the others wait, then find nothing to do.
pub async fn connect_and_migrate<M: MigratorTrait>(
    cfg: &DatabaseConfig,
) -> Result<DatabaseConnection, DbErr> {
    let db = connect(cfg).await?;
    if is_postgres(&cfg.url) {
        let txn = db.begin().await?;
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock(hashtext('lapor-migrate:{}'))",
            cfg.schema
        ))
        .await?;
        M::up(&txn, None).await?;
        txn.commit().await?;
    } else {
        M::up(&db, None).await?;
    }
    Ok(db)
}
