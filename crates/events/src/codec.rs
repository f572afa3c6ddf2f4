//! The one codec between the domain's events and their proto schema. Golden samples in
//! `tests/golden/` pin the wire format.

use chrono::{DateTime, NaiveDate, Utc};
use lapor_domain::content::{Channel, Location, Privacy, ReportContent, ReportKind};
use lapor_domain::events::{
    AttachmentAdded, CalendarChanged, CaseAssigned, CaseClosed, CaseFollowedUp, CaseInfoRequested,
    CaseNoteAdded, CaseOpened, CaseRated, CaseRef, CaseReplied, CaseTransferRequested, DeadlineRef, Envelope,
    Event, OmbudsmanRequested, PublicNameChanged, ReportArchived, ReportDeclaredNotAuthorized,
    ReportDispatched, ReportHoldCompleted, ReportPutOnHold, ReportSubmitted, ReportSupported, ReportVerified,
    SlaBreached, SlaEscalated, SlaWarning,
};
use lapor_domain::ids::EventId;
use lapor_domain::lifecycle::{Closer, Replier};
use lapor_proto::common::v1 as pc;
use lapor_proto::events::v1 as pe;
use prost::Message;

use crate::SCHEMA_VERSION;

/// An event that cannot be decoded; such a message goes to the dead-letter table.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a valid `EventEnvelope`.
    #[error("not a valid EventEnvelope: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// A schema version this build does not read.
    #[error("unsupported schema version {0}")]
    Version(u32),
    /// A field is missing or malformed.
    #[error("field {field}: {problem}")]
    Field {
        /// Field path.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

fn field(field: &'static str, problem: impl ToString) -> DecodeError {
    DecodeError::Field {
        field,
        problem: problem.to_string(),
    }
}

/// Maps a domain kind to the wire enum.
pub fn kind_to_proto(k: ReportKind) -> pc::ReportKind {
    match k {
        ReportKind::Pengaduan => pc::ReportKind::Pengaduan,
        ReportKind::Aspirasi => pc::ReportKind::Aspirasi,
        ReportKind::PermintaanInformasi => pc::ReportKind::PermintaanInformasi,
    }
}

/// Maps a wire kind to the domain (`None` for unspecified or unknown values).
pub fn kind_from_proto(v: i32) -> Option<ReportKind> {
    match pc::ReportKind::try_from(v).ok()? {
        pc::ReportKind::Pengaduan => Some(ReportKind::Pengaduan),
        pc::ReportKind::Aspirasi => Some(ReportKind::Aspirasi),
        pc::ReportKind::PermintaanInformasi => Some(ReportKind::PermintaanInformasi),
        pc::ReportKind::Unspecified => None,
    }
}

/// Maps a domain channel to the wire enum.
pub fn channel_to_proto(c: Channel) -> pc::Channel {
    match c {
        Channel::Web => pc::Channel::Web,
        Channel::Mobile => pc::Channel::Mobile,
        Channel::Sms => pc::Channel::Sms,
        Channel::Integration => pc::Channel::Integration,
    }
}

/// Maps a wire channel to the domain (`None` for unknown values; unspecified is integration).
pub fn channel_from_proto(v: i32) -> Option<Channel> {
    Some(match pc::Channel::try_from(v).ok()? {
        pc::Channel::Web => Channel::Web,
        pc::Channel::Mobile => Channel::Mobile,
        pc::Channel::Sms => Channel::Sms,
        pc::Channel::Integration | pc::Channel::Unspecified => Channel::Integration,
    })
}

/// Maps a domain location to the wire message.
pub fn location_to_proto(l: &Location) -> pc::Location {
    pc::Location {
        text: l.text.clone(),
        latitude: l.point.map(|p| p.0),
        longitude: l.point.map(|p| p.1),
        kecamatan: l.kecamatan.clone(),
        kelurahan: l.kelurahan.clone(),
    }
}

/// Maps a wire location to the domain; a half-given point is an error.
pub fn location_from_proto(l: &pc::Location) -> Result<Location, &'static str> {
    let point = match (l.latitude, l.longitude) {
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        _ => return Err("latitude and longitude must be given together"),
    };
    Ok(Location {
        text: l.text.clone(),
        point,
        kecamatan: l.kecamatan.clone(),
        kelurahan: l.kelurahan.clone(),
    })
}

/// Converts a time to a protobuf timestamp.
pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Converts a protobuf timestamp to a time.
pub fn from_ts(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

fn req_ts(t: Option<&prost_types::Timestamp>, name: &'static str) -> Result<DateTime<Utc>, DecodeError> {
    from_ts(t).ok_or_else(|| field(name, "missing or invalid timestamp"))
}

fn parse<T: std::str::FromStr>(s: &str, name: &'static str) -> Result<T, DecodeError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| field(name, e))
}

fn content_fields(c: &ReportContent) -> (i32, String, String, String, Option<pc::Location>, bool, bool) {
    (
        kind_to_proto(c.kind) as i32,
        c.title.clone(),
        c.body.clone(),
        c.category.as_ref().map(|x| x.to_string()).unwrap_or_default(),
        c.location.as_ref().map(location_to_proto),
        c.privacy.anonim,
        c.privacy.rahasia,
    )
}

#[allow(clippy::too_many_arguments)]
fn content_from(
    kind: i32,
    title: &str,
    body: &str,
    category: &str,
    incident_date: &str,
    location: Option<&pc::Location>,
    anonim: bool,
    rahasia: bool,
) -> Result<ReportContent, DecodeError> {
    Ok(ReportContent {
        kind: kind_from_proto(kind).ok_or_else(|| field("kind", "unknown kind"))?,
        title: title.to_owned(),
        body: body.to_owned(),
        category: if category.is_empty() {
            None
        } else {
            Some(parse(category, "category_id")?)
        },
        incident_date: if incident_date.is_empty() {
            None
        } else {
            Some(
                NaiveDate::parse_from_str(incident_date, "%Y-%m-%d")
                    .map_err(|e| field("incident_date", e))?,
            )
        },
        location: location
            .map(location_from_proto)
            .transpose()
            .map_err(|e| field("location", e))?,
        privacy: Privacy { anonim, rahasia },
    })
}

fn uuid_field(s: &str, name: &'static str) -> Result<uuid::Uuid, DecodeError> {
    s.parse().map_err(|e: uuid::Error| field(name, e))
}

fn case_ref_to_proto(c: &CaseRef) -> pe::CaseRef {
    pe::CaseRef {
        case_id: c.case_id.to_string(),
        report_id: c.report_id.to_string(),
        tracking_id: c.tracking_id.to_string(),
        opd_id: c.opd_id.to_string(),
        reporter_ref: c.reporter_ref.to_string(),
    }
}

fn deadline_ref_to_proto(d: &DeadlineRef) -> pe::DeadlineRef {
    pe::DeadlineRef {
        report_id: d.report_id.to_string(),
        step: d.step.code().to_owned(),
        span: d.span,
        opd_id: d.opd_id.as_ref().map(ToString::to_string).unwrap_or_default(),
        due_at: Some(ts(d.due_at)),
    }
}

fn deadline_ref_from(d: Option<pe::DeadlineRef>) -> Result<DeadlineRef, DecodeError> {
    let d = d.ok_or_else(|| field("deadline", "missing"))?;
    Ok(DeadlineRef {
        report_id: parse(&d.report_id, "deadline.report_id")?,
        step: lapor_domain::Step::from_code(&d.step).ok_or_else(|| field("deadline.step", "unknown step"))?,
        span: d.span,
        opd_id: if d.opd_id.is_empty() {
            None
        } else {
            Some(parse(&d.opd_id, "deadline.opd_id")?)
        },
        due_at: req_ts(d.due_at.as_ref(), "deadline.due_at")?,
    })
}

fn case_ref_from(c: Option<pe::CaseRef>) -> Result<CaseRef, DecodeError> {
    let c = c.ok_or_else(|| field("case", "missing"))?;
    Ok(CaseRef {
        case_id: parse(&c.case_id, "case.case_id")?,
        report_id: parse(&c.report_id, "case.report_id")?,
        tracking_id: parse(&c.tracking_id, "case.tracking_id")?,
        opd_id: parse(&c.opd_id, "case.opd_id")?,
        reporter_ref: parse(&c.reporter_ref, "case.reporter_ref")?,
    })
}

/// Encodes an envelope to its wire form.
pub fn encode(env: &Envelope) -> Vec<u8> {
    to_proto(env).encode_to_vec()
}

/// Converts an envelope to its proto message.
pub fn to_proto(env: &Envelope) -> pe::EventEnvelope {
    use pe::event_envelope::Payload;
    let payload = match &env.event {
        Event::ReportSubmitted(e) => {
            let (kind, title, body, category_id, location, anonim, rahasia) = content_fields(&e.content);
            Payload::ReportSubmitted(pe::ReportSubmitted {
                report_id: e.report_id.to_string(),
                tracking_id: e.tracking_id.to_string(),
                kind,
                title,
                body,
                category_id,
                incident_date: e.content.incident_date.map(|d| d.to_string()).unwrap_or_default(),
                location,
                anonim,
                rahasia,
                channel: channel_to_proto(e.channel) as i32,
                reporter_ref: e.reporter_ref.to_string(),
                submitted_at: Some(ts(e.submitted_at)),
                access_token_hash: e.access_token_hash.clone(),
            })
        }
        Event::ReportDispatched(e) => {
            let (kind, title, body, category_id, location, anonim, rahasia) = content_fields(&e.content);
            Payload::ReportDispatched(pe::ReportDispatched {
                report_id: e.report_id.to_string(),
                tracking_id: e.tracking_id.to_string(),
                opd_id: e.opd_id.to_string(),
                kind,
                title,
                body,
                category_id,
                location,
                anonim,
                rahasia,
                reporter_ref: e.reporter_ref.to_string(),
                submitted_at: Some(ts(e.submitted_at)),
                dispatched_at: Some(ts(e.dispatched_at)),
                rule_id: e.rule_id.clone().unwrap_or_default(),
                dispatched_by: e.dispatched_by.clone().unwrap_or_default(),
                incident_date: e.content.incident_date.map(|d| d.to_string()).unwrap_or_default(),
            })
        }
        Event::CaseOpened(e) => Payload::CaseOpened(pe::CaseOpened {
            case_id: e.case_id.to_string(),
            report_id: e.report_id.to_string(),
            tracking_id: e.tracking_id.to_string(),
            opd_id: e.opd_id.to_string(),
            kind: kind_to_proto(e.kind) as i32,
            reporter_ref: e.reporter_ref.to_string(),
            opened_at: Some(ts(e.opened_at)),
        }),
        Event::ReportVerified(e) => Payload::ReportVerified(pe::ReportVerified {
            report_id: e.report_id.to_string(),
            tracking_id: e.tracking_id.to_string(),
            kind: kind_to_proto(e.kind) as i32,
            needs_examination: e.needs_examination,
            category_id: e.category.to_string(),
            anonim: e.privacy.anonim,
            rahasia: e.privacy.rahasia,
            title: e.title.clone(),
            reporter_ref: e.reporter_ref.to_string(),
            verified_at: Some(ts(e.verified_at)),
            verified_by: e.verified_by.clone(),
        }),
        Event::ReportPutOnHold(e) => Payload::ReportPutOnHold(pe::ReportPutOnHold {
            report_id: e.report_id.to_string(),
            tracking_id: e.tracking_id.to_string(),
            reason: e.reason.clone(),
            reporter_ref: e.reporter_ref.to_string(),
            held_at: Some(ts(e.held_at)),
            held_by: e.held_by.clone(),
        }),
        Event::ReportDeclaredNotAuthorized(e) => {
            Payload::ReportDeclaredNotAuthorized(pe::ReportDeclaredNotAuthorized {
                report_id: e.report_id.to_string(),
                tracking_id: e.tracking_id.to_string(),
                reason: e.reason.clone(),
                reporter_ref: e.reporter_ref.to_string(),
                declared_at: Some(ts(e.declared_at)),
                declared_by: e.declared_by.clone(),
            })
        }
        Event::ReportArchived(e) => Payload::ReportArchived(pe::ReportArchived {
            report_id: e.report_id.to_string(),
            tracking_id: e.tracking_id.to_string(),
            reason_code: e.reason_code.clone(),
            reason: e.reason.clone(),
            reporter_ref: e.reporter_ref.to_string(),
            archived_at: Some(ts(e.archived_at)),
            archived_by: e.archived_by.clone(),
            duplicate_of: e
                .duplicate_of
                .as_ref()
                .map(|d| d.0.to_string())
                .unwrap_or_default(),
            duplicate_of_tracking_id: e
                .duplicate_of
                .as_ref()
                .map(|d| d.1.to_string())
                .unwrap_or_default(),
        }),
        Event::CaseTransferRequested(e) => Payload::CaseTransferRequested(pe::CaseTransferRequested {
            case_id: e.case_id.to_string(),
            report_id: e.report_id.to_string(),
            tracking_id: e.tracking_id.to_string(),
            opd_id: e.opd_id.to_string(),
            reason: e.reason.clone(),
            requested_at: Some(ts(e.requested_at)),
            requested_by: e.requested_by.clone(),
        }),
        Event::ReportHoldCompleted(e) => Payload::ReportHoldCompleted(pe::ReportHoldCompleted {
            report_id: e.report_id.to_string(),
            tracking_id: e.tracking_id.to_string(),
            addition: e.addition.clone(),
            held_at: Some(ts(e.held_at)),
            completed_at: Some(ts(e.completed_at)),
            reporter_ref: e.reporter_ref.to_string(),
        }),
        Event::CaseFollowedUp(e) => Payload::CaseFollowedUp(pe::CaseFollowedUp {
            case_id: e.case_id.to_string(),
            report_id: e.report_id.to_string(),
            tracking_id: e.tracking_id.to_string(),
            opd_id: e.opd_id.to_string(),
            follow_up_id: e.follow_up_id.to_string(),
            text: e.text.clone(),
            posted_at: Some(ts(e.posted_at)),
            posted_by: e.posted_by.clone(),
            reporter_ref: e.reporter_ref.to_string(),
        }),
        Event::CaseAssigned(e) => Payload::CaseAssigned(pe::CaseAssigned {
            case: Some(case_ref_to_proto(&e.case)),
            assignee: e.assignee.clone(),
            assigned_at: Some(ts(e.assigned_at)),
            assigned_by: e.assigned_by.clone(),
        }),
        Event::CaseNoteAdded(e) => Payload::CaseNoteAdded(pe::CaseNoteAdded {
            case: Some(case_ref_to_proto(&e.case)),
            entry_id: e.entry_id.to_string(),
            added_at: Some(ts(e.added_at)),
            added_by: e.added_by.clone(),
        }),
        Event::CaseInfoRequested(e) => Payload::CaseInfoRequested(pe::CaseInfoRequested {
            case: Some(case_ref_to_proto(&e.case)),
            entry_id: e.entry_id.to_string(),
            question: e.question.clone(),
            requested_at: Some(ts(e.requested_at)),
            requested_by: e.requested_by.clone(),
        }),
        Event::CaseReplied(e) => Payload::CaseReplied(pe::CaseReplied {
            case: Some(case_ref_to_proto(&e.case)),
            entry_id: e.entry_id.to_string(),
            by: match e.by {
                Replier::Reporter => pe::Replier::Reporter,
                Replier::Operator => pe::Replier::Operator,
            } as i32,
            replied_at: Some(ts(e.replied_at)),
            answers_info_request_at: e.answers_info_request_at.map(ts),
        }),
        Event::CaseClosed(e) => Payload::CaseClosed(pe::CaseClosed {
            case: Some(case_ref_to_proto(&e.case)),
            by: match e.by {
                Closer::Reporter => pe::Closer::Reporter,
                Closer::System => pe::Closer::System,
            } as i32,
            closed_at: Some(ts(e.closed_at)),
            last_follow_up_at: Some(ts(e.last_follow_up_at)),
        }),
        Event::CaseRated(e) => Payload::CaseRated(pe::CaseRated {
            case: Some(case_ref_to_proto(&e.case)),
            rating: u32::from(e.rating),
            comment: e.comment.clone(),
            rated_at: Some(ts(e.rated_at)),
        }),
        Event::OmbudsmanRequested(e) => Payload::OmbudsmanRequested(pe::OmbudsmanRequested {
            case: Some(case_ref_to_proto(&e.case)),
            consented_at: Some(ts(e.consented_at)),
            submitted_at: Some(ts(e.submitted_at)),
        }),
        Event::AttachmentAdded(e) => Payload::AttachmentAdded(pe::AttachmentAdded {
            case: Some(case_ref_to_proto(&e.case)),
            attachment_id: e.attachment_id.to_string(),
            content_type: e.content_type.clone(),
            size: e.size,
            public: e.public,
            added_at: Some(ts(e.added_at)),
            added_by: e.added_by.clone(),
        }),
        Event::ReportSupported(e) => Payload::ReportSupported(pe::ReportSupported {
            case: Some(case_ref_to_proto(&e.case)),
            support_count: e.support_count,
            supported_at: Some(ts(e.supported_at)),
        }),
        Event::PublicNameChanged(e) => Payload::PublicNameChanged(pe::PublicNameChanged {
            case: Some(case_ref_to_proto(&e.case)),
            shown_as: e.shown_as.clone(),
            changed_at: Some(ts(e.changed_at)),
        }),
        Event::SlaWarning(e) => Payload::SlaWarning(pe::SlaWarning {
            deadline: Some(deadline_ref_to_proto(&e.deadline)),
            warned_at: Some(ts(e.warned_at)),
        }),
        Event::SlaBreached(e) => Payload::SlaBreached(pe::SlaBreached {
            deadline: Some(deadline_ref_to_proto(&e.deadline)),
            detected_at: Some(ts(e.detected_at)),
            officials: e.officials.clone(),
            ledger_seq: e.ledger_seq,
        }),
        Event::SlaEscalated(e) => Payload::SlaEscalated(pe::SlaEscalated {
            deadline: Some(deadline_ref_to_proto(&e.deadline)),
            level: e.level,
            position: e.position.clone(),
            officials: e.officials.clone(),
            overdue_working_days: e.overdue_working_days,
            escalated_at: Some(ts(e.escalated_at)),
        }),
        Event::CalendarChanged(e) => Payload::CalendarChanged(pe::CalendarChanged {
            version: e.version,
            time_zone: e.calendar.time_zone.clone(),
            working_weekdays: e.calendar.working_weekdays.clone(),
            holidays: e
                .calendar
                .holidays
                .iter()
                .map(|h| pe::CalendarHoliday {
                    date: h.date.to_string(),
                    name: h.name.clone(),
                    source: h.source.clone(),
                })
                .collect(),
            office_open: e.calendar.office_hours.open.clone(),
            office_close: e.calendar.office_hours.close.clone(),
            reason: e.reason.clone(),
            changed_by: e.changed_by.clone(),
        }),
    };
    pe::EventEnvelope {
        event_id: env.id.to_string(),
        occurred_at: Some(ts(env.occurred_at)),
        schema_version: SCHEMA_VERSION,
        payload: Some(payload),
    }
}

/// Decodes an envelope from its wire form, validating every field.
pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    use pe::event_envelope::Payload;
    let p = pe::EventEnvelope::decode(bytes)?;
    if p.schema_version != SCHEMA_VERSION {
        return Err(DecodeError::Version(p.schema_version));
    }
    let id: EventId = parse(&p.event_id, "event_id")?;
    let occurred_at = req_ts(p.occurred_at.as_ref(), "occurred_at")?;
    let event = match p.payload.ok_or_else(|| field("payload", "missing"))? {
        Payload::ReportSubmitted(e) => Event::ReportSubmitted(ReportSubmitted {
            report_id: parse(&e.report_id, "report_id")?,
            tracking_id: parse(&e.tracking_id, "tracking_id")?,
            content: content_from(
                e.kind,
                &e.title,
                &e.body,
                &e.category_id,
                &e.incident_date,
                e.location.as_ref(),
                e.anonim,
                e.rahasia,
            )?,
            channel: channel_from_proto(e.channel).ok_or_else(|| field("channel", "unknown channel"))?,
            reporter_ref: parse(&e.reporter_ref, "reporter_ref")?,
            submitted_at: req_ts(e.submitted_at.as_ref(), "submitted_at")?,
            access_token_hash: e.access_token_hash,
        }),
        Payload::ReportDispatched(e) => Event::ReportDispatched(ReportDispatched {
            report_id: parse(&e.report_id, "report_id")?,
            tracking_id: parse(&e.tracking_id, "tracking_id")?,
            opd_id: parse(&e.opd_id, "opd_id")?,
            content: content_from(
                e.kind,
                &e.title,
                &e.body,
                &e.category_id,
                &e.incident_date,
                e.location.as_ref(),
                e.anonim,
                e.rahasia,
            )?,
            reporter_ref: parse(&e.reporter_ref, "reporter_ref")?,
            submitted_at: req_ts(e.submitted_at.as_ref(), "submitted_at")?,
            dispatched_at: req_ts(e.dispatched_at.as_ref(), "dispatched_at")?,
            rule_id: Some(e.rule_id).filter(|s| !s.is_empty()),
            dispatched_by: Some(e.dispatched_by).filter(|s| !s.is_empty()),
        }),
        Payload::CaseOpened(e) => Event::CaseOpened(CaseOpened {
            case_id: parse(&e.case_id, "case_id")?,
            report_id: parse(&e.report_id, "report_id")?,
            tracking_id: parse(&e.tracking_id, "tracking_id")?,
            opd_id: parse(&e.opd_id, "opd_id")?,
            kind: kind_from_proto(e.kind).ok_or_else(|| field("kind", "unknown kind"))?,
            reporter_ref: parse(&e.reporter_ref, "reporter_ref")?,
            opened_at: req_ts(e.opened_at.as_ref(), "opened_at")?,
        }),
        Payload::ReportVerified(e) => Event::ReportVerified(ReportVerified {
            report_id: parse(&e.report_id, "report_id")?,
            tracking_id: parse(&e.tracking_id, "tracking_id")?,
            kind: kind_from_proto(e.kind).ok_or_else(|| field("kind", "unknown kind"))?,
            needs_examination: e.needs_examination,
            category: parse(&e.category_id, "category_id")?,
            privacy: Privacy {
                anonim: e.anonim,
                rahasia: e.rahasia,
            },
            title: e.title,
            reporter_ref: parse(&e.reporter_ref, "reporter_ref")?,
            verified_at: req_ts(e.verified_at.as_ref(), "verified_at")?,
            verified_by: e.verified_by,
        }),
        Payload::ReportPutOnHold(e) => Event::ReportPutOnHold(ReportPutOnHold {
            report_id: parse(&e.report_id, "report_id")?,
            tracking_id: parse(&e.tracking_id, "tracking_id")?,
            reason: e.reason,
            reporter_ref: parse(&e.reporter_ref, "reporter_ref")?,
            held_at: req_ts(e.held_at.as_ref(), "held_at")?,
            held_by: e.held_by,
        }),
        Payload::ReportDeclaredNotAuthorized(e) => {
            Event::ReportDeclaredNotAuthorized(ReportDeclaredNotAuthorized {
                report_id: parse(&e.report_id, "report_id")?,
                tracking_id: parse(&e.tracking_id, "tracking_id")?,
                reason: e.reason,
                reporter_ref: parse(&e.reporter_ref, "reporter_ref")?,
                declared_at: req_ts(e.declared_at.as_ref(), "declared_at")?,
                declared_by: e.declared_by,
            })
        }
        Payload::ReportArchived(e) => Event::ReportArchived(ReportArchived {
            report_id: parse(&e.report_id, "report_id")?,
            tracking_id: parse(&e.tracking_id, "tracking_id")?,
            reason_code: e.reason_code,
            reason: e.reason,
            reporter_ref: parse(&e.reporter_ref, "reporter_ref")?,
            archived_at: req_ts(e.archived_at.as_ref(), "archived_at")?,
            archived_by: e.archived_by,
            duplicate_of: if e.duplicate_of.is_empty() {
                None
            } else {
                Some((
                    parse(&e.duplicate_of, "duplicate_of")?,
                    parse(&e.duplicate_of_tracking_id, "duplicate_of_tracking_id")?,
                ))
            },
        }),
        Payload::CaseTransferRequested(e) => Event::CaseTransferRequested(CaseTransferRequested {
            case_id: parse(&e.case_id, "case_id")?,
            report_id: parse(&e.report_id, "report_id")?,
            tracking_id: parse(&e.tracking_id, "tracking_id")?,
            opd_id: parse(&e.opd_id, "opd_id")?,
            reason: e.reason,
            requested_at: req_ts(e.requested_at.as_ref(), "requested_at")?,
            requested_by: e.requested_by,
        }),
        Payload::ReportHoldCompleted(e) => Event::ReportHoldCompleted(ReportHoldCompleted {
            report_id: parse(&e.report_id, "report_id")?,
            tracking_id: parse(&e.tracking_id, "tracking_id")?,
            addition: e.addition,
            held_at: req_ts(e.held_at.as_ref(), "held_at")?,
            completed_at: req_ts(e.completed_at.as_ref(), "completed_at")?,
            reporter_ref: parse(&e.reporter_ref, "reporter_ref")?,
        }),
        Payload::CaseFollowedUp(e) => Event::CaseFollowedUp(CaseFollowedUp {
            case_id: parse(&e.case_id, "case_id")?,
            report_id: parse(&e.report_id, "report_id")?,
            tracking_id: parse(&e.tracking_id, "tracking_id")?,
            opd_id: parse(&e.opd_id, "opd_id")?,
            follow_up_id: e
                .follow_up_id
                .parse()
                .map_err(|e: uuid::Error| field("follow_up_id", e))?,
            text: e.text,
            posted_at: req_ts(e.posted_at.as_ref(), "posted_at")?,
            posted_by: e.posted_by,
            reporter_ref: parse(&e.reporter_ref, "reporter_ref")?,
        }),
        Payload::CaseAssigned(e) => Event::CaseAssigned(CaseAssigned {
            case: case_ref_from(e.case)?,
            assignee: e.assignee,
            assigned_at: req_ts(e.assigned_at.as_ref(), "assigned_at")?,
            assigned_by: e.assigned_by,
        }),
        Payload::CaseNoteAdded(e) => Event::CaseNoteAdded(CaseNoteAdded {
            case: case_ref_from(e.case)?,
            entry_id: uuid_field(&e.entry_id, "entry_id")?,
            added_at: req_ts(e.added_at.as_ref(), "added_at")?,
            added_by: e.added_by,
        }),
        Payload::CaseInfoRequested(e) => Event::CaseInfoRequested(CaseInfoRequested {
            case: case_ref_from(e.case)?,
            entry_id: uuid_field(&e.entry_id, "entry_id")?,
            question: e.question,
            requested_at: req_ts(e.requested_at.as_ref(), "requested_at")?,
            requested_by: e.requested_by,
        }),
        Payload::CaseReplied(e) => Event::CaseReplied(CaseReplied {
            case: case_ref_from(e.case)?,
            entry_id: uuid_field(&e.entry_id, "entry_id")?,
            by: match pe::Replier::try_from(e.by) {
                Ok(pe::Replier::Reporter) => Replier::Reporter,
                Ok(pe::Replier::Operator) => Replier::Operator,
                _ => return Err(field("by", "unknown replier")),
            },
            replied_at: req_ts(e.replied_at.as_ref(), "replied_at")?,
            answers_info_request_at: from_ts(e.answers_info_request_at.as_ref()),
        }),
        Payload::CaseClosed(e) => Event::CaseClosed(CaseClosed {
            case: case_ref_from(e.case)?,
            by: match pe::Closer::try_from(e.by) {
                Ok(pe::Closer::Reporter) => Closer::Reporter,
                Ok(pe::Closer::System) => Closer::System,
                _ => return Err(field("by", "unknown closer")),
            },
            closed_at: req_ts(e.closed_at.as_ref(), "closed_at")?,
            last_follow_up_at: req_ts(e.last_follow_up_at.as_ref(), "last_follow_up_at")?,
        }),
        Payload::CaseRated(e) => Event::CaseRated(CaseRated {
            case: case_ref_from(e.case)?,
            rating: match u8::try_from(e.rating) {
                Ok(r @ 1..=5) => r,
                _ => return Err(field("rating", "must be 1 to 5")),
            },
            comment: e.comment,
            rated_at: req_ts(e.rated_at.as_ref(), "rated_at")?,
        }),
        Payload::OmbudsmanRequested(e) => Event::OmbudsmanRequested(OmbudsmanRequested {
            case: case_ref_from(e.case)?,
            consented_at: req_ts(e.consented_at.as_ref(), "consented_at")?,
            submitted_at: req_ts(e.submitted_at.as_ref(), "submitted_at")?,
        }),
        Payload::AttachmentAdded(e) => Event::AttachmentAdded(AttachmentAdded {
            case: case_ref_from(e.case)?,
            attachment_id: uuid_field(&e.attachment_id, "attachment_id")?,
            content_type: e.content_type,
            size: e.size,
            public: e.public,
            added_at: req_ts(e.added_at.as_ref(), "added_at")?,
            added_by: e.added_by,
        }),
        Payload::ReportSupported(e) => Event::ReportSupported(ReportSupported {
            case: case_ref_from(e.case)?,
            support_count: e.support_count,
            supported_at: req_ts(e.supported_at.as_ref(), "supported_at")?,
        }),
        Payload::PublicNameChanged(e) => Event::PublicNameChanged(PublicNameChanged {
            case: case_ref_from(e.case)?,
            shown_as: e.shown_as,
            changed_at: req_ts(e.changed_at.as_ref(), "changed_at")?,
        }),
        Payload::SlaWarning(e) => Event::SlaWarning(SlaWarning {
            deadline: deadline_ref_from(e.deadline)?,
            warned_at: req_ts(e.warned_at.as_ref(), "warned_at")?,
        }),
        Payload::SlaBreached(e) => Event::SlaBreached(SlaBreached {
            deadline: deadline_ref_from(e.deadline)?,
            detected_at: req_ts(e.detected_at.as_ref(), "detected_at")?,
            officials: e.officials,
            ledger_seq: e.ledger_seq,
        }),
        Payload::SlaEscalated(e) => Event::SlaEscalated(SlaEscalated {
            deadline: deadline_ref_from(e.deadline)?,
            level: e.level,
            position: e.position,
            officials: e.officials,
            overdue_working_days: e.overdue_working_days,
            escalated_at: req_ts(e.escalated_at.as_ref(), "escalated_at")?,
        }),
        Payload::CalendarChanged(e) => {
            use lapor_domain::calendar::{CalendarSpec, Holiday, OfficeHours};
            if e.version == 0 {
                return Err(field("calendar_changed.version", "must be 1 or more"));
            }
            let calendar = CalendarSpec {
                time_zone: e.time_zone,
                working_weekdays: e.working_weekdays,
                holidays: e
                    .holidays
                    .into_iter()
                    .map(|h| {
                        Ok(Holiday {
                            date: parse(&h.date, "calendar_changed.holidays.date")?,
                            name: h.name,
                            source: h.source,
                        })
                    })
                    .collect::<Result<_, DecodeError>>()?,
                office_hours: OfficeHours {
                    open: e.office_open,
                    close: e.office_close,
                },
            };
            lapor_domain::Calendar::from_spec(&calendar).map_err(|e| field("calendar_changed", e))?;
            Event::CalendarChanged(CalendarChanged {
                version: e.version,
                calendar,
                reason: e.reason,
                changed_by: e.changed_by,
            })
        }
    };
    Ok(Envelope {
        id,
        occurred_at,
        event,
    })
}

/// Maps a domain status to the wire enum.
pub fn status_to_proto(s: lapor_domain::Status) -> pc::ReportStatus {
    use lapor_domain::Status;
    match s {
        Status::Submitted => pc::ReportStatus::Submitted,
        Status::OnHold => pc::ReportStatus::OnHold,
        Status::NotAuthorized => pc::ReportStatus::NotAuthorized,
        Status::Archived => pc::ReportStatus::Archived,
        Status::Dispatched => pc::ReportStatus::Dispatched,
        Status::InProgress => pc::ReportStatus::InProgress,
        Status::Completed => pc::ReportStatus::Completed,
    }
}

/// Maps a stored status code to the wire enum value (UNSPECIFIED for an unknown code).
pub fn status_code_to_proto(code: &str) -> i32 {
    lapor_domain::Status::from_code(code).map_or(pc::ReportStatus::Unspecified, status_to_proto) as i32
}

/// Maps a wire status to the domain (`None` for unspecified or unknown values).
pub fn status_from_proto(v: i32) -> Option<lapor_domain::Status> {
    use lapor_domain::Status;
    Some(match pc::ReportStatus::try_from(v).ok()? {
        pc::ReportStatus::Submitted => Status::Submitted,
        pc::ReportStatus::OnHold => Status::OnHold,
        pc::ReportStatus::NotAuthorized => Status::NotAuthorized,
        pc::ReportStatus::Archived => Status::Archived,
        pc::ReportStatus::Dispatched => Status::Dispatched,
        pc::ReportStatus::InProgress => Status::InProgress,
        pc::ReportStatus::Completed => Status::Completed,
        pc::ReportStatus::Unspecified => return None,
    })
}
