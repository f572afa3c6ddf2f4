//! The same services with SQLite state (the `make run` default), NATS as transport.

use std::time::Duration;

use lapor_platform::Role;
use lapor_proto::cases::v1 as pc;
use lapor_proto::common::v1::ReportKind;
use lapor_proto::notification::v1 as pn;
use lapor_proto::routing::v1 as pr;
use lapor_proto::sla::v1 as ps;
use lapor_system_tests::{System, authed, eventually};

use crate::{submission, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_runs_on_sqlite() {
    let sys = System::start_on_sqlite().await;
    let placed = submit(
        &sys,
        submission("sq-1", ReportKind::Pengaduan as i32, "adminduk.ktp-el"),
    )
    .await;
    let queued = submit(
        &sys,
        submission("sq-2", ReportKind::Aspirasi as i32, "ketertiban"),
    )
    .await;
    let officer = sys.token(Role::OpdOfficer, Some("disdukcapil"));
    let case = eventually("case at disdukcapil", Duration::from_secs(30), || async {
        let r = sys
            .cases()
            .await
            .list_cases(authed(pc::ListCasesRequest::default(), &officer))
            .await
            .ok()?;
        r.into_inner().cases.into_iter().next()
    })
    .await;
    assert_eq!(case.tracking_id, placed.tracking_id);
    let op = sys.token(Role::Operator, None);
    eventually("queued report", Duration::from_secs(30), || async {
        let r = sys
            .routing()
            .await
            .list_queue(authed(pr::ListQueueRequest::default(), &op))
            .await
            .ok()?;
        r.into_inner()
            .items
            .iter()
            .any(|i| i.report_id == queued.report_id)
            .then_some(())
    })
    .await;
    sys.routing()
        .await
        .dispatch(authed(
            pr::DispatchRequest {
                report_id: queued.report_id.clone(),
                opd_id: "satpol-pp".into(),
            },
            &op,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    for r in [&placed, &queued] {
        eventually(
            "three deadlines and three messages",
            Duration::from_secs(30),
            || async {
                let d = sys
                    .sla()
                    .await
                    .list_deadlines(authed(
                        ps::ListDeadlinesRequest {
                            report_id: r.report_id.clone(),
                        },
                        &op,
                    ))
                    .await
                    .ok()?
                    .into_inner()
                    .deadlines;
                let m = sys
                    .notification()
                    .await
                    .list_messages(authed(
                        pn::ListMessagesRequest {
                            report_id: r.report_id.clone(),
                        },
                        &op,
                    ))
                    .await
                    .ok()?
                    .into_inner()
                    .messages;
                (d.len() == 3 && m.len() == 3).then_some(())
            },
        )
        .await;
    }
    sys.stop().await;
}
