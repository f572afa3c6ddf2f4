//! Frozen snapshot of the tables as migration m0004 created them. Never edit: later changes are
//! explicit migrations, and the live entities in `crate::entities` may differ.

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
