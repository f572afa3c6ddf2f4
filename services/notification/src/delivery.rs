//! Delivery to channels outside this service (signed webhooks for now; e-mail and SMS adapters
//! plug in behind the same [`Sender`] trait). The consumer records one `deliveries` row per
//! message and target in the transaction that records the message, so a redelivered event adds
//! nothing; the [`Dispatcher`] sends due rows, retries retryable failures with exponential
//! backoff and jitter, honours a per-target rate limit, and gives up with the reason (state
//! `dead`) after `max_attempts` or at once on a permanent failure.
//!
//! A row is claimed by moving its next attempt a lease ahead (under `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), so replicas never send the same row at the same time. A crash between sending
//! and recording can repeat a send after the lease: every request carries `Lapor-Delivery-Id`
//! for the receiver to deduplicate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use sha2::Sha256;
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::channel::Outgoing;
use crate::config::{DeliveryConfig, WebhookConfig};
use crate::entities::delivery;

/// Header with the delivery's id (stable across retries: the receiver's idempotency key).
pub const DELIVERY_ID_HEADER: &str = "Lapor-Delivery-Id";
/// Header with the signing time, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "Lapor-Timestamp";
/// Header with the signature: `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "Lapor-Signature";

/// What kind of failure a send met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A timeout, a refused connection, HTTP 408/429/5xx, an SMTP 4xx: worth another attempt.
    Retryable,
    /// The channel refused for good (HTTP 4xx, SMTP 5xx, a bad address): dead letter.
    Permanent,
    /// Nothing to send to (the reporter left no e-mail address): state `skipped`.
    NoAddress,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// Whether trying again may help.
    pub kind: Failure,
    /// What happened, stored with the delivery.
    pub reason: String,
}

impl SendError {
    /// A failure worth another attempt.
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self {
            kind: Failure::Retryable,
            reason: reason.into(),
        }
    }

    /// A failure for good.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            kind: Failure::Permanent,
            reason: reason.into(),
        }
    }

    /// Nobody to send to.
    pub fn no_address(reason: impl Into<String>) -> Self {
        Self {
            kind: Failure::NoAddress,
            reason: reason.into(),
        }
    }
}

/// A channel outside this service.
#[async_trait::async_trait]
pub trait Sender: Send + Sync {
    /// Sends one delivery's payload.
    async fn send(&self, d: &delivery::Model) -> Result<(), SendError>;
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut m =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The `Lapor-Signature` value for `body` signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!(
        "v1={}",
        tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Checks a webhook request as a receiver should: the signature over timestamp and body, and a
/// timestamp within `tolerance` of `now` (against replays).
pub fn verify(
    secret: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), &'static str> {
    let t: i64 = timestamp.parse().map_err(|_| "bad timestamp")?;
    let skew = (now.timestamp() - t).unsigned_abs();
    if skew > tolerance.as_secs() {
        return Err("timestamp outside tolerance");
    }
    let hex = signature.strip_prefix("v1=").ok_or("unknown signature version")?;
    let tag: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    let tag = tag.ok_or("bad signature encoding")?;
    mac(secret, t, body)
        .verify_slice(&tag)
        .map_err(|_| "signature does not match")
}

/// A signed webhook (WhatsApp/SMS gateways, other government systems).
pub struct WebhookSender {
    url: String,
    secret: String,
    client: reqwest::Client,
}

impl WebhookSender {
    /// A sender for `cfg`.
    pub fn new(cfg: &WebhookConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms.max(1)))
            .build()?;
        Ok(Self {
            url: cfg.url.clone(),
            secret: cfg.secret.clone(),
            client,
        })
    }
}

#[async_trait::async_trait]
impl Sender for WebhookSender {
    async fn send(&self, d: &delivery::Model) -> Result<(), SendError> {
        let body = d.payload.clone().into_bytes();
        let now = Utc::now().timestamp();
        let r = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header(DELIVERY_ID_HEADER, d.id.to_string())
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(SIGNATURE_HEADER, sign(&self.secret, now, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::retryable(format!("request failed: {e}")))?;
        let s = r.status();
        if s.is_success() {
            return Ok(());
        }
        let reason = format!("HTTP {}", s.as_u16());
        Err(if s.is_server_error() || s.as_u16() == 408 || s.as_u16() == 429 {
            SendError::retryable(reason)
        } else {
            SendError::permanent(reason)
        })
    }
}

/// The channel name of webhook `name`.
pub fn webhook_channel(name: &str) -> String {
    format!("webhook:{name}")
}

/// Where messages to some recipient kinds also go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Channel name (`email`, `sms`, `webhook:<name>`).
    pub channel: String,
    /// Recipient kinds it takes.
    pub recipient_kinds: Vec<String>,
}

impl Route {
    /// The kind of channel: `email`, `sms` or `webhook`.
    pub fn kind(&self) -> &str {
        self.channel.split(':').next().unwrap_or_default()
    }
}

/// The routes the settings ask for: every webhook, and e-mail and SMS when enabled.
pub fn routes(cfg: &crate::config::Config) -> Vec<Route> {
    let mut r: Vec<Route> = cfg
        .webhooks
        .iter()
        .map(|w| Route {
            channel: webhook_channel(&w.name),
            recipient_kinds: w.recipient_kinds.clone(),
        })
        .collect();
    if cfg.email.enabled {
        r.push(Route {
            channel: EMAIL_CHANNEL.into(),
            recipient_kinds: cfg.email.recipient_kinds.clone(),
        });
    }
    if cfg.sms.enabled {
        r.push(Route {
            channel: SMS_CHANNEL.into(),
            recipient_kinds: cfg.sms.recipient_kinds.clone(),
        });
    }
    r
}

/// The SMS channel's name.
pub const SMS_CHANNEL: &str = "sms";

/// The e-mail channel's name.
pub const EMAIL_CHANNEL: &str = "email";

/// A message to hand to the routes outside the service.
pub struct ToSend<'a> {
    /// Its id.
    pub message_id: uuid::Uuid,
    /// The message.
    pub msg: &'a Outgoing,
    /// The routes its rule allows.
    pub routes: &'a [Route],
    /// The trace context of the event that made it (each send continues that trace).
    pub traceparent: Option<String>,
}

/// Records, in `txn` and with one statement per 500 rows, a delivery of each message on every
/// route that takes its recipient kind. The payload names the recipient by pseudonymous ref
/// only: addresses are looked up when sending.
pub async fn enqueue(
    txn: &DatabaseTransaction,
    messages: &[ToSend<'_>],
    templates: &crate::templates::Templates,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut rows = Vec::new();
    for m in messages {
        rows.extend(rows_for(m, templates, now));
    }
    for chunk in rows.chunks(500) {
        delivery::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

fn rows_for(
    m: &ToSend<'_>,
    templates: &crate::templates::Templates,
    now: DateTime<Utc>,
) -> Vec<delivery::ActiveModel> {
    let (message_id, msg) = (m.message_id, m.msg);
    let mut rows = Vec::new();
    for r in m
        .routes
        .iter()
        .filter(|r| r.recipient_kinds.iter().any(|k| k == msg.recipient_kind))
    {
        let id = uuid::Uuid::now_v7();
        // The channel's own variant of the template (a short SMS text), else the inbox's text.
        let (subject, body) = templates
            .render(msg.template, &msg.lang, r.kind(), &msg.vars)
            .unwrap_or_else(|_| (msg.subject.clone(), msg.body.clone()));
        let payload = serde_json::json!({
            "delivery_id": id.to_string(),
            "message_id": message_id.to_string(),
            "event_id": msg.event_id.to_string(),
            "report_id": msg.report_id.to_string(),
            "recipient_kind": msg.recipient_kind,
            "recipient_ref": msg.recipient_ref,
            "template": msg.template,
            "lang": msg.lang,
            "subject": subject,
            "body": body,
            "created_at": now.to_rfc3339(),
        });
        rows.push(delivery::ActiveModel {
            id: Set(id),
            message_id: Set(message_id),
            report_id: Set(msg.report_id),
            channel: Set(r.channel.clone()),
            idempotency_key: Set(format!("{}:{}", msg.dedupe_key, r.channel)),
            payload: Set(payload.to_string()),
            state: Set(state::PENDING.into()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_error: Set(None),
            delivered_at: Set(None),
            created_at: Set(now),
            traceparent: Set(m.traceparent.clone()),
        });
    }
    rows
}

/// Delivery states.
pub mod state {
    /// Waiting for its next attempt.
    pub const PENDING: &str = "pending";
    /// Accepted by the channel.
    pub const DELIVERED: &str = "delivered";
    /// Given up on; `last_error` says why.
    pub const DEAD: &str = "dead";
    /// Nothing to send to (no address); `last_error` says why.
    pub const SKIPPED: &str = "skipped";
}

/// The wait before attempt `attempt + 1` after `attempt` failed ones: `base * 2^(attempt-1)`,
/// capped at `max`, with "equal jitter" (half fixed, half random from `random`), so replicas
/// and receivers recovering together are not hit in lockstep.
pub fn backoff(attempt: u32, base: Duration, max: Duration, random: u64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let d = exp.min(max).as_millis().max(1) as u64;
    Duration::from_millis(d / 2 + random % (d / 2 + 1))
}

fn random() -> u64 {
    let b = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// A token bucket: at most `rate` sends per second on average, bursts of up to `rate`.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: tokio::time::Instant,
}

impl Bucket {
    fn new(rate: f64) -> Self {
        Self {
            rate,
            tokens: rate.max(1.0),
            at: tokio::time::Instant::now(),
        }
    }

    /// Waits until a send is allowed.
    async fn take(&mut self) {
        if self.rate <= 0.0 {
            return;
        }
        loop {
            let now = tokio::time::Instant::now();
            self.tokens =
                (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate.max(1.0));
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return;
            }
            tokio::time::sleep(Duration::from_secs_f64((1.0 - self.tokens) / self.rate)).await;
        }
    }
}

/// A target: how to send, and how fast.
pub struct Target {
    sender: Arc<dyn Sender>,
    bucket: Mutex<Bucket>,
}

impl Target {
    /// A target sending through `sender` at most `rate_per_sec` (0: unlimited).
    pub fn new(sender: Arc<dyn Sender>, rate_per_sec: f64) -> Self {
        Self {
            sender,
            bucket: Mutex::new(Bucket::new(rate_per_sec)),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Accepted by their channel.
    pub delivered: usize,
    /// Failed and scheduled again.
    pub retried: usize,
    /// Given up on.
    pub dead: usize,
    /// Nothing to send to.
    pub skipped: usize,
}

/// Sends due deliveries.
pub struct Dispatcher {
    db: DatabaseConnection,
    targets: HashMap<String, Target>,
    cfg: DeliveryConfig,
}

impl Dispatcher {
    /// A dispatcher over `targets` (by channel name).
    pub fn new(db: DatabaseConnection, targets: HashMap<String, Target>, cfg: DeliveryConfig) -> Self {
        Self { db, targets, cfg }
    }

    /// Claims due rows: moves their next attempt a lease ahead and counts the attempt.
    async fn claim(&self, now: DateTime<Utc>) -> Result<Vec<delivery::Model>, DbErr> {
        let txn = lapor_platform::db::begin_write(&self.db).await?;
        let rows = delivery::Entity::find()
            .filter(delivery::Column::State.eq(state::PENDING))
            .filter(delivery::Column::NextAttemptAt.lte(now))
            .order_by_asc(delivery::Column::NextAttemptAt)
            .limit(self.cfg.batch.max(1))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await?;
        let lease = now + chrono::Duration::seconds(i64::try_from(self.cfg.lease_secs.max(1)).unwrap_or(60));
        let mut claimed = Vec::with_capacity(rows.len());
        for r in rows {
            let mut m: delivery::ActiveModel = r.clone().into();
            m.attempts = Set(r.attempts + 1);
            m.next_attempt_at = Set(lease);
            claimed.push(m.update(&txn).await?);
        }
        txn.commit().await?;
        Ok(claimed)
    }

    /// One pass over the deliveries due at `now`.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<Pass, DbErr> {
        let mut done = Pass::default();
        for d in self.claim(now).await? {
            // A slow batch (timeouts, rate limits) can outlive the lease; a row whose lease ran
            // out may have been claimed by another replica: leave it to that one.
            if Utc::now() >= d.next_attempt_at {
                tracing::debug!(delivery_id = %d.id, "lease ran out before sending; left for the next claim");
                continue;
            }
            // The send continues the trace of the event that caused it.
            let span = tracing::info_span!(
                "deliver",
                otel.name = %format!("deliver {}", d.channel),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                lapor.report.id = %d.report_id,
                lapor.delivery.id = %d.id,
                lapor.delivery.channel = %d.channel,
                lapor.delivery.attempt = d.attempts,
            );
            lapor_platform::telemetry::set_parent(&span, d.traceparent.as_deref());
            let outcome = async {
                match self.targets.get(&d.channel) {
                    Some(t) => {
                        t.bucket.lock().await.take().await;
                        t.sender.send(&d).await
                    }
                    None => Err(SendError::permanent(format!(
                        "no channel {} is configured",
                        d.channel
                    ))),
                }
            }
            .instrument(span.clone())
            .await;
            let entered = span.enter();
            let kind = d.channel.split(':').next().unwrap_or_default().to_owned();
            let result = match &outcome {
                Ok(()) => "delivered",
                Err(e) if e.kind == Failure::NoAddress => "skipped",
                Err(e) if e.kind == Failure::Retryable => "failed_retryable",
                Err(_) => "failed_permanent",
            };
            if outcome.is_err() && result != "skipped" {
                span.record("otel.status_code", "ERROR");
            }
            lapor_platform::metrics::get().deliveries.add(
                1,
                &[
                    lapor_platform::metrics::attr("lapor.delivery.channel", kind),
                    lapor_platform::metrics::attr("lapor.outcome", result),
                ],
            );
            let at = Utc::now();
            let mut m: delivery::ActiveModel = d.clone().into();
            match outcome {
                Ok(()) => {
                    m.state = Set(state::DELIVERED.into());
                    m.delivered_at = Set(Some(at));
                    m.last_error = Set(None);
                    done.delivered += 1;
                    tracing::info!(delivery_id = %d.id, channel = %d.channel, attempts = d.attempts, "delivered");
                }
                Err(e) if e.kind == Failure::NoAddress => {
                    m.state = Set(state::SKIPPED.into());
                    m.last_error = Set(Some(e.reason.clone()));
                    done.skipped += 1;
                    tracing::info!(delivery_id = %d.id, channel = %d.channel, reason = %e.reason, "delivery skipped");
                }
                Err(e)
                    if e.kind == Failure::Retryable
                        && d.attempts < i32::try_from(self.cfg.max_attempts).unwrap_or(i32::MAX) =>
                {
                    let wait = backoff(
                        u32::try_from(d.attempts).unwrap_or(1),
                        Duration::from_millis(self.cfg.backoff_base_ms),
                        Duration::from_millis(self.cfg.backoff_max_ms),
                        random(),
                    );
                    m.next_attempt_at = Set(at + chrono::Duration::milliseconds(wait.as_millis() as i64));
                    m.last_error = Set(Some(e.reason.clone()));
                    done.retried += 1;
                    tracing::warn!(delivery_id = %d.id, channel = %d.channel, attempts = d.attempts, reason = %e.reason, retry_in_ms = wait.as_millis() as u64, "delivery failed; will retry");
                }
                Err(e) => {
                    m.state = Set(state::DEAD.into());
                    let why = if e.kind == Failure::Retryable {
                        format!("{} (gave up after {} attempts)", e.reason, d.attempts)
                    } else {
                        e.reason.clone()
                    };
                    m.last_error = Set(Some(why.clone()));
                    done.dead += 1;
                    tracing::error!(delivery_id = %d.id, channel = %d.channel, attempts = d.attempts, reason = %why, "delivery dead-lettered");
                }
            }
            drop(entered);
            m.update(&self.db).await?;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jitters_within_the_upper_half() {
        let (base, max) = (Duration::from_millis(100), Duration::from_millis(1000));
        for (attempt, full) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (30, 1000)] {
            let lo = backoff(attempt, base, max, 0).as_millis();
            let hi = backoff(attempt, base, max, u64::MAX - 1).as_millis();
            assert_eq!(lo, full / 2, "attempt {attempt}");
            assert!(hi >= lo && hi <= full, "attempt {attempt}: {hi}");
        }
    }

    #[test]
    fn a_signature_verifies_and_a_tampered_body_or_stale_time_does_not() {
        let now = Utc::now();
        let body = br#"{"subject":"Laporan diterima"}"#;
        let sig = sign("rahasia-webhook", now.timestamp(), body);
        let ts = now.timestamp().to_string();
        let tol = Duration::from_secs(300);
        assert_eq!(verify("rahasia-webhook", &ts, &sig, body, now, tol), Ok(()));
        let tampered = br#"{"subject":"Laporan ditolak"}"#;
        assert!(verify("rahasia-webhook", &ts, &sig, tampered, now, tol).is_err());
        assert!(verify("kunci-lain", &ts, &sig, body, now, tol).is_err());
        let later = now + chrono::Duration::minutes(10);
        assert_eq!(
            verify("rahasia-webhook", &ts, &sig, body, later, tol),
            Err("timestamp outside tolerance")
        );
    }
}
