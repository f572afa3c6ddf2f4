//! Subjects and stream name. One exhaustive match maps each event to its subject, so a new event
//! cannot ship without one.

use lapor_domain::events::Event;

/// Subject naming under a prefix (`lapor` in production, unique per test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

/// Subject suffix of `ReportSubmitted`.
pub const REPORT_SUBMITTED: &str = "report.submitted";
/// Subject suffix of `ReportDispatched`.
pub const REPORT_DISPATCHED: &str = "report.dispatched";
/// Subject suffix of `CaseOpened`.
pub const CASE_OPENED: &str = "case.opened";
/// Subject suffix of `ReportVerified`.
pub const REPORT_VERIFIED: &str = "report.verified";
/// Subject suffix of `ReportPutOnHold`.
pub const REPORT_PUT_ON_HOLD: &str = "report.put_on_hold";
/// Subject suffix of `ReportDeclaredNotAuthorized`.
pub const REPORT_NOT_AUTHORIZED: &str = "report.not_authorized";
/// Subject suffix of `ReportArchived`.
pub const REPORT_ARCHIVED: &str = "report.archived";
/// Subject suffix of `ReportHoldCompleted`.
pub const REPORT_HOLD_COMPLETED: &str = "report.hold_completed";
/// Subject suffix of `CaseFollowedUp`.
pub const CASE_FOLLOWED_UP: &str = "case.followed_up";
/// Subject suffix of `CaseTransferRequested`.
pub const CASE_TRANSFER_REQUESTED: &str = "case.transfer_requested";
/// Subject suffix of `CaseAssigned`.
pub const CASE_ASSIGNED: &str = "case.assigned";
/// Subject suffix of `CaseNoteAdded`.
pub const CASE_NOTE_ADDED: &str = "case.note_added";
/// Subject suffix of `CaseInfoRequested`.
pub const CASE_INFO_REQUESTED: &str = "case.info_requested";
/// Subject suffix of `CaseReplied`.
pub const CASE_REPLIED: &str = "case.replied";
/// Subject suffix of `CaseClosed`.
pub const CASE_CLOSED: &str = "case.closed";
/// Subject suffix of `CaseRated`.
pub const CASE_RATED: &str = "case.rated";
/// Subject suffix of `OmbudsmanRequested`.
pub const OMBUDSMAN_REQUESTED: &str = "case.ombudsman_requested";
/// Subject suffix of `AttachmentAdded`.
pub const ATTACHMENT_ADDED: &str = "case.attachment_added";
/// Subject suffix of `ReportSupported`.
pub const REPORT_SUPPORTED: &str = "case.supported";
/// Subject suffix of `PublicNameChanged`.
pub const PUBLIC_NAME_CHANGED: &str = "case.public_name_changed";
/// Subject suffix of `SlaWarning`.
pub const SLA_WARNING: &str = "sla.warning";
/// Subject suffix of `SlaBreached`.
pub const SLA_BREACHED: &str = "sla.breached";
/// Subject suffix of `SlaEscalated`.
pub const SLA_ESCALATED: &str = "sla.escalated";
/// Subject suffix of `CalendarChanged`.
pub const CALENDAR_CHANGED: &str = "calendar.changed";

impl Subjects {
    /// Subjects under `prefix`, which must be a NATS token (letters, digits, `_`, `-`).
    pub fn new(prefix: &str) -> Result<Self, String> {
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "nats.prefix must be letters, digits, '_' or '-', got {prefix:?}"
            ));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// Returns the prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Name of the JetStream stream holding every event under the prefix.
    pub fn stream_name(&self) -> String {
        format!("{}_EVENTS", self.prefix.to_uppercase().replace('-', "_"))
    }

    /// Wildcard covering every event under the prefix.
    pub fn all(&self) -> String {
        format!("{}.>", self.prefix)
    }

    /// Full subject for a suffix such as [`REPORT_SUBMITTED`].
    pub fn subject(&self, suffix: &str) -> String {
        format!("{}.{}", self.prefix, suffix)
    }

    /// Subject an event is published on.
    pub fn for_event(&self, event: &Event) -> String {
        let suffix = match event {
            Event::ReportSubmitted(_) => REPORT_SUBMITTED,
            Event::ReportDispatched(_) => REPORT_DISPATCHED,
            Event::CaseOpened(_) => CASE_OPENED,
            Event::ReportVerified(_) => REPORT_VERIFIED,
            Event::ReportPutOnHold(_) => REPORT_PUT_ON_HOLD,
            Event::ReportDeclaredNotAuthorized(_) => REPORT_NOT_AUTHORIZED,
            Event::ReportArchived(_) => REPORT_ARCHIVED,
            Event::CaseTransferRequested(_) => CASE_TRANSFER_REQUESTED,
            Event::ReportHoldCompleted(_) => REPORT_HOLD_COMPLETED,
            Event::CaseFollowedUp(_) => CASE_FOLLOWED_UP,
            Event::CaseAssigned(_) => CASE_ASSIGNED,
            Event::CaseNoteAdded(_) => CASE_NOTE_ADDED,
            Event::CaseInfoRequested(_) => CASE_INFO_REQUESTED,
            Event::CaseReplied(_) => CASE_REPLIED,
            Event::CaseClosed(_) => CASE_CLOSED,
            Event::CaseRated(_) => CASE_RATED,
            Event::OmbudsmanRequested(_) => OMBUDSMAN_REQUESTED,
            Event::AttachmentAdded(_) => ATTACHMENT_ADDED,
            Event::ReportSupported(_) => REPORT_SUPPORTED,
            Event::PublicNameChanged(_) => PUBLIC_NAME_CHANGED,
            Event::SlaWarning(_) => SLA_WARNING,
            Event::SlaBreached(_) => SLA_BREACHED,
            Event::SlaEscalated(_) => SLA_ESCALATED,
            Event::CalendarChanged(_) => CALENDAR_CHANGED,
        };
        self.subject(suffix)
    }
}
