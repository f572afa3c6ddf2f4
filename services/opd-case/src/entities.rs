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
        /// Officer the case is assigned to.
        pub assignee: Option<String>,
        /// The OPD's current deadline: the first follow-up, or answering a reply.
        pub due_at: Option<DateTimeUtc>,
        /// When the open information request was made (the OPD's clock is stopped since).
        pub info_requested_at: Option<DateTimeUtc>,
        /// `REPORTER` or `OPERATOR` when a reply waits for the OPD's answer.
        pub reply_pending_by: Option<String>,
        /// When the last reply came.
        pub last_reply_at: Option<DateTimeUtc>,
        /// When the system closes the case if nobody replies (Proses only).
        pub auto_close_at: Option<DateTimeUtc>,
        /// When the case was completed.
        pub closed_at: Option<DateTimeUtc>,
        /// `REPORTER` or `SYSTEM`.
        pub closed_by: Option<String>,
        /// The reporter's rating, 1-5.
        pub rating: Option<i32>,
        /// The reporter's comment with the rating.
        pub rating_comment: Option<String>,
        /// When the case was rated.
        pub rated_at: Option<DateTimeUtc>,
        /// When the reporter asked for the Ombudsman.
        pub ombudsman_requested_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `timeline`: everything that happened on a case, each entry with who may see it.
pub mod timeline {
    use sea_orm::entity::prelude::*;

    /// One entry.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "timeline")]
    pub struct Model {
        /// Entry id (UUIDv7: ordering by id is ordering by time).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Case.
        #[sea_orm(indexed)]
        pub case_id: Uuid,
        /// Report.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// OPD of the case.
        pub opd_id: String,
        /// Entry kind code (`FOLLOW_UP`, `NOTE`, ...).
        pub kind: String,
        /// `PUBLIC`, `REPORTER` or `INTERNAL`.
        pub visibility: String,
        /// Officer subject, "pelapor" or "sistem".
        pub author: String,
        /// Text.
        #[sea_orm(column_type = "Text")]
        pub text: String,
        /// When.
        pub at: DateTimeUtc,
        /// Attachment, for attachment entries.
        pub attachment_id: Option<Uuid>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `reporter_credentials`: the hash of each report's access token, from `ReportSubmitted`.
pub mod credential {
    use sea_orm::entity::prelude::*;

    /// One report's credential.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reporter_credentials")]
    pub struct Model {
        /// Report id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub report_id: Uuid,
        /// Tracking id.
        #[sea_orm(unique)]
        pub tracking_id: String,
        /// SHA-256 of the access token, hex.
        pub token_hash: String,
        /// Submission time.
        pub submitted_at: DateTimeUtc,
        /// Name the reporter chose for the public feed.
        pub public_name: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `attachments`: evidence stored in the blob store.
pub mod attachment {
    use sea_orm::entity::prelude::*;

    /// One attachment.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "attachments")]
    pub struct Model {
        /// Attachment id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Case it was added to.
        #[sea_orm(indexed)]
        pub case_id: Uuid,
        /// Report.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// OPD of the case.
        pub opd_id: String,
        /// Sniffed content type.
        pub content_type: String,
        /// Stored size.
        pub size: i64,
        /// SHA-256 of the stored bytes, hex.
        pub sha256: String,
        /// Name as given.
        pub file_name: String,
        /// Visible to the reporter and (non-rahasia) the public.
        pub public: bool,
        /// Officer subject or "pelapor".
        pub uploaded_by: String,
        /// Key in the blob store.
        pub storage_key: String,
        /// When.
        pub uploaded_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `supports`: one row per (report, supporter).
pub mod support {
    use sea_orm::entity::prelude::*;

    /// One support (dukung).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "supports")]
    pub struct Model {
        /// `<report id>:<supporter hash>`: the key that makes a support count once.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Supported report.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// SHA-256 of the supporter's key (their report or account), hex.
        pub supporter: String,
        /// When.
        pub at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
