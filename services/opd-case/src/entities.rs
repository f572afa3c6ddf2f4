//! opd-case's tables.

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
        /// When this OPD asked for a transfer (the case ended for it).
        pub transferred_at: Option<DateTimeUtc>,
        /// Its reason.
        pub transfer_reason: Option<String>,
        /// Officer who asked.
        pub transferred_by: Option<String>,
        /// Time of the last public follow-up.
        pub last_follow_up_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

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
