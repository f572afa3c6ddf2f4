//! Duplicate candidates. A report B earlier than A is a candidate duplicate of A when both have
//! the same category (or both none), B was submitted within the time window before A, they are
//! not far apart (when both have a map point), and either they are close (both points within the
//! distance) or their texts are similar (character-trigram similarity, as PostgreSQL's pg_trgm
//! computes it). Computed here, not in SQL, so that PostgreSQL and SQLite give the same answers;
//! the scan is bounded to the same category inside the window.

use serde::{Deserialize, Serialize};

/// Duplicate detection settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DuplicateSpec {
    /// Only reports submitted this many days before are compared.
    pub window_days: u32,
    /// Two points at most this far apart (metres) count as the same place.
    pub max_distance_m: f64,
    /// Trigram similarity (0-1) from which two texts count as the same complaint.
    pub text_similarity: f64,
    /// At most this many earlier reports are compared (newest first).
    pub max_scan: u64,
    /// At most this many candidates are stored for a new report: the best by score (then the
    /// newest). Each pair is stored once and listed with both of its reports, so an earlier
    /// report also lists the later reports that chose it. 0 stores none.
    pub max_candidates: u32,
}

impl Default for DuplicateSpec {
    fn default() -> Self {
        Self {
            window_days: 30,
            max_distance_m: 500.0,
            text_similarity: 0.45,
            max_scan: 2000,
            max_candidates: 10,
        }
    }
}

/// What is compared.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    /// Title and body.
    pub text: &'a str,
    /// Map point.
    pub point: Option<(f64, f64)>,
}

/// Why a pair is a candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// 0-1: the text similarity, or 1 - distance/max for a match by place.
    pub score: f64,
    /// Human-readable reason.
    pub reason: String,
}

/// Great-circle distance in metres.
pub fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h =
        ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

/// A text's distinct trigrams, each packed into one number (three 21-bit chars), sorted: a set
/// that compares by merging, with no hashing (profiled: hashing `[char; 3]` sets was the largest
/// part of routing's own CPU under load).
pub type Trigrams = Vec<u64>;

/// pg_trgm-style trigrams: lowercase words of letters and digits, each padded with two spaces in
/// front and one behind.
pub fn trigrams(s: &str) -> Trigrams {
    let pack = |a: char, b: char, c: char| (u64::from(a) << 42) | (u64::from(b) << 21) | u64::from(c);
    let mut out = Vec::with_capacity(s.len() + 8);
    for word in s
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let (mut a, mut b) = (' ', ' ');
        for c in word.chars().chain(std::iter::once(' ')) {
            out.push(pack(a, b, c));
            (a, b) = (b, c);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Trigram similarity: shared trigrams over all trigrams (0-1).
pub fn similarity(a: &Trigrams, b: &Trigrams) -> f64 {
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - shared;
    if union == 0 {
        0.0
    } else {
        shared as f64 / union as f64
    }
}

/// Compares two reports of the same category inside the window.
pub fn compare(spec: &DuplicateSpec, a: &Item<'_>, b: &Item<'_>, ta: &Trigrams) -> Option<Match> {
    let distance = match (a.point, b.point) {
        (Some(p), Some(q)) => Some(haversine_m(p, q)),
        _ => None,
    };
    if distance.is_some_and(|d| d > spec.max_distance_m) {
        return None;
    }
    let sim = similarity(ta, &trigrams(b.text));
    if sim >= spec.text_similarity {
        let place = distance.map_or_else(String::new, |d| format!(", {d:.0} m apart"));
        return Some(Match {
            score: sim,
            reason: format!("similar text ({:.0}%){place}", sim * 100.0),
        });
    }
    distance.map(|d| Match {
        score: 1.0 - d / spec.max_distance_m.max(1.0),
        reason: format!("same category, {d:.0} m apart"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_similarity() {
        // Bontang city hall to a point ~1.1 km north.
        let d = haversine_m((0.1336, 117.5005), (0.1436, 117.5005));
        assert!((1100.0..1125.0).contains(&d), "{d}");
        let a = trigrams("Jalan berlubang di depan Pasar Rawa Indah");
        let b = trigrams("jalan BERLUBANG besar depan pasar rawa indah!");
        let c = trigrams("Antrean panjang di puskesmas");
        assert!(similarity(&a, &b) > 0.6, "{}", similarity(&a, &b));
        assert!(similarity(&a, &c) < 0.2, "{}", similarity(&a, &c));
        assert_eq!(similarity(&trigrams(""), &trigrams("")), 0.0);
    }

    /// The packed, merged sets give exactly what sets of char triples give (the definition).
    #[test]
    fn packed_trigrams_match_the_set_definition() {
        use std::collections::HashSet;
        fn reference(s: &str) -> HashSet<[char; 3]> {
            let mut out = HashSet::new();
            for word in s
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
            {
                let padded: Vec<char> = "  ".chars().chain(word.chars()).chain(" ".chars()).collect();
                for w in padded.windows(3) {
                    out.insert([w[0], w[1], w[2]]);
                }
            }
            out
        }
        let texts = [
            "",
            "a",
            "Jalan berlubang di depan Pasar Rawa Indah",
            "jalan BERLUBANG besar depan pasar rawa indah!",
            "jalan jalan jalan",
            "Lampu jalan padam di Jl. Ahmad Yani, RT 12 (dekat masjid)",
            "Ünïcödé ÇAFÉ naïve — 東京 東京都 🚧 rusak",
            "Air PDAM mati 3 hari di Bontang Baru; air keruh",
        ];
        for a in texts {
            assert_eq!(trigrams(a).len(), reference(a).len(), "{a}");
            for b in texts {
                let (ra, rb) = (reference(a), reference(b));
                let union = ra.union(&rb).count();
                let want = if union == 0 {
                    0.0
                } else {
                    ra.intersection(&rb).count() as f64 / union as f64
                };
                assert_eq!(similarity(&trigrams(a), &trigrams(b)), want, "{a} / {b}");
            }
        }
    }

    #[test]
    fn far_apart_is_never_a_duplicate_and_near_is_one() {
        let spec = DuplicateSpec::default();
        let text = "Lampu jalan padam di Jl. Ahmad Yani";
        let a = Item {
            text,
            point: Some((0.13, 117.49)),
        };
        let ta = trigrams(a.text);
        let far = Item {
            text,
            point: Some((0.18, 117.49)),
        };
        assert_eq!(compare(&spec, &a, &far, &ta), None, "same text 5.5 km away");
        let near = Item {
            text: "Sampah menumpuk",
            point: Some((0.1302, 117.4901)),
        };
        assert!(compare(&spec, &a, &near, &ta).is_some_and(|m| m.reason.starts_with("same category")));
        let no_point = Item {
            text: "lampu jalan padam di jalan ahmad yani",
            point: None,
        };
        assert!(compare(&spec, &a, &no_point, &ta).is_some_and(|m| m.reason.starts_with("similar text")));
        let unrelated = Item {
            text: "Permohonan data APBD",
            point: None,
        };
        assert_eq!(compare(&spec, &a, &unrelated, &ta), None);
    }
}
