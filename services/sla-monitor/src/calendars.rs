//! The city calendar as versioned data: seeded from the configuration file once, then edited
//! over gRPC (whole replacement or iCalendar import). Each version records who changed it and
//! why; putting a version in force recomputes every open deadline.

use chrono::{DateTime, NaiveDate, Utc};
use lapor_domain::calendar::{CalendarSpec, Holiday};
use lapor_domain::events::{CalendarChanged, Envelope, Event};
use lapor_domain::{EventId, Violations};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QueryOrder, Set};

use crate::entities::calendar_version;

/// The version in force, if any.
pub async fn current(db: &impl ConnectionTrait) -> Result<Option<calendar_version::Model>, DbErr> {
    calendar_version::Entity::find()
        .order_by_desc(calendar_version::Column::Version)
        .one(db)
        .await
}

/// The stored calendar of a version.
pub fn spec_of(v: &calendar_version::Model) -> Result<CalendarSpec, DbErr> {
    serde_json::from_str(&v.spec).map_err(|e| DbErr::Custom(format!("calendar version {}: {e}", v.version)))
}

/// Appends the next version and announces it (`CalendarChanged`, through the outbox in the same
/// transaction) to the services that count working days.
pub async fn append(
    db: &impl ConnectionTrait,
    bus: &lapor_events::Bus,
    spec: &CalendarSpec,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<calendar_version::Model, DbErr> {
    let next = current(db).await?.map_or(1, |c| c.version + 1);
    let row = calendar_version::ActiveModel {
        version: Set(next),
        spec: Set(serde_json::to_string(spec).map_err(|e| DbErr::Custom(e.to_string()))?),
        reason: Set(reason.to_owned()),
        changed_by: Set(by.to_owned()),
        changed_at: Set(now),
    }
    .insert(db)
    .await?;
    let env = Envelope {
        id: EventId::from_uuid(uuid::Uuid::now_v7()),
        occurred_at: now,
        event: Event::CalendarChanged(CalendarChanged {
            version: u64::try_from(next).map_err(|_| DbErr::Custom("negative calendar version".into()))?,
            calendar: spec.clone(),
            reason: reason.to_owned(),
            changed_by: by.to_owned(),
        }),
    };
    lapor_events::enqueue(db, bus, &env).await?;
    Ok(row)
}

/// Every problem of a calendar, by field.
pub fn validate(spec: &CalendarSpec) -> Violations {
    let mut v = Violations::new();
    if spec.time_zone.parse::<chrono_tz::Tz>().is_err() {
        v.add("calendar.time_zone", "not an IANA time zone");
    }
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    if spec.working_weekdays.is_empty() {
        v.add("calendar.working_weekdays", "at least one working weekday");
    }
    for (i, d) in spec.working_weekdays.iter().enumerate() {
        if !days.contains(&d.as_str()) {
            v.add(
                format!("calendar.working_weekdays[{i}]"),
                "one of Mon Tue Wed Thu Fri Sat Sun",
            );
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, h) in spec.holidays.iter().enumerate() {
        if !seen.insert(h.date) {
            v.add(format!("calendar.holidays[{i}].date"), "listed twice");
        }
        if h.name.trim().is_empty() {
            v.add(format!("calendar.holidays[{i}].name"), "required");
        }
    }
    let t = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M").ok();
    match (t(&spec.office_hours.open), t(&spec.office_hours.close)) {
        (Some(o), Some(c)) if o < c => {}
        (None, _) => v.add("calendar.office_open", "HH:MM"),
        (_, None) => v.add("calendar.office_close", "HH:MM"),
        _ => v.add("calendar.office_close", "must be after office_open"),
    }
    v
}

/// The all-day events of an iCalendar text, as non-working days (`DTEND` is exclusive).
pub fn parse_ics(text: &str, source: &str) -> Result<Vec<Holiday>, String> {
    // Unfold continuation lines (RFC 5545 3.1).
    let mut lines: Vec<String> = Vec::new();
    for raw in text.lines() {
        let raw = raw.trim_end_matches('\r');
        if let Some(rest) = raw.strip_prefix([' ', '\t'])
            && let Some(last) = lines.last_mut()
        {
            last.push_str(rest);
            continue;
        }
        lines.push(raw.to_owned());
    }
    let date = |v: &str| NaiveDate::parse_from_str(v, "%Y%m%d").ok();
    let mut out = Vec::new();
    let mut event: Option<(Option<NaiveDate>, Option<NaiveDate>, String)> = None;
    for (n, line) in lines.iter().enumerate() {
        let (key, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
        let name = key.split(';').next().unwrap_or("");
        match (name, &mut event) {
            ("BEGIN", None) if value == "VEVENT" => event = Some((None, None, String::new())),
            ("DTSTART", Some(e)) => {
                e.0 = Some(date(value).ok_or_else(|| {
                    format!(
                        "line {}: only all-day events (DTSTART;VALUE=DATE:YYYYMMDD) are non-working days",
                        n + 1
                    )
                })?);
            }
            ("DTEND", Some(e)) => e.1 = date(value),
            ("SUMMARY", Some(e)) => {
                e.2 = value
                    .replace("\\,", ",")
                    .replace("\\;", ";")
                    .replace("\\n", " ")
                    .replace("\\\\", "\\");
            }
            ("END", Some(_)) if value == "VEVENT" => {
                let Some((Some(start), end, summary)) = event.take() else {
                    return Err(format!("line {}: an event without DTSTART", n + 1));
                };
                let end = end
                    .filter(|e| *e > start)
                    .unwrap_or(start + chrono::Duration::days(1));
                let mut d = start;
                while d < end && out.len() < 1000 {
                    out.push(Holiday {
                        date: d,
                        name: if summary.trim().is_empty() {
                            "Libur".into()
                        } else {
                            summary.trim().to_owned()
                        },
                        source: source.to_owned(),
                    });
                    d += chrono::Duration::days(1);
                }
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err("no all-day VEVENT found".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ics_all_day_events_become_days() {
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261226\r\nSUMMARY:Cuti bersama\\, Natal\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20270101\r\nSUMMARY:Tahun Baru\r\n  2027\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let h = parse_ics(ics, "SKB").unwrap();
        let got: Vec<(String, String)> = h.iter().map(|h| (h.date.to_string(), h.name.clone())).collect();
        assert_eq!(
            got,
            [
                ("2026-12-24".into(), "Cuti bersama, Natal".into()),
                ("2026-12-25".into(), "Cuti bersama, Natal".into()),
                ("2027-01-01".into(), "Tahun Baru 2027".into()),
            ]
        );
        assert!(parse_ics("BEGIN:VEVENT\nDTSTART:20261224T090000\nEND:VEVENT\n", "x").is_err());
        assert!(parse_ics("nothing", "x").is_err());
    }

    #[test]
    fn validation_names_each_field() {
        let s = CalendarSpec {
            time_zone: "Mars/Base".into(),
            working_weekdays: vec!["Funday".into()],
            office_hours: lapor_domain::calendar::OfficeHours {
                open: "17:00".into(),
                close: "16:00".into(),
            },
            ..CalendarSpec::default()
        };
        let v = validate(&s);
        let fields: Vec<String> = v.0.iter().map(|f| f.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "calendar.time_zone",
                "calendar.working_weekdays[0]",
                "calendar.office_close"
            ]
        );
    }
}
