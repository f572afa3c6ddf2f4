//! Pure domain model of lapor: ids, report content, the report lifecycle as a state machine, the
//! working-day calendar, SLA policy and the events on the bus. No I/O, no clock, no async.

pub mod calendar;
pub mod content;
pub mod deadlines;
pub mod events;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod ids;
pub mod lifecycle;
pub mod sla;
pub mod validation;

pub use calendar::Calendar;
pub use content::{Channel, Location, Privacy, ReportContent, ReportKind};
pub use ids::{CaseId, CategoryId, EventId, OpdId, ReportId, ReporterRef, TrackingId};
pub use lifecycle::{Command, Lifecycle, LifecycleEvent, Status, TransitionError, apply, decide};
pub use sla::{SlaPolicy, Step};
pub use validation::{FieldViolation, Violations};
