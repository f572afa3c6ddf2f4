//! Turning events into messages: who hears what (the notices of each event, with the variables
//! their templates use), rendered from the templates in force in the configured language.

use std::sync::Arc;

use chrono_tz::Tz;
use lapor_domain::events::{Envelope, Event};
use lapor_events::{BatchError, BatchItem, Handler, HandlerError};
use sea_orm::{DatabaseTransaction, EntityTrait};
use serde_json::Value;

use crate::channel::{Channel, Outgoing};
use crate::config::Config;
use crate::templates::{self, Templates, vars};

/// One recipient's notice of an event, before rendering.
struct Notice {
    recipient_kind: &'static str,
    recipient_ref: String,
    template: &'static str,
    vars: Value,
}

/// The consumer of the events that notify someone.
pub struct Notifier<C> {
    channel: C,
    routes: Vec<crate::delivery::Route>,
    templates: Arc<Templates>,
    rules: Arc<crate::rules::Rules>,
    lang: String,
    tz: Tz,
    opds: Vec<(String, String)>,
    reply_window_days: u32,
    verification_days: u32,
    first_follow_up_days: u32,
}

impl<C: Channel> Notifier<C> {
    /// A notifier delivering through `channel`, rendering from `templates`.
    pub fn new(cfg: &Config, channel: C, templates: Arc<Templates>, rules: Arc<crate::rules::Rules>) -> Self {
        Self {
            channel,
            routes: crate::delivery::routes(cfg),
            templates,
            rules,
            lang: cfg.language.clone(),
            tz: cfg.time_zone.parse().unwrap_or(chrono_tz::Asia::Makassar),
            opds: cfg.opds.iter().map(|o| (o.id.clone(), o.name.clone())).collect(),
            reply_window_days: cfg.policy.reply_window_days,
            verification_days: cfg.policy.verification_days,
            first_follow_up_days: cfg.policy.first_follow_up_days,
        }
    }

    fn opd_name(&self, id: &str) -> String {
        self.opds
            .iter()
            .find(|(k, _)| k == id)
            .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
    }

    fn at(&self, t: chrono::DateTime<chrono::Utc>) -> Value {
        templates::local_time(t, self.tz).into()
    }

    /// Who hears of `env`, with which template and variables.
    fn notices(&self, env: &Envelope) -> Vec<Notice> {
        let n = |recipient_kind: &'static str, recipient_ref: String, template: &'static str, vars: Value| {
            Notice {
                recipient_kind,
                recipient_ref,
                template,
                vars,
            }
        };
        let deadline_vars = |d: &lapor_domain::events::DeadlineRef| {
            (
                Value::from(d.report_id.to_string()),
                Value::from(templates::step_code(d.step)),
                self.at(d.due_at),
            )
        };
        match &env.event {
            Event::ReportSubmitted(e) => vec![n(
                "reporter",
                e.reporter_ref.to_string(),
                "report_received",
                vars([
                    ("tracking_id", e.tracking_id.as_str().into()),
                    ("at", self.at(e.submitted_at)),
                    ("verification_days", self.verification_days.into()),
                ]),
            )],
            Event::ReportVerified(e) => vec![n(
                "reporter",
                e.reporter_ref.to_string(),
                "report_verified",
                vars([("tracking_id", e.tracking_id.as_str().into())]),
            )],
            Event::CaseOpened(e) => vec![
                n(
                    "reporter",
                    e.reporter_ref.to_string(),
                    "case_opened",
                    vars([
                        ("tracking_id", e.tracking_id.as_str().into()),
                        ("opd_name", self.opd_name(e.opd_id.as_str()).into()),
                    ]),
                ),
                n(
                    "opd",
                    e.opd_id.to_string(),
                    "case_new",
                    vars([
                        ("tracking_id", e.tracking_id.as_str().into()),
                        ("at", self.at(e.opened_at)),
                        ("first_follow_up_days", self.first_follow_up_days.into()),
                    ]),
                ),
            ],
            Event::ReportPutOnHold(e) => vec![n(
                "reporter",
                e.reporter_ref.to_string(),
                "report_on_hold",
                vars([
                    ("tracking_id", e.tracking_id.as_str().into()),
                    ("reason", e.reason.clone().into()),
                ]),
            )],
            Event::CaseFollowedUp(e) => vec![n(
                "reporter",
                e.reporter_ref.to_string(),
                "case_followed_up",
                vars([
                    ("tracking_id", e.tracking_id.as_str().into()),
                    ("opd_name", self.opd_name(e.opd_id.as_str()).into()),
                    ("text", e.text.clone().into()),
                    ("window_days", self.reply_window_days.into()),
                ]),
            )],
            Event::CaseInfoRequested(e) => vec![n(
                "reporter",
                e.case.reporter_ref.to_string(),
                "case_info_requested",
                vars([
                    ("tracking_id", e.case.tracking_id.as_str().into()),
                    ("opd_name", self.opd_name(e.case.opd_id.as_str()).into()),
                    ("question", e.question.clone().into()),
                ]),
            )],
            Event::CaseReplied(e) => vec![n(
                "opd",
                e.case.opd_id.to_string(),
                "case_replied",
                vars([
                    ("tracking_id", e.case.tracking_id.as_str().into()),
                    (
                        "by_reporter",
                        (e.by == lapor_domain::lifecycle::Replier::Reporter).into(),
                    ),
                    ("answers_question", e.answers_info_request_at.is_some().into()),
                ]),
            )],
            Event::CaseTransferRequested(e) => vec![n(
                "operator",
                "operator".into(),
                "case_transfer_requested",
                vars([
                    ("tracking_id", e.tracking_id.as_str().into()),
                    ("opd_name", self.opd_name(e.opd_id.as_str()).into()),
                    ("reason", e.reason.clone().into()),
                ]),
            )],
            Event::CaseClosed(e) => vec![n(
                "reporter",
                e.case.reporter_ref.to_string(),
                "case_closed",
                vars([
                    ("tracking_id", e.case.tracking_id.as_str().into()),
                    (
                        "by_reporter",
                        (e.by == lapor_domain::lifecycle::Closer::Reporter).into(),
                    ),
                ]),
            )],
            Event::OmbudsmanRequested(e) => vec![n(
                "reporter",
                e.case.reporter_ref.to_string(),
                "ombudsman_requested",
                vars([("tracking_id", e.case.tracking_id.as_str().into())]),
            )],
            Event::SlaWarning(e) => {
                let (kind, to) = holder(&e.deadline);
                let (report, step, due) = deadline_vars(&e.deadline);
                vec![n(
                    kind,
                    to,
                    "sla_warning",
                    vars([("report", report), ("step", step), ("due", due)]),
                )]
            }
            Event::SlaBreached(e) => {
                let (kind, to) = holder(&e.deadline);
                let (report, step, due) = deadline_vars(&e.deadline);
                vec![n(
                    kind,
                    to,
                    "sla_breached",
                    vars([("report", report), ("step", step), ("due", due)]),
                )]
            }
            Event::SlaEscalated(e) => {
                let (report, step, _) = deadline_vars(&e.deadline);
                let v = vars([
                    ("report", report),
                    ("step", step),
                    ("days", e.overdue_working_days.into()),
                    ("level", e.position.clone().into()),
                ]);
                // The liaison level goes to the OPD's inbox; higher levels to each named official.
                if e.level <= 1 {
                    let (kind, to) = holder(&e.deadline);
                    vec![n(kind, to, "sla_escalated", v)]
                } else {
                    e.officials
                        .iter()
                        .map(|o| n("official", o.clone(), "sla_escalated", v.clone()))
                        .collect()
                }
            }
            // Bukan Wewenang and Arsip notices: not in the list; the reporter sees them
            // in the status.
            Event::ReportDispatched(_)
            | Event::ReportDeclaredNotAuthorized(_)
            | Event::ReportArchived(_)
            | Event::ReportHoldCompleted(_)
            | Event::CaseAssigned(_)
            | Event::CaseNoteAdded(_)
            | Event::CaseRated(_)
            | Event::AttachmentAdded(_)
            | Event::ReportSupported(_)
            | Event::PublicNameChanged(_)
            | Event::CalendarChanged(_) => Vec::new(),
        }
    }
}

/// Who holds a deadline: the OPD's inbox, or the operator for the operator's steps.
fn holder(d: &lapor_domain::events::DeadlineRef) -> (&'static str, String) {
    match &d.opd_id {
        Some(o) => ("opd", o.to_string()),
        None => ("operator", "operator".to_owned()),
    }
}

/// What one event makes: its reporter's credential (a submission) and its rendered messages
/// with the routes each may take.
struct Made {
    credential: Option<crate::entities::credential::ActiveModel>,
    messages: Vec<(Outgoing, Vec<crate::delivery::Route>)>,
}

impl<C: Channel> Notifier<C> {
    /// The credential and messages of `env`, rendered from the templates in force.
    fn make(&self, env: &Envelope) -> Result<Made, HandlerError> {
        let mut made = Made {
            credential: None,
            messages: Vec::new(),
        };
        let Some(report) = env.event.report_id() else {
            // City-wide events (a calendar change) tell nobody.
            return Ok(made);
        };
        if let Event::ReportSubmitted(e) = &env.event
            && !e.access_token_hash.is_empty()
        {
            // The reporter reads their inbox with the tracking id and access token.
            made.credential = Some(crate::entities::credential::ActiveModel {
                report_id: sea_orm::Set(e.report_id.as_uuid()),
                tracking_id: sea_orm::Set(e.tracking_id.as_str().to_owned()),
                token_hash: sea_orm::Set(e.access_token_hash.clone()),
            });
        }
        for n in self.notices(env) {
            let rule = self.rules.decide(n.template, n.recipient_kind);
            if !rule.enabled {
                tracing::debug!(
                    template = n.template,
                    recipient_kind = n.recipient_kind,
                    "not told (rule disabled)"
                );
                continue;
            }
            let routes: Vec<crate::delivery::Route> = self
                .routes
                .iter()
                .filter(|r| rule.channels.iter().any(|c| c == r.kind()))
                .cloned()
                .collect();
            let (subject, body) = self
                .templates
                .render(n.template, &self.lang, self.channel.name(), &n.vars)
                .map_err(HandlerError::Permanent)?;
            let msg = Outgoing {
                dedupe_key: format!(
                    "{}:{}:{}:{}",
                    env.id, n.recipient_kind, n.recipient_ref, n.template
                ),
                event_id: env.id.as_uuid(),
                report_id: report.as_uuid(),
                recipient_kind: n.recipient_kind,
                recipient_ref: n.recipient_ref,
                template: n.template,
                lang: self.lang.clone(),
                vars: n.vars,
                subject,
                body,
                event_at: env.occurred_at,
            };
            made.messages.push((msg, routes));
        }
        Ok(made)
    }
}

impl<C: Channel> Handler for Notifier<C> {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        lapor_events::consumer::as_batch_of_one(self, txn, env).await
    }

    /// Every message of the batch's events rendered first (a template that cannot render fails
    /// its event alone), then written together: one statement for the credentials, one for the
    /// messages, one for the deliveries outside the service.
    async fn handle_batch(
        &self,
        txn: &DatabaseTransaction,
        items: &[BatchItem<'_>],
    ) -> Result<(), BatchError> {
        // The batch's messages side by side (no copies): `owner[k]` is the item message k tells of.
        let (mut credentials, mut outgoing, mut routes, mut owner) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, item) in items.iter().enumerate() {
            let made = item
                .span
                .in_scope(|| self.make(item.env))
                .map_err(|error| BatchError { at: Some(i), error })?;
            credentials.extend(made.credential);
            for (msg, r) in made.messages {
                outgoing.push(msg);
                routes.push(r);
                owner.push(i);
            }
        }
        if !credentials.is_empty() {
            crate::entities::credential::Entity::insert_many(credentials)
                .on_conflict(
                    sea_orm::sea_query::OnConflict::column(crate::entities::credential::Column::ReportId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await
                .map_err(BatchError::whole)?;
        }
        if outgoing.is_empty() {
            return Ok(());
        }
        let ids = self
            .channel
            .deliver(txn, &outgoing)
            .await
            .map_err(BatchError::whole)?;
        if ids.len() != outgoing.len() {
            return Err(BatchError::whole(HandlerError::Permanent(format!(
                "the channel returned {} ids for {} messages",
                ids.len(),
                outgoing.len()
            ))));
        }
        let traceparents: Vec<Option<String>> = items
            .iter()
            .map(|item| lapor_platform::telemetry::traceparent_of(item.span))
            .collect();
        let mut to_send = Vec::with_capacity(outgoing.len());
        for (k, msg) in outgoing.iter().enumerate() {
            let item = &items[owner[k]];
            item.span.in_scope(|| {
                tracing::info!(report_id = %msg.report_id, recipient_kind = msg.recipient_kind, template = msg.template, channel = self.channel.name(), "notification recorded");
            });
            to_send.push(crate::delivery::ToSend {
                message_id: ids[k],
                msg,
                routes: &routes[k],
                traceparent: traceparents[owner[k]].clone(),
            });
        }
        let now = chrono::Utc::now();
        crate::delivery::enqueue(txn, &to_send, &self.templates, now)
            .await
            .map_err(BatchError::whole)?;
        Ok(())
    }
}
