//! The events on the bus, in domain types. `lapor-events` maps them to and from their one proto
//! schema (`proto/lapor/events/v1/events.proto`) and to their subjects.

use chrono::{DateTime, Utc};

use crate::content::{Channel, Privacy, ReportContent, ReportKind};
use crate::ids::{CaseId, CategoryId, EventId, OpdId, ReportId, ReporterRef, TrackingId};

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
}

impl Event {
    /// Returns the report the event is about.
    pub fn report_id(&self) -> ReportId {
        match self {
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
