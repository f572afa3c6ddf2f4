//! Routing's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

mod m0002;
mod m0003;
mod m0004;
mod m0005;
mod m0006;
mod m0007;
mod m0008;
pub use m0005::backfill_points;
mod v1;

/// Routing's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Queue),
            Box::new(m0002::Decisions),
            Box::new(m0003::Rules),
            Box::new(m0004::Duplicates),
            Box::new(lapor_events::calendar::CalendarTable),
            Box::new(m0005::PointColumns),
            Box::new(lapor_events::migration::OutboxUnsentIndex),
            Box::new(m0006::BoxIndex),
            Box::new(m0007::DuplicatePairs),
            Box::new(m0008::CellIndex),
        ]
    }
}

struct M0001Queue;

impl MigrationName for M0001Queue {
    fn name(&self) -> &str {
        "m0001_routing_queue"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0001Queue {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v1::queue_report::Entity).await
    }
}
