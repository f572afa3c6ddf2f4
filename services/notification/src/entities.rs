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
        /// When what it tells of happened (the event's time): the inbox is in this order, since
        /// events of different kinds reach this service in any order. Set on every message
        /// (m0007 filled it in for older ones from `created_at`).
        pub event_at: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `deliveries`: one row per message and outside target (a webhook, later e-mail or SMS), with
/// its attempts, next attempt and outcome.
pub mod delivery {
    use sea_orm::entity::prelude::*;

    /// A delivery.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deliveries")]
    pub struct Model {
        /// Delivery id (sent as `Lapor-Delivery-Id`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The message delivered.
        #[sea_orm(indexed)]
        pub message_id: Uuid,
        /// Report it is about.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// Channel, e.g. `webhook:wa-gateway`.
        pub channel: String,
        /// Message dedupe key + channel: one delivery per message and target.
        #[sea_orm(unique)]
        pub idempotency_key: String,
        /// What is sent (JSON).
        #[sea_orm(column_type = "Text")]
        pub payload: String,
        /// `pending`, `delivered` or `dead`.
        pub state: String,
        /// Attempts made (a claimed attempt counts).
        pub attempts: i32,
        /// When the next attempt may run (pending rows).
        #[sea_orm(indexed)]
        pub next_attempt_at: DateTimeUtc,
        /// Why the last attempt failed (for `dead`: why it was given up).
        pub last_error: Option<String>,
        /// When the channel accepted it.
        pub delivered_at: Option<DateTimeUtc>,
        /// When recorded.
        pub created_at: DateTimeUtc,
        /// W3C trace context of the event that caused it: the send continues the report's trace.
        pub traceparent: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `templates`: message templates per name, language and channel (minijinja text).
pub mod template {
    use sea_orm::entity::prelude::*;

    /// A template.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "templates")]
    pub struct Model {
        /// Template name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// Language (`id`, `en`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub lang: String,
        /// Channel it is specific to (`""`: any).
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel: String,
        /// Subject template.
        pub subject: String,
        /// Body template.
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// Edits so far + 1.
        pub version: i32,
        /// Who changed it last (`default` for the shipped text).
        pub changed_by: String,
        /// When.
        pub changed_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `reporter_credentials`: a report's tracking id and the SHA-256 of its access token (from
/// `ReportSubmitted`), so the reporter can read their inbox.
pub mod credential {
    use sea_orm::entity::prelude::*;

    /// A credential.
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
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `rules`: who hears what (per template and recipient kind) and on which outside channels.
pub mod rule {
    use sea_orm::entity::prelude::*;

    /// A rule.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rules")]
    pub struct Model {
        /// Template name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub template: String,
        /// Recipient kind.
        #[sea_orm(primary_key, auto_increment = false)]
        pub recipient_kind: String,
        /// Told at all.
        pub enabled: bool,
        /// Outside channels, JSON list.
        pub channels: String,
        /// Edits so far + 1.
        pub version: i32,
        /// Who changed it last.
        pub changed_by: String,
        /// When.
        pub changed_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
