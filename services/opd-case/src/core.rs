//! What every opd-case API shares: the state, the clock, and the few rules that say how a case
//! row becomes a lifecycle state, a timeline entry and an event.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lapor_domain::events::{CaseRef, Envelope, Event};
use lapor_domain::lifecycle::{Closer, Context, Replier, ReturnedFrom};
use lapor_domain::{Calendar, EventId, Lifecycle, OpdId, ReportId, ReporterRef, SlaPolicy, Status};
use lapor_events::{Bus, enqueue};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, Set,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::attachments::Blobs;
use crate::config::AttachmentConfig;
use crate::entities::{case, timeline};
use crate::error::Error;

/// Where opd-case reads the time: the system clock in production, a settable one in tests, so
/// that deadlines and auto-close can be checked at exact instants.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// State shared by the three gRPC services, the consumers and the auto-close sweeper.
pub struct Core {
    pub db: DatabaseConnection,
    pub bus: Bus,
    pub relay_wake: Arc<Notify>,
    pub calendar: Arc<lapor_events::calendar::LiveCalendar>,
    pub policy: SlaPolicy,
    pub clock: Clock,
    pub blobs: Blobs,
    pub attachments: AttachmentConfig,
}

/// Timeline entry kinds (stored codes; the proto `EntryKind` mirrors them).
pub mod kind {
    /// The case was opened at an OPD.
    pub const OPENED: &str = "OPENED";
    /// A public follow-up.
    pub const FOLLOW_UP: &str = "FOLLOW_UP";
    /// An internal note.
    pub const NOTE: &str = "NOTE";
    /// Assigned to an officer.
    pub const ASSIGNED: &str = "ASSIGNED";
    /// The OPD asked the reporter.
    pub const INFO_REQUEST: &str = "INFO_REQUEST";
    /// The reporter replied.
    pub const REPORTER_REPLY: &str = "REPORTER_REPLY";
    /// The operator replied.
    pub const OPERATOR_REPLY: &str = "OPERATOR_REPLY";
    /// The OPD asked for a transfer.
    pub const TRANSFER_REQUESTED: &str = "TRANSFER_REQUESTED";
    /// Completed.
    pub const CLOSED: &str = "CLOSED";
    /// Rated.
    pub const RATED: &str = "RATED";
    /// Ombudsman requested.
    pub const OMBUDSMAN_REQUESTED: &str = "OMBUDSMAN_REQUESTED";
    /// Attachment added.
    pub const ATTACHMENT: &str = "ATTACHMENT";
}

/// Who may see an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Everyone who may see the report.
    Public,
    /// The OPD and the reporter.
    Reporter,
    /// The OPD side only.
    Internal,
}

impl Visibility {
    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Public => "PUBLIC",
            Self::Reporter => "REPORTER",
            Self::Internal => "INTERNAL",
        }
    }

    /// The codes a viewer with this clearance may read.
    pub fn readable_by(self) -> &'static [&'static str] {
        match self {
            Self::Public => &["PUBLIC"],
            Self::Reporter => &["PUBLIC", "REPORTER"],
            Self::Internal => &["PUBLIC", "REPORTER", "INTERNAL"],
        }
    }
}

/// Author name of the reporter in timelines (never an identity).
pub const REPORTER_AUTHOR: &str = "pelapor";
/// Author name of the system.
pub const SYSTEM_AUTHOR: &str = "sistem";

impl Core {
    /// Now, by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The lifecycle's context at `now`, on the calendar in force (`.view()` lends it).
    pub fn ctx(&self, now: DateTime<Utc>) -> Ctx<'_> {
        Ctx {
            now,
            calendar: self.calendar.get(),
            policy: &self.policy,
        }
    }

    /// Writes `event` to the outbox in `txn`.
    pub async fn emit(
        &self,
        txn: &DatabaseTransaction,
        at: DateTime<Utc>,
        event: Event,
    ) -> Result<(), Error> {
        let env = Envelope {
            id: EventId::from_uuid(Uuid::now_v7()),
            occurred_at: at,
            event,
        };
        enqueue(txn, &self.bus, &env)
            .await
            .map_err(|e| Error::Internal(format!("outbox: {e}")))
    }

    /// Wakes the outbox relay after a commit.
    pub fn committed(&self) {
        self.relay_wake.notify_one();
    }

    /// The OPD's deadline for a first follow-up (or an answer) starting at `from`.
    pub fn answer_due(&self, from: DateTime<Utc>) -> DateTime<Utc> {
        self.calendar
            .get()
            .add_working_days(from, self.policy.first_follow_up_days)
    }

    /// When a case whose last OPD message was at `from` closes without a reply.
    pub fn auto_close_at(&self, from: DateTime<Utc>) -> DateTime<Utc> {
        self.calendar
            .get()
            .add_working_days(from, self.policy.reply_window_days)
    }
}

/// A lifecycle context that holds the calendar version it was taken with.
pub struct Ctx<'a> {
    now: DateTime<Utc>,
    calendar: Arc<Calendar>,
    policy: &'a SlaPolicy,
}

impl Ctx<'_> {
    /// The context.
    pub fn view(&self) -> Context<'_> {
        Context {
            now: self.now,
            calendar: &self.calendar,
            policy: self.policy,
        }
    }
}

/// The event reference of a case row.
pub fn case_ref(row: &case::Model) -> Result<CaseRef, Error> {
    let bad = |what: &str| Error::Internal(format!("stored case {} has a bad {what}", row.id));
    Ok(CaseRef {
        case_id: lapor_domain::CaseId::from_uuid(row.id),
        report_id: ReportId::from_uuid(row.report_id),
        tracking_id: row.tracking_id.parse().map_err(|_| bad("tracking id"))?,
        opd_id: row.opd_id.parse().map_err(|_| bad("OPD id"))?,
        reporter_ref: ReporterRef::from_uuid(row.reporter_ref),
    })
}

/// The lifecycle state a case row stands for, as the OPD holding it sees it. A transferred case
/// has ended for this OPD: the report is back with the operator.
pub fn lifecycle(row: &case::Model) -> Result<Lifecycle, Error> {
    let opd: OpdId = row
        .opd_id
        .parse()
        .map_err(|_| Error::Internal(format!("stored case {} has a bad OPD id", row.id)))?;
    if row.transferred_at.is_some() {
        return Ok(Lifecycle::Submitted {
            verified: true,
            returned_from: Some(ReturnedFrom {
                opd,
                reason: row.transfer_reason.clone().unwrap_or_default(),
            }),
        });
    }
    Ok(match Status::from_code(&row.status) {
        Some(Status::Completed) => Lifecycle::Completed {
            by: if row.closed_by.as_deref() == Some("REPORTER") {
                Closer::Reporter
            } else {
                Closer::System
            },
        },
        Some(Status::InProgress) => Lifecycle::InProgress {
            opd,
            // A question to the reporter restarts the reply window like a follow-up does.
            last_follow_up_at: last_opd_message(row).unwrap_or(row.opened_at),
            reply_pending: match row.reply_pending_by.as_deref() {
                Some("REPORTER") => Some(Replier::Reporter),
                Some("OPERATOR") => Some(Replier::Operator),
                _ => None,
            },
        },
        _ => Lifecycle::Dispatched {
            opd,
            since: row.opened_at,
        },
    })
}

/// The later of the last follow-up and the open information request.
pub fn last_opd_message(row: &case::Model) -> Option<DateTime<Utc>> {
    match (row.last_follow_up_at, row.info_requested_at) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Stored code of who replied.
pub fn replier_code(r: Replier) -> &'static str {
    match r {
        Replier::Reporter => "REPORTER",
        Replier::Operator => "OPERATOR",
    }
}

/// A new timeline entry of `row`'s case.
pub struct Entry<'a> {
    pub kind: &'static str,
    pub visibility: Visibility,
    pub author: &'a str,
    pub text: &'a str,
    pub at: DateTime<Utc>,
    pub attachment_id: Option<Uuid>,
}

impl Core {
    /// Records an action on a case in `txn`: its timeline entry, then the event `event` makes
    /// from that entry, through the outbox. Returns the entry.
    pub async fn record(
        &self,
        txn: &DatabaseTransaction,
        row: &case::Model,
        entry: Entry<'_>,
        event: impl FnOnce(&timeline::Model) -> Result<Event, Error>,
    ) -> Result<timeline::Model, Error> {
        let at = entry.at;
        let e = add_entry(txn, row, entry).await?;
        self.emit(txn, at, event(&e)?).await?;
        Ok(e)
    }
}

/// Inserts an entry into the case's timeline.
pub async fn add_entry(
    txn: &DatabaseTransaction,
    row: &case::Model,
    e: Entry<'_>,
) -> Result<timeline::Model, Error> {
    Ok(entry(row.id, row.report_id, &row.opd_id, e).insert(txn).await?)
}

/// The timeline row of entry `e` on case `case_id` (of `report_id`, held by `opd_id`).
pub fn entry(case_id: Uuid, report_id: Uuid, opd_id: &str, e: Entry<'_>) -> timeline::ActiveModel {
    timeline::ActiveModel {
        id: Set(Uuid::now_v7()),
        case_id: Set(case_id),
        report_id: Set(report_id),
        opd_id: Set(opd_id.to_owned()),
        kind: Set(e.kind.to_owned()),
        visibility: Set(e.visibility.code().to_owned()),
        author: Set(e.author.to_owned()),
        text: Set(e.text.to_owned()),
        at: Set(e.at),
        attachment_id: Set(e.attachment_id),
    }
}

/// The case currently holding a report: its newest case row, if that one has not ended by a
/// transfer. `Ok(None)` when the report is back with the operator or has no case yet.
pub async fn current_case(
    db: &impl sea_orm::ConnectionTrait,
    report_id: Uuid,
) -> Result<Option<case::Model>, Error> {
    use sea_orm::QueryOrder;
    let newest = case::Entity::find()
        .filter(case::Column::ReportId.eq(report_id))
        .order_by_desc(case::Column::Id)
        .one(db)
        .await?;
    Ok(newest.filter(|c| c.transferred_at.is_none()))
}

/// Checks a free text field's length (in characters, after trimming) and returns it trimmed.
pub fn text_field(
    v: &mut lapor_domain::Violations,
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> String {
    let t = value.trim().to_owned();
    let n = t.chars().count();
    if n < min || n > max {
        v.add(field, format!("must have {min} to {max} characters"));
    }
    t
}
