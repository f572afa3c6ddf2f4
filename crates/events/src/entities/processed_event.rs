//! `processed_events`: ids of the events a consumer has applied, written in the same transaction
//! as the effect, so that a redelivery is recognised and skipped.

use sea_orm::entity::prelude::*;

/// A processed event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "processed_events")]
pub struct Model {
    /// Durable consumer that applied it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub consumer: String,
    /// Event id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: Uuid,
    /// When it was applied.
    pub processed_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
