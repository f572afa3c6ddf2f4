//! Bearer-token authentication: every RPC except health and reflection needs a JWT whose claims
//! name the caller's role (and, for OPD officers, their OPD). Handlers read the [`Caller`] from
//! the request extensions, where the interceptor puts it.

use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lapor_domain::OpdId;
use serde::{Deserialize, Serialize};
use tonic::{Request, Status};

use crate::config::AuthConfig;

/// Roles a caller can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A citizen (or the public front acting for one).
    Reporter,
    /// A Diskominfo operator.
    Operator,
    /// An OPD liaison officer; the token names the OPD.
    OpdOfficer,
    /// Head of OPD, Sekda, mayor: read across OPDs.
    Supervisor,
    /// Inspectorate or auditor: read-only.
    Auditor,
    /// Another system (a lapor service or an integrated government system).
    Service,
}

impl Role {
    /// All roles.
    pub const ALL: [Role; 6] = [
        Self::Reporter,
        Self::Operator,
        Self::OpdOfficer,
        Self::Supervisor,
        Self::Auditor,
        Self::Service,
    ];

    /// Claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reporter => "reporter",
            Self::Operator => "operator",
            Self::OpdOfficer => "opd_officer",
            Self::Supervisor => "supervisor",
            Self::Auditor => "auditor",
            Self::Service => "service",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// JWT claims lapor reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user or system id.
    pub sub: String,
    /// Role.
    pub role: Role,
    /// OPD of an `opd_officer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opd_id: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
}

/// The authenticated caller of an RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Subject.
    pub subject: String,
    /// Role.
    pub role: Role,
    /// OPD, for OPD officers (always set for them).
    pub opd: Option<OpdId>,
}

impl Caller {
    /// Returns PERMISSION_DENIED unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Status> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "role {} may not call this method",
                self.role.as_str()
            )))
        }
    }

    /// Reads the caller that the interceptor stored in the request.
    pub fn of<T>(req: &Request<T>) -> Result<Caller, Status> {
        req.extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("no authenticated caller"))
    }
}

/// Verifies bearer tokens against the configured keys.
#[derive(Clone)]
pub struct Authenticator {
    keys: Arc<Vec<DecodingKey>>,
    validation: Arc<Validation>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Authenticator {
    /// Builds an authenticator from configuration.
    pub fn new(cfg: &AuthConfig) -> Self {
        let keys = cfg
            .hs256_secrets
            .iter()
            .map(|s| DecodingKey::from_secret(s.as_bytes()))
            .collect();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&[&cfg.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Self {
            keys: Arc::new(keys),
            validation: Arc::new(validation),
        }
    }

    /// Verifies a token and returns the caller.
    pub fn verify(&self, token: &str) -> Result<Caller, Status> {
        let mut last = None;
        for key in self.keys.iter() {
            match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
                Ok(data) => return caller_from(data.claims),
                Err(e) => last = Some(e),
            }
        }
        let why = last.map_or_else(|| "no keys configured".to_owned(), |e| e.to_string());
        Err(Status::unauthenticated(format!("invalid bearer token: {why}")))
    }

    /// The tonic interceptor: reads `authorization: Bearer <jwt>` and stores the [`Caller`].
    pub fn intercept(&self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let header = req
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token>"))?;
        let value = header
            .to_str()
            .map_err(|_| Status::unauthenticated("authorization header is not text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be: Bearer <token>"))?;
        let caller = self.verify(token.trim())?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

fn caller_from(c: Claims) -> Result<Caller, Status> {
    let opd = match (&c.role, c.opd_id.as_deref()) {
        (Role::OpdOfficer, Some(o)) => Some(
            o.parse::<OpdId>()
                .map_err(|e| Status::unauthenticated(format!("token opd_id: {e}")))?,
        ),
        (Role::OpdOfficer, None) => {
            return Err(Status::unauthenticated(
                "an opd_officer token must name its opd_id",
            ));
        }
        _ => None,
    };
    if c.sub.trim().is_empty() {
        return Err(Status::unauthenticated("token subject is empty"));
    }
    Ok(Caller {
        subject: c.sub,
        role: c.role,
        opd,
    })
}

/// Mints a token (development and tests; production tokens come from the city's identity
/// provider). `ttl_secs` from now.
pub fn mint(
    cfg: &AuthConfig,
    subject: &str,
    role: Role,
    opd_id: Option<&str>,
    ttl_secs: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: subject.to_owned(),
        role,
        opd_id: opd_id.map(str::to_owned),
        iss: cfg.issuer.clone(),
        aud: cfg.audience.clone(),
        exp: now + ttl_secs,
        iat: now,
    };
    let secret = cfg.hs256_secrets.first().map_or("", String::as_str);
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let cfg = AuthConfig::default();
        let auth = Authenticator::new(&cfg);
        let t = mint(&cfg, "op-1", Role::Operator, None, 60).unwrap();
        assert_eq!(auth.verify(&t).unwrap().role, Role::Operator);
        let o = mint(&cfg, "pj-1", Role::OpdOfficer, Some("dinkes"), 60).unwrap();
        assert_eq!(auth.verify(&o).unwrap().opd.unwrap().as_str(), "dinkes");
        let missing_opd = mint(&cfg, "pj-1", Role::OpdOfficer, None, 60).unwrap();
        assert!(auth.verify(&missing_opd).is_err());
        let expired = mint(&cfg, "op-1", Role::Operator, None, -3600).unwrap();
        assert!(auth.verify(&expired).is_err());
        let other = AuthConfig {
            hs256_secrets: vec!["another-secret-of-enough-length".into()],
            ..cfg.clone()
        };
        let forged = mint(&other, "op-1", Role::Operator, None, 60).unwrap();
        assert!(auth.verify(&forged).is_err());
        assert!(auth.verify("garbage").is_err());
    }
}
