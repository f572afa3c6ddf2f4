//! Frozen snapshot of the tables as migration m0001 created them. Never edit: later changes are
//! explicit migrations, and the live entities in `crate::entities` may differ.

/// `queue_reports`: every report routing has seen, with its routing state.
pub mod queue_report {
    use sea_orm::entity::prelude::*;

    /// A report as routing holds it.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "queue_reports")]
    pub struct Model {
        /// Report id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub report_id: Uuid,
        /// Tracking id.
        pub tracking_id: String,
        /// Kind code.
        pub kind: String,
        /// Title.
        pub title: String,
        /// Body.
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// Category id.
        pub category_id: Option<String>,
        /// Incident date.
        pub incident_date: Option<Date>,
        /// Location as JSON.
        pub location: Option<Json>,
        /// Anonymous.
        pub anonim: bool,
        /// Confidential.
        pub rahasia: bool,
        /// Pseudonymous reporter id.
        pub reporter_ref: Uuid,
        /// Submission time.
        pub submitted_at: DateTimeUtc,
        /// Status code.
        #[sea_orm(indexed)]
        pub status: String,
        /// Verification deadline.
        #[sea_orm(indexed)]
        pub verification_due_at: DateTimeUtc,
        /// Why it is waiting for the operator.
        pub routing_note: String,
        /// OPD it was dispatched to.
        pub opd_id: Option<String>,
        /// When.
        pub dispatched_at: Option<DateTimeUtc>,
        /// Rule that dispatched it.
        pub rule_id: Option<String>,
        /// Operator who dispatched it.
        pub dispatched_by: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
