//! `outbox`: events committed with the state change that caused them, waiting to be published.

use sea_orm::entity::prelude::*;

/// An outbox row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    /// Insertion order; the relay publishes in this order.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Event id (`Nats-Msg-Id`).
    #[sea_orm(unique)]
    pub event_id: Uuid,
    /// Event type name.
    pub event_type: String,
    /// Subject to publish on.
    pub subject: String,
    /// Encoded `EventEnvelope`.
    pub payload: Vec<u8>,
    /// W3C traceparent of the transaction that wrote it, so the publish continues its trace.
    pub traceparent: Option<String>,
    /// When it was written.
    pub created_at: DateTimeUtc,
    /// When JetStream acknowledged it; NULL while unsent (partial index `outbox_unsent`).
    pub published_at: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
