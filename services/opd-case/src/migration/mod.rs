//! opd-case's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

mod v1;

/// opd-case's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Cases),
            Box::new(M0002Transfers),
            Box::new(M0003FollowUps),
        ]
    }
}

struct M0001Cases;

impl MigrationName for M0001Cases {
    fn name(&self) -> &str {
        "m0001_cases"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0001Cases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v1::case::Entity).await
    }
}

struct M0002Transfers;

impl MigrationName for M0002Transfers {
    fn name(&self) -> &str {
        "m0002_case_transfers"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0002Transfers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for mut c in [
            ColumnDef::new(Alias::new("transferred_at"))
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Alias::new("transfer_reason"))
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Alias::new("transferred_by"))
                .string()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("cases"))
                        .add_column(&mut c)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

struct M0003FollowUps;

impl MigrationName for M0003FollowUps {
    fn name(&self) -> &str {
        "m0003_follow_ups"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0003FollowUps {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("cases"))
                    .add_column(
                        ColumnDef::new(Alias::new("last_follow_up_at"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        create_table(manager, crate::entities::follow_up::Entity).await
    }
}
