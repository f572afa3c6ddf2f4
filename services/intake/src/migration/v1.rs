//! Frozen snapshot of the tables as migration m0001 created them. Never edit: later changes are
//! explicit migrations, and the live entities in `crate::entities` may differ.

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
