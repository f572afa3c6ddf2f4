//! The IntakeService gRPC API.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lapor_domain::content::{ContentLimits, RawContent, ReportContent};
use lapor_domain::events::{Envelope, Event, ReportSubmitted};
use lapor_domain::{Channel, EventId, Privacy, ReportId, ReportKind, ReporterRef, TrackingId, Violations};
use lapor_events::codec::{self, channel_from_proto, kind_from_proto, location_from_proto, ts};
use lapor_events::{Bus, enqueue};
use lapor_platform::{Caller, Role};
use lapor_proto::intake::v1::{self as pb, intake_service_server::IntakeService};
use prost::Message;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::config::Config;
use crate::entities::{identity, identity_access, report};
use crate::error::Error;
use crate::identity::{Identity, IdentityCipher};
use crate::token;
use crate::writer::{Rows, Writer, Written};

/// The API state.
pub struct Api {
    identity_readers: Vec<String>,
    contact_readers: Vec<String>,
    db: DatabaseConnection,
    bus: Bus,
    relay_wake: Arc<Notify>,
    writer: Writer,
    cipher: IdentityCipher,
    token_key: String,
    limits: ContentLimits,
    tz: Tz,
}

impl Api {
    pub fn new(
        cfg: &Config,
        db: DatabaseConnection,
        bus: Bus,
        relay_wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        if cfg.identity_key == crate::config::DEV_IDENTITY_KEY
            || cfg.token_key == crate::config::DEV_TOKEN_KEY
        {
            tracing::warn!(
                "intake runs with the development identity or token key; set LAPOR_INTAKE__IDENTITY_KEY and LAPOR_INTAKE__TOKEN_KEY in production"
            );
        }
        Ok(Self {
            identity_readers: cfg.identity_readers.clone(),
            contact_readers: cfg.contact_readers.clone(),
            writer: Writer::start(db.clone(), bus.clone(), cfg.submit_writers, cfg.submit_batch_max),
            db,
            bus,
            relay_wake,
            cipher: IdentityCipher::new(&cfg.identity_key, &cfg.identity_key_id)?,
            token_key: cfg.token_key.clone(),
            limits: cfg.limits,
            tz: cfg
                .time_zone
                .parse()
                .map_err(|_| anyhow::anyhow!("unknown time_zone {:?}", cfg.time_zone))?,
        })
    }
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn validate_contact(c: Option<&pb::ReporterContact>, anonim: bool, v: &mut Violations) -> Option<Identity> {
    let c = c.cloned().unwrap_or_default();
    let id = Identity {
        name: c.name.trim().to_owned(),
        nik: c.nik.trim().to_owned(),
        phone: c.phone.trim().to_owned(),
        email: c.email.trim().to_owned(),
    };
    if id.name.chars().count() > 200 {
        v.add("reporter.name", "must have at most 200 characters");
    }
    if !anonim && id.name.is_empty() {
        v.add(
            "reporter.name",
            "reporter.name is required unless the report is anonymous",
        );
    }
    if !id.nik.is_empty() && (id.nik.len() != 16 || !id.nik.chars().all(|c| c.is_ascii_digit())) {
        v.add("reporter.nik", "NIK must be 16 digits");
    }
    if !id.phone.is_empty()
        && (id.phone.len() > 20
            || !id
                .phone
                .chars()
                .all(|c| c.is_ascii_digit() || "+-() ".contains(c)))
    {
        v.add(
            "reporter.phone",
            "phone must be at most 20 digits, spaces, +, -, ( or )",
        );
    }
    if !id.email.is_empty() {
        let ok = id.email.len() <= 254
            && id
                .email
                .split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.contains('@'));
        if !ok {
            v.add("reporter.email", "not an e-mail address");
        }
    }
    let any = !(id.name.is_empty() && id.nik.is_empty() && id.phone.is_empty() && id.email.is_empty());
    any.then_some(id)
}

struct Accepted {
    report_id: Uuid,
    tracking_id: String,
    submitted_at: DateTime<Utc>,
    replayed: bool,
}

impl Api {
    fn response(&self, a: Accepted) -> pb::SubmitReportResponse {
        lapor_platform::telemetry::record_report(a.report_id, Some(&a.tracking_id));
        pb::SubmitReportResponse {
            report_id: a.report_id.to_string(),
            tracking_id: a.tracking_id,
            access_token: token::derive(&self.token_key, a.report_id),
            submitted_at: Some(ts(a.submitted_at)),
            replayed: a.replayed,
        }
    }

    async fn replay(&self, idem: &str, fingerprint: &str) -> Result<Option<Accepted>, Error> {
        let Some(row) = report::Entity::find()
            .filter(report::Column::Idempotency.eq(idem))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        if row.fingerprint != fingerprint {
            let mut v = Violations::new();
            v.add(
                "idempotency_key",
                "this idempotency_key was already used for a different report",
            );
            return Err(Error::InvalidArgument(v));
        }
        Ok(Some(Accepted {
            report_id: row.id,
            tracking_id: row.tracking_id,
            submitted_at: row.submitted_at,
            replayed: true,
        }))
    }

    /// The rows of a new submission, with a fresh report id, reporter pseudonym and tracking id.
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        caller: &Caller,
        idem: &str,
        fingerprint: &str,
        content: &ReportContent,
        channel: Channel,
        identity: Option<&Identity>,
        now: DateTime<Utc>,
    ) -> Result<(Rows, Accepted), Error> {
        let report_id = Uuid::now_v7();
        let reporter_ref = Uuid::new_v4();
        let mut bits = [0u8; 8];
        getrandom::fill(&mut bits).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
        let tracking = TrackingId::from_random(u64::from_be_bytes(bits));
        let identity = identity
            .map(|id| {
                let (nonce, ciphertext) = self
                    .cipher
                    .seal(reporter_ref, id)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                Ok::<_, Error>(identity::ActiveModel {
                    reporter_ref: Set(reporter_ref),
                    key_id: Set(self.cipher.key_id().to_owned()),
                    nonce: Set(nonce),
                    ciphertext: Set(ciphertext),
                    created_at: Set(now),
                })
            })
            .transpose()?;
        let traceparent = lapor_platform::telemetry::current_traceparent();
        let report = report::ActiveModel {
            id: Set(report_id),
            tracking_id: Set(tracking.to_string()),
            idempotency: Set(idem.to_owned()),
            fingerprint: Set(fingerprint.to_owned()),
            kind: Set(content.kind.code().to_owned()),
            title: Set(content.title.clone()),
            body: Set(content.body.clone()),
            category_id: Set(content.category.as_ref().map(ToString::to_string)),
            incident_date: Set(content.incident_date),
            location: Set(content
                .location
                .as_ref()
                .map(|l| serde_json::to_value(l).unwrap_or(serde_json::Value::Null))),
            anonim: Set(content.privacy.anonim),
            rahasia: Set(content.privacy.rahasia),
            channel: Set(channel.code().to_owned()),
            reporter_ref: Set(reporter_ref),
            submitted_by: Set(caller.subject.clone()),
            submitted_at: Set(now),
            held_at: Set(None),
            hold_reason: Set(None),
            duplicate_of_tracking_id: Set(None),
            status: Set(lapor_domain::Status::Submitted.code().to_owned()),
            status_at: Set(now),
            trace_id: Set(traceparent
                .as_deref()
                .and_then(|tp| tp.split('-').nth(1).map(str::to_owned))),
        };
        let env = Envelope {
            id: EventId::from_uuid(Uuid::now_v7()),
            occurred_at: now,
            event: Event::ReportSubmitted(ReportSubmitted {
                report_id: ReportId::from_uuid(report_id),
                tracking_id: tracking.clone(),
                content: content.clone(),
                channel,
                reporter_ref: ReporterRef::from_uuid(reporter_ref),
                submitted_at: now,
                access_token_hash: lapor_platform::reporter::token_hash(&token::derive(
                    &self.token_key,
                    report_id,
                )),
            }),
        };
        let rows = Rows {
            report_id,
            identity,
            report,
            event: (env, traceparent),
        };
        Ok((
            rows,
            Accepted {
                report_id,
                tracking_id: tracking.to_string(),
                submitted_at: now,
                replayed: false,
            },
        ))
    }

    async fn submit(
        &self,
        caller: Caller,
        r: pb::SubmitReportRequest,
    ) -> Result<pb::SubmitReportResponse, Error> {
        let now = Utc::now();
        let today = now.with_timezone(&self.tz).date_naive();
        let mut v = Violations::new();
        let key = r.idempotency_key.trim();
        if key.is_empty() {
            v.add("idempotency_key", "idempotency_key is required");
        } else if key.len() > 128 || key.chars().any(char::is_control) {
            v.add("idempotency_key", "must be 1-128 printable characters");
        }
        let location = match r.location.as_ref().map(location_from_proto).transpose() {
            Ok(l) => l,
            Err(e) => {
                v.add("location", e);
                None
            }
        };
        let channel = channel_from_proto(r.channel);
        if channel.is_none() {
            v.add("channel", "unknown channel");
        }
        let privacy = Privacy {
            anonim: r.anonim,
            rahasia: r.rahasia,
        };
        let raw = RawContent {
            kind: kind_from_proto(r.kind),
            title: &r.title,
            body: &r.body,
            category: r.category_id.trim(),
            incident_date: r.incident_date.trim(),
            location,
            privacy,
        };
        let content = ReportContent::validate(raw, &self.limits, today)
            .map_err(|e| v.0.extend(e.0))
            .ok();
        let identity = validate_contact(r.reporter.as_ref(), r.anonim, &mut v);
        v.into_result().map_err(Error::InvalidArgument)?;
        let (Some(content), Some(channel)) = (content, channel) else {
            return Err(Error::Internal("validated content missing".into()));
        };
        let idem = sha256_hex(&[caller.subject.as_bytes(), key.as_bytes()]);
        let fingerprint = {
            let mut canonical = r.clone();
            canonical.idempotency_key.clear();
            sha256_hex(&[&canonical.encode_to_vec()])
        };
        // Insert first: a repeated key is rare and shows as a skipped row (`Written::Taken`), so
        // a new report costs no look-up round trip. Concurrent submissions are committed together.
        for _ in 0..3 {
            let (rows, accepted) = self.prepare(
                &caller,
                &idem,
                &fingerprint,
                &content,
                channel,
                identity.as_ref(),
                now,
            )?;
            match self.writer.write(rows).await? {
                Written::Stored => {
                    let a = accepted;
                    self.relay_wake.notify_one();
                    tracing::info!(report_id = %a.report_id, tracking_id = %a.tracking_id, kind = content.kind.code(), "report accepted");
                    return Ok(self.response(a));
                }
                Written::Taken => {
                    // A retry with the same key came first (or at the same time), or the
                    // tracking id collided (then try again with another).
                    if let Some(a) = self.replay(&idem, &fingerprint).await? {
                        return Ok(self.response(a));
                    }
                }
            }
        }
        Err(Error::Internal("could not allocate a unique tracking id".into()))
    }
}

/// A request for a reporter's identity or contact, as logged.
struct Ask<'a> {
    report_id: &'a str,
    reason: &'a str,
    /// The request's name for `reason` (for field violations).
    reason_field: &'static str,
    on_behalf_of: &'a str,
    on_behalf_of_role: &'a str,
}

impl Api {
    /// Opens a report's stored identity for an allow-listed service, writing every request
    /// (answered with `outcome`, refused, invalid or without identity) to the access log.
    async fn reveal(
        &self,
        caller: &Caller,
        ask: &Ask<'_>,
        readers: &[String],
        outcome_ok: &str,
    ) -> Result<(crate::identity::Identity, bool), Status> {
        let allowed = caller.role == Role::Service && readers.contains(&caller.subject);
        let mut v = Violations::new();
        let report_id = v.check("report_id", ask.report_id.parse::<ReportId>());
        if ask.reason.trim().is_empty() {
            v.add(ask.reason_field, "required: why it is needed");
        }
        let outcome = if !allowed {
            "refused"
        } else if !v.is_empty() {
            "invalid"
        } else {
            ""
        };
        let log = |outcome: &str| identity_access::ActiveModel {
            report_ref: Set(ask.report_id.chars().take(64).collect()),
            caller: Set(caller.subject.clone()),
            caller_role: Set(caller.role.as_str().to_owned()),
            on_behalf_of: Set(ask.on_behalf_of.chars().take(200).collect()),
            on_behalf_of_role: Set(ask.on_behalf_of_role.chars().take(50).collect()),
            reason: Set(ask.reason.chars().take(1000).collect()),
            outcome: Set(outcome.to_owned()),
            at: Set(Utc::now()),
            ..Default::default()
        };
        if !outcome.is_empty() {
            log(outcome).insert(&self.db).await.map_err(Error::from)?;
            tracing::warn!(caller = %caller.subject, %outcome, "identity request not answered");
            if !allowed {
                return Err(Status::permission_denied(
                    "only allow-listed lapor services may resolve identities",
                ));
            }
            return Err(Error::InvalidArgument(v).into());
        }
        let Some(report_id) = report_id else {
            return Err(Status::internal("validated id missing"));
        };
        lapor_platform::telemetry::record_report(report_id, None);
        let row = report::Entity::find_by_id(report_id.as_uuid())
            .one(&self.db)
            .await
            .map_err(Error::from)?;
        let found = match &row {
            Some(rep) => identity::Entity::find_by_id(rep.reporter_ref)
                .one(&self.db)
                .await
                .map_err(Error::from)?,
            None => None,
        };
        let (Some(rep), Some(stored)) = (row, found) else {
            log("no_identity").insert(&self.db).await.map_err(Error::from)?;
            return Err(Error::NotFound("no identity is stored for that report").into());
        };
        let id = self
            .cipher
            .open(stored.reporter_ref, &stored.nonce, &stored.ciphertext)
            .map_err(|e| Error::Internal(e.to_string()))?;
        log(outcome_ok).insert(&self.db).await.map_err(Error::from)?;
        tracing::info!(report_id = %report_id, caller = %caller.subject, on_behalf_of = %ask.on_behalf_of, outcome = outcome_ok, "identity opened");
        Ok((id, rep.anonim))
    }
}

#[tonic::async_trait]
impl IntakeService for Api {
    async fn submit_report(
        &self,
        req: Request<pb::SubmitReportRequest>,
    ) -> Result<Response<pb::SubmitReportResponse>, Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Reporter, Role::Operator, Role::Service])?;
        Ok(Response::new(self.submit(caller, req.into_inner()).await?))
    }

    async fn get_submission(
        &self,
        req: Request<pb::GetSubmissionRequest>,
    ) -> Result<Response<pb::GetSubmissionResponse>, Status> {
        Caller::of(&req)?;
        let r = req.into_inner();
        let tracking: TrackingId = r.tracking_id.parse().map_err(|e: lapor_domain::ids::IdError| {
            lapor_platform::status::invalid_field("tracking_id", e.to_string())
        })?;
        let not_found = || {
            Status::from(Error::NotFound(
                "no report with that tracking id and access token",
            ))
        };
        let row = report::Entity::find()
            .filter(report::Column::TrackingId.eq(tracking.as_str()))
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or_else(not_found)?;
        if !token::verify(&self.token_key, row.id, &r.access_token) {
            return Err(not_found());
        }
        // A duplicate's reporter follows the original's progress.
        let original_status = match &row.duplicate_of_tracking_id {
            Some(t) => report::Entity::find()
                .filter(report::Column::TrackingId.eq(t.as_str()))
                .one(&self.db)
                .await
                .map_err(Error::from)?
                .map_or(0, |o| codec::status_code_to_proto(&o.status)),
            None => 0,
        };
        Ok(Response::new(pb::GetSubmissionResponse {
            report_id: row.id.to_string(),
            tracking_id: row.tracking_id,
            kind: ReportKind::from_code(&row.kind).map_or(0, |k| codec::kind_to_proto(k) as i32),
            title: row.title,
            anonim: row.anonim,
            rahasia: row.rahasia,
            submitted_at: Some(ts(row.submitted_at)),
            hold_reason: row
                .hold_reason
                .filter(|_| row.held_at.is_some())
                .unwrap_or_default(),
            status: codec::status_code_to_proto(&row.status),
            duplicate_of_status: original_status,
            duplicate_of_tracking_id: row.duplicate_of_tracking_id.unwrap_or_default(),
        }))
    }

    async fn resolve_identity(
        &self,
        req: Request<pb::ResolveIdentityRequest>,
    ) -> Result<Response<pb::ResolveIdentityResponse>, Status> {
        let caller = Caller::of(&req)?;
        let r = req.into_inner();
        let ask = Ask {
            report_id: &r.report_id,
            reason: &r.reason,
            reason_field: "reason",
            on_behalf_of: &r.on_behalf_of,
            on_behalf_of_role: &r.on_behalf_of_role,
        };
        let (id, anonim) = self
            .reveal(&caller, &ask, &self.identity_readers, "revealed")
            .await?;
        Ok(Response::new(pb::ResolveIdentityResponse {
            reporter: Some(pb::ReporterContact {
                name: id.name,
                nik: id.nik,
                phone: id.phone,
                email: id.email,
            }),
            anonim,
        }))
    }

    async fn resolve_contact(
        &self,
        req: Request<pb::ResolveContactRequest>,
    ) -> Result<Response<pb::ResolveContactResponse>, Status> {
        let caller = Caller::of(&req)?;
        let r = req.into_inner();
        let ask = Ask {
            report_id: &r.report_id,
            reason: &r.purpose,
            reason_field: "purpose",
            on_behalf_of: &caller.subject,
            on_behalf_of_role: caller.role.as_str(),
        };
        let (id, _) = self
            .reveal(&caller, &ask, &self.contact_readers, "contact")
            .await?;
        Ok(Response::new(pb::ResolveContactResponse {
            email: id.email,
            phone: id.phone,
        }))
    }

    async fn complete_report(
        &self,
        req: Request<pb::CompleteReportRequest>,
    ) -> Result<Response<pb::CompleteReportResponse>, Status> {
        Caller::of(&req)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let tracking = v.check("tracking_id", r.tracking_id.parse::<TrackingId>());
        let addition = r.addition.trim().to_owned();
        if !(10..=5000).contains(&addition.chars().count()) {
            v.add("addition", "must have 10 to 5000 characters");
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let Some(tracking) = tracking else {
            return Err(Status::internal("validated id missing"));
        };
        let not_found = || {
            Status::from(Error::NotFound(
                "no report with that tracking id and access token",
            ))
        };
        let txn = lapor_platform::db::begin_write(&self.db)
            .await
            .map_err(Error::from)?;
        let row = report::Entity::find()
            .filter(report::Column::TrackingId.eq(tracking.as_str()))
            .one(&txn)
            .await
            .map_err(Error::from)?
            .ok_or_else(not_found)?;
        if !token::verify(&self.token_key, row.id, &r.access_token) {
            return Err(not_found());
        }
        let Some(held_at) = row.held_at else {
            return Err(Status::failed_precondition(
                "the report is not waiting for you to complete it",
            ));
        };
        let now = Utc::now();
        let local = now.with_timezone(&self.tz).format("%d-%m-%Y %H:%M");
        let body = format!("{}\n\n[Tambahan pelapor {local}]\n{addition}", row.body);
        let res = report::Entity::update_many()
            .col_expr(report::Column::Body, sea_orm::sea_query::Expr::value(body))
            .col_expr(
                report::Column::HeldAt,
                sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                report::Column::Status,
                sea_orm::sea_query::Expr::value(lapor_domain::Status::Submitted.code()),
            )
            .col_expr(report::Column::StatusAt, sea_orm::sea_query::Expr::value(now))
            .filter(report::Column::Id.eq(row.id))
            .filter(report::Column::HeldAt.eq(held_at))
            .exec(&txn)
            .await
            .map_err(Error::from)?;
        if res.rows_affected != 1 {
            return Err(Status::failed_precondition(
                "the report changed meanwhile; try again",
            ));
        }
        let env = Envelope {
            id: EventId::from_uuid(Uuid::now_v7()),
            occurred_at: now,
            event: Event::ReportHoldCompleted(lapor_domain::events::ReportHoldCompleted {
                report_id: ReportId::from_uuid(row.id),
                tracking_id: tracking,
                addition,
                held_at,
                completed_at: now,
                reporter_ref: ReporterRef::from_uuid(row.reporter_ref),
            }),
        };
        enqueue(&txn, &self.bus, &env).await.map_err(Error::from)?;
        txn.commit().await.map_err(Error::from)?;
        self.relay_wake.notify_one();
        tracing::info!(report_id = %row.id, "held report completed by its reporter");
        Ok(Response::new(pb::CompleteReportResponse {
            completed_at: Some(ts(now)),
        }))
    }

    async fn get_trace(
        &self,
        req: Request<pb::GetTraceRequest>,
    ) -> Result<Response<pb::GetTraceResponse>, Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor, Role::Auditor, Role::Service])?;
        let tracking = req
            .get_ref()
            .tracking_id
            .parse::<TrackingId>()
            .map_err(|e| lapor_platform::status::invalid_field("tracking_id", e.to_string()))?;
        let row = report::Entity::find()
            .filter(report::Column::TrackingId.eq(tracking.as_str()))
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound("no report with that tracking id"))?;
        Ok(Response::new(pb::GetTraceResponse {
            report_id: row.id.to_string(),
            trace_id: row.trace_id.unwrap_or_default(),
        }))
    }
}
