//! m0007: the duplicate scan and its candidates, leaner.
//!
//! - `queue_reports.lat_band` (`floor(latitude * 200)`, filled for existing rows) and the index
//!   `(category_id, lat_band, longitude, latitude, submitted_at)` in place of m0006's. With
//!   m0006's index the box's latitude range was the only range: the scan read every entry in a
//!   16 km stripe of latitude across the city and checked the longitude of each. Now each band
//!   the box touches (two or three) is an equality, so its longitude range is an index range too.
//! - `duplicate_pairs`, one row per pair, in place of `duplicate_candidates`, which held each
//!   pair twice (once per direction). Existing pairs are carried over once each: the direction
//!   kept is the one whose `report_id` sorts higher, or the only one there is.

use lapor_events::migration::create_table;
use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

use crate::entities::duplicate_pair;

pub struct LeanerDuplicates;

impl MigrationName for LeanerDuplicates {
    fn name(&self) -> &str {
        "m0007_lat_band_and_duplicate_pairs"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for LeanerDuplicates {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        let queue = Alias::new("queue_reports");
        manager
            .alter_table(
                Table::alter()
                    .table(queue.clone())
                    .add_column(ColumnDef::new(Alias::new("lat_band")).integer().null())
                    .to_owned(),
            )
            .await?;
        // floor(latitude * 200), as `crate::entities::lat_band` computes it: the product is the
        // same IEEE double in Rust, PostgreSQL and SQLite. SQLite has no floor() in every build;
        // its CAST truncates toward zero, so one is taken off below zero.
        let band = if sqlite {
            "CAST(latitude * 200 AS INTEGER) - (latitude * 200 < CAST(latitude * 200 AS INTEGER))"
        } else {
            "floor(latitude * 200)::integer"
        };
        db.execute_unprepared(&format!(
            "UPDATE queue_reports SET lat_band = {band} WHERE latitude IS NOT NULL AND lat_band IS NULL"
        ))
        .await?;
        // Replaced, not kept beside: with both, a generic plan may pick the old one (m0006).
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("idx_queue_reports_duplicate_box")
                    .table(queue.clone())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_queue_reports_duplicate_band")
                    .table(queue)
                    .col(Alias::new("category_id"))
                    .col(Alias::new("lat_band"))
                    .col(Alias::new("longitude"))
                    .col(Alias::new("latitude"))
                    .col(Alias::new("submitted_at"))
                    .to_owned(),
            )
            .await?;

        create_table(manager, duplicate_pair::Entity).await?;
        db.execute_unprepared(
            "INSERT INTO duplicate_pairs (report_id, candidate_id, report_tracking_id, \
             candidate_tracking_id, score, reason, found_at) \
             SELECT c.report_id, c.candidate_id, q.tracking_id, c.candidate_tracking_id, c.score, \
             c.reason, c.found_at \
             FROM duplicate_candidates c JOIN queue_reports q ON q.report_id = c.report_id \
             WHERE c.report_id > c.candidate_id OR NOT EXISTS (SELECT 1 FROM duplicate_candidates r \
             WHERE r.report_id = c.candidate_id AND r.candidate_id = c.report_id)",
        )
        .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("duplicate_candidates")).to_owned())
            .await
    }
}
