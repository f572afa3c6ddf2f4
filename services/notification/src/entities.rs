//! Notification's tables.

/// `messages`: one row per notification to one recipient.
pub mod message {
    use sea_orm::entity::prelude::*;

    /// A message.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        /// Message id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// `event_id:recipient_kind:recipient_ref:template`: one message per event and recipient.
        #[sea_orm(unique)]
        pub dedupe_key: String,
        /// Event that caused it.
        pub event_id: Uuid,
        /// Report it is about.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// `reporter`, `opd` or `operator`.
        pub recipient_kind: String,
        /// Pseudonymous recipient id.
        pub recipient_ref: String,
        /// Channel adapter.
        pub channel: String,
        /// Template name.
        pub template: String,
        /// Rendered subject.
        pub subject: String,
        /// Rendered body.
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// Delivery state.
        pub state: String,
        /// When recorded.
        pub created_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
