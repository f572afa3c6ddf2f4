//! SLA monitor's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

mod v1;
mod v4;
mod v5;
mod v6;

/// SLA monitor's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Deadlines),
            Box::new(M0002Pauses),
            Box::new(M0003PauseSteps),
            Box::new(M0004Facts),
            Box::new(M0005AlertsLedger),
            Box::new(M0006CalendarVersions),
            Box::new(lapor_events::migration::OutboxUnsentIndex),
            Box::new(M0007WriteIndexes),
        ]
    }
}

struct M0001Deadlines;

impl MigrationName for M0001Deadlines {
    fn name(&self) -> &str {
        "m0001_deadlines"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0001Deadlines {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v1::deadline::Entity).await
    }
}

struct M0002Pauses;

impl MigrationName for M0002Pauses {
    fn name(&self) -> &str {
        "m0002_pauses"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0002Pauses {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v2::pause::Entity).await
    }
}

struct M0003PauseSteps;

impl MigrationName for M0003PauseSteps {
    fn name(&self) -> &str {
        "m0003_pause_steps"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0003PauseSteps {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Every pause before this migration was a Tunda, which stops the verification clock.
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("pauses"))
                    .add_column(
                        ColumnDef::new(Alias::new("step"))
                            .string()
                            .not_null()
                            .default("VERIFICATION"),
                    )
                    .to_owned(),
            )
            .await
    }
}

/// Frozen snapshot of `pauses` as m0002 created it. Never edit.
mod v2 {
    /// `pauses`.
    pub mod pause {
        use sea_orm::entity::prelude::*;

        /// One pause.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "pauses")]
        pub struct Model {
            /// `report_id:held_at` (microseconds).
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            /// Report.
            #[sea_orm(indexed)]
            pub report_id: Uuid,
            /// When the hold began.
            pub held_at: DateTimeUtc,
            /// When the reporter completed it.
            pub resumed_at: Option<DateTimeUtc>,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

struct M0004Facts;

impl MigrationName for M0004Facts {
    fn name(&self) -> &str {
        "m0004_facts"
    }
}

/// A stable id for a fact converted from a pre-m0004 row.
fn legacy_id(key: &str) -> uuid::Uuid {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("lapor-sla-legacy:{key}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    uuid::Uuid::from_bytes(b)
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0004Facts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use chrono::{DateTime, Utc};
        use lapor_domain::deadlines::Fact;
        use sea_orm::{ActiveModelTrait, EntityTrait, Set};
        create_table(manager, v4::fact::Entity).await?;
        // Deadlines become derived data: turn what the old rows knew into facts, so no history is
        // lost, then rebuild the table (the service recomputes it from the facts at start).
        let db = manager.get_connection();
        let old = v1::deadline::Entity::find().all(db).await?;
        let pauses = db
            .query_all_raw(sea_orm::Statement::from_string(
                manager.get_database_backend(),
                "SELECT id, report_id, held_at, resumed_at, step FROM pauses".to_owned(),
            ))
            .await?;
        let mut facts: Vec<(String, uuid::Uuid, Fact)> = Vec::new();
        let submitted: std::collections::HashMap<uuid::Uuid, DateTime<Utc>> = old
            .iter()
            .filter(|d| d.step == "VERIFICATION")
            .map(|d| (d.report_id, d.started_at))
            .collect();
        for d in &old {
            let kind = lapor_domain::ReportKind::Pengaduan;
            match d.step.as_str() {
                "VERIFICATION" => {
                    facts.push((
                        format!("{}:submitted", d.id),
                        d.report_id,
                        Fact::Submitted {
                            at: d.started_at,
                            kind,
                        },
                    ));
                    let dispatched = old
                        .iter()
                        .any(|x| x.report_id == d.report_id && x.step == "FIRST_FOLLOW_UP");
                    if let (Some(m), false) = (d.met_at, dispatched) {
                        facts.push((format!("{}:decided", d.id), d.report_id, Fact::Decided { at: m }));
                    }
                }
                "FIRST_FOLLOW_UP" => {
                    let Some(opd) = d
                        .opd_id
                        .as_deref()
                        .and_then(|o| o.parse::<lapor_domain::OpdId>().ok())
                    else {
                        continue;
                    };
                    facts.push((
                        format!("{}:dispatched", d.id),
                        d.report_id,
                        Fact::Dispatched {
                            opd: opd.clone(),
                            at: d.started_at,
                            submitted_at: submitted.get(&d.report_id).copied().unwrap_or(d.started_at),
                            kind,
                        },
                    ));
                    if let Some(m) = d.met_at {
                        facts.push((
                            format!("{}:followed", d.id),
                            d.report_id,
                            Fact::FollowedUp { opd, at: m },
                        ));
                    }
                }
                _ => {}
            }
        }
        for p in &pauses {
            let id: String = p.try_get("", "id")?;
            let report: uuid::Uuid = p.try_get("", "report_id")?;
            let from: DateTime<Utc> = p.try_get("", "held_at")?;
            let to: Option<DateTime<Utc>> = p.try_get("", "resumed_at")?;
            let step: String = p.try_get("", "step")?;
            let holder = old
                .iter()
                .find(|d| d.report_id == report && d.step == "FIRST_FOLLOW_UP")
                .and_then(|d| {
                    d.opd_id
                        .as_deref()
                        .and_then(|o| o.parse::<lapor_domain::OpdId>().ok())
                });
            match (step.as_str(), holder) {
                ("FIRST_FOLLOW_UP", Some(opd)) => {
                    facts.push((format!("{id}:ask"), report, Fact::AskStarted { opd, from }));
                    if let Some(to) = to {
                        facts.push((format!("{id}:answered"), report, Fact::AskEnded { from, to }));
                    }
                }
                ("VERIFICATION", _) => {
                    facts.push((format!("{id}:hold"), report, Fact::HoldStarted { from }));
                    if let Some(to) = to {
                        facts.push((format!("{id}:completed"), report, Fact::HoldEnded { from, to }));
                    }
                }
                _ => {}
            }
        }
        let now = Utc::now();
        for (key, report, fact) in facts {
            let body = serde_json::to_string(&fact).map_err(|e| DbErr::Custom(e.to_string()))?;
            v4::fact::ActiveModel {
                event_id: Set(legacy_id(&key)),
                report_id: Set(report),
                at: Set(fact.at()),
                kind: Set(crate::facts::kind_of(&fact).to_owned()),
                body: Set(body),
                recorded_at: Set(now),
            }
            .insert(db)
            .await?;
        }
        manager
            .drop_table(Table::drop().table(Alias::new("pauses")).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("deadlines")).to_owned())
            .await?;
        create_table(manager, v4::deadline::Entity).await?;
        create_table(manager, v4::change::Entity).await?;
        create_table(manager, v4::settings::Entity).await
    }
}

struct M0005AlertsLedger;

impl MigrationName for M0005AlertsLedger {
    fn name(&self) -> &str {
        "m0005_alerts_ledger"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0005AlertsLedger {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v5::alert::Entity).await?;
        create_table(manager, v5::ledger::Entity).await?;
        let db = manager.get_connection();
        // Open deadlines by due time: the sweep reads only these, however long the history.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_deadlines_open_due ON deadlines (due_at) \
             WHERE met_at IS NULL AND ended_at IS NULL",
        )
        .await?;
        // The ledger is append-only for everyone who connects normally (the service's role
        // included); only someone who can switch triggers off (a superuser with
        // session_replication_role) can change it, and the verifier shows where.
        match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'the SLA ledger is append-only'; END $$",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger \
                     FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()",
                )
                .await?;
            }
            _ => {
                for op in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER IF NOT EXISTS ledger_no_{} BEFORE {op} ON ledger \
                         BEGIN SELECT RAISE(ABORT, 'the SLA ledger is append-only'); END",
                        op.to_lowercase()
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }
}

struct M0006CalendarVersions;

impl MigrationName for M0006CalendarVersions {
    fn name(&self) -> &str {
        "m0006_calendar_versions"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0006CalendarVersions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v6::calendar_version::Entity).await
    }
}

struct M0007WriteIndexes;

impl MigrationName for M0007WriteIndexes {
    fn name(&self) -> &str {
        "m0007_write_indexes"
    }
}

/// Fewer index entries per deadline written (measured by the recompute benchmark, then an
/// example and now `benches/sla.rs`; BENCHMARKS.md "Twelfth session"):
/// - drops two indexes no query reads: `deadlines (opd_id)` (deadlines are read by report, by
///   due time or, for the gauges, all open ones; an OPD filter is applied to those) and
///   `deadline_changes (deadline_id)` (the moves are read by report);
/// - replaces the index of every deadline by due time with one of the closed deadlines (met or
///   ended) by due time. With `idx_deadlines_open_due` (m0005) the two partial indexes cover
///   every deadline once, so the compliance report reads both, but a deadline enters only the one
///   whose condition it meets. With the two drops, an open deadline whose due time moves (a
///   calendar change moves nearly all of them) is written to three indexes of `deadlines` instead
///   of five; a closed one keeps its due time when settings change.
#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0007WriteIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Same SQL in PostgreSQL and SQLite; unqualified names, so the service's schema holds them.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_deadlines_closed_due ON deadlines (due_at) \
             WHERE met_at IS NOT NULL OR ended_at IS NOT NULL",
        )
        .await?;
        for index in [
            "idx-deadlines-due_at",
            "idx-deadlines-opd_id",
            "idx-deadline_changes-deadline_id",
        ] {
            db.execute_unprepared(&format!(r#"DROP INDEX IF EXISTS "{index}""#))
                .await?;
        }
        Ok(())
    }
}
