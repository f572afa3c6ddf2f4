//! Intake's settings.

use lapor_domain::content::ContentLimits;
use lapor_platform::CommonConfig;
use serde::{Deserialize, Serialize};

/// Development key for identity encryption (base64 of 32 bytes). Never use it in production.
pub const DEV_IDENTITY_KEY: &str = "bGFwb3ItZGV2LWlkZW50aXR5LWtleS0zMmJ5dGVzISE=";
/// Development key for reporter access tokens. Never use it in production.
pub const DEV_TOKEN_KEY: &str = "lapor-dev-reporter-token-key-change-me";

/// Intake configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Settings every service has.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Limits on report content.
    pub limits: ContentLimits,
    /// Largest request accepted, in bytes.
    pub max_request_bytes: usize,
    /// AES-256-GCM key for reporter identity at rest, base64 (32 bytes). Identity rows record the
    /// key id, so keys can be rotated.
    pub identity_key: String,
    /// Id of `identity_key`, stored with each row.
    pub identity_key_id: String,
    /// HMAC key from which reporter access tokens are derived.
    pub token_key: String,
    /// IANA time zone of the city (bounds incident dates).
    pub time_zone: String,
    /// Subjects of the services (role `service`) that may call ResolveIdentity (the whole
    /// identity, for a person authorized to see it).
    pub identity_readers: Vec<String>,
    /// Subjects of the services that may call ResolveContact (e-mail and phone only, to send a
    /// reporter their own notifications).
    pub contact_readers: Vec<String>,
    /// Submissions written in one transaction at most (group commit: those waiting together
    /// are committed together).
    pub submit_batch_max: usize,
    /// Submission transactions in flight at once (each on its own pooled connection).
    pub submit_writers: usize,
}

impl Default for Config {
    fn default() -> Self {
        let mut common = CommonConfig::default();
        common.database.url = "sqlite://.lapor/data/intake.db?mode=rwc".into();
        common.database.schema = "intake".into();
        Self {
            common,
            limits: ContentLimits::default(),
            max_request_bytes: 256 * 1024,
            identity_key: DEV_IDENTITY_KEY.into(),
            identity_key_id: "dev".into(),
            token_key: DEV_TOKEN_KEY.into(),
            time_zone: "Asia/Makassar".into(),
            identity_readers: vec!["routing".into()],
            contact_readers: vec!["notification".into()],
            submit_batch_max: 64,
            submit_writers: 2,
        }
    }
}
