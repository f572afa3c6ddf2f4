//! `dead_letters`: messages that can never be applied (undecodable, or violating an invariant),
//! kept with the reason so an operator can inspect and re-drive them.

use sea_orm::entity::prelude::*;

/// A dead letter.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Durable consumer that gave up.
    pub consumer: String,
    /// Subject the message came on.
    pub subject: String,
    /// `Nats-Msg-Id`, if the message had one.
    pub msg_id: Option<String>,
    /// Stream sequence.
    pub stream_seq: i64,
    /// Deliveries before giving up.
    pub deliveries: i64,
    /// Why it cannot be applied.
    pub reason: String,
    /// The raw payload.
    pub payload: Vec<u8>,
    /// When it was recorded.
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
