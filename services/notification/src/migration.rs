//! Notification's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

use crate::entities::{credential, delivery, message, rule, template};

/// Notification's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Messages),
            Box::new(M0002Deliveries),
            Box::new(M0003Templates),
            Box::new(M0004Credentials),
            Box::new(M0005Rules),
        ]
    }
}

struct M0001Messages;

impl MigrationName for M0001Messages {
    fn name(&self) -> &str {
        "m0001_messages"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0001Messages {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, message::Entity).await
    }
}

struct M0002Deliveries;

impl MigrationName for M0002Deliveries {
    fn name(&self) -> &str {
        "m0002_deliveries"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0002Deliveries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, delivery::Entity).await
    }
}

struct M0003Templates;

impl MigrationName for M0003Templates {
    fn name(&self) -> &str {
        "m0003_templates"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0003Templates {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, template::Entity).await
    }
}

struct M0004Credentials;

impl MigrationName for M0004Credentials {
    fn name(&self) -> &str {
        "m0004_reporter_credentials"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0004Credentials {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, credential::Entity).await
    }
}

struct M0005Rules;

impl MigrationName for M0005Rules {
    fn name(&self) -> &str {
        "m0005_rules"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0005Rules {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, rule::Entity).await
    }
}
