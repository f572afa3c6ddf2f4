//! Identifier newtypes. Each parses from and prints to its wire form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// A malformed identifier.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct IdError(pub String);

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }
            /// Returns the inner UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                if s.is_empty() {
                    return Err(IdError(concat!($what, " is required").into()));
                }
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| IdError(format!(concat!($what, " must be a UUID, got {:?}"), truncate(s))))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Internal id of a report, assigned by intake.
    ReportId, "report id"
);
uuid_id!(
    /// Id of an OPD case, assigned by opd-case.
    CaseId, "case id"
);
uuid_id!(
    /// Id of an event on the bus; also its `Nats-Msg-Id`.
    EventId, "event id"
);
uuid_id!(
    /// Pseudonymous reporter id: resolves to an identity only inside intake's identity store.
    ReporterRef, "reporter ref"
);

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Alphabet of tracking ids: Crockford base32 (no I, L, O, U), easy to read aloud and type.
pub const TRACKING_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Length of a tracking id.
pub const TRACKING_LEN: usize = 10;

/// Short public tracking id, e.g. `7KQ2M9XD4A`: 10 Crockford base32 characters (50 bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TrackingId(String);

impl TrackingId {
    /// Builds a tracking id from 50 random bits (the caller supplies the randomness).
    pub fn from_random(bits: u64) -> Self {
        let mut s = String::with_capacity(TRACKING_LEN);
        for i in 0..TRACKING_LEN {
            let idx = (bits >> (5 * (TRACKING_LEN - 1 - i))) & 0x1f;
            s.push(TRACKING_ALPHABET[idx as usize] as char);
        }
        Self(s)
    }

    /// Returns the text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TrackingId {
    type Err = IdError;
    /// Parses case-insensitively and accepts the usual misreadings (O→0, I/L→1), ignoring dashes.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let mut out = String::with_capacity(TRACKING_LEN);
        for c in s.chars().filter(|c| *c != '-') {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !TRACKING_ALPHABET.contains(&(c as u8)) || !c.is_ascii() {
                return Err(IdError(format!("tracking id has an invalid character {c:?}")));
            }
            out.push(c);
        }
        if out.len() != TRACKING_LEN {
            return Err(IdError(format!(
                "tracking id must have {TRACKING_LEN} characters, got {}",
                out.len()
            )));
        }
        Ok(Self(out))
    }
}

impl fmt::Display for TrackingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn slug_ok(s: &str, dots: bool) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        })
        && (dots || !s.contains('.'))
}

/// Id of an OPD in the registry: lowercase slug, e.g. `dinas-pupr`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OpdId(String);

impl OpdId {
    /// Returns the text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OpdId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if slug_ok(s, false) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError(format!(
                "OPD id must be 1-64 characters of a-z, 0-9, '-' or '_', got {:?}",
                truncate(s)
            )))
        }
    }
}

impl TryFrom<String> for OpdId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<OpdId> for String {
    fn from(o: OpdId) -> String {
        o.0
    }
}

impl fmt::Display for OpdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Id of a category in the hierarchical category tree: dotted slug, e.g. `infrastruktur.jalan`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryId(String);

impl CategoryId {
    /// Returns the text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns this category and its ancestors, most specific first.
    pub fn with_ancestors(&self) -> Vec<CategoryId> {
        let mut out = Vec::new();
        let mut cur = self.0.as_str();
        loop {
            out.push(CategoryId(cur.to_owned()));
            match cur.rfind('.') {
                Some(i) => cur = &cur[..i],
                None => return out,
            }
        }
    }
}

impl FromStr for CategoryId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if slug_ok(s, true) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError(format!(
                "category id must be dotted lowercase slugs (e.g. infrastruktur.jalan), got {:?}",
                truncate(s)
            )))
        }
    }
}

impl TryFrom<String> for CategoryId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<CategoryId> for String {
    fn from(o: CategoryId) -> String {
        o.0
    }
}

impl fmt::Display for CategoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_id_round_trips_and_forgives_misreadings() {
        let t = TrackingId::from_random(0x3_FFFF_FFFF_FFFF);
        assert_eq!(t.as_str().len(), TRACKING_LEN);
        let parsed: TrackingId = t.as_str().to_lowercase().parse().unwrap();
        assert_eq!(parsed, t);
        let t: TrackingId = "o1l1-abcd-ef".parse().unwrap();
        assert_eq!(t.as_str(), "0111ABCDEF");
        assert!("short".parse::<TrackingId>().is_err());
        assert!("UUUUUUUUUU".parse::<TrackingId>().is_err());
    }

    #[test]
    fn category_ancestors() {
        let c: CategoryId = "infrastruktur.jalan.rusak".parse().unwrap();
        let names: Vec<String> = c.with_ancestors().into_iter().map(String::from).collect();
        assert_eq!(
            names,
            [
                "infrastruktur.jalan.rusak",
                "infrastruktur.jalan",
                "infrastruktur"
            ]
        );
        assert!("Infra".parse::<CategoryId>().is_err());
        assert!("a..b".parse::<CategoryId>().is_err());
    }

    #[test]
    fn uuid_ids_reject_garbage() {
        assert!("not-a-uuid".parse::<ReportId>().is_err());
        assert!("".parse::<ReportId>().is_err());
        let id = ReportId::from_uuid(Uuid::nil());
        assert_eq!(id.to_string().parse::<ReportId>().unwrap(), id);
    }
}
