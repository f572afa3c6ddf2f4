//! Intake's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

use crate::entities::{identity, report};

/// Intake's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(EventTables), Box::new(M0001Reports)]
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
        create_table(manager, report::Entity).await?;
        create_table(manager, identity::Entity).await
    }
}
