//! m0002: the operator's decisions (verification, Tunda, Bukan Wewenang, Arsip, transfers) on
//! `queue_reports`, and the `report_history` audit trail.

use lapor_events::migration::create_table;
use sea_orm_migration::prelude::*;

use crate::entities::report_history;

pub struct Decisions;

impl MigrationName for Decisions {
    fn name(&self) -> &str {
        "m0002_routing_decisions"
    }
}

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Decisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        let columns = vec![
            col("needs_examination")
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            col("verified_at").timestamp_with_time_zone().null().to_owned(),
            col("verified_by").string().null().to_owned(),
            col("original_title").string().null().to_owned(),
            col("hold_reason").string().null().to_owned(),
            col("hold_since").timestamp_with_time_zone().null().to_owned(),
            col("close_reason").string().null().to_owned(),
            col("returned_from_opd").string().null().to_owned(),
            col("return_reason").string().null().to_owned(),
            col("version").big_integer().not_null().default(0).to_owned(),
        ];
        for mut c in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("queue_reports"))
                        .add_column(&mut c)
                        .to_owned(),
                )
                .await?;
        }
        create_table(manager, report_history::Entity).await
    }
}
