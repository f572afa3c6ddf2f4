//! Frozen snapshot of `deadlines` as migration m0001 created it (replaced in m0004). Never edit.

/// `deadlines`: one per report, step and holder.
pub mod deadline {
    use sea_orm::entity::prelude::*;

    /// A deadline.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deadlines")]
    pub struct Model {
        /// `report_id:STEP`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Report id.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// Step code.
        pub step: String,
        /// Accountable OPD; NULL for the operator's steps.
        pub opd_id: Option<String>,
        /// When the clock started.
        pub started_at: DateTimeUtc,
        /// When the step is due.
        #[sea_orm(indexed)]
        pub due_at: DateTimeUtc,
        /// When the step was done.
        pub met_at: Option<DateTimeUtc>,
        /// Working days allowed.
        pub working_days: i32,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
