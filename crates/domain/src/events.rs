//! The events on the bus, in domain types. `lapor-events` maps them to and from their one proto
//! schema (`proto/lapor/events/v1/events.proto`) and to their subjects.

use chrono::{DateTime, Utc};

use crate::content::{Channel, Privacy, ReportContent, ReportKind};
use crate::ids::{CaseId, CategoryId, EventId, OpdId, ReportId, ReporterRef, TrackingId};
use crate::lifecycle::{Closer, Replier};
use crate::sla::Step;

/// A report was durably accepted by intake. Carries no reporter identity.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSubmitted {
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// Validated content.
    pub content: ReportContent,
    /// Channel.
    pub channel: Channel,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
    /// Acceptance time.
    pub submitted_at: DateTime<Utc>,
    /// SHA-256 of the reporter's access token, lowercase hex: lets other services check the
    /// reporter's proof of ownership without holding the key that derives tokens.
    pub access_token_hash: String,
}

/// A report was dispatched to an OPD.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportDispatched {
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// Target OPD.
    pub opd_id: OpdId,
    /// Content as the OPD should see it.
    pub content: ReportContent,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
    /// Submission time.
    pub submitted_at: DateTime<Utc>,
    /// Dispatch time.
    pub dispatched_at: DateTime<Utc>,
    /// Rule that dispatched it, if a rule did.
    pub rule_id: Option<String>,
    /// Operator who dispatched it, if one did.
    pub dispatched_by: Option<String>,
}

/// An OPD case was opened.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseOpened {
    /// Case id.
    pub case_id: CaseId,
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// Holding OPD.
    pub opd_id: OpdId,
    /// Kind of submission.
    pub kind: ReportKind,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
    /// Opening time.
    pub opened_at: DateTime<Utc>,
}

/// The operator verified a report's classification.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportVerified {
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// Kind as classified.
    pub kind: ReportKind,
    /// Complaint sub-type: needs examination.
    pub needs_examination: bool,
    /// Category.
    pub category: CategoryId,
    /// Privacy flags as set by the operator.
    pub privacy: Privacy,
    /// Summary title.
    pub title: String,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
    /// When.
    pub verified_at: DateTime<Utc>,
    /// Operator.
    pub verified_by: String,
}

/// The operator returned a report to its reporter (Tunda).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportPutOnHold {
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// What the reporter must complete.
    pub reason: String,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
    /// When.
    pub held_at: DateTime<Utc>,
    /// Operator.
    pub held_by: String,
}

/// The operator declared a report outside the city's authority (Bukan Wewenang).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportDeclaredNotAuthorized {
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// Why.
    pub reason: String,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
    /// When.
    pub declared_at: DateTime<Utc>,
    /// Operator.
    pub declared_by: String,
}

/// The operator archived a report (Arsip).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportArchived {
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// Configured reason code.
    pub reason_code: String,
    /// Reason label plus note.
    pub reason: String,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
    /// When.
    pub archived_at: DateTime<Utc>,
    /// Operator.
    pub archived_by: String,
    /// For a duplicate: the original report and its tracking id.
    pub duplicate_of: Option<(ReportId, TrackingId)>,
}

/// The OPD holding a case said it is not theirs.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseTransferRequested {
    /// Case that ends.
    pub case_id: CaseId,
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// OPD that held it.
    pub opd_id: OpdId,
    /// Why.
    pub reason: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// Officer.
    pub requested_by: String,
}

/// The reporter completed a report on hold (Tunda).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportHoldCompleted {
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// What the reporter added.
    pub addition: String,
    /// When the hold began.
    pub held_at: DateTime<Utc>,
    /// When it was completed.
    pub completed_at: DateTime<Utc>,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
}

/// The OPD holding a case posted a public follow-up.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFollowedUp {
    /// Case.
    pub case_id: CaseId,
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// OPD that posted it.
    pub opd_id: OpdId,
    /// Follow-up id.
    pub follow_up_id: uuid::Uuid,
    /// Text, visible to the reporter.
    pub text: String,
    /// When.
    pub posted_at: DateTime<Utc>,
    /// Officer.
    pub posted_by: String,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
}

/// Which case an event is about; every case event after `CaseOpened` carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRef {
    /// Case.
    pub case_id: CaseId,
    /// Report id.
    pub report_id: ReportId,
    /// Public tracking id.
    pub tracking_id: TrackingId,
    /// OPD holding the case.
    pub opd_id: OpdId,
    /// Pseudonymous reporter id.
    pub reporter_ref: ReporterRef,
}

/// The OPD assigned its case to one of its officers (internal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseAssigned {
    /// The case.
    pub case: CaseRef,
    /// Officer now handling it.
    pub assignee: String,
    /// When.
    pub assigned_at: DateTime<Utc>,
    /// Officer who assigned it.
    pub assigned_by: String,
}

/// An OPD officer wrote an internal note (its text stays in opd-case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseNoteAdded {
    /// The case.
    pub case: CaseRef,
    /// Timeline entry id.
    pub entry_id: uuid::Uuid,
    /// When.
    pub added_at: DateTime<Utc>,
    /// Officer.
    pub added_by: String,
}

/// The OPD asked the reporter for information; its clock stops until the reporter answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseInfoRequested {
    /// The case.
    pub case: CaseRef,
    /// Timeline entry id.
    pub entry_id: uuid::Uuid,
    /// The question, shown to the reporter.
    pub question: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// Officer.
    pub requested_by: String,
}

/// The reporter or the operator replied on a case (the text stays in opd-case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseReplied {
    /// The case.
    pub case: CaseRef,
    /// Timeline entry id.
    pub entry_id: uuid::Uuid,
    /// Who replied.
    pub by: Replier,
    /// When.
    pub replied_at: DateTime<Utc>,
    /// When the information request this reply answers was made (the OPD's clock restarts).
    pub answers_info_request_at: Option<DateTime<Utc>>,
}

/// A case was completed (Selesai).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseClosed {
    /// The case.
    pub case: CaseRef,
    /// Who closed it.
    pub by: Closer,
    /// When.
    pub closed_at: DateTime<Utc>,
    /// The last OPD follow-up before closing.
    pub last_follow_up_at: DateTime<Utc>,
}

/// The reporter rated a completed case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRated {
    /// The case.
    pub case: CaseRef,
    /// 1 to 5.
    pub rating: u8,
    /// Comment (may be empty).
    pub comment: String,
    /// When.
    pub rated_at: DateTime<Utc>,
}

/// The reporter asked, with explicit consent, that the Ombudsman take the case over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmbudsmanRequested {
    /// The case.
    pub case: CaseRef,
    /// When the reporter consented.
    pub consented_at: DateTime<Utc>,
    /// When the report was submitted (the period counts from here).
    pub submitted_at: DateTime<Utc>,
}

/// Evidence was attached to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentAdded {
    /// The case.
    pub case: CaseRef,
    /// Attachment id.
    pub attachment_id: uuid::Uuid,
    /// Content type sniffed from the bytes.
    pub content_type: String,
    /// Stored size in bytes.
    pub size: u64,
    /// Whether the reporter (and, for a non-rahasia report, the public) may see it.
    pub public: bool,
    /// When.
    pub added_at: DateTime<Utc>,
    /// Who uploaded it (an officer subject, or "pelapor").
    pub added_by: String,
}

/// Someone supported (dukung) a public report. Carries no supporter identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSupported {
    /// The case the report is at.
    pub case: CaseRef,
    /// Supporters after this one.
    pub support_count: u64,
    /// When.
    pub supported_at: DateTime<Utc>,
}

/// The reporter of a non-anonymous report chose (or cleared) the name shown in the public feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicNameChanged {
    /// The case the report is at.
    pub case: CaseRef,
    /// How the reporter is now shown publicly ("anonim" when cleared).
    pub shown_as: String,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// Which deadline an SLA event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineRef {
    /// Report.
    pub report_id: ReportId,
    /// Step.
    pub step: Step,
    /// OPD span (0 for verification).
    pub span: u32,
    /// Accountable OPD (`None`: the operator).
    pub opd_id: Option<OpdId>,
    /// Due time when the event was raised.
    pub due_at: DateTime<Utc>,
}

/// A deadline is about to pass (within the warning lead time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaWarning {
    /// The deadline.
    pub deadline: DeadlineRef,
    /// When the warning was raised.
    pub warned_at: DateTime<Utc>,
}

/// A deadline passed without the step done (or the step was done late).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaBreached {
    /// The deadline.
    pub deadline: DeadlineRef,
    /// When the breach was detected.
    pub detected_at: DateTime<Utc>,
    /// Position ids of the officials accountable for the span (liaison officers, head).
    pub officials: Vec<String>,
    /// The ledger entry that records it.
    pub ledger_seq: u64,
}

/// A breached deadline reached the next escalation level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaEscalated {
    /// The deadline.
    pub deadline: DeadlineRef,
    /// Level, 1-based (1 = liaison officer).
    pub level: u32,
    /// The level's position (`liaison`, `head`, `sekda`, `mayor`).
    pub position: String,
    /// Position ids of the officials to tell.
    pub officials: Vec<String>,
    /// Whole working days overdue.
    pub overdue_working_days: u32,
    /// When.
    pub escalated_at: DateTime<Utc>,
}

/// A calendar version came into force (sla-monitor keeps the versions; the services that count
/// working days follow the newest one they have seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarChanged {
    /// Version number, increasing from 1.
    pub version: u64,
    /// The calendar.
    pub calendar: crate::calendar::CalendarSpec,
    /// Why it changed.
    pub reason: String,
    /// Who changed it.
    pub changed_by: String,
}

/// Every event on the bus.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// See [`ReportSubmitted`].
    ReportSubmitted(ReportSubmitted),
    /// See [`ReportDispatched`].
    ReportDispatched(ReportDispatched),
    /// See [`CaseOpened`].
    CaseOpened(CaseOpened),
    /// See [`ReportVerified`].
    ReportVerified(ReportVerified),
    /// See [`ReportPutOnHold`].
    ReportPutOnHold(ReportPutOnHold),
    /// See [`ReportDeclaredNotAuthorized`].
    ReportDeclaredNotAuthorized(ReportDeclaredNotAuthorized),
    /// See [`ReportArchived`].
    ReportArchived(ReportArchived),
    /// See [`CaseTransferRequested`].
    CaseTransferRequested(CaseTransferRequested),
    /// See [`ReportHoldCompleted`].
    ReportHoldCompleted(ReportHoldCompleted),
    /// See [`CaseFollowedUp`].
    CaseFollowedUp(CaseFollowedUp),
    /// See [`CaseAssigned`].
    CaseAssigned(CaseAssigned),
    /// See [`CaseNoteAdded`].
    CaseNoteAdded(CaseNoteAdded),
    /// See [`CaseInfoRequested`].
    CaseInfoRequested(CaseInfoRequested),
    /// See [`CaseReplied`].
    CaseReplied(CaseReplied),
    /// See [`CaseClosed`].
    CaseClosed(CaseClosed),
    /// See [`CaseRated`].
    CaseRated(CaseRated),
    /// See [`OmbudsmanRequested`].
    OmbudsmanRequested(OmbudsmanRequested),
    /// See [`AttachmentAdded`].
    AttachmentAdded(AttachmentAdded),
    /// See [`ReportSupported`].
    ReportSupported(ReportSupported),
    /// See [`PublicNameChanged`].
    PublicNameChanged(PublicNameChanged),
    /// See [`SlaWarning`].
    SlaWarning(SlaWarning),
    /// See [`SlaBreached`].
    SlaBreached(SlaBreached),
    /// See [`SlaEscalated`].
    SlaEscalated(SlaEscalated),
    /// See [`CalendarChanged`].
    CalendarChanged(CalendarChanged),
}

impl Event {
    /// Returns the report the event is about; `None` for city-wide events (a calendar change).
    pub fn report_id(&self) -> Option<ReportId> {
        Some(match self {
            Self::ReportSubmitted(e) => e.report_id,
            Self::ReportDispatched(e) => e.report_id,
            Self::CaseOpened(e) => e.report_id,
            Self::ReportVerified(e) => e.report_id,
            Self::ReportPutOnHold(e) => e.report_id,
            Self::ReportDeclaredNotAuthorized(e) => e.report_id,
            Self::ReportArchived(e) => e.report_id,
            Self::CaseTransferRequested(e) => e.report_id,
            Self::ReportHoldCompleted(e) => e.report_id,
            Self::CaseFollowedUp(e) => e.report_id,
            Self::CaseAssigned(e) => e.case.report_id,
            Self::CaseNoteAdded(e) => e.case.report_id,
            Self::CaseInfoRequested(e) => e.case.report_id,
            Self::CaseReplied(e) => e.case.report_id,
            Self::CaseClosed(e) => e.case.report_id,
            Self::CaseRated(e) => e.case.report_id,
            Self::OmbudsmanRequested(e) => e.case.report_id,
            Self::AttachmentAdded(e) => e.case.report_id,
            Self::ReportSupported(e) => e.case.report_id,
            Self::PublicNameChanged(e) => e.case.report_id,
            Self::SlaWarning(e) => e.deadline.report_id,
            Self::SlaBreached(e) => e.deadline.report_id,
            Self::SlaEscalated(e) => e.deadline.report_id,
            Self::CalendarChanged(_) => return None,
        })
    }

    /// Returns the OPD the event concerns, where it names one (for telemetry and filters).
    pub fn opd_id(&self) -> Option<&OpdId> {
        match self {
            Self::ReportDispatched(e) => Some(&e.opd_id),
            Self::CaseOpened(e) => Some(&e.opd_id),
            Self::CaseTransferRequested(e) => Some(&e.opd_id),
            Self::CaseFollowedUp(e) => Some(&e.opd_id),
            Self::CaseAssigned(e) => Some(&e.case.opd_id),
            Self::CaseNoteAdded(e) => Some(&e.case.opd_id),
            Self::CaseInfoRequested(e) => Some(&e.case.opd_id),
            Self::CaseReplied(e) => Some(&e.case.opd_id),
            Self::CaseClosed(e) => Some(&e.case.opd_id),
            Self::CaseRated(e) => Some(&e.case.opd_id),
            Self::OmbudsmanRequested(e) => Some(&e.case.opd_id),
            Self::AttachmentAdded(e) => Some(&e.case.opd_id),
            Self::ReportSupported(e) => Some(&e.case.opd_id),
            Self::PublicNameChanged(e) => Some(&e.case.opd_id),
            Self::SlaWarning(e) => e.deadline.opd_id.as_ref(),
            Self::SlaBreached(e) => e.deadline.opd_id.as_ref(),
            Self::SlaEscalated(e) => e.deadline.opd_id.as_ref(),
            Self::ReportSubmitted(_)
            | Self::ReportVerified(_)
            | Self::ReportPutOnHold(_)
            | Self::ReportDeclaredNotAuthorized(_)
            | Self::ReportArchived(_)
            | Self::ReportHoldCompleted(_)
            | Self::CalendarChanged(_) => None,
        }
    }

    /// Returns the event's type name, as in the proto schema.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ReportSubmitted(_) => "ReportSubmitted",
            Self::ReportDispatched(_) => "ReportDispatched",
            Self::CaseOpened(_) => "CaseOpened",
            Self::ReportVerified(_) => "ReportVerified",
            Self::ReportPutOnHold(_) => "ReportPutOnHold",
            Self::ReportDeclaredNotAuthorized(_) => "ReportDeclaredNotAuthorized",
            Self::ReportArchived(_) => "ReportArchived",
            Self::CaseTransferRequested(_) => "CaseTransferRequested",
            Self::ReportHoldCompleted(_) => "ReportHoldCompleted",
            Self::CaseFollowedUp(_) => "CaseFollowedUp",
            Self::CaseAssigned(_) => "CaseAssigned",
            Self::CaseNoteAdded(_) => "CaseNoteAdded",
            Self::CaseInfoRequested(_) => "CaseInfoRequested",
            Self::CaseReplied(_) => "CaseReplied",
            Self::CaseClosed(_) => "CaseClosed",
            Self::CaseRated(_) => "CaseRated",
            Self::OmbudsmanRequested(_) => "OmbudsmanRequested",
            Self::AttachmentAdded(_) => "AttachmentAdded",
            Self::ReportSupported(_) => "ReportSupported",
            Self::PublicNameChanged(_) => "PublicNameChanged",
            Self::SlaWarning(_) => "SlaWarning",
            Self::SlaBreached(_) => "SlaBreached",
            Self::SlaEscalated(_) => "SlaEscalated",
            Self::CalendarChanged(_) => "CalendarChanged",
        }
    }
}

/// An event with its identity and time.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Unique event id; the `Nats-Msg-Id` and the consumers' idempotency key.
    pub id: EventId,
    /// Commit time of the change that caused it.
    pub occurred_at: DateTime<Utc>,
    /// The event.
    pub event: Event,
}
