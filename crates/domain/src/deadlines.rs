//! Deadlines as a pure function of a report's history: [`compute`] takes the facts the events
//! carry, the calendar and the policy, and returns every deadline with its pauses. It reads no
//! clock and keeps no counter, so replaying the same facts (in any order, with duplicates) gives
//! the same deadlines, and a changed calendar or policy gives the recomputed ones.
//!
//! Steps: the operator's verification (submission to the first dispatch or decision, stopped by
//! Tunda); for each span in which an OPD held the report (its dispatch to its transfer request),
//! the first follow-up and the completion (stopped while the OPD waits for the reporter's answer).
//! Each OPD is accountable only for its own spans.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::calendar::Calendar;
use crate::content::ReportKind;
use crate::ids::OpdId;
use crate::sla::{Allowance, SlaPolicy, Step, Unit};

/// What happened to a report, as far as deadlines care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fact {
    /// Accepted by intake.
    Submitted {
        /// When.
        at: DateTime<Utc>,
        /// Kind as submitted.
        kind: ReportKind,
    },
    /// Classified by the operator (the kind and sub-type deadlines use from then on).
    Classified {
        /// When.
        at: DateTime<Utc>,
        /// Kind.
        kind: ReportKind,
        /// Complaint needing examination.
        needs_examination: bool,
    },
    /// Put on hold (Tunda): the verification clock stops.
    HoldStarted {
        /// When.
        from: DateTime<Utc>,
    },
    /// The reporter completed the held report.
    HoldEnded {
        /// When the hold began (pairs it with its start).
        from: DateTime<Utc>,
        /// When it ended.
        to: DateTime<Utc>,
    },
    /// Declared Bukan Wewenang or archived: verification is done.
    Decided {
        /// When.
        at: DateTime<Utc>,
    },
    /// Dispatched to an OPD: verification is done and the OPD's span begins.
    Dispatched {
        /// OPD.
        opd: OpdId,
        /// When.
        at: DateTime<Utc>,
        /// When the report was submitted (stands in for a missing `Submitted`).
        submitted_at: DateTime<Utc>,
        /// Kind as dispatched.
        kind: ReportKind,
    },
    /// The holding OPD posted a follow-up.
    FollowedUp {
        /// OPD.
        opd: OpdId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The OPD asked the reporter: its clocks stop.
    AskStarted {
        /// OPD.
        opd: OpdId,
        /// When.
        from: DateTime<Utc>,
    },
    /// The reporter answered.
    AskEnded {
        /// When the question was asked (pairs it with its start).
        from: DateTime<Utc>,
        /// When it was answered.
        to: DateTime<Utc>,
    },
    /// The OPD said the report is not theirs: its span ends.
    TransferRequested {
        /// OPD.
        opd: OpdId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Completed (Selesai).
    Closed {
        /// When.
        at: DateTime<Utc>,
    },
}

impl Fact {
    /// The instant the fact is about (its order in the history).
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::Submitted { at, .. }
            | Self::Classified { at, .. }
            | Self::Decided { at }
            | Self::Dispatched { at, .. }
            | Self::FollowedUp { at, .. }
            | Self::TransferRequested { at, .. }
            | Self::Closed { at } => *at,
            Self::HoldStarted { from } | Self::AskStarted { from, .. } => *from,
            Self::HoldEnded { to, .. } | Self::AskEnded { to, .. } => *to,
        }
    }
}

/// A fact with the id of the event that carried it (duplicates share the id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// Event id.
    pub event_id: Uuid,
    /// The fact.
    pub fact: Fact,
}

/// An interval in which a deadline's clock stood still.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When it began.
    pub from: DateTime<Utc>,
    /// When it ended; `None` while it lasts.
    pub to: Option<DateTime<Utc>>,
    /// Units (of the deadline's allowance) it added; 0 while it lasts.
    pub added: u32,
}

/// One computed deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// The step.
    pub step: Step,
    /// 0 for verification; the 1-based span (dispatch) for an OPD's steps.
    pub span: u32,
    /// The accountable OPD (`None`: the operator).
    pub opd: Option<OpdId>,
    /// When the clock started.
    pub started_at: DateTime<Utc>,
    /// What the policy allows.
    pub allowance: Allowance,
    /// When it is due, pauses included.
    pub due_at: DateTime<Utc>,
    /// When the step was done.
    pub met_at: Option<DateTime<Utc>>,
    /// When the OPD's span ended by a transfer request before the step was done.
    pub ended_at: Option<DateTime<Utc>>,
    /// The pauses that count, oldest first.
    pub pauses: Vec<Pause>,
}

/// A deadline's state at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Running, not yet due.
    Open,
    /// The clock stands still (the reporter is asked).
    Paused,
    /// Done in time.
    Met,
    /// Done after the due time.
    MetLate,
    /// Due and not done (or the case was held past the due time before a transfer).
    Breached,
    /// The OPD's span ended by a transfer request before the due time: nobody's breach.
    Ended,
}

impl Deadline {
    /// Stable key: `STEP:span`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.step.code(), self.span)
    }

    /// The state at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> State {
        match (self.met_at, self.ended_at) {
            (Some(m), _) if m <= self.due_at => State::Met,
            (Some(_), _) => State::MetLate,
            (None, Some(e)) if e <= self.due_at => State::Ended,
            (None, Some(_)) => State::Breached,
            (None, None) if self.pauses.iter().any(|p| p.to.is_none()) => State::Paused,
            (None, None) if now > self.due_at => State::Breached,
            (None, None) => State::Open,
        }
    }

    /// How late the step is (or was) at `now`; `None` when not late.
    pub fn late_by(&self, now: DateTime<Utc>) -> Option<Duration> {
        let end = match (self.met_at, self.ended_at) {
            (Some(m), _) => m,
            (None, Some(e)) => e,
            (None, None) if self.pauses.iter().any(|p| p.to.is_none()) => return None,
            (None, None) => now,
        };
        (end > self.due_at).then(|| end - self.due_at)
    }
}

/// Due time of `allowance` from `start`, extended by `extra` units of pauses.
pub fn due(calendar: &Calendar, start: DateTime<Utc>, allowance: Allowance, extra: u32) -> DateTime<Utc> {
    let n = allowance.amount.saturating_add(extra);
    match allowance.unit {
        Unit::WorkingDays => calendar.add_working_days(start, n),
        Unit::WorkingHours => calendar.add_working_minutes(start, n.saturating_mul(60)),
        Unit::CalendarDays => calendar.add_calendar_days(start, n),
    }
}

/// Units a completed pause adds: whole working days after the day it began up to and including
/// the day it ended; office hours between its ends (rounded up to the hour); calendar days.
pub fn pause_units(calendar: &Calendar, unit: Unit, from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
    match unit {
        Unit::WorkingDays => calendar.working_days_between(from, to),
        Unit::WorkingHours => calendar.working_minutes_between(from, to).div_ceil(60),
        Unit::CalendarDays => calendar.calendar_days_between(from, to),
    }
}

/// Pause intervals keyed by their start: `Some(end)` once ended.
type Intervals = BTreeMap<DateTime<Utc>, Option<DateTime<Utc>>>;

/// A pause's start as the key that pairs it with its end. The two ends may come from services
/// that stored the time at different precision (PostgreSQL keeps microseconds), so they pair at
/// microsecond precision.
fn pause_key(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

fn add_interval(map: &mut Intervals, from: DateTime<Utc>, to: Option<DateTime<Utc>>) {
    let e = map.entry(pause_key(from)).or_insert(None);
    if to.is_some() {
        *e = to;
    }
}

/// Builds a deadline from its start, allowance, the intervals that may pause it and its end.
fn deadline(
    calendar: &Calendar,
    (step, span, opd): (Step, u32, Option<OpdId>),
    started_at: DateTime<Utc>,
    allowance: Allowance,
    intervals: &Intervals,
    met_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
) -> Deadline {
    // A pause counts when it began after the clock started and before the step was done (or
    // the span ended): a question after the first follow-up moves nothing.
    let stop = met_at.or(ended_at);
    let pauses: Vec<Pause> = intervals
        .iter()
        .filter(|(from, _)| **from >= started_at && stop.is_none_or(|s| **from < s))
        .map(|(from, to)| Pause {
            from: *from,
            to: *to,
            added: to.map_or(0, |to| pause_units(calendar, allowance.unit, *from, to)),
        })
        .collect();
    let extra = pauses.iter().map(|p| p.added).sum();
    Deadline {
        step,
        span,
        opd,
        started_at,
        allowance,
        due_at: due(calendar, started_at, allowance, extra),
        met_at,
        ended_at,
        pauses,
    }
}

/// Every deadline of one report's history.
pub fn compute(history: &[Recorded], calendar: &Calendar, policy: &SlaPolicy) -> Vec<Deadline> {
    // Duplicates share an event id; order by the fact's time, then the id, so any delivery order
    // gives the same fold.
    let mut facts: Vec<&Recorded> = Vec::with_capacity(history.len());
    let mut seen = std::collections::BTreeSet::new();
    for r in history {
        if seen.insert(r.event_id) {
            facts.push(r);
        }
    }
    facts.sort_by_key(|r| (r.fact.at(), r.event_id));

    let mut submitted: Option<(DateTime<Utc>, ReportKind)> = None;
    // A dispatch repeats the submission time and kind, for a history whose submission is missing.
    let mut from_dispatch: Option<(DateTime<Utc>, ReportKind)> = None;
    let mut class: Option<(ReportKind, bool)> = None;
    let mut holds = Intervals::new();
    let mut asks: BTreeMap<OpdId, Intervals> = BTreeMap::new();
    let mut ask_owner: BTreeMap<DateTime<Utc>, OpdId> = BTreeMap::new();
    let mut ask_ends: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let mut decided: Option<DateTime<Utc>> = None;
    let mut dispatches: Vec<(OpdId, DateTime<Utc>)> = Vec::new();
    let mut follow_ups: Vec<(OpdId, DateTime<Utc>)> = Vec::new();
    let mut transfers: Vec<(OpdId, DateTime<Utc>)> = Vec::new();
    let mut closed: Option<DateTime<Utc>> = None;
    for r in &facts {
        match &r.fact {
            Fact::Submitted { at, kind } => {
                submitted.get_or_insert((*at, *kind));
            }
            Fact::Classified {
                kind,
                needs_examination,
                ..
            } => class = Some((*kind, *needs_examination)),
            Fact::HoldStarted { from } => add_interval(&mut holds, *from, None),
            Fact::HoldEnded { from, to } => add_interval(&mut holds, *from, Some(*to)),
            Fact::Decided { at } => {
                decided.get_or_insert(*at);
            }
            Fact::Dispatched {
                opd,
                at,
                submitted_at,
                kind,
            } => {
                dispatches.push((opd.clone(), *at));
                from_dispatch.get_or_insert((*submitted_at, *kind));
            }
            Fact::FollowedUp { opd, at } => follow_ups.push((opd.clone(), *at)),
            Fact::AskStarted { opd, from } => {
                ask_owner.insert(pause_key(*from), opd.clone());
                add_interval(asks.entry(opd.clone()).or_default(), *from, None);
            }
            Fact::AskEnded { from, to } => ask_ends.push((*from, *to)),
            Fact::TransferRequested { opd, at } => transfers.push((opd.clone(), *at)),
            Fact::Closed { at } => {
                closed.get_or_insert(*at);
            }
        }
    }
    // An answer may arrive before (or without) its question: pair it by the question's time.
    for (from, to) in ask_ends {
        if let Some(opd) = ask_owner.get(&pause_key(from)) {
            add_interval(asks.entry(opd.clone()).or_default(), from, Some(to));
        } else {
            // Attribute an unpaired answer to the OPD holding the report when it was asked.
            let holder = dispatches
                .iter()
                .rev()
                .find(|(_, at)| *at <= from)
                .map(|(o, _)| o.clone());
            if let Some(opd) = holder {
                add_interval(asks.entry(opd).or_default(), from, Some(to));
            }
        }
    }

    let mut out = Vec::new();
    let Some((submitted_at, submitted_kind)) = submitted.or(from_dispatch) else {
        return out;
    };
    let (kind, exam) = class.unwrap_or((submitted_kind, false));
    let first_dispatch = dispatches.first().map(|(_, at)| *at);
    let verification_met = match (first_dispatch, decided) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let empty = Intervals::new();
    out.push(deadline(
        calendar,
        (Step::Verification, 0, None),
        submitted_at,
        policy.allowance(Step::Verification, kind, exam),
        if policy.pause_on_hold { &holds } else { &empty },
        verification_met,
        None,
    ));
    for (i, (opd, start)) in dispatches.iter().enumerate() {
        let next_dispatch = dispatches.get(i + 1).map(|(_, at)| *at);
        let within = |at: DateTime<Utc>| at >= *start && next_dispatch.is_none_or(|n| at < n);
        let transfer = transfers
            .iter()
            .find(|(o, at)| o == opd && within(*at))
            .map(|(_, at)| *at);
        let span_end = match (transfer, next_dispatch) {
            (Some(t), _) => Some(t),
            (None, n) => n,
        };
        let in_span = |at: DateTime<Utc>| at >= *start && span_end.is_none_or(|e| at <= e);
        let first_follow_up = follow_ups
            .iter()
            .find(|(o, at)| o == opd && in_span(*at))
            .map(|(_, at)| *at);
        let closed_here = closed.filter(|at| in_span(*at));
        let span = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let intervals = match asks.get(opd) {
            Some(a) if policy.pause_on_question => a,
            _ => &empty,
        };
        out.push(deadline(
            calendar,
            (Step::FirstFollowUp, span, Some(opd.clone())),
            *start,
            policy.allowance(Step::FirstFollowUp, kind, exam),
            intervals,
            first_follow_up,
            if first_follow_up.is_none() { span_end } else { None },
        ));
        out.push(deadline(
            calendar,
            (Step::Completion, span, Some(opd.clone())),
            *start,
            policy.allowance(Step::Completion, kind, exam),
            intervals,
            closed_here,
            if closed_here.is_none() { span_end } else { None },
        ));
    }
    out
}

#[cfg(test)]
mod tests;
