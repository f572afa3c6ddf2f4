//! Criterion micro benchmarks of the pure domain: the report lifecycle state machine (decide and
//! apply along a whole complaint) and a deadline computation over a report's history. The SLA
//! monitor's sweep and full recompute over 1,000,000 deadlines are criterion benchmarks of their
//! own, `services/sla-monitor/benches/sla.rs` (they need PostgreSQL).
//! `cargo bench -p lapor-domain`.
#![allow(clippy::unwrap_used)] // a benchmark fails loudly

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use lapor_domain::calendar::{CalendarSpec, Holiday};
use lapor_domain::deadlines::{Fact, Recorded, compute};
use lapor_domain::lifecycle::{Context, Replier};
use lapor_domain::{Calendar, Command, Lifecycle, OpdId, ReportKind, SlaPolicy, apply, decide};

fn calendar() -> Calendar {
    let h = |m, d, name: &str| Holiday {
        date: NaiveDate::from_ymd_opt(2026, m, d).unwrap(),
        name: name.into(),
        source: "bench".into(),
    };
    Calendar::from_spec(&CalendarSpec {
        time_zone: "Asia/Makassar".into(),
        holidays: vec![h(12, 24, "Cuti bersama"), h(12, 25, "Natal")],
        ..CalendarSpec::default()
    })
    .unwrap()
}

fn lifecycle(c: &mut Criterion) {
    let (cal, policy) = (calendar(), SlaPolicy::default());
    let pupr: OpdId = "dinas-pupr".parse().unwrap();
    let steps = [
        (Command::Submit, 0),
        (Command::Verify, 1),
        (Command::Dispatch { opd: pupr.clone() }, 1),
        (Command::FollowUp { opd: pupr.clone() }, 24),
        (
            Command::Reply {
                by: Replier::Reporter,
            },
            2,
        ),
        (Command::FollowUp { opd: pupr.clone() }, 2),
        (Command::Confirm, 2),
    ];
    let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).unwrap();
    c.bench_function(
        "lifecycle: a complaint from submission to completion (7 commands)",
        |b| {
            b.iter(|| {
                let mut state = Lifecycle::New;
                let mut now = t0;
                for (cmd, hours) in &steps {
                    now += Duration::hours(*hours);
                    let ctx = Context {
                        now,
                        calendar: &cal,
                        policy: &policy,
                    };
                    let e = decide(&state, cmd, &ctx).unwrap();
                    state = apply(state, &e);
                }
                std::hint::black_box(state)
            });
        },
    );
}

fn deadlines(c: &mut Criterion) {
    let (cal, policy) = (calendar(), SlaPolicy::default());
    let pupr: OpdId = "dinas-pupr".parse().unwrap();
    let at = |d: u32, h: u32| -> DateTime<Utc> { Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap() };
    let facts = vec![
        Fact::Submitted {
            at: at(18, 1),
            kind: ReportKind::Pengaduan,
        },
        Fact::HoldStarted { from: at(18, 3) },
        Fact::HoldEnded {
            from: at(18, 3),
            to: at(21, 2),
        },
        Fact::Decided { at: at(21, 4) },
        Fact::Dispatched {
            opd: pupr.clone(),
            at: at(21, 4),
            submitted_at: at(18, 1),
            kind: ReportKind::Pengaduan,
        },
        Fact::AskStarted {
            opd: pupr.clone(),
            from: at(22, 2),
        },
        Fact::AskEnded {
            from: at(22, 2),
            to: at(28, 1),
        },
        Fact::FollowedUp {
            opd: pupr.clone(),
            at: at(29, 5),
        },
    ];
    let history: Vec<Recorded> = facts
        .into_iter()
        .enumerate()
        .map(|(i, fact)| Recorded {
            event_id: uuid::Uuid::from_u128(i as u128 + 1),
            fact,
        })
        .collect();
    c.bench_function(
        "deadlines: compute from an 8-fact history across a holiday",
        |b| {
            b.iter(|| std::hint::black_box(compute(&history, &cal, &policy)));
        },
    );
}

criterion_group!(benches, lifecycle, deadlines);
criterion_main!(benches);
