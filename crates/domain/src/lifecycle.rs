//! The report lifecycle of DOMAIN.md as a pure state machine: `decide` checks a command against
//! the current state and returns the event it causes; `apply` folds an event into the state.
//! Neither reads a clock nor does I/O: the caller passes `now`, the calendar and the policy.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::calendar::Calendar;
use crate::ids::OpdId;
use crate::sla::SlaPolicy;

/// Status names as LAPOR! v3 uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Belum Terverifikasi.
    Submitted,
    /// Tunda.
    OnHold,
    /// Bukan Wewenang.
    NotAuthorized,
    /// Arsip.
    Archived,
    /// Belum Ditindaklanjuti.
    Dispatched,
    /// Proses.
    InProgress,
    /// Selesai.
    Completed,
}

impl Status {
    /// All statuses.
    pub const ALL: [Status; 7] = [
        Self::Submitted,
        Self::OnHold,
        Self::NotAuthorized,
        Self::Archived,
        Self::Dispatched,
        Self::InProgress,
        Self::Completed,
    ];

    /// Stable storage code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::OnHold => "ON_HOLD",
            Self::NotAuthorized => "NOT_AUTHORIZED",
            Self::Archived => "ARCHIVED",
            Self::Dispatched => "DISPATCHED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
        }
    }

    /// Parses a storage code.
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }

    /// Returns the LAPOR! name shown to citizens.
    pub fn lapor_name(self) -> &'static str {
        match self {
            Self::Submitted => "Belum Terverifikasi",
            Self::OnHold => "Tunda",
            Self::NotAuthorized => "Bukan Wewenang",
            Self::Archived => "Arsip",
            Self::Dispatched => "Belum Ditindaklanjuti",
            Self::InProgress => "Proses",
            Self::Completed => "Selesai",
        }
    }

    /// Returns true when no command can move the report any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::NotAuthorized | Self::Archived | Self::Completed)
    }
}

/// Who replied to the OPD's follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replier {
    /// The reporter.
    Reporter,
    /// The operator.
    Operator,
}

/// How a report came to be completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closer {
    /// The reporter confirmed it resolved.
    Reporter,
    /// The system closed it after the reply window passed.
    System,
}

/// A transfer request that sent the report back to the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnedFrom {
    /// OPD that asked for the transfer.
    pub opd: OpdId,
    /// Its reason.
    pub reason: String,
}

/// The state of a report; each variant carries only what is valid in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// Not yet submitted (the state before the first event).
    New,
    /// Belum Terverifikasi: waiting for the operator; `verified` once classified.
    Submitted {
        /// Whether the operator has verified the classification.
        verified: bool,
        /// Set when an OPD sent it back with a transfer request.
        returned_from: Option<ReturnedFrom>,
    },
    /// Tunda: returned to the reporter to complete.
    OnHold {
        /// What is missing.
        reason: String,
        /// Since when.
        since: DateTime<Utc>,
    },
    /// Bukan Wewenang.
    NotAuthorized {
        /// Why.
        reason: String,
    },
    /// Arsip.
    Archived {
        /// Why.
        reason: String,
    },
    /// Belum Ditindaklanjuti: at an OPD, waiting for its first follow-up.
    Dispatched {
        /// OPD holding it.
        opd: OpdId,
        /// Since when.
        since: DateTime<Utc>,
    },
    /// Proses: the OPD has followed up.
    InProgress {
        /// OPD holding it.
        opd: OpdId,
        /// Time of the OPD's last follow-up.
        last_follow_up_at: DateTime<Utc>,
        /// Set when someone replied after the last follow-up: the OPD must answer again.
        reply_pending: Option<Replier>,
    },
    /// Selesai.
    Completed {
        /// Who closed it.
        by: Closer,
    },
}

impl Lifecycle {
    /// Returns the status of this state (`None` before submission).
    pub fn status(&self) -> Option<Status> {
        Some(match self {
            Self::New => return None,
            Self::Submitted { .. } => Status::Submitted,
            Self::OnHold { .. } => Status::OnHold,
            Self::NotAuthorized { .. } => Status::NotAuthorized,
            Self::Archived { .. } => Status::Archived,
            Self::Dispatched { .. } => Status::Dispatched,
            Self::InProgress { .. } => Status::InProgress,
            Self::Completed { .. } => Status::Completed,
        })
    }

    /// Returns the OPD currently holding the report, if any.
    pub fn holder(&self) -> Option<&OpdId> {
        match self {
            Self::Dispatched { opd, .. } | Self::InProgress { opd, .. } => Some(opd),
            _ => None,
        }
    }
}

/// What someone asks the lifecycle to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The reporter submits.
    Submit,
    /// The operator verifies the classification.
    Verify,
    /// The operator returns it to the reporter (Tunda).
    Hold {
        /// What is missing.
        reason: String,
    },
    /// The reporter completes a held report.
    CompleteHold,
    /// The operator declares it not the city's authority.
    DeclareNotAuthorized {
        /// Why.
        reason: String,
    },
    /// The operator archives it.
    Archive {
        /// Why.
        reason: String,
    },
    /// The operator (or a routing rule) dispatches it to an OPD.
    Dispatch {
        /// Target OPD.
        opd: OpdId,
    },
    /// The holding OPD posts a follow-up.
    FollowUp {
        /// OPD posting it.
        opd: OpdId,
    },
    /// The reporter or the operator replies to a follow-up.
    Reply {
        /// Who.
        by: Replier,
    },
    /// The holding OPD says it is not theirs.
    RequestTransfer {
        /// OPD asking.
        opd: OpdId,
        /// Why.
        reason: String,
    },
    /// The reporter confirms it resolved.
    Confirm,
    /// The system closes it after the reply window.
    AutoClose,
}

/// What happened; the only input of `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleEvent {
    /// Submitted.
    Submitted {
        /// When.
        at: DateTime<Utc>,
    },
    /// Verified.
    Verified {
        /// When.
        at: DateTime<Utc>,
    },
    /// Put on hold (Tunda).
    PutOnHold {
        /// What is missing.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Completed by the reporter after a hold.
    HoldCompleted {
        /// When.
        at: DateTime<Utc>,
    },
    /// Declared not the city's authority.
    DeclaredNotAuthorized {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Archived.
    Archived {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Dispatched to an OPD.
    Dispatched {
        /// OPD.
        opd: OpdId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The OPD followed up.
    FollowedUp {
        /// OPD.
        opd: OpdId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Someone replied to a follow-up.
    Replied {
        /// Who.
        by: Replier,
        /// When.
        at: DateTime<Utc>,
    },
    /// The OPD asked for transfer; the report is back with the operator.
    TransferRequested {
        /// OPD.
        opd: OpdId,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Completed.
    Completed {
        /// Who closed it.
        by: Closer,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransitionError {
    /// The command is not allowed in the current status.
    #[error("{command} is not allowed when the report is {status}")]
    NotAllowed {
        /// Command name.
        command: &'static str,
        /// Current status name (or "not submitted").
        status: &'static str,
    },
    /// Another OPD than the holder tried to act.
    #[error("the report is held by {holder}, not {actor}")]
    NotHolder {
        /// Holding OPD.
        holder: OpdId,
        /// Acting OPD.
        actor: OpdId,
    },
    /// A required reason is empty.
    #[error("a reason is required")]
    ReasonRequired,
    /// The reply window has not passed yet, or a reply is pending.
    #[error("the report cannot be closed yet: {0}")]
    NotDue(&'static str),
}

/// What `decide` needs besides state and command: the time, the calendar and the policy.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Now.
    pub now: DateTime<Utc>,
    /// The city calendar.
    pub calendar: &'a Calendar,
    /// The SLA policy.
    pub policy: &'a SlaPolicy,
}

impl Command {
    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Verify => "verify",
            Self::Hold { .. } => "hold",
            Self::CompleteHold => "complete hold",
            Self::DeclareNotAuthorized { .. } => "declare not authorized",
            Self::Archive { .. } => "archive",
            Self::Dispatch { .. } => "dispatch",
            Self::FollowUp { .. } => "follow up",
            Self::Reply { .. } => "reply",
            Self::RequestTransfer { .. } => "request transfer",
            Self::Confirm => "confirm",
            Self::AutoClose => "auto-close",
        }
    }
}

fn reason(r: &str) -> Result<String, TransitionError> {
    let r = r.trim();
    if r.is_empty() {
        Err(TransitionError::ReasonRequired)
    } else {
        Ok(r.to_owned())
    }
}

fn holder_check(holder: &OpdId, actor: &OpdId) -> Result<(), TransitionError> {
    if holder == actor {
        Ok(())
    } else {
        Err(TransitionError::NotHolder {
            holder: holder.clone(),
            actor: actor.clone(),
        })
    }
}

/// Decides what event `command` causes in `state`, or why it is refused.
pub fn decide(
    state: &Lifecycle,
    command: &Command,
    ctx: &Context<'_>,
) -> Result<LifecycleEvent, TransitionError> {
    use Command as C;
    use Lifecycle as L;
    let at = ctx.now;
    let not_allowed = || TransitionError::NotAllowed {
        command: command.name(),
        status: state.status().map_or("not submitted", Status::lapor_name),
    };
    match (state, command) {
        (L::New, C::Submit) => Ok(LifecycleEvent::Submitted { at }),
        (L::Submitted { .. }, C::Verify) => Ok(LifecycleEvent::Verified { at }),
        (L::Submitted { .. }, C::Hold { reason: r }) => Ok(LifecycleEvent::PutOnHold {
            reason: reason(r)?,
            at,
        }),
        (L::OnHold { .. }, C::CompleteHold) => Ok(LifecycleEvent::HoldCompleted { at }),
        (L::Submitted { .. }, C::DeclareNotAuthorized { reason: r }) => {
            Ok(LifecycleEvent::DeclaredNotAuthorized {
                reason: reason(r)?,
                at,
            })
        }
        (L::Submitted { .. } | L::OnHold { .. }, C::Archive { reason: r }) => Ok(LifecycleEvent::Archived {
            reason: reason(r)?,
            at,
        }),
        (L::Submitted { .. }, C::Dispatch { opd }) => Ok(LifecycleEvent::Dispatched { opd: opd.clone(), at }),
        (L::Dispatched { opd: holder, .. } | L::InProgress { opd: holder, .. }, C::FollowUp { opd }) => {
            holder_check(holder, opd)?;
            Ok(LifecycleEvent::FollowedUp { opd: opd.clone(), at })
        }
        (L::InProgress { .. }, C::Reply { by }) => Ok(LifecycleEvent::Replied { by: *by, at }),
        (
            L::Dispatched { opd: holder, .. } | L::InProgress { opd: holder, .. },
            C::RequestTransfer { opd, reason: r },
        ) => {
            holder_check(holder, opd)?;
            Ok(LifecycleEvent::TransferRequested {
                opd: opd.clone(),
                reason: reason(r)?,
                at,
            })
        }
        (L::InProgress { .. }, C::Confirm) => Ok(LifecycleEvent::Completed {
            by: Closer::Reporter,
            at,
        }),
        (
            L::InProgress {
                last_follow_up_at,
                reply_pending,
                ..
            },
            C::AutoClose,
        ) => {
            if reply_pending.is_some() {
                return Err(TransitionError::NotDue("a reply is waiting for the OPD's answer"));
            }
            let window_end = ctx
                .calendar
                .add_working_days(*last_follow_up_at, ctx.policy.reply_window_days);
            if at <= window_end {
                return Err(TransitionError::NotDue(
                    "the reporter's reply window is still open",
                ));
            }
            Ok(LifecycleEvent::Completed {
                by: Closer::System,
                at,
            })
        }
        _ => Err(not_allowed()),
    }
}

/// Folds an event into the state. Events come from `decide` (or from storage of its results),
/// so an event that does not fit the state leaves the state unchanged.
pub fn apply(state: Lifecycle, event: &LifecycleEvent) -> Lifecycle {
    use Lifecycle as L;
    use LifecycleEvent as E;
    match (state, event) {
        (L::New, E::Submitted { .. }) => L::Submitted {
            verified: false,
            returned_from: None,
        },
        (L::Submitted { returned_from, .. }, E::Verified { .. }) => L::Submitted {
            verified: true,
            returned_from,
        },
        (L::Submitted { .. }, E::PutOnHold { reason, at }) => L::OnHold {
            reason: reason.clone(),
            since: *at,
        },
        (L::OnHold { .. }, E::HoldCompleted { .. }) => L::Submitted {
            verified: false,
            returned_from: None,
        },
        (L::Submitted { .. }, E::DeclaredNotAuthorized { reason, .. }) => L::NotAuthorized {
            reason: reason.clone(),
        },
        (L::Submitted { .. } | L::OnHold { .. }, E::Archived { reason, .. }) => L::Archived {
            reason: reason.clone(),
        },
        (L::Submitted { .. }, E::Dispatched { opd, at }) => L::Dispatched {
            opd: opd.clone(),
            since: *at,
        },
        (L::Dispatched { opd, .. } | L::InProgress { opd, .. }, E::FollowedUp { at, .. }) => L::InProgress {
            opd,
            last_follow_up_at: *at,
            reply_pending: None,
        },
        (
            L::InProgress {
                opd,
                last_follow_up_at,
                ..
            },
            E::Replied { by, .. },
        ) => L::InProgress {
            opd,
            last_follow_up_at,
            reply_pending: Some(*by),
        },
        (L::Dispatched { .. } | L::InProgress { .. }, E::TransferRequested { opd, reason, .. }) => {
            L::Submitted {
                verified: true,
                returned_from: Some(ReturnedFrom {
                    opd: opd.clone(),
                    reason: reason.clone(),
                }),
            }
        }
        (L::InProgress { .. }, E::Completed { by, .. }) => L::Completed { by: *by },
        (state, _) => state,
    }
}

#[cfg(test)]
mod tests;
