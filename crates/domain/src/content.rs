//! What a report says: kind, title, body, category, place, privacy flags; and their validation.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::CategoryId;
use crate::validation::Violations;

/// The three kinds of submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportKind {
    /// Complaint.
    Pengaduan,
    /// Aspiration or suggestion.
    Aspirasi,
    /// Public information request (UU 14/2008).
    PermintaanInformasi,
}

impl ReportKind {
    /// All kinds.
    pub const ALL: [ReportKind; 3] = [Self::Pengaduan, Self::Aspirasi, Self::PermintaanInformasi];

    /// Stable storage code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Pengaduan => "PENGADUAN",
            Self::Aspirasi => "ASPIRASI",
            Self::PermintaanInformasi => "PERMINTAAN_INFORMASI",
        }
    }

    /// Parses a storage code.
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// Channel a report came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    /// Public web site.
    Web,
    /// Mobile app.
    Mobile,
    /// SMS gateway.
    Sms,
    /// Another government system over gRPC.
    Integration,
}

impl Channel {
    /// All channels.
    pub const ALL: [Channel; 4] = [Self::Web, Self::Mobile, Self::Sms, Self::Integration];

    /// Stable storage code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Web => "WEB",
            Self::Mobile => "MOBILE",
            Self::Sms => "SMS",
            Self::Integration => "INTEGRATION",
        }
    }

    /// Parses a storage code.
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// The two independent privacy flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Privacy {
    /// Identity hidden from the OPD and the public.
    pub anonim: bool,
    /// Content never public.
    pub rahasia: bool,
}

/// Where the matter happened.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Location {
    /// Free text.
    pub text: String,
    /// Latitude and longitude (WGS84), both or neither.
    pub point: Option<(f64, f64)>,
    /// Kecamatan name.
    pub kecamatan: String,
    /// Kelurahan name.
    pub kelurahan: String,
}

/// Size limits on report content; every number is a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContentLimits {
    /// Minimum title length in characters.
    pub title_min: usize,
    /// Maximum title length in characters.
    pub title_max: usize,
    /// Minimum body length in characters.
    pub body_min: usize,
    /// Maximum body length in characters.
    pub body_max: usize,
    /// Maximum length of free-text location fields.
    pub location_text_max: usize,
}

impl Default for ContentLimits {
    fn default() -> Self {
        Self {
            title_min: 5,
            title_max: 200,
            body_min: 10,
            body_max: 20_000,
            location_text_max: 500,
        }
    }
}

/// Validated content of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportContent {
    /// Kind.
    pub kind: ReportKind,
    /// Title, trimmed.
    pub title: String,
    /// Body, trimmed.
    pub body: String,
    /// Category, if the reporter chose one.
    pub category: Option<CategoryId>,
    /// Date of the incident.
    pub incident_date: Option<NaiveDate>,
    /// Place.
    pub location: Option<Location>,
    /// Privacy flags.
    pub privacy: Privacy,
}

/// Unvalidated content as it arrives from any API.
#[derive(Debug, Clone, Default)]
pub struct RawContent<'a> {
    /// Kind, already mapped from the wire; `None` if unspecified or unknown.
    pub kind: Option<ReportKind>,
    /// Title.
    pub title: &'a str,
    /// Body.
    pub body: &'a str,
    /// Category id, empty for none.
    pub category: &'a str,
    /// Incident date `YYYY-MM-DD`, empty for none.
    pub incident_date: &'a str,
    /// Location, if any.
    pub location: Option<Location>,
    /// Privacy flags.
    pub privacy: Privacy,
}

fn check_len(v: &mut Violations, field: &str, s: &str, min: usize, max: usize) {
    let n = s.chars().count();
    if n < min {
        if n == 0 {
            v.add(field, format!("{field} is required"));
        } else {
            v.add(field, format!("must have at least {min} characters, has {n}"));
        }
    } else if n > max {
        v.add(field, format!("must have at most {max} characters, has {n}"));
    }
}

impl ReportContent {
    /// Validates raw content against `limits`; `today` (city date) bounds the incident date.
    pub fn validate(
        raw: RawContent<'_>,
        limits: &ContentLimits,
        today: NaiveDate,
    ) -> Result<Self, Violations> {
        let mut v = Violations::new();
        if raw.kind.is_none() {
            v.add("kind", "kind must be PENGADUAN, ASPIRASI or PERMINTAAN_INFORMASI");
        }
        let title = raw.title.trim();
        check_len(&mut v, "title", title, limits.title_min, limits.title_max);
        let body = raw.body.trim();
        check_len(&mut v, "body", body, limits.body_min, limits.body_max);
        let category = if raw.category.is_empty() {
            None
        } else {
            v.check("category_id", raw.category.parse::<CategoryId>())
        };
        let incident_date = if raw.incident_date.is_empty() {
            None
        } else {
            match NaiveDate::parse_from_str(raw.incident_date, "%Y-%m-%d") {
                Ok(d) if d > today => {
                    v.add("incident_date", "must not be in the future");
                    None
                }
                Ok(d) => Some(d),
                Err(_) => {
                    v.add("incident_date", "must be a date YYYY-MM-DD");
                    None
                }
            }
        };
        if let Some(loc) = &raw.location {
            for (field, s) in [
                ("location.text", &loc.text),
                ("location.kecamatan", &loc.kecamatan),
                ("location.kelurahan", &loc.kelurahan),
            ] {
                check_len(&mut v, field, s, 0, limits.location_text_max);
            }
            if let Some((lat, lon)) = loc.point {
                if !(-90.0..=90.0).contains(&lat) || lat.is_nan() {
                    v.add("location.latitude", "must be between -90 and 90");
                }
                if !(-180.0..=180.0).contains(&lon) || lon.is_nan() {
                    v.add("location.longitude", "must be between -180 and 180");
                }
            }
        }
        v.into_result()?;
        Ok(Self {
            kind: raw.kind.unwrap_or(ReportKind::Pengaduan),
            title: title.to_owned(),
            body: body.to_owned(),
            category,
            incident_date,
            location: raw.location,
            privacy: raw.privacy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    #[test]
    fn collects_every_violation() {
        let raw = RawContent {
            kind: None,
            title: "",
            body: &"x".repeat(20_001),
            category: "Bad Cat",
            incident_date: "2099-01-01",
            ..Default::default()
        };
        let err = ReportContent::validate(raw, &ContentLimits::default(), today()).unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["kind", "title", "body", "category_id", "incident_date"]);
    }

    #[test]
    fn accepts_good_content() {
        let raw = RawContent {
            kind: Some(ReportKind::Aspirasi),
            title: "  Lampu jalan mati  ",
            body: "Lampu jalan di depan pasar mati sejak seminggu.",
            category: "infrastruktur.penerangan",
            incident_date: "2026-11-20",
            ..Default::default()
        };
        let c = ReportContent::validate(raw, &ContentLimits::default(), today()).unwrap();
        assert_eq!(c.title, "Lampu jalan mati");
    }
}
