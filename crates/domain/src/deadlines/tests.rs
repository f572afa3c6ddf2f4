//! Hand-checked deadlines (each expected value worked out on a paper calendar, comments show the
//! counting) and properties of `compute`.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::calendar::{CalendarSpec, Holiday};
use crate::sla::PolicyRule;

const WIB: &str = "Asia/Jakarta";
const WITA: &str = "Asia/Makassar";
const WIT: &str = "Asia/Jayapura";

/// Bontang's year end: cuti bersama 24 Dec, Natal 25 Dec, Tahun Baru 1 Jan.
fn cal_in(tz: &str) -> Calendar {
    let h = |y, m, d, name: &str| Holiday {
        date: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
        name: name.into(),
        source: "test".into(),
    };
    Calendar::from_spec(&CalendarSpec {
        time_zone: tz.into(),
        holidays: vec![
            h(2026, 12, 24, "Cuti bersama Natal"),
            h(2026, 12, 25, "Hari Raya Natal"),
            h(2027, 1, 1, "Tahun Baru"),
        ],
        ..CalendarSpec::default()
    })
    .unwrap()
}

fn cal() -> Calendar {
    cal_in(WITA)
}

fn t_in(tz: &str, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    let y = if m == 1 { 2027 } else { 2026 };
    let tz: chrono_tz::Tz = tz.parse().unwrap();
    tz.with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Local WITA time in 2026 (January: 2027).
fn t(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    t_in(WITA, m, d, h, min)
}

fn local(c: &Calendar, x: DateTime<Utc>) -> String {
    x.with_timezone(&c.time_zone())
        .format("%a %Y-%m-%d %H:%M:%S")
        .to_string()
}

fn opd(s: &str) -> OpdId {
    s.parse().unwrap()
}

/// A report's history, built fact by fact.
#[derive(Clone, Debug, Default)]
struct H(Vec<Recorded>);

impl H {
    fn add(mut self, fact: Fact) -> Self {
        self.0.push(Recorded {
            event_id: Uuid::from_u128(self.0.len() as u128 + 1),
            fact,
        });
        self
    }
    fn submitted(self, at: DateTime<Utc>, kind: ReportKind) -> Self {
        self.add(Fact::Submitted { at, kind })
    }
    fn complaint(at: DateTime<Utc>) -> Self {
        H::default().submitted(at, ReportKind::Pengaduan)
    }
    fn classified(self, at: DateTime<Utc>, kind: ReportKind, exam: bool) -> Self {
        self.add(Fact::Classified {
            at,
            kind,
            needs_examination: exam,
        })
    }
    fn hold(self, from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Self {
        let s = self.add(Fact::HoldStarted { from });
        match to {
            Some(to) => s.add(Fact::HoldEnded { from, to }),
            None => s,
        }
    }
    fn decided(self, at: DateTime<Utc>) -> Self {
        self.add(Fact::Decided { at })
    }
    fn dispatched(self, o: &str, at: DateTime<Utc>) -> Self {
        let (submitted_at, kind) = self
            .0
            .iter()
            .find_map(|r| match r.fact {
                Fact::Submitted { at, kind } => Some((at, kind)),
                _ => None,
            })
            .unwrap();
        self.add(Fact::Dispatched {
            opd: opd(o),
            at,
            submitted_at,
            kind,
        })
    }
    fn follow(self, o: &str, at: DateTime<Utc>) -> Self {
        self.add(Fact::FollowedUp { opd: opd(o), at })
    }
    fn ask(self, o: &str, from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Self {
        let s = self.add(Fact::AskStarted { opd: opd(o), from });
        match to {
            Some(to) => s.add(Fact::AskEnded { from, to }),
            None => s,
        }
    }
    fn transfer(self, o: &str, at: DateTime<Utc>) -> Self {
        self.add(Fact::TransferRequested { opd: opd(o), at })
    }
    fn closed(self, at: DateTime<Utc>) -> Self {
        self.add(Fact::Closed { at })
    }
}

fn rule(step: Step, kind: Option<ReportKind>, amount: u32, unit: Unit) -> PolicyRule {
    PolicyRule {
        step,
        kind,
        needs_examination: None,
        amount,
        unit,
    }
}

fn policy(rules: Vec<PolicyRule>) -> SlaPolicy {
    SlaPolicy {
        rules,
        ..SlaPolicy::default()
    }
}

/// One hand-checked case: the deadline of `step` in `span`, its local due time, and optionally
/// its state at an instant.
struct Case {
    name: &'static str,
    cal: Calendar,
    policy: SlaPolicy,
    history: H,
    step: Step,
    span: u32,
    due: &'static str,
    state: Option<(DateTime<Utc>, State)>,
}

fn case(name: &'static str, history: H, step: Step, span: u32, due: &'static str) -> Case {
    Case {
        name,
        cal: cal(),
        policy: SlaPolicy::default(),
        history,
        step,
        span,
        due,
        state: None,
    }
}

impl Case {
    fn at(mut self, now: DateTime<Utc>, s: State) -> Self {
        self.state = Some((now, s));
        self
    }
    fn with_policy(mut self, p: SlaPolicy) -> Self {
        self.policy = p;
        self
    }
    fn in_zone(mut self, tz: &str) -> Self {
        self.cal = cal_in(tz);
        self
    }
}

fn find(ds: &[Deadline], step: Step, span: u32) -> Deadline {
    ds.iter()
        .find(|d| d.step == step && d.span == span)
        .cloned()
        .unwrap_or_else(|| panic!("no {step:?} deadline in span {span}: {ds:#?}"))
}

use Step::{Completion as C, FirstFollowUp as F, Verification as V};

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let hours = |amount| policy(vec![rule(V, None, amount, Unit::WorkingHours)]);
    vec![
        // Verification, 3 working days after the day of submission.
        case(
            "weekday start",
            H::complaint(t(12, 7, 10, 0)),
            V,
            0,
            "Thu 2026-12-10 23:59:59",
        ), // 8 9 10
        case(
            "friday start",
            H::complaint(t(12, 11, 10, 0)),
            V,
            0,
            "Wed 2026-12-16 23:59:59",
        ), // 14 15 16
        case(
            "saturday start",
            H::complaint(t(12, 12, 10, 0)),
            V,
            0,
            "Wed 2026-12-16 23:59:59",
        ),
        case(
            "sunday night",
            H::complaint(t(12, 13, 23, 30)),
            V,
            0,
            "Wed 2026-12-16 23:59:59",
        ),
        case(
            "after office hours",
            H::complaint(t(12, 11, 22, 0)),
            V,
            0,
            "Wed 2026-12-16 23:59:59",
        ),
        case(
            "over cuti bersama and natal",
            H::complaint(t(12, 21, 10, 0)),
            V,
            0,
            "Mon 2026-12-28 23:59:59",
        ), // 22 23 28
        case(
            "eve of cuti bersama",
            H::complaint(t(12, 23, 9, 0)),
            V,
            0,
            "Wed 2026-12-30 23:59:59",
        ), // 28 29 30
        case(
            "submitted on cuti bersama",
            H::complaint(t(12, 24, 10, 0)),
            V,
            0,
            "Wed 2026-12-30 23:59:59",
        ),
        case(
            "submitted on natal",
            H::complaint(t(12, 25, 10, 0)),
            V,
            0,
            "Wed 2026-12-30 23:59:59",
        ),
        case(
            "over new year",
            H::complaint(t(12, 29, 10, 0)),
            V,
            0,
            "Mon 2027-01-04 23:59:59",
        ), // 30 31 4
        case(
            "new year week",
            H::complaint(t(12, 30, 10, 0)),
            V,
            0,
            "Tue 2027-01-05 23:59:59",
        ), // 31 4 5
        // The same instant (Thu 10 Dec 16:30 UTC) in the three Indonesian zones.
        case(
            "WIB: still thursday",
            H::complaint(Utc.with_ymd_and_hms(2026, 12, 10, 16, 30, 0).unwrap()),
            V,
            0,
            "Tue 2026-12-15 23:59:59",
        )
        .in_zone(WIB), // 11 14 15
        case(
            "WITA: already friday",
            H::complaint(Utc.with_ymd_and_hms(2026, 12, 10, 16, 30, 0).unwrap()),
            V,
            0,
            "Wed 2026-12-16 23:59:59",
        )
        .in_zone(WITA), // 14 15 16
        case(
            "WIT: friday too",
            H::complaint(Utc.with_ymd_and_hms(2026, 12, 10, 16, 30, 0).unwrap()),
            V,
            0,
            "Wed 2026-12-16 23:59:59",
        )
        .in_zone(WIT),
        case(
            "WIB start, WIB due",
            H::complaint(t_in(WIB, 12, 7, 10, 0)),
            V,
            0,
            "Thu 2026-12-10 23:59:59",
        )
        .in_zone(WIB),
        // Tunda stops the verification clock.
        case(
            "hold fri-tue adds 2",
            H::complaint(t(12, 18, 10, 0)).hold(t(12, 18, 12, 0), Some(t(12, 22, 9, 0))),
            V,
            0,
            "Tue 2026-12-29 23:59:59",
        ), // 5 days: 21 22 23 28 29
        case(
            "open hold: paused, due unmoved",
            H::complaint(t(12, 18, 10, 0)).hold(t(12, 18, 12, 0), None),
            V,
            0,
            "Wed 2026-12-23 23:59:59",
        )
        .at(t(12, 30, 10, 0), State::Paused),
        case(
            "two holds add 1 + 2",
            H::complaint(t(12, 7, 10, 0))
                .hold(t(12, 7, 11, 0), Some(t(12, 8, 10, 0)))
                .hold(t(12, 9, 9, 0), Some(t(12, 11, 9, 0))),
            V,
            0,
            "Tue 2026-12-15 23:59:59",
        ), // 6 days
        case(
            "same-day hold adds nothing",
            H::complaint(t(12, 7, 10, 0)).hold(t(12, 7, 11, 0), Some(t(12, 7, 15, 0))),
            V,
            0,
            "Thu 2026-12-10 23:59:59",
        ),
        case(
            "hold over holidays adds 2",
            H::complaint(t(12, 21, 10, 0)).hold(t(12, 22, 10, 0), Some(t(12, 28, 10, 0))),
            V,
            0,
            "Wed 2026-12-30 23:59:59",
        ), // 23, 28 paused; 5 days: 22 23 28 29 30
        case(
            "hold after dispatch ignored",
            H::complaint(t(12, 7, 10, 0))
                .dispatched("dlh", t(12, 8, 10, 0))
                .hold(t(12, 9, 10, 0), Some(t(12, 11, 10, 0))),
            V,
            0,
            "Thu 2026-12-10 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::Met),
        case(
            "archived meets verification",
            H::complaint(t(12, 7, 10, 0)).decided(t(12, 9, 10, 0)),
            V,
            0,
            "Thu 2026-12-10 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::Met),
        case(
            "verification open",
            H::complaint(t(12, 7, 10, 0)),
            V,
            0,
            "Thu 2026-12-10 23:59:59",
        )
        .at(t(12, 10, 23, 0), State::Open),
        case(
            "verification breached",
            H::complaint(t(12, 7, 10, 0)),
            V,
            0,
            "Thu 2026-12-10 23:59:59",
        )
        .at(t(12, 11, 8, 0), State::Breached),
        case(
            "dispatched late",
            H::complaint(t(12, 7, 10, 0)).dispatched("dlh", t(12, 11, 9, 0)),
            V,
            0,
            "Thu 2026-12-10 23:59:59",
        )
        .at(t(12, 11, 10, 0), State::MetLate),
        // First follow-up: 5 working days from dispatch, per OPD span.
        case(
            "follow-up in time",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .follow("dlh", t(12, 11, 10, 0)),
            F,
            1,
            "Mon 2026-12-14 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::Met), // 8 9 10 11 14
        case(
            "follow-up late",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .follow("dlh", t(12, 15, 10, 0)),
            F,
            1,
            "Mon 2026-12-14 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::MetLate),
        case(
            "transfer before due ends the span",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .transfer("dlh", t(12, 10, 10, 0)),
            F,
            1,
            "Mon 2026-12-14 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::Ended),
        case(
            "transfer after due is a breach",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .transfer("dlh", t(12, 16, 10, 0)),
            F,
            1,
            "Mon 2026-12-14 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::Breached),
        case(
            "second span starts fresh",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .transfer("dlh", t(12, 10, 10, 0))
                .dispatched("pupr", t(12, 17, 10, 0)),
            F,
            2,
            "Mon 2026-12-28 23:59:59",
        )
        .at(t(12, 22, 0, 0), State::Open), // 18 21 22 23 28
        case(
            "second span completion",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .transfer("dlh", t(12, 10, 10, 0))
                .dispatched("pupr", t(12, 17, 10, 0)),
            C,
            2,
            "Mon 2027-01-11 23:59:59",
        ), // 14 days: 18 21 22 23 28 29 30 31 4 5 6 7 8 11
        case(
            "another OPD's follow-up does not count",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .follow("pupr", t(12, 8, 10, 0))
                .transfer("dlh", t(12, 10, 10, 0)),
            F,
            1,
            "Mon 2026-12-14 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::Ended),
        case(
            "closing in the second span",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .transfer("dlh", t(12, 10, 10, 0))
                .dispatched("pupr", t(12, 17, 10, 0))
                .follow("pupr", t(12, 18, 10, 0))
                .closed(t(12, 29, 10, 0)),
            C,
            2,
            "Mon 2027-01-11 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::Met),
        case(
            "first span completion ended by transfer",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .transfer("dlh", t(12, 10, 10, 0))
                .dispatched("pupr", t(12, 17, 10, 0))
                .closed(t(12, 29, 10, 0)),
            C,
            1,
            "Tue 2026-12-29 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::Ended),
        // Policy in working hours (office 08:00-16:00).
        case(
            "8h from 09:00",
            H::complaint(t(12, 7, 9, 0)),
            V,
            0,
            "Tue 2026-12-08 09:00:00",
        )
        .with_policy(hours(8)), // 7h mon + 1h tue
        case(
            "8h from before opening",
            H::complaint(t(12, 7, 7, 0)),
            V,
            0,
            "Mon 2026-12-07 16:00:00",
        )
        .with_policy(hours(8)),
        case(
            "8h from after closing",
            H::complaint(t(12, 7, 16, 30)),
            V,
            0,
            "Tue 2026-12-08 16:00:00",
        )
        .with_policy(hours(8)),
        case(
            "8h from saturday",
            H::complaint(t(12, 12, 10, 0)),
            V,
            0,
            "Mon 2026-12-14 16:00:00",
        )
        .with_policy(hours(8)),
        case(
            "8h over the holidays",
            H::complaint(t(12, 23, 15, 0)),
            V,
            0,
            "Mon 2026-12-28 15:00:00",
        )
        .with_policy(hours(8)), // 1h wed, 7h mon
        case(
            "hours: 3.5h hold adds 4h",
            H::complaint(t(12, 7, 9, 0)).hold(t(12, 7, 10, 0), Some(t(12, 7, 13, 30))),
            V,
            0,
            "Tue 2026-12-08 13:00:00",
        )
        .with_policy(hours(8)), // 12h: 7 mon + 5 tue
        case(
            "hours: overnight hold adds 2h",
            H::complaint(t(12, 7, 9, 0)).hold(t(12, 7, 15, 0), Some(t(12, 8, 9, 0))),
            V,
            0,
            "Tue 2026-12-08 11:00:00",
        )
        .with_policy(hours(8)), // 10h: 7 mon + 3 tue
        // Calendar days (an aspiration completed in 7 calendar days, by rule).
        case(
            "7 calendar days",
            H::default()
                .submitted(t(12, 4, 9, 0), ReportKind::Aspirasi)
                .dispatched("dlh", t(12, 7, 10, 0)),
            C,
            1,
            "Mon 2026-12-14 23:59:59",
        )
        .with_policy(policy(vec![rule(
            C,
            Some(ReportKind::Aspirasi),
            7,
            Unit::CalendarDays,
        )])),
        case(
            "calendar days ignore holidays",
            H::default()
                .submitted(t(12, 23, 9, 0), ReportKind::Aspirasi)
                .dispatched("dlh", t(12, 24, 10, 0)),
            C,
            1,
            "Thu 2026-12-31 23:59:59",
        )
        .with_policy(policy(vec![rule(
            C,
            Some(ReportKind::Aspirasi),
            7,
            Unit::CalendarDays,
        )])),
        case(
            "calendar days: a 2-day question adds 2",
            H::default()
                .submitted(t(12, 4, 9, 0), ReportKind::Aspirasi)
                .dispatched("dlh", t(12, 7, 10, 0))
                .ask("dlh", t(12, 7, 12, 0), Some(t(12, 9, 12, 0))),
            C,
            1,
            "Wed 2026-12-16 23:59:59",
        )
        .with_policy(policy(vec![rule(
            C,
            Some(ReportKind::Aspirasi),
            7,
            Unit::CalendarDays,
        )])),
        // Completion by kind (working days, DOMAIN.md's table).
        case(
            "aspirasi 5",
            H::default()
                .submitted(t(12, 4, 9, 0), ReportKind::Aspirasi)
                .dispatched("dlh", t(12, 7, 10, 0)),
            C,
            1,
            "Mon 2026-12-14 23:59:59",
        ),
        case(
            "pengaduan 14",
            H::complaint(t(12, 4, 9, 0)).dispatched("dlh", t(12, 7, 10, 0)),
            C,
            1,
            "Tue 2026-12-29 23:59:59",
        ), // ... 23(12) 28(13) 29(14)
        case(
            "pengaduan needing examination 60",
            H::complaint(t(12, 4, 9, 0))
                .classified(t(12, 4, 10, 0), ReportKind::Pengaduan, true)
                .dispatched("dlh", t(12, 7, 10, 0)),
            C,
            1,
            "Thu 2027-03-04 23:59:59",
        ), // 12 weeks + 3 holidays
        case(
            "information request 10",
            H::default()
                .submitted(t(12, 4, 9, 0), ReportKind::PermintaanInformasi)
                .dispatched("ppid", t(12, 7, 10, 0)),
            C,
            1,
            "Mon 2026-12-21 23:59:59",
        ),
        case(
            "reclassified as aspiration",
            H::complaint(t(12, 4, 9, 0))
                .classified(t(12, 4, 10, 0), ReportKind::Aspirasi, false)
                .dispatched("dlh", t(12, 7, 10, 0)),
            C,
            1,
            "Mon 2026-12-14 23:59:59",
        ),
        // Questions to the reporter stop the OPD's clocks.
        case(
            "answered question adds 3",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("pupr", t(12, 7, 10, 0))
                .ask("pupr", t(12, 8, 10, 0), Some(t(12, 11, 10, 0))),
            F,
            1,
            "Thu 2026-12-17 23:59:59",
        ), // 8 days
        case(
            "open question: paused",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("pupr", t(12, 7, 10, 0))
                .ask("pupr", t(12, 8, 10, 0), None),
            F,
            1,
            "Mon 2026-12-14 23:59:59",
        )
        .at(t(12, 20, 0, 0), State::Paused),
        case(
            "question after follow-up: first follow-up unmoved",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("pupr", t(12, 7, 10, 0))
                .follow("pupr", t(12, 9, 10, 0))
                .ask("pupr", t(12, 10, 10, 0), Some(t(12, 14, 10, 0))),
            F,
            1,
            "Mon 2026-12-14 23:59:59",
        )
        .at(t(12, 30, 0, 0), State::Met),
        case(
            "question after follow-up: completion moves 2",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("pupr", t(12, 7, 10, 0))
                .follow("pupr", t(12, 9, 10, 0))
                .ask("pupr", t(12, 10, 10, 0), Some(t(12, 14, 10, 0))),
            C,
            1,
            "Thu 2026-12-31 23:59:59",
        ), // 16 days
        case(
            "the previous holder's question stays with it",
            H::complaint(t(12, 4, 9, 0))
                .dispatched("dlh", t(12, 7, 10, 0))
                .ask("dlh", t(12, 8, 10, 0), Some(t(12, 9, 10, 0)))
                .transfer("dlh", t(12, 9, 11, 0))
                .dispatched("pupr", t(12, 10, 10, 0)),
            F,
            2,
            "Thu 2026-12-17 23:59:59",
        ), // 11 14 15 16 17
    ]
}

#[test]
fn hand_checked_deadlines() {
    let all = cases();
    assert!(all.len() >= 40, "{} cases", all.len());
    for c in all {
        let ds = compute(&c.history.0, &c.cal, &c.policy);
        let d = find(&ds, c.step, c.span);
        assert_eq!(local(&c.cal, d.due_at), c.due, "{}", c.name);
        if let Some((now, s)) = c.state {
            assert_eq!(d.state(now), s, "{} state", c.name);
        }
    }
}

#[test]
fn spans_name_the_opd_that_held_the_report() {
    let h = H::complaint(t(12, 4, 9, 0))
        .dispatched("dlh", t(12, 7, 10, 0))
        .transfer("dlh", t(12, 16, 10, 0))
        .dispatched("pupr", t(12, 17, 10, 0))
        .follow("pupr", t(12, 18, 10, 0));
    let ds = compute(&h.0, &cal(), &SlaPolicy::default());
    let owners: Vec<(String, u32, Option<String>)> = ds
        .iter()
        .map(|d| {
            (
                d.step.code().to_owned(),
                d.span,
                d.opd.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    assert_eq!(
        owners,
        [
            ("VERIFICATION".into(), 0, None),
            ("FIRST_FOLLOW_UP".into(), 1, Some("dlh".into())),
            ("COMPLETION".into(), 1, Some("dlh".into())),
            ("FIRST_FOLLOW_UP".into(), 2, Some("pupr".into())),
            ("COMPLETION".into(), 2, Some("pupr".into())),
        ]
    );
    let now = t(12, 30, 0, 0);
    let dlh = find(&ds, F, 1);
    assert_eq!(
        dlh.state(now),
        State::Breached,
        "held past its due time, then transferred"
    );
    assert_eq!(
        dlh.late_by(now),
        Some(t(12, 16, 10, 0) - t(12, 14, 23, 59) - chrono::Duration::seconds(59))
    );
    assert_eq!(find(&ds, F, 2).state(now), State::Met);
}

#[test]
fn a_pause_pairs_with_its_end_at_microsecond_precision() {
    // The hold's start as routing published it (nanoseconds) and as intake repeats it after
    // storing it (microseconds).
    let start = t(12, 18, 12, 0) + chrono::Duration::nanoseconds(123_456_789);
    let stored = t(12, 18, 12, 0) + chrono::Duration::nanoseconds(123_456_000);
    let h = H::complaint(t(12, 18, 10, 0))
        .add(Fact::HoldStarted { from: start })
        .add(Fact::HoldEnded {
            from: stored,
            to: t(12, 22, 9, 0),
        });
    let d = find(&compute(&h.0, &cal(), &SlaPolicy::default()), V, 0);
    assert_eq!(d.pauses.len(), 1);
    assert_eq!(d.state(t(12, 23, 0, 0)), State::Open);
    assert_eq!(local(&cal(), d.due_at), "Tue 2026-12-29 23:59:59");
}

#[test]
fn what_stops_the_clock_is_policy() {
    let h = H::complaint(t(12, 18, 10, 0))
        .hold(t(12, 18, 12, 0), Some(t(12, 22, 9, 0)))
        .dispatched("pupr", t(12, 23, 10, 0))
        .ask("pupr", t(12, 28, 10, 0), Some(t(12, 30, 10, 0)));
    let no_pauses = SlaPolicy {
        pause_on_hold: false,
        pause_on_question: false,
        ..SlaPolicy::default()
    };
    let with = compute(&h.0, &cal(), &SlaPolicy::default());
    let without = compute(&h.0, &cal(), &no_pauses);
    // Verification: Fri 18 + 3 = Wed 23 without the hold; + 2 paused days with it.
    assert_eq!(
        local(&cal(), find(&without, V, 0).due_at),
        "Wed 2026-12-23 23:59:59"
    );
    assert_eq!(local(&cal(), find(&with, V, 0).due_at), "Tue 2026-12-29 23:59:59");
    // First follow-up: Wed 23 + 5 = 28 29 30 31 4 -> Mon 4 Jan; the question (28-30) adds 29, 30.
    assert_eq!(
        local(&cal(), find(&without, F, 1).due_at),
        "Mon 2027-01-04 23:59:59"
    );
    assert_eq!(local(&cal(), find(&with, F, 1).due_at), "Wed 2027-01-06 23:59:59");
    assert!(find(&without, F, 1).pauses.is_empty());
}

#[test]
fn no_history_no_deadline() {
    assert!(compute(&[], &cal(), &SlaPolicy::default()).is_empty());
}

/// The SLA monitor relies on this when settings change: it recomputes only reports with an open
/// deadline, because a history that gives no deadline gives none under any calendar or policy.
#[test]
fn only_a_submission_or_a_dispatch_starts_deadlines_whatever_the_settings() {
    let at = t(12, 1, 9, 0);
    let no_start = H::default()
        .classified(at, ReportKind::Aspirasi, true)
        .hold(at, Some(t(12, 2, 9, 0)))
        .decided(t(12, 2, 10, 0))
        .follow("dinas-pu", t(12, 3, 9, 0))
        .ask("dinas-pu", t(12, 3, 10, 0), Some(t(12, 4, 9, 0)))
        .transfer("dinas-pu", t(12, 4, 10, 0))
        .closed(t(12, 5, 9, 0));
    let strict = SlaPolicy {
        verification_days: 1,
        first_follow_up_days: 1,
        pause_on_hold: false,
        pause_on_question: false,
        ..policy(vec![rule(Step::Verification, None, 4, Unit::WorkingHours)])
    };
    let calendars = [
        cal(),
        cal_in(WIB),
        Calendar::from_spec(&CalendarSpec::default()).unwrap(),
    ];
    for c in &calendars {
        for p in [SlaPolicy::default(), strict.clone()] {
            assert!(compute(&no_start.0, c, &p).is_empty());
            let dispatched = no_start.clone().add(Fact::Dispatched {
                opd: opd("dinas-pu"),
                at,
                submitted_at: at,
                kind: ReportKind::Pengaduan,
            });
            assert!(!compute(&dispatched.0, c, &p).is_empty());
            let submitted = no_start.clone().submitted(at, ReportKind::Pengaduan);
            assert!(!compute(&submitted.0, c, &p).is_empty());
        }
    }
}

/// A generated history: submission, optional hold, dispatches with follow-ups, questions and
/// transfers, optional closing.
fn arb_history() -> impl Strategy<Value = H> {
    (
        0u32..20,                                 // submission day offset
        proptest::option::of((0u32..3, 1u32..6)), // hold: start offset, length (days)
        1u32..5,                                  // days to first dispatch
        proptest::collection::vec(
            (0u32..8, any::<bool>(), proptest::option::of((0u32..4, 1u32..5))),
            1..4,
        ), // spans
        any::<bool>(),                            // closed
    )
        .prop_map(|(start, hold, to_dispatch, spans, close)| {
            let day = |n: u32| {
                t(12, 1, 9, 0)
                    + chrono::Duration::days(i64::from(n))
                    + chrono::Duration::hours(i64::from(n % 7))
            };
            let mut h = H::complaint(day(start));
            let mut cursor = start;
            if let Some((s, len)) = hold {
                h = h.hold(day(start + s), Some(day(start + s + len)));
                cursor += s + len;
            }
            cursor += to_dispatch;
            let opds = ["dlh", "pupr", "dinkes", "disdik"];
            let n = spans.len();
            for (i, (follow_after, transfer, ask)) in spans.into_iter().enumerate() {
                let o = opds[i % opds.len()];
                h = h.dispatched(o, day(cursor));
                if let Some((a, len)) = ask {
                    h = h.ask(o, day(cursor + a), Some(day(cursor + a + len)));
                }
                h = h.follow(o, day(cursor + follow_after));
                cursor += follow_after + 1;
                if i + 1 < n || transfer {
                    h = h.transfer(o, day(cursor));
                    cursor += 1;
                }
            }
            if close {
                h = h.closed(day(cursor + 1));
            }
            h
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Replaying the history shuffled and with duplicates gives identical deadlines.
    #[test]
    fn replay_in_any_order_with_duplicates_is_identical(h in arb_history(), seed in any::<u64>(), dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let c = cal();
        let p = SlaPolicy::default();
        let expected = compute(&h.0, &c, &p);
        let mut shuffled = h.0.clone();
        for d in &dups {
            shuffled.push(d.get(&h.0).clone());
        }
        // A deterministic shuffle from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            let j = (s % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(compute(&shuffled, &c, &p), expected);
    }

    /// Adding a pause never moves any deadline earlier.
    #[test]
    fn a_pause_never_moves_a_deadline_earlier(h in arb_history(), at in 0u32..30, len in 1u32..6, hours in any::<bool>()) {
        let c = cal();
        let p = if hours { policy(vec![rule(V, None, 8, Unit::WorkingHours)]) } else { SlaPolicy::default() };
        let before = compute(&h.0, &c, &p);
        let from = t(12, 1, 11, 0) + chrono::Duration::days(i64::from(at));
        let more = h.clone().hold(from, Some(from + chrono::Duration::days(i64::from(len))));
        let after = compute(&more.0, &c, &p);
        prop_assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            prop_assert!(a.due_at >= b.due_at, "{:?} moved earlier", b.key());
        }
    }

    /// A due time in working days ends a working day; in working hours it falls within office
    /// hours of a working day.
    #[test]
    fn no_deadline_lands_on_a_non_working_day(h in arb_history(), hours in any::<bool>()) {
        let c = cal();
        let p = if hours { policy(vec![rule(V, None, 8, Unit::WorkingHours), rule(F, None, 16, Unit::WorkingHours)]) } else { SlaPolicy::default() };
        for d in compute(&h.0, &c, &p) {
            prop_assert!(c.is_working_day(c.local_date(d.due_at)), "{} due {}", d.key(), local(&c, d.due_at));
        }
    }
}
