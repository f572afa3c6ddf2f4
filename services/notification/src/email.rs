//! E-mail over SMTP. The delivery names its recipient by pseudonymous ref; the address is looked
//! up only when sending: a reporter's from intake's identity store (`ResolveContact`, which
//! only the notification service may call and which intake audits), an OPD's, the operator desk's
//! or an official's from the configured position mailboxes. No address is stored here.

use std::collections::HashMap;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::EmailConfig;
use crate::contact::{Contacts, Payload};
use crate::delivery::{SendError, Sender};
use crate::entities::delivery;

/// Sends e-mail through one SMTP server.
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    mailboxes: HashMap<String, Vec<String>>,
    contacts: Contacts,
}

impl EmailSender {
    /// A sender for `cfg`, fetching reporters' addresses from intake at `intake_url`.
    pub fn new(cfg: &EmailConfig, contacts: Contacts) -> anyhow::Result<Self> {
        let builder = match cfg.tls.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host)?,
            "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)?,
            _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
        };
        let mut builder = builder
            .port(cfg.port)
            .timeout(Some(Duration::from_millis(cfg.timeout_ms.max(1))));
        if !cfg.username.is_empty() {
            builder = builder.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
        }
        let mut mailboxes: HashMap<String, Vec<String>> = HashMap::new();
        for m in &cfg.addresses {
            mailboxes
                .entry(m.recipient.clone())
                .or_default()
                .push(m.address.clone());
        }
        Ok(Self {
            transport: builder.build(),
            from: cfg.from.parse().map_err(|e| anyhow::anyhow!("email.from: {e}"))?,
            mailboxes,
            contacts,
        })
    }
}

#[async_trait::async_trait]
impl Sender for EmailSender {
    async fn send(&self, d: &delivery::Model) -> Result<(), SendError> {
        let p = Payload::of(d)?;
        let to: Vec<String> = if p.recipient_kind == "reporter" {
            self.contacts
                .reporter(&p, "e-mail")
                .await?
                .map(|c| c.email)
                .filter(|e| !e.trim().is_empty())
                .into_iter()
                .collect()
        } else {
            self.mailboxes.get(&p.recipient_ref).cloned().unwrap_or_default()
        };
        if to.is_empty() {
            return Err(SendError::no_address(format!(
                "no e-mail address for this {}",
                p.recipient_kind
            )));
        }
        let mut m = Message::builder()
            .from(self.from.clone())
            .subject(p.subject)
            .message_id(Some(format!("<{}@lapor>", d.id)))
            .header(ContentType::TEXT_PLAIN);
        for a in &to {
            let mbox: Mailbox = a
                .parse()
                .map_err(|e| SendError::permanent(format!("bad address: {e}")))?;
            m = m.to(mbox);
        }
        let msg = m
            .body(p.body)
            .map_err(|e| SendError::permanent(format!("building the e-mail: {e}")))?;
        match self.transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::retryable(format!("SMTP: {e}"))),
        }
    }
}
