//! Intake's tables.

/// `reports`: what was submitted (no identity: that is in `identities`).
pub mod report {
    use sea_orm::entity::prelude::*;

    /// A submitted report.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "reports")]
    pub struct Model {
        /// Report id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Public tracking id.
        #[sea_orm(unique)]
        pub tracking_id: String,
        /// SHA-256 of caller subject and idempotency key.
        #[sea_orm(unique)]
        pub idempotency: String,
        /// SHA-256 of the request content, to refuse a key reused for another request.
        pub fingerprint: String,
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
        /// Channel code.
        pub channel: String,
        /// Pseudonymous reporter id.
        pub reporter_ref: Uuid,
        /// Subject of the caller that submitted.
        pub submitted_by: String,
        /// Acceptance time.
        pub submitted_at: DateTimeUtc,
        /// When the operator put it on hold (Tunda), while it waits for the reporter.
        pub held_at: Option<DateTimeUtc>,
        /// What the reporter must complete.
        pub hold_reason: Option<String>,
        /// The original's tracking id, when this report was marked a duplicate.
        pub duplicate_of_tracking_id: Option<String>,
        /// Status code as the reporter sees it.
        pub status: String,
        /// Time of the event that set the status (older events never override it).
        pub status_at: DateTimeUtc,
        /// W3C trace id of the submission (operations find the report's trace by it).
        pub trace_id: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `identities`: the identity store, encrypted at rest, keyed by pseudonymous reporter id.
pub mod identity {
    use sea_orm::entity::prelude::*;

    /// An encrypted identity.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identities")]
    pub struct Model {
        /// Pseudonymous reporter id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub reporter_ref: Uuid,
        /// Key id used.
        pub key_id: String,
        /// AES-GCM nonce.
        pub nonce: Vec<u8>,
        /// AES-GCM ciphertext of the JSON identity (the reporter_ref is the associated data).
        pub ciphertext: Vec<u8>,
        /// When stored.
        pub created_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `identity_access_log`: every request for a reporter's identity, answered or refused.
pub mod identity_access {
    use sea_orm::entity::prelude::*;

    /// One access.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_access_log")]
    pub struct Model {
        /// Insertion order.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Report whose reporter was asked for (the raw value when it did not parse).
        #[sea_orm(indexed)]
        pub report_ref: String,
        /// Calling subject.
        pub caller: String,
        /// Calling role.
        pub caller_role: String,
        /// Person the caller acts for.
        pub on_behalf_of: String,
        /// That person's role.
        pub on_behalf_of_role: String,
        /// Reason given.
        pub reason: String,
        /// `revealed`, `no_identity`, `refused` or `invalid`.
        pub outcome: String,
        /// When.
        pub at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
