//! m0006: an index that serves the duplicate scan's bounding box. With only
//! `(category_id, submitted_at)` PostgreSQL read every report of the category in the 30-day window
//! and filtered the points on the heap: about 5 ms per new report at 40,000 reports, growing with
//! the table (a sustained `make bench` run slowed down as it went). With
//! `(category_id, latitude, longitude, submitted_at)` the box and the point-less reports are index
//! ranges (0.07 ms on the same data).

use sea_orm_migration::prelude::*;

pub struct BoxIndex;

impl MigrationName for BoxIndex {
    fn name(&self) -> &str {
        "m0006_duplicate_box_index"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for BoxIndex {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The earlier index is dropped, not kept beside it: with both, PostgreSQL's generic plan
        // for the prepared scan (no values known) chose the old one and read the whole category
        // again (pg_stat_user_indexes in make bench: 1,232 entries per scan at 27,000 reports).
        // The new one serves point-less reports too (the category prefix).
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("idx_queue_reports_duplicate_scan")
                    .table(Alias::new("queue_reports"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_queue_reports_duplicate_box")
                    .table(Alias::new("queue_reports"))
                    .col(Alias::new("category_id"))
                    .col(Alias::new("latitude"))
                    .col(Alias::new("longitude"))
                    .col(Alias::new("submitted_at"))
                    .to_owned(),
            )
            .await
    }
}
