//! Frozen snapshot of the table as migration m0003 created it (dropped again by m0004, which moved
//! its rows into `timeline`). Never edit.

/// `follow_ups`: public follow-ups (tindak lanjut), visible to the reporter.
pub mod follow_up {
    use sea_orm::entity::prelude::*;

    /// One follow-up.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "follow_ups")]
    pub struct Model {
        /// Follow-up id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Case.
        #[sea_orm(indexed)]
        pub case_id: Uuid,
        /// OPD that posted it.
        pub opd_id: String,
        /// Officer who posted it.
        pub posted_by: String,
        /// Text.
        #[sea_orm(column_type = "Text")]
        pub text: String,
        /// When.
        pub posted_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
