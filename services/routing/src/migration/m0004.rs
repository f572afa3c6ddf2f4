//! m0004: duplicate candidates and the duplicate link.

use lapor_events::migration::create_table;
use sea_orm_migration::prelude::*;

use crate::entities::duplicate_candidate;

pub struct Duplicates;

impl MigrationName for Duplicates {
    fn name(&self) -> &str {
        "m0004_duplicates"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Duplicates {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("queue_reports"))
                    .add_column(ColumnDef::new(Alias::new("duplicate_of")).uuid().null())
                    .to_owned(),
            )
            .await?;
        create_table(manager, duplicate_candidate::Entity).await
    }
}
