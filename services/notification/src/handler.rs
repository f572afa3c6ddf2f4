//! Turning events into messages.

use chrono_tz::Tz;
use lapor_domain::events::{Envelope, Event};
use lapor_events::{Handler, HandlerError};
use sea_orm::DatabaseTransaction;

use crate::channel::{Channel, Outgoing};
use crate::config::Config;
use crate::templates;

/// The consumer of the events that notify someone.
pub struct Notifier<C> {
    channel: C,
    routes: Vec<crate::delivery::Route>,
    tz: Tz,
    opds: Vec<(String, String)>,
    reply_window_days: u32,
}

impl<C: Channel> Notifier<C> {
    /// A notifier delivering through `channel`.
    pub fn new(cfg: &Config, channel: C) -> Self {
        Self {
            channel,
            routes: crate::delivery::routes(cfg),
            tz: cfg.time_zone.parse().unwrap_or(chrono_tz::Asia::Makassar),
            opds: cfg.opds.iter().map(|o| (o.id.clone(), o.name.clone())).collect(),
            reply_window_days: cfg.policy.reply_window_days,
        }
    }

    fn opd_name(&self, id: &str) -> String {
        self.opds
            .iter()
            .find(|(k, _)| k == id)
            .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
    }

    fn messages(&self, env: &Envelope) -> Vec<Outgoing> {
        let Some(report) = env.event.report_id() else {
            // City-wide events (a calendar change) tell nobody.
            return Vec::new();
        };
        let mk = |kind: &'static str,
                  to: String,
                  template: &'static str,
                  (subject, body): (String, String)| Outgoing {
            dedupe_key: format!("{}:{kind}:{to}:{template}", env.id),
            event_id: env.id.as_uuid(),
            report_id: report.as_uuid(),
            recipient_kind: kind,
            recipient_ref: to,
            template,
            subject,
            body,
        };
        match &env.event {
            Event::ReportSubmitted(e) => vec![mk(
                "reporter",
                e.reporter_ref.to_string(),
                "report_received",
                templates::report_received(
                    e.tracking_id.as_str(),
                    &templates::local_time(e.submitted_at, self.tz),
                ),
            )],
            Event::CaseOpened(e) => vec![
                mk(
                    "reporter",
                    e.reporter_ref.to_string(),
                    "case_opened",
                    templates::case_opened_reporter(
                        e.tracking_id.as_str(),
                        &self.opd_name(e.opd_id.as_str()),
                    ),
                ),
                mk(
                    "opd",
                    e.opd_id.to_string(),
                    "case_new",
                    templates::case_opened_opd(
                        e.tracking_id.as_str(),
                        &templates::local_time(e.opened_at, self.tz),
                    ),
                ),
            ],
            Event::ReportPutOnHold(e) => vec![mk(
                "reporter",
                e.reporter_ref.to_string(),
                "report_on_hold",
                templates::report_on_hold(e.tracking_id.as_str(), &e.reason),
            )],
            Event::CaseFollowedUp(e) => vec![mk(
                "reporter",
                e.reporter_ref.to_string(),
                "case_followed_up",
                templates::followed_up(
                    e.tracking_id.as_str(),
                    &self.opd_name(e.opd_id.as_str()),
                    &e.text,
                    self.reply_window_days,
                ),
            )],
            Event::CaseInfoRequested(e) => vec![mk(
                "reporter",
                e.case.reporter_ref.to_string(),
                "case_info_requested",
                templates::info_requested(
                    e.case.tracking_id.as_str(),
                    &self.opd_name(e.case.opd_id.as_str()),
                    &e.question,
                ),
            )],
            Event::CaseReplied(e) => vec![mk(
                "opd",
                e.case.opd_id.to_string(),
                "case_replied",
                templates::replied(
                    e.case.tracking_id.as_str(),
                    e.by == lapor_domain::lifecycle::Replier::Reporter,
                    e.answers_info_request_at.is_some(),
                ),
            )],
            Event::CaseClosed(e) => vec![mk(
                "reporter",
                e.case.reporter_ref.to_string(),
                "case_closed",
                templates::closed(
                    e.case.tracking_id.as_str(),
                    e.by == lapor_domain::lifecycle::Closer::Reporter,
                ),
            )],
            Event::OmbudsmanRequested(e) => vec![mk(
                "reporter",
                e.case.reporter_ref.to_string(),
                "ombudsman_requested",
                templates::ombudsman_requested(e.case.tracking_id.as_str()),
            )],
            Event::SlaWarning(e) => {
                let (kind, to) = holder(&e.deadline);
                vec![mk(
                    kind,
                    to,
                    "sla_warning",
                    templates::sla_warning(
                        &e.deadline.report_id.to_string(),
                        templates::step_name(e.deadline.step),
                        &templates::local_time(e.deadline.due_at, self.tz),
                    ),
                )]
            }
            Event::SlaBreached(e) => {
                let (kind, to) = holder(&e.deadline);
                vec![mk(
                    kind,
                    to,
                    "sla_breached",
                    templates::sla_breached(
                        &e.deadline.report_id.to_string(),
                        templates::step_name(e.deadline.step),
                        &templates::local_time(e.deadline.due_at, self.tz),
                    ),
                )]
            }
            // The liaison level goes to the OPD's inbox; higher levels to each named official.
            Event::SlaEscalated(e) if e.level <= 1 => {
                let (kind, to) = holder(&e.deadline);
                vec![mk(
                    kind,
                    to,
                    "sla_escalated",
                    templates::sla_escalated(
                        &e.deadline.report_id.to_string(),
                        templates::step_name(e.deadline.step),
                        e.overdue_working_days,
                        &e.position,
                    ),
                )]
            }
            Event::SlaEscalated(e) => e
                .officials
                .iter()
                .map(|o| {
                    mk(
                        "official",
                        o.clone(),
                        "sla_escalated",
                        templates::sla_escalated(
                            &e.deadline.report_id.to_string(),
                            templates::step_name(e.deadline.step),
                            e.overdue_working_days,
                            &e.position,
                        ),
                    )
                })
                .collect(),
            // Verification, Bukan Wewenang and Arsip notices come with the notification issue.
            Event::ReportDispatched(_)
            | Event::ReportVerified(_)
            | Event::ReportDeclaredNotAuthorized(_)
            | Event::ReportArchived(_)
            | Event::CaseTransferRequested(_)
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

impl<C: Channel> Handler for Notifier<C> {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let now = chrono::Utc::now();
        for msg in self.messages(env) {
            let id = self.channel.deliver(txn, &msg).await?;
            crate::delivery::enqueue(txn, id, &msg, &self.routes, now).await?;
            tracing::info!(report_id = %msg.report_id, recipient_kind = msg.recipient_kind, template = msg.template, channel = self.channel.name(), "notification recorded");
        }
        Ok(())
    }
}
