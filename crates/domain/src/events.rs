//! The events on the bus, in domain types. `lapor-events` maps them to and from their one proto
//! schema (`proto/lapor/events/v1/events.proto`) and to their subjects.

use chrono::{DateTime, Utc};

use crate::content::{Channel, ReportContent, ReportKind};
use crate::ids::{CaseId, EventId, OpdId, ReportId, ReporterRef, TrackingId};

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

/// Every event on the bus.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// See [`ReportSubmitted`].
    ReportSubmitted(ReportSubmitted),
    /// See [`ReportDispatched`].
    ReportDispatched(ReportDispatched),
    /// See [`CaseOpened`].
    CaseOpened(CaseOpened),
}

impl Event {
    /// Returns the report the event is about.
    pub fn report_id(&self) -> ReportId {
        match self {
            Self::ReportSubmitted(e) => e.report_id,
            Self::ReportDispatched(e) => e.report_id,
            Self::CaseOpened(e) => e.report_id,
        }
    }

    /// Returns the event's type name, as in the proto schema.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ReportSubmitted(_) => "ReportSubmitted",
            Self::ReportDispatched(_) => "ReportDispatched",
            Self::CaseOpened(_) => "CaseOpened",
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
