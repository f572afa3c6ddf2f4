//! opd-case's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

use crate::entities::case;

/// opd-case's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(EventTables), Box::new(M0001Cases)]
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
        create_table(manager, case::Entity).await
    }
}
