//! Notification's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

use crate::entities::{credential, rule, template};

/// Notification's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Messages),
            Box::new(M0002Deliveries),
            Box::new(M0003Templates),
            Box::new(M0004Credentials),
            Box::new(M0005Rules),
            Box::new(M0006DeliveryTrace),
            Box::new(M0007MessageEventTime),
            Box::new(lapor_events::migration::OutboxUnsentIndex),
        ]
    }
}

struct M0001Messages;

impl MigrationName for M0001Messages {
    fn name(&self) -> &str {
        "m0001_messages"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0001Messages {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v1::message::Entity).await
    }
}

struct M0002Deliveries;

impl MigrationName for M0002Deliveries {
    fn name(&self) -> &str {
        "m0002_deliveries"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0002Deliveries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v2::delivery::Entity).await
    }
}

struct M0003Templates;

impl MigrationName for M0003Templates {
    fn name(&self) -> &str {
        "m0003_templates"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0003Templates {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, template::Entity).await
    }
}

struct M0004Credentials;

impl MigrationName for M0004Credentials {
    fn name(&self) -> &str {
        "m0004_reporter_credentials"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0004Credentials {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, credential::Entity).await
    }
}

struct M0005Rules;

impl MigrationName for M0005Rules {
    fn name(&self) -> &str {
        "m0005_rules"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0005Rules {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, rule::Entity).await
    }
}

struct M0006DeliveryTrace;

impl MigrationName for M0006DeliveryTrace {
    fn name(&self) -> &str {
        "m0006_delivery_traceparent"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0006DeliveryTrace {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("deliveries"))
                    .add_column(ColumnDef::new(Alias::new("traceparent")).string().null())
                    .to_owned(),
            )
            .await
    }
}

struct M0007MessageEventTime;

impl MigrationName for M0007MessageEventTime {
    fn name(&self) -> &str {
        "m0007_message_event_time"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0007MessageEventTime {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("messages"))
                    .add_column(
                        ColumnDef::new(Alias::new("event_at"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Older messages: the time they were recorded is the best known.
        manager
            .get_connection()
            .execute_unprepared("UPDATE messages SET event_at = created_at WHERE event_at IS NULL")
            .await?;
        Ok(())
    }
}

/// Frozen snapshot of `messages` as m0001 created it. Never edit: later changes are explicit
/// migrations.
mod v1 {
    pub(super) mod message {
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
}

/// Frozen snapshot of `deliveries` as m0002 created it. Never edit: later changes are explicit
/// migrations.
mod v2 {
    pub(super) mod delivery {
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
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}
