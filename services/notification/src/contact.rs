//! Reporters' contact (e-mail and phone only), fetched from intake's identity store at send time
//! and never stored here. intake's ResolveContact answers only its `contact_readers` (the
//! `notification` service identity) and writes every request, answered or refused, to its
//! identity access log.

use std::time::Duration;

use lapor_platform::Role;
use lapor_platform::config::AuthConfig;
use lapor_proto::intake::v1::{self as pi, intake_service_client::IntakeServiceClient};
use serde::Deserialize;
use tonic::transport::Channel;

use crate::delivery::SendError;

/// What a channel needs from a delivery's payload.
#[derive(Debug, Deserialize)]
pub struct Payload {
    /// Report.
    pub report_id: String,
    /// `reporter`, `opd`, `operator`, `official`.
    pub recipient_kind: String,
    /// Pseudonymous ref.
    pub recipient_ref: String,
    /// Template name.
    pub template: String,
    /// Rendered subject.
    pub subject: String,
    /// Rendered body.
    pub body: String,
}

impl Payload {
    /// Reads a delivery's payload.
    pub fn of(d: &crate::entities::delivery::Model) -> Result<Self, SendError> {
        serde_json::from_str(&d.payload)
            .map_err(|e| SendError::permanent(format!("bad delivery payload: {e}")))
    }
}

/// Looks reporters' contact up in intake.
#[derive(Clone)]
pub struct Contacts {
    intake: IntakeServiceClient<Channel>,
    auth: AuthConfig,
}

impl Contacts {
    /// A lookup against intake at `intake_url`, authenticating as the `notification` service.
    pub fn new(intake_url: &str, auth: &AuthConfig) -> anyhow::Result<Self> {
        let intake = tonic::transport::Endpoint::from_shared(intake_url.to_owned())
            .map_err(|e| anyhow::anyhow!("intake_url: {e}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        Ok(Self {
            intake: IntakeServiceClient::new(intake),
            auth: auth.clone(),
        })
    }

    /// The reporter's e-mail and phone for `p` (None: the report has no stored identity), for
    /// `channel` (written to intake's access log with the template).
    pub async fn reporter(
        &self,
        p: &Payload,
        channel: &str,
    ) -> Result<Option<pi::ResolveContactResponse>, SendError> {
        let token = lapor_platform::auth::mint(&self.auth, "notification", Role::Service, None, 60)
            .map_err(|e| SendError::permanent(format!("minting a service token: {e}")))?;
        let mut req = tonic::Request::new(pi::ResolveContactRequest {
            report_id: p.report_id.clone(),
            purpose: format!("{channel} {}", p.template),
        });
        let bearer = format!("Bearer {token}")
            .parse()
            .map_err(|_| SendError::permanent("service token is not a header value"))?;
        req.metadata_mut().insert("authorization", bearer);
        lapor_platform::telemetry::inject_into_metadata(req.metadata_mut());
        match self.intake.clone().resolve_contact(req).await {
            Ok(r) => Ok(Some(r.into_inner())),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
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
