use chrono::{Duration, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::calendar::{CalendarSpec, Holiday};

fn opd(s: &str) -> OpdId {
    s.parse().unwrap()
}

fn calendar() -> Calendar {
    Calendar::from_spec(&CalendarSpec {
        holidays: vec![Holiday {
            date: chrono::NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(),
            name: "Natal".into(),
            source: "SKB".into(),
        }],
        ..CalendarSpec::default()
    })
    .unwrap()
}

fn run(
    cal: &Calendar,
    policy: &SlaPolicy,
    start: DateTime<Utc>,
    steps: &[(Command, i64)],
) -> (Lifecycle, Vec<Result<LifecycleEvent, TransitionError>>) {
    let mut state = Lifecycle::New;
    let mut now = start;
    let mut out = Vec::new();
    for (cmd, hours) in steps {
        now += Duration::hours(*hours);
        let ctx = Context {
            now,
            calendar: cal,
            policy,
        };
        let r = decide(&state, cmd, &ctx);
        if let Ok(e) = &r {
            state = apply(state, e);
        }
        out.push(r);
    }
    (state, out)
}

#[test]
fn happy_path_to_completion_by_reporter() {
    let (cal, policy) = (calendar(), SlaPolicy::default());
    let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).unwrap();
    let (state, results) = run(
        &cal,
        &policy,
        t0,
        &[
            (Command::Submit, 0),
            (Command::Verify, 1),
            (
                Command::Dispatch {
                    opd: opd("dinas-pupr"),
                },
                1,
            ),
            (
                Command::FollowUp {
                    opd: opd("dinas-pupr"),
                },
                24,
            ),
            (
                Command::Reply {
                    by: Replier::Reporter,
                },
                2,
            ),
            (
                Command::FollowUp {
                    opd: opd("dinas-pupr"),
                },
                2,
            ),
            (Command::Confirm, 2),
        ],
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(state, Lifecycle::Completed { by: Closer::Reporter });
}

#[test]
fn transfer_returns_to_operator_and_never_closes() {
    let (cal, policy) = (calendar(), SlaPolicy::default());
    let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).unwrap();
    let (state, results) = run(
        &cal,
        &policy,
        t0,
        &[
            (Command::Submit, 0),
            (Command::Dispatch { opd: opd("dinkes") }, 1),
            (
                Command::RequestTransfer {
                    opd: opd("dinkes"),
                    reason: "bukan kami".into(),
                },
                1,
            ),
        ],
    );
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        state,
        Lifecycle::Submitted {
            verified: true,
            returned_from: Some(ReturnedFrom {
                opd: opd("dinkes"),
                reason: "bukan kami".into()
            })
        }
    );
}

#[test]
fn illegal_moves_are_refused() {
    let (cal, policy) = (calendar(), SlaPolicy::default());
    let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).unwrap();
    let (_, r) = run(
        &cal,
        &policy,
        t0,
        &[
            (Command::Submit, 0),
            (Command::Confirm, 0),                         // not in progress
            (Command::FollowUp { opd: opd("dinkes") }, 0), // not dispatched
            (Command::Hold { reason: "  ".into() }, 0),    // reason required
            (Command::Dispatch { opd: opd("dinkes") }, 0), // ok
            (
                Command::FollowUp {
                    opd: opd("dinas-pupr"),
                },
                0,
            ), // not the holder
            (
                Command::Dispatch {
                    opd: opd("dinas-pupr"),
                },
                0,
            ), // already dispatched
            (Command::Submit, 0),                          // twice
        ],
    );
    assert!(matches!(r[1], Err(TransitionError::NotAllowed { .. })));
    assert!(matches!(r[2], Err(TransitionError::NotAllowed { .. })));
    assert_eq!(r[3], Err(TransitionError::ReasonRequired));
    assert!(r[4].is_ok());
    assert!(matches!(r[5], Err(TransitionError::NotHolder { .. })));
    assert!(matches!(r[6], Err(TransitionError::NotAllowed { .. })));
    assert!(matches!(r[7], Err(TransitionError::NotAllowed { .. })));
}

#[test]
fn auto_close_exactly_after_reply_window_across_a_holiday() {
    let (cal, policy) = (calendar(), SlaPolicy::default());
    // Last follow-up Friday 2026-12-11 10:00 WITA. Ten working days after, skipping weekends and
    // Christmas (Fri 12-25): Dec 14-18 (5), 21-24 (4), 28 (1) -> window ends Mon 12-28 23:59:59.
    let follow_up = chrono_tz::Asia::Makassar
        .with_ymd_and_hms(2026, 12, 11, 10, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let state = Lifecycle::InProgress {
        opd: opd("dinkes"),
        last_follow_up_at: follow_up,
        reply_pending: None,
    };
    let end = chrono_tz::Asia::Makassar
        .with_ymd_and_hms(2026, 12, 28, 23, 59, 59)
        .unwrap()
        .with_timezone(&Utc);
    let at = |now| Context {
        now,
        calendar: &cal,
        policy: &policy,
    };
    assert!(matches!(
        decide(&state, &Command::AutoClose, &at(end)),
        Err(TransitionError::NotDue(_))
    ));
    let e = decide(&state, &Command::AutoClose, &at(end + Duration::seconds(1))).unwrap();
    let closed = apply(state, &e);
    assert_eq!(closed, Lifecycle::Completed { by: Closer::System });
    // Never twice.
    assert!(decide(&closed, &Command::AutoClose, &at(end + Duration::days(30))).is_err());
    // A pending reply blocks it.
    let waiting = Lifecycle::InProgress {
        opd: opd("dinkes"),
        last_follow_up_at: follow_up,
        reply_pending: Some(Replier::Reporter),
    };
    assert!(decide(&waiting, &Command::AutoClose, &at(end + Duration::days(30))).is_err());
}

/// The reference table: which command kinds each status admits (before holder and reason checks).
fn admitted(status: Option<Status>, cmd: &Command) -> bool {
    use Command as C;
    match status {
        None => matches!(cmd, C::Submit),
        Some(Status::Submitted) => matches!(
            cmd,
            C::Verify
                | C::Hold { .. }
                | C::DeclareNotAuthorized { .. }
                | C::Archive { .. }
                | C::Dispatch { .. }
        ),
        Some(Status::OnHold) => matches!(cmd, C::CompleteHold | C::Archive { .. }),
        Some(Status::Dispatched) => matches!(cmd, C::FollowUp { .. } | C::RequestTransfer { .. }),
        Some(Status::InProgress) => matches!(
            cmd,
            C::FollowUp { .. } | C::Reply { .. } | C::RequestTransfer { .. } | C::Confirm | C::AutoClose
        ),
        Some(Status::NotAuthorized | Status::Archived | Status::Completed) => false,
    }
}

fn arb_opd() -> impl Strategy<Value = OpdId> {
    prop_oneof![
        Just(opd("dinkes")),
        Just(opd("dinas-pupr")),
        Just(opd("disdukcapil"))
    ]
}

fn arb_reason() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), Just("kurang lengkap".to_owned())]
}

fn arb_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Submit),
        Just(Command::Verify),
        arb_reason().prop_map(|reason| Command::Hold { reason }),
        Just(Command::CompleteHold),
        arb_reason().prop_map(|reason| Command::DeclareNotAuthorized { reason }),
        arb_reason().prop_map(|reason| Command::Archive { reason }),
        arb_opd().prop_map(|opd| Command::Dispatch { opd }),
        arb_opd().prop_map(|opd| Command::FollowUp { opd }),
        prop_oneof![Just(Replier::Reporter), Just(Replier::Operator)].prop_map(|by| Command::Reply { by }),
        (arb_opd(), arb_reason()).prop_map(|(opd, reason)| Command::RequestTransfer { opd, reason }),
        Just(Command::Confirm),
        Just(Command::AutoClose),
    ]
}

proptest! {
    #[test]
    fn no_illegal_transition_is_accepted(
        steps in proptest::collection::vec((arb_command(), 0i64..400), 1..40)
    ) {
        let (cal, policy) = (calendar(), SlaPolicy::default());
        let mut state = Lifecycle::New;
        let mut now = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        for (cmd, hours) in steps {
            now += Duration::hours(hours);
            let before = state.clone();
            let ctx = Context { now, calendar: &cal, policy: &policy };
            match decide(&state, &cmd, &ctx) {
                Ok(event) => {
                    prop_assert!(admitted(before.status(), &cmd), "{:?} accepted {:?}", before, cmd);
                    // Terminal states are never left.
                    prop_assert!(!before.status().is_some_and(Status::is_terminal));
                    // Acting OPDs are always the holder.
                    if let Command::FollowUp { opd } | Command::RequestTransfer { opd, .. } = &cmd {
                        prop_assert_eq!(before.holder(), Some(opd));
                    }
                    state = apply(state, &event);
                    prop_assert_ne!(&state, &Lifecycle::New);
                }
                Err(_) => {
                    // A refused command never changes state.
                    prop_assert_eq!(&state, &before);
                }
            }
        }
    }

    #[test]
    fn terminal_states_refuse_everything(cmd in arb_command(), which in 0usize..3) {
        let (cal, policy) = (calendar(), SlaPolicy::default());
        let state = [
            Lifecycle::Completed { by: Closer::System },
            Lifecycle::Archived { reason: "x".into() },
            Lifecycle::NotAuthorized { reason: "x".into() },
        ][which].clone();
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let ctx = Context { now, calendar: &cal, policy: &policy };
        prop_assert!(decide(&state, &cmd, &ctx).is_err());
    }
}
