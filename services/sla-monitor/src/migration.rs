//! SLA monitor's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

use crate::entities::{deadline, pause};

/// SLA monitor's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Deadlines),
            Box::new(M0002Pauses),
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
        create_table(manager, deadline::Entity).await
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
        create_table(manager, pause::Entity).await
    }
}
