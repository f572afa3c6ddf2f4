//! Frozen snapshot of the tables as migration m0001 created them. Never edit: later changes are
//! explicit migrations, and the live entities in `crate::entities` may differ.

/// `cases`: one per dispatch of a report to an OPD.
pub mod case {
    use sea_orm::entity::prelude::*;

    /// A case.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "cases")]
    pub struct Model {
        /// Case id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Report id.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// Tracking id.
        #[sea_orm(indexed)]
        pub tracking_id: String,
        /// Holding OPD.
        #[sea_orm(indexed)]
        pub opd_id: String,
        /// Kind code.
        pub kind: String,
        /// Title.
        pub title: String,
        /// Body.
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// Category id.
        pub category_id: Option<String>,
        /// Location as JSON.
        pub location: Option<Json>,
        /// Anonymous.
        pub anonim: bool,
        /// Confidential.
        pub rahasia: bool,
        /// Pseudonymous reporter id (never an identity).
        pub reporter_ref: Uuid,
        /// Status code.
        pub status: String,
        /// Submission time.
        pub submitted_at: DateTimeUtc,
        /// When the case was opened.
        pub opened_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
