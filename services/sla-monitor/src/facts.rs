//! From events to facts: what each event says that deadlines depend on.

use lapor_domain::deadlines::{Fact, Recorded};
use lapor_domain::events::{Envelope, Event};

/// The facts an event carries (none for events deadlines do not depend on).
pub fn of(env: &Envelope) -> Vec<Recorded> {
    let fact = match &env.event {
        Event::ReportSubmitted(e) => Some(Fact::Submitted {
            at: e.submitted_at,
            kind: e.content.kind,
        }),
        Event::ReportVerified(e) => Some(Fact::Classified {
            at: e.verified_at,
            kind: e.kind,
            needs_examination: e.needs_examination,
        }),
        Event::ReportPutOnHold(e) => Some(Fact::HoldStarted { from: e.held_at }),
        Event::ReportHoldCompleted(e) => Some(Fact::HoldEnded {
            from: e.held_at,
            to: e.completed_at,
        }),
        Event::ReportDeclaredNotAuthorized(e) => Some(Fact::Decided { at: e.declared_at }),
        Event::ReportArchived(e) => Some(Fact::Decided { at: e.archived_at }),
        Event::ReportDispatched(e) => Some(Fact::Dispatched {
            opd: e.opd_id.clone(),
            at: e.dispatched_at,
            submitted_at: e.submitted_at,
            kind: e.content.kind,
        }),
        Event::CaseFollowedUp(e) => Some(Fact::FollowedUp {
            opd: e.opd_id.clone(),
            at: e.posted_at,
        }),
        Event::CaseInfoRequested(e) => Some(Fact::AskStarted {
            opd: e.case.opd_id.clone(),
            from: e.requested_at,
        }),
        Event::CaseReplied(e) => e.answers_info_request_at.map(|from| Fact::AskEnded {
            from,
            to: e.replied_at,
        }),
        Event::CaseTransferRequested(e) => Some(Fact::TransferRequested {
            opd: e.opd_id.clone(),
            at: e.requested_at,
        }),
        Event::CaseClosed(e) => Some(Fact::Closed { at: e.closed_at }),
        Event::CaseOpened(_)
        | Event::CaseAssigned(_)
        | Event::CaseNoteAdded(_)
        | Event::CaseRated(_)
        | Event::OmbudsmanRequested(_)
        | Event::AttachmentAdded(_)
        | Event::ReportSupported(_)
        | Event::PublicNameChanged(_)
        | Event::SlaWarning(_)
        | Event::SlaBreached(_)
        | Event::SlaEscalated(_)
        | Event::CalendarChanged(_) => None,
    };
    fact.map(|fact| Recorded {
        event_id: env.id.as_uuid(),
        fact,
    })
    .into_iter()
    .collect()
}

/// Stored type name of a fact.
pub fn kind_of(f: &Fact) -> &'static str {
    match f {
        Fact::Submitted { .. } => "submitted",
        Fact::Classified { .. } => "classified",
        Fact::HoldStarted { .. } => "hold_started",
        Fact::HoldEnded { .. } => "hold_ended",
        Fact::Decided { .. } => "decided",
        Fact::Dispatched { .. } => "dispatched",
        Fact::FollowedUp { .. } => "followed_up",
        Fact::AskStarted { .. } => "ask_started",
        Fact::AskEnded { .. } => "ask_ended",
        Fact::TransferRequested { .. } => "transfer_requested",
        Fact::Closed { .. } => "closed",
    }
}
