//! Intake's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

use crate::entities::identity_access;

mod v1;

/// Intake's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Reports),
            Box::new(M0002IdentityAccess),
            Box::new(M0003Holds),
            Box::new(M0004Duplicates),
            Box::new(M0005Status),
            Box::new(M0006TraceId),
            Box::new(lapor_events::migration::OutboxUnsentIndex),
        ]
    }
}

struct M0001Reports;

impl MigrationName for M0001Reports {
    fn name(&self) -> &str {
        "m0001_intake_reports"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0001Reports {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v1::report::Entity).await?;
        create_table(manager, v1::identity::Entity).await
    }
}

struct M0002IdentityAccess;

impl MigrationName for M0002IdentityAccess {
    fn name(&self) -> &str {
        "m0002_identity_access_log"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0002IdentityAccess {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, identity_access::Entity).await
    }
}

struct M0003Holds;

impl MigrationName for M0003Holds {
    fn name(&self) -> &str {
        "m0003_report_holds"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0003Holds {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for mut c in [
            ColumnDef::new(Alias::new("held_at"))
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Alias::new("hold_reason"))
                .string()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("reports"))
                        .add_column(&mut c)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

struct M0004Duplicates;

impl MigrationName for M0004Duplicates {
    fn name(&self) -> &str {
        "m0004_report_duplicate_of"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0004Duplicates {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("reports"))
                    .add_column(
                        ColumnDef::new(Alias::new("duplicate_of_tracking_id"))
                            .string()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }
}

struct M0005Status;

impl MigrationName for M0005Status {
    fn name(&self) -> &str {
        "m0005_report_status"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0005Status {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time. Existing rows start
        // as SUBMITTED at the epoch, so any event about them applies.
        for mut c in [
            ColumnDef::new(Alias::new("status"))
                .string()
                .not_null()
                .default("SUBMITTED")
                .to_owned(),
            ColumnDef::new(Alias::new("status_at"))
                .timestamp_with_time_zone()
                .not_null()
                .default("1970-01-01T00:00:00Z")
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("reports"))
                        .add_column(&mut c)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

struct M0006TraceId;

impl MigrationName for M0006TraceId {
    fn name(&self) -> &str {
        "m0006_report_trace_id"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0006TraceId {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("reports"))
                    .add_column(ColumnDef::new(Alias::new("trace_id")).string().null())
                    .to_owned(),
            )
            .await
    }
}
