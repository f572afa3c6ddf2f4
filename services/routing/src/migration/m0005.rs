//! m0005: the map point of each report in columns of its own, so that the duplicate scan leaves
//! far-away reports to the database (a bounding box on an index) instead of loading and parsing
//! every report of the category in the window. Existing rows are filled from their location.

use lapor_domain::Location;
use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::prelude::*;

pub struct PointColumns;

impl MigrationName for PointColumns {
    fn name(&self) -> &str {
        "m0005_queue_report_points"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for PointColumns {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Alias::new("queue_reports");
        for column in ["latitude", "longitude"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table.clone())
                        .add_column(ColumnDef::new(Alias::new(column)).double().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_queue_reports_duplicate_scan")
                    .table(table.clone())
                    .col(Alias::new("category_id"))
                    .col(Alias::new("submitted_at"))
                    .to_owned(),
            )
            .await?;
        backfill_points(manager.get_connection()).await?;
        Ok(())
    }
}

/// Copies the map point of every report that has one in `location` but not in the point columns
/// (rows from before m0005); returns how many it filled.
pub async fn backfill_points<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let table = Alias::new("queue_reports");
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(
            backend.build(
                Query::select()
                    .columns([Alias::new("report_id"), Alias::new("location")])
                    .from(table.clone())
                    .and_where(Expr::col(Alias::new("location")).is_not_null())
                    .and_where(Expr::col(Alias::new("latitude")).is_null()),
            ),
        )
        .await?;
    let mut filled = 0;
    for row in rows {
        let id: uuid::Uuid = row.try_get("", "report_id")?;
        let location: serde_json::Value = row.try_get("", "location")?;
        let Some((lat, lon)) = serde_json::from_value::<Location>(location)
            .ok()
            .and_then(|l| l.point)
        else {
            continue;
        };
        db.execute_raw(
            backend.build(
                Query::update()
                    .table(table.clone())
                    .values([
                        (Alias::new("latitude"), lat.into()),
                        (Alias::new("longitude"), lon.into()),
                    ])
                    .and_where(Expr::col(Alias::new("report_id")).eq(id)),
            ),
        )
        .await?;
        filled += 1;
    }
    Ok(filled)
}
