//! Migration creating the event tables, and a helper that creates any entity's table with its
//! indexes. Services list [`EventTables`] first in their migrator.

use sea_orm::{EntityTrait, Schema};
use sea_orm_migration::prelude::*;

use crate::entities::{dead_letter, outbox, processed_event};

/// Creates the table of `entity` (and its declared indexes) if it does not exist.
pub async fn create_table<E: EntityTrait>(manager: &SchemaManager<'_>, entity: E) -> Result<(), DbErr> {
    let schema = Schema::new(manager.get_database_backend());
    let mut table = schema.create_table_from_entity(entity);
    manager.create_table(table.if_not_exists().to_owned()).await?;
    for mut index in schema.create_index_from_entity(entity) {
        manager.create_index(index.if_not_exists().to_owned()).await?;
    }
    Ok(())
}

/// Creates `outbox`, `processed_events` and `dead_letters`.
#[derive(Debug)]
pub struct EventTables;

impl MigrationName for EventTables {
    fn name(&self) -> &str {
        "m0000_event_tables"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for EventTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, outbox::Entity).await?;
        create_table(manager, processed_event::Entity).await?;
        create_table(manager, dead_letter::Entity).await?;
        Ok(())
    }
}

/// Replaces the outbox's index on `published_at` with a partial index of the unsent rows in
/// `seq` order. The relay's query (`published_at IS NULL ORDER BY seq LIMIT n`) used to walk the
/// primary key through every published row: measured in `make bench`, about a thousand index
/// entries read per poll after 4,000 events, growing with the table. Now it reads only the unsent
/// rows. Services list it right after their last migration.
#[derive(Debug)]
pub struct OutboxUnsentIndex;

impl MigrationName for OutboxUnsentIndex {
    fn name(&self) -> &str {
        "m0100_outbox_unsent_index"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for OutboxUnsentIndex {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Same SQL in PostgreSQL and SQLite (both have partial indexes); unqualified names, so the
        // service's schema (search_path) holds it.
        db.execute_unprepared(r#"DROP INDEX IF EXISTS "idx-outbox-published_at""#)
            .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE published_at IS NULL",
        )
        .await?;
        Ok(())
    }
}
