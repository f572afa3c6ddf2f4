//! Channel adapters behind one trait. The in-app inbox is the first: delivery is recording the
//! message where the reporter (by tracking id and token) or the OPD reads it. E-mail, webhooks
//! and SMS come with the notification issue.

use std::future::Future;

use sea_orm::{DatabaseTransaction, DbErr, EntityTrait, Set};

use crate::entities::message;

/// A rendered message for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Dedupe key (event, recipient, template).
    pub dedupe_key: String,
    /// Event id.
    pub event_id: uuid::Uuid,
    /// Report id.
    pub report_id: uuid::Uuid,
    /// `reporter`, `opd` or `operator`.
    pub recipient_kind: &'static str,
    /// Pseudonymous recipient id.
    pub recipient_ref: String,
    /// Template name.
    pub template: &'static str,
    /// Language it is written in.
    pub lang: String,
    /// The template's variables (other channels render their own variant from them).
    pub vars: serde_json::Value,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// When what it tells of happened (the event's time).
    pub event_at: chrono::DateTime<chrono::Utc>,
}

/// A way to deliver messages.
pub trait Channel: Send + Sync + 'static {
    /// Adapter name stored with each message.
    fn name(&self) -> &'static str;
    /// Delivers `msgs`, recording them in `txn` (so a redelivered event finds them and skips),
    /// and returns their ids in the same order.
    fn deliver<'a>(
        &'a self,
        txn: &'a DatabaseTransaction,
        msgs: &'a [Outgoing],
    ) -> impl Future<Output = Result<Vec<uuid::Uuid>, DbErr>> + Send + 'a;
}

/// The in-app inbox.
#[derive(Debug, Clone, Copy)]
pub struct InboxChannel;

impl Channel for InboxChannel {
    fn name(&self) -> &'static str {
        "inbox"
    }

    async fn deliver(&self, txn: &DatabaseTransaction, msgs: &[Outgoing]) -> Result<Vec<uuid::Uuid>, DbErr> {
        let now = chrono::Utc::now();
        let rows: Vec<message::ActiveModel> = msgs
            .iter()
            .map(|msg| message::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                dedupe_key: Set(msg.dedupe_key.clone()),
                event_id: Set(msg.event_id),
                report_id: Set(msg.report_id),
                recipient_kind: Set(msg.recipient_kind.to_owned()),
                recipient_ref: Set(msg.recipient_ref.clone()),
                channel: Set(self.name().to_owned()),
                template: Set(msg.template.to_owned()),
                subject: Set(msg.subject.clone()),
                body: Set(msg.body.clone()),
                state: Set("delivered".to_owned()),
                created_at: Set(now),
                event_at: Set(Some(msg.event_at)),
            })
            .collect();
        let ids = rows.iter().map(|r| *r.id.as_ref()).collect();
        // One statement per 500 messages (13 values each: within SQLite's limit of variables).
        for chunk in rows.chunks(500) {
            message::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
        Ok(ids)
    }
}
