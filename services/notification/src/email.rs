//! E-mail over SMTP. The delivery names its recipient by pseudonymous ref; the address is looked
//! up only when sending: a reporter's from intake's identity store (`ResolveIdentity`, which
//! only allow-listed services may call and which intake audits), an OPD's, the operator desk's
//! or an official's from the configured position mailboxes. No address is stored here.

use std::collections::HashMap;
use std::time::Duration;

use lapor_platform::Role;
use lapor_platform::config::AuthConfig;
use lapor_proto::intake::v1::{self as pi, intake_service_client::IntakeServiceClient};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use tonic::transport::Channel;

use crate::config::EmailConfig;
use crate::delivery::{SendError, Sender};
use crate::entities::delivery;

/// What an e-mail needs from a delivery's payload.
#[derive(Deserialize)]
struct Payload {
    report_id: String,
    recipient_kind: String,
    recipient_ref: String,
    template: String,
    subject: String,
    body: String,
}

/// Sends e-mail through one SMTP server.
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    mailboxes: HashMap<String, Vec<String>>,
    intake: IntakeServiceClient<Channel>,
    auth: AuthConfig,
}

impl EmailSender {
    /// A sender for `cfg`, fetching reporters' addresses from intake at `intake_url`.
    pub fn new(cfg: &EmailConfig, intake_url: &str, auth: &AuthConfig) -> anyhow::Result<Self> {
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
        let intake = tonic::transport::Endpoint::from_shared(intake_url.to_owned())
            .map_err(|e| anyhow::anyhow!("intake_url: {e}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        Ok(Self {
            transport: builder.build(),
            from: cfg.from.parse().map_err(|e| anyhow::anyhow!("email.from: {e}"))?,
            mailboxes,
            intake: IntakeServiceClient::new(intake),
            auth: auth.clone(),
        })
    }

    /// The reporter's address, from intake, now.
    async fn reporter_address(&self, p: &Payload) -> Result<Vec<String>, SendError> {
        let token = lapor_platform::auth::mint(&self.auth, "notification", Role::Service, None, 60)
            .map_err(|e| SendError::permanent(format!("minting a service token: {e}")))?;
        let mut req = tonic::Request::new(pi::ResolveIdentityRequest {
            report_id: p.report_id.clone(),
            reason: format!("notification: e-mail {}", p.template),
            on_behalf_of: "notification".into(),
            on_behalf_of_role: Role::Service.as_str().into(),
        });
        let bearer = format!("Bearer {token}")
            .parse()
            .map_err(|_| SendError::permanent("service token is not a header value"))?;
        req.metadata_mut().insert("authorization", bearer);
        match self.intake.clone().resolve_identity(req).await {
            Ok(r) => Ok(r
                .into_inner()
                .reporter
                .map(|c| c.email)
                .filter(|e| !e.trim().is_empty())
                .into_iter()
                .collect()),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(Vec::new()),
            Err(s)
                if s.code() == tonic::Code::PermissionDenied || s.code() == tonic::Code::Unauthenticated =>
            {
                Err(SendError::permanent(format!(
                    "intake refused the contact lookup: {}",
                    s.message()
                )))
            }
            Err(s) => Err(SendError::retryable(format!(
                "intake contact lookup failed: {}",
                s.message()
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Sender for EmailSender {
    async fn send(&self, d: &delivery::Model) -> Result<(), SendError> {
        let p: Payload = serde_json::from_str(&d.payload)
            .map_err(|e| SendError::permanent(format!("bad delivery payload: {e}")))?;
        let to = if p.recipient_kind == "reporter" {
            self.reporter_address(&p).await?
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
