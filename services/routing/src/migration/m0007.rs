//! m0007: `duplicate_pairs`, one row per pair of possible duplicates, in place of
//! `duplicate_candidates`, which held each pair twice (once per direction): half the rows and
//! index entries routing writes for a report in a dense place. Existing pairs are carried over
//! once each: the direction kept is the one whose `report_id` sorts higher, or the only one there
//! is.

use lapor_events::migration::create_table;
use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

use crate::entities::duplicate_pair;

pub struct DuplicatePairs;

impl MigrationName for DuplicatePairs {
    fn name(&self) -> &str {
        "m0007_duplicate_pairs"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for DuplicatePairs {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
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
