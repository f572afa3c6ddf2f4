//! Intake's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

use crate::entities::{identity, identity_access, report};

/// Intake's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Reports),
            Box::new(M0002IdentityAccess),
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
        create_table(manager, report::Entity).await?;
        create_table(manager, identity::Entity).await
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
