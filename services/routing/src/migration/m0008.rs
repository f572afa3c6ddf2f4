//! m0008 (PostgreSQL): the batched duplicate scan reads the box through latitude cells. On
//! `(category_id, latitude, longitude, submitted_at)` (m0006) the box was one range of latitudes
//! across the whole city, and the longitude only a filter inside it: in the benchmark's Bontang
//! (a 0.15-degree square, a 0.009-degree box) 16 times the index entries the box holds. On
//! `(category_id, floor(latitude * 100), longitude, latitude, submitted_at)` it is one range of
//! longitudes in each cell of 0.01 degree of latitude the box touches (two at the default
//! radius): at 470,000 reports the statement for 64 reports took 21.4 ms instead of 30.4
//! (BENCHMARKS.md, twenty-fifth session). The neighbours without a point, which the old index's
//! `(category_id, latitude IS NULL)` prefix served, get a partial index of their own. The old
//! index is dropped: nothing on PostgreSQL reads it any more, and every insert paid for it.
//!
//! SQLite keeps m0006's index: it runs each report's own queries (`duplicate_scan`), which read
//! it, and has no `floor` without its math functions.
//!
//! Building the index holds writes to `queue_reports` off for as long as it takes (one
//! transaction; seconds for a few hundred thousand reports).

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

pub struct CellIndex;

impl MigrationName for CellIndex {
    fn name(&self) -> &str {
        "m0008_duplicate_cell_index"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for CellIndex {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // The cell's expression is the batched statement's, character for character
        // (decisions::LAT_CELLS_PER_DEGREE; a test checks the plan uses this index).
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_queue_reports_duplicate_cell ON queue_reports \
             (category_id, (floor(latitude * 100)), longitude, latitude, submitted_at)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_queue_reports_duplicate_nopoint ON queue_reports \
             (category_id, submitted_at) WHERE latitude IS NULL",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_queue_reports_duplicate_box")
            .await?;
        Ok(())
    }
}
