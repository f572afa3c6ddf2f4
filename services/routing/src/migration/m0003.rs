//! m0003: routing rules as versioned data, and the rule version recorded with each dispatch.

use lapor_events::migration::create_table;
use sea_orm_migration::prelude::*;

use crate::entities::{routing_rule, routing_rule_version};

pub struct Rules;

impl MigrationName for Rules {
    fn name(&self) -> &str {
        "m0003_routing_rules"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Rules {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("queue_reports"))
                    .add_column(ColumnDef::new(Alias::new("rule_version")).big_integer().null())
                    .to_owned(),
            )
            .await?;
        create_table(manager, routing_rule::Entity).await?;
        create_table(manager, routing_rule_version::Entity).await
    }
}
