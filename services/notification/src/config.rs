//! Notification's settings.

use lapor_platform::CommonConfig;
use serde::{Deserialize, Serialize};

/// An OPD's display name for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpdName {
    /// OPD id.
    pub id: String,
    /// Official name.
    pub name: String,
}

/// Notification configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Settings every service has.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// IANA time zone for dates in messages.
    pub time_zone: String,
    /// Language of messages: `id` (Bahasa Indonesia, default) or `en`.
    pub language: String,
    /// OPD names used in messages (the same `[[opds]]` list routing reads).
    pub opds: Vec<OpdName>,
    /// SLA policy (the same `[policy]` the other services read), for the periods messages name.
    pub policy: lapor_domain::SlaPolicy,
    /// Signed webhooks: every message to one of a webhook's recipient kinds is also POSTed there.
    pub webhooks: Vec<WebhookConfig>,
    /// Retries and pacing of deliveries outside the service.
    pub delivery: DeliveryConfig,
    /// E-mail over SMTP.
    pub email: EmailConfig,
    /// SMS through an HTTP gateway.
    pub sms: SmsConfig,
    /// intake's gRPC address: reporters' contact is fetched from it at send time.
    pub intake_url: String,
}

/// E-mail over SMTP. Reporters' addresses are fetched from intake at send time (never stored
/// here); OPD and official addresses are positions' mailboxes from `addresses`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailConfig {
    /// Off by default.
    pub enabled: bool,
    /// SMTP server.
    pub host: String,
    /// Port (587 with STARTTLS, 465 with TLS, 25 inside a trusted network).
    pub port: u16,
    /// `starttls` (required), `tls` (implicit) or `none` (only to a relay on a trusted network).
    pub tls: String,
    /// SMTP user (empty: no authentication).
    pub username: String,
    /// SMTP password (a secret: set it from the environment).
    pub password: String,
    /// Sender, e.g. `LAPOR! Kota Bontang <lapor@bontangkota.go.id>`.
    pub from: String,
    /// Recipient kinds that get e-mail: `reporter`, `opd`, `operator`, `official`.
    pub recipient_kinds: Vec<String>,
    /// Mailboxes of OPDs, the operator desk and officials, by recipient ref.
    pub addresses: Vec<Mailbox>,
    /// Most messages per second (0: unlimited).
    pub rate_per_sec: f64,
    /// Timeout of one SMTP exchange, milliseconds.
    pub timeout_ms: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "localhost".into(),
            port: 587,
            tls: "starttls".into(),
            username: String::new(),
            password: String::new(),
            from: "LAPOR! <lapor@localhost>".into(),
            recipient_kinds: ["reporter", "opd", "operator", "official"]
                .map(String::from)
                .to_vec(),
            addresses: Vec::new(),
            rate_per_sec: 5.0,
            timeout_ms: 10_000,
        }
    }
}

/// SMS through an HTTP gateway. Reporters' numbers are fetched from intake at send time;
/// officials' numbers (positions) come from `numbers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmsConfig {
    /// Off by default.
    pub enabled: bool,
    /// Gateway endpoint (`https://...`).
    pub url: String,
    /// Gateway API key, sent as a bearer token (a secret: set it from the environment).
    pub api_key: String,
    /// Sender id shown on the phone, e.g. `LAPOR-BTG`.
    pub sender: String,
    /// Recipient kinds that get SMS.
    pub recipient_kinds: Vec<String>,
    /// Numbers of officials and desks, by recipient ref.
    pub numbers: Vec<PhoneNumber>,
    /// Most messages per second (0: unlimited).
    pub rate_per_sec: f64,
    /// Request timeout, milliseconds.
    pub timeout_ms: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            api_key: String::new(),
            sender: "LAPOR".into(),
            recipient_kinds: vec!["reporter".into()],
            numbers: Vec::new(),
            rate_per_sec: 5.0,
            timeout_ms: 10_000,
        }
    }
}

/// A position's phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    /// Recipient ref: an official's position id, an OPD id or `operator`.
    #[serde(rename = "ref")]
    pub recipient: String,
    /// Number, e.g. `+6281234567890`.
    pub number: String,
}

/// A position's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Recipient ref: an OPD id, `operator`, or an official's position id.
    #[serde(rename = "ref")]
    pub recipient: String,
    /// Address.
    pub address: String,
}

/// A signed webhook target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    /// Name (letters, digits, `-`, `_`); the channel is `webhook:<name>`.
    pub name: String,
    /// `https://...` (or `http://` inside the cluster).
    pub url: String,
    /// HMAC-SHA256 key shared with the receiver (a secret: set it from the environment).
    pub secret: String,
    /// Recipient kinds it receives: `reporter`, `opd`, `operator`, `official`.
    pub recipient_kinds: Vec<String>,
    /// Most requests per second (0: unlimited).
    pub rate_per_sec: f64,
    /// Request timeout, milliseconds.
    pub timeout_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            secret: String::new(),
            recipient_kinds: Vec::new(),
            rate_per_sec: 10.0,
            timeout_ms: 10_000,
        }
    }
}

/// Retries and pacing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    /// Milliseconds between passes over due deliveries.
    pub poll_ms: u64,
    /// Deliveries claimed per pass.
    pub batch: u64,
    /// Attempts before a retryable failure is given up (dead letter).
    pub max_attempts: u32,
    /// First retry wait, milliseconds (doubling each attempt, with jitter).
    pub backoff_base_ms: u64,
    /// Longest retry wait, milliseconds.
    pub backoff_max_ms: u64,
    /// Seconds a claimed delivery is reserved for the replica sending it.
    pub lease_secs: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            poll_ms: 500,
            batch: 50,
            max_attempts: 8,
            backoff_base_ms: 2_000,
            backoff_max_ms: 3_600_000,
            lease_secs: 60,
        }
    }
}

impl Config {
    /// Every problem of the webhook and delivery settings, by field.
    pub fn violations(&self) -> lapor_domain::Violations {
        let mut v = lapor_domain::Violations::new();
        let kinds = ["reporter", "opd", "operator", "official"];
        if !crate::templates::LANGUAGES.contains(&self.language.as_str()) {
            v.add("language", "id or en");
        }
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            v.add("time_zone", "an IANA time zone");
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let f = |k: &str| format!("webhooks[{i}].{k}");
            if w.name.is_empty()
                || !w
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                v.add(f("name"), "letters, digits, '-' or '_'");
            } else if !names.insert(w.name.clone()) {
                v.add(f("name"), "used twice");
            }
            if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                v.add(f("url"), "an http(s) URL");
            }
            if w.secret.len() < 16 {
                v.add(f("secret"), "at least 16 characters");
            }
            if w.recipient_kinds.is_empty() {
                v.add(f("recipient_kinds"), "at least one");
            }
            for (j, k) in w.recipient_kinds.iter().enumerate() {
                if !kinds.contains(&k.as_str()) {
                    v.add(
                        format!("webhooks[{i}].recipient_kinds[{j}]"),
                        "reporter, opd, operator or official",
                    );
                }
            }
            if !(w.rate_per_sec >= 0.0 && w.rate_per_sec.is_finite()) {
                v.add(f("rate_per_sec"), "0 (unlimited) or more");
            }
        }
        if self.email.enabled {
            let e = &self.email;
            if e.host.trim().is_empty() {
                v.add("email.host", "required");
            }
            if !["starttls", "tls", "none"].contains(&e.tls.as_str()) {
                v.add("email.tls", "starttls, tls or none");
            }
            if e.from.parse::<lettre::message::Mailbox>().is_err() {
                v.add("email.from", "a mailbox, e.g. LAPOR! <lapor@example.go.id>");
            }
            for (j, k) in e.recipient_kinds.iter().enumerate() {
                if !kinds.contains(&k.as_str()) {
                    v.add(
                        format!("email.recipient_kinds[{j}]"),
                        "reporter, opd, operator or official",
                    );
                }
            }
            for (j, m) in e.addresses.iter().enumerate() {
                if m.address.parse::<lettre::Address>().is_err() {
                    v.add(format!("email.addresses[{j}].address"), "an e-mail address");
                }
            }
            if !(e.rate_per_sec >= 0.0 && e.rate_per_sec.is_finite()) {
                v.add("email.rate_per_sec", "0 (unlimited) or more");
            }
        }
        if self.sms.enabled {
            let m = &self.sms;
            if !(m.url.starts_with("https://") || m.url.starts_with("http://")) {
                v.add("sms.url", "an http(s) URL");
            }
            for (j, k) in m.recipient_kinds.iter().enumerate() {
                if !kinds.contains(&k.as_str()) {
                    v.add(
                        format!("sms.recipient_kinds[{j}]"),
                        "reporter, opd, operator or official",
                    );
                }
            }
            for (j, n) in m.numbers.iter().enumerate() {
                let digits = n.number.strip_prefix('+').unwrap_or(&n.number);
                if digits.len() < 8 || !digits.chars().all(|c| c.is_ascii_digit()) {
                    v.add(format!("sms.numbers[{j}].number"), "digits, optionally after +");
                }
            }
            if !(m.rate_per_sec >= 0.0 && m.rate_per_sec.is_finite()) {
                v.add("sms.rate_per_sec", "0 (unlimited) or more");
            }
        }
        if self.delivery.max_attempts == 0 {
            v.add("delivery.max_attempts", "at least 1");
        }
        if self.delivery.backoff_base_ms == 0 || self.delivery.backoff_max_ms < self.delivery.backoff_base_ms
        {
            v.add(
                "delivery.backoff_base_ms",
                "more than 0 and at most delivery.backoff_max_ms",
            );
        }
        v
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut common = CommonConfig::default();
        common.database.url = "sqlite://.lapor/data/notification.db?mode=rwc".into();
        common.database.schema = "notification".into();
        Self {
            common,
            time_zone: "Asia/Makassar".into(),
            language: "id".into(),
            opds: Vec::new(),
            policy: lapor_domain::SlaPolicy::default(),
            webhooks: Vec::new(),
            delivery: DeliveryConfig::default(),
            email: EmailConfig::default(),
            sms: SmsConfig::default(),
            intake_url: "http://127.0.0.1:50051".into(),
        }
    }
}
