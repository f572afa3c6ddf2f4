//! SMS through an HTTP gateway (the city's provider or a WhatsApp/SMS aggregator): a JSON POST
//! `{"to", "text", "sender", "reference"}` with the API key as a bearer token. A reporter's
//! phone number is fetched from intake at send time; officials' numbers come from the settings.
//! The text is the template's `sms` variant when there is one.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::SmsConfig;
use crate::contact::{Contacts, Payload};
use crate::delivery::{SendError, Sender};
use crate::entities::delivery;

/// Sends SMS through one gateway.
pub struct SmsSender {
    url: String,
    api_key: String,
    sender: String,
    numbers: HashMap<String, Vec<String>>,
    contacts: Contacts,
    client: reqwest::Client,
}

impl SmsSender {
    /// A sender for `cfg`.
    pub fn new(cfg: &SmsConfig, contacts: Contacts) -> anyhow::Result<Self> {
        let mut numbers: HashMap<String, Vec<String>> = HashMap::new();
        for n in &cfg.numbers {
            numbers
                .entry(n.recipient.clone())
                .or_default()
                .push(n.number.clone());
        }
        Ok(Self {
            url: cfg.url.clone(),
            api_key: cfg.api_key.clone(),
            sender: cfg.sender.clone(),
            numbers,
            contacts,
            client: reqwest::Client::builder()
                .timeout(Duration::from_millis(cfg.timeout_ms.max(1)))
                .build()?,
        })
    }
}

#[async_trait::async_trait]
impl Sender for SmsSender {
    async fn send(&self, d: &delivery::Model) -> Result<(), SendError> {
        let p = Payload::of(d)?;
        let to: Vec<String> = if p.recipient_kind == "reporter" {
            self.contacts
                .reporter(&p, "sms")
                .await?
                .map(|c| c.phone)
                .filter(|n| !n.trim().is_empty())
                .into_iter()
                .collect()
        } else {
            self.numbers.get(&p.recipient_ref).cloned().unwrap_or_default()
        };
        if to.is_empty() {
            return Err(SendError::no_address(format!(
                "no phone number for this {}",
                p.recipient_kind
            )));
        }
        for (i, number) in to.iter().enumerate() {
            let body = serde_json::json!({
                "to": number,
                "text": p.body,
                "sender": self.sender,
                "reference": format!("{}-{i}", d.id),
            });
            let mut req = self
                .client
                .post(&self.url)
                .header("Content-Type", "application/json")
                .body(body.to_string());
            if !self.api_key.is_empty() {
                req = req.bearer_auth(&self.api_key);
            }
            let r = req
                .send()
                .await
                .map_err(|e| SendError::retryable(format!("request failed: {e}")))?;
            let s = r.status();
            if !s.is_success() {
                let reason = format!("HTTP {}", s.as_u16());
                return Err(if s.is_server_error() || s.as_u16() == 408 || s.as_u16() == 429 {
                    SendError::retryable(reason)
                } else {
                    SendError::permanent(reason)
                });
            }
        }
        Ok(())
    }
}
