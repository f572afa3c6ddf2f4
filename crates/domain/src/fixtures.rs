//! Sample events for tests of the services (feature `fixtures`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::content::{Channel, Location, Privacy, ReportContent, ReportKind};
use crate::events::{CaseOpened, Envelope, Event, ReportDispatched, ReportSubmitted};
use crate::ids::{CaseId, EventId, OpdId, ReportId, ReporterRef, TrackingId};

/// Content of a report of `kind` in `category` (empty for none).
pub fn content(kind: ReportKind, category: &str, anonim: bool) -> ReportContent {
    ReportContent {
        kind,
        title: "Lampu jalan padam".into(),
        body: "Lampu penerangan jalan di Jl. Ahmad Yani padam sejak tiga malam.".into(),
        category: (!category.is_empty()).then(|| category.parse().unwrap_or_else(|e| panic!("{e}"))),
        incident_date: None,
        location: Some(Location {
            text: "Jl. Ahmad Yani".into(),
            ..Location::default()
        }),
        privacy: Privacy {
            anonim,
            rahasia: false,
        },
    }
}

/// A fresh `ReportSubmitted` envelope.
pub fn submitted(kind: ReportKind, category: &str, at: DateTime<Utc>) -> Envelope {
    let report = Uuid::now_v7();
    Envelope {
        id: EventId::from_uuid(Uuid::now_v7()),
        occurred_at: at,
        event: Event::ReportSubmitted(ReportSubmitted {
            report_id: ReportId::from_uuid(report),
            tracking_id: TrackingId::from_random(report.as_u128() as u64),
            content: content(kind, category, false),
            channel: Channel::Web,
            reporter_ref: ReporterRef::from_uuid(Uuid::new_v4()),
            submitted_at: at,
            access_token_hash: String::new(),
        }),
    }
}

/// The `ReportDispatched` that follows `submitted` to `opd` at `at`.
pub fn dispatched(submitted: &Envelope, opd: &str, at: DateTime<Utc>) -> Envelope {
    let Event::ReportSubmitted(s) = &submitted.event else {
        panic!("not a ReportSubmitted")
    };
    Envelope {
        id: EventId::from_uuid(Uuid::now_v7()),
        occurred_at: at,
        event: Event::ReportDispatched(ReportDispatched {
            report_id: s.report_id,
            tracking_id: s.tracking_id.clone(),
            opd_id: opd.parse::<OpdId>().unwrap_or_else(|e| panic!("{e}")),
            content: s.content.clone(),
            reporter_ref: s.reporter_ref,
            submitted_at: s.submitted_at,
            dispatched_at: at,
            rule_id: None,
            dispatched_by: Some("operator-1".into()),
        }),
    }
}

/// The `CaseOpened` that follows `dispatched` at `at`.
pub fn case_opened(dispatched: &Envelope, at: DateTime<Utc>) -> Envelope {
    let Event::ReportDispatched(d) = &dispatched.event else {
        panic!("not a ReportDispatched")
    };
    Envelope {
        id: EventId::from_uuid(Uuid::now_v7()),
        occurred_at: at,
        event: Event::CaseOpened(CaseOpened {
            case_id: CaseId::from_uuid(Uuid::now_v7()),
            report_id: d.report_id,
            tracking_id: d.tracking_id.clone(),
            opd_id: d.opd_id.clone(),
            kind: d.content.kind,
            reporter_ref: d.reporter_ref,
            opened_at: at,
        }),
    }
}
