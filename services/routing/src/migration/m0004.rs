//! m0004: duplicate candidates and the duplicate link.

use lapor_events::migration::create_table;
use sea_orm_migration::prelude::*;

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

/// Frozen: `duplicate_candidates` as m0004 created it (both directions of a pair; replaced by
/// `duplicate_pairs` in m0007). Never edit.
pub(super) mod duplicate_candidate {
    use sea_orm::entity::prelude::*;

    /// One candidate pair (report -> candidate).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "duplicate_candidates")]
    pub struct Model {
        /// `report_id:candidate_id`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub pair: String,
        /// The report.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// The possible duplicate.
        pub candidate_id: Uuid,
        /// Its tracking id.
        pub candidate_tracking_id: String,
        /// 0-1.
        pub score: f64,
        /// Why.
        pub reason: String,
        /// When found.
        pub found_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
