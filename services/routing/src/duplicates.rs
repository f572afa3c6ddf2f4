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

/// Why a pair is a candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// 0-1: the text similarity, or 1 - distance/max for a match by place.
    pub score: f64,
    /// Whether the texts are similar (the score is their similarity); otherwise the match is by
    /// place.
    pub by_text: bool,
    /// How far apart the two points are, when both reports have one (metres).
    pub distance_m: Option<f64>,
}

/// A report as the comparison reads it: the reporter's own title (the original when the operator
/// rewrote it), the body, and the map point.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The reporter's title.
    pub title: &'a str,
    /// The body.
    pub body: &'a str,
    /// Map point.
    pub point: Option<(f64, f64)>,
}

impl Match {
    /// Why the pair is a candidate, as stored with it and shown to the operator. Formatted only
    /// for the matches kept (in a dense place every neighbour matches by place; profiled).
    pub fn reason(&self) -> String {
        match (self.by_text, self.distance_m) {
            (true, None) => format!("similar text ({:.0}%)", self.score * 100.0),
            (true, Some(d)) => format!("similar text ({:.0}%), {d:.0} m apart", self.score * 100.0),
            (false, Some(d)) => format!("same category, {d:.0} m apart"),
            // Not made by `compare`: a match by place has a distance.
            (false, None) => "same category".into(),
        }
    }
}

/// A new report's best candidates among `others` (newest first): each other report's position
/// in `others` and the match, at most `spec.max_candidates`, highest score first, then the newest
/// (the sort is stable), so an operator sees the likeliest duplicates and a dense place does not
/// give every report a candidate row per neighbour.
pub fn best_matches<'a>(
    spec: &DuplicateSpec,
    me: &Report<'_>,
    others: impl IntoIterator<Item = Report<'a>>,
) -> Vec<(usize, Match)> {
    let mine = Prepared::new(&[me.title, me.body]);
    // One set of buffers for every other report: no allocation per neighbour.
    let mut scratch = Scratch::default();
    let mut found: Vec<(usize, Match)> = others
        .into_iter()
        .enumerate()
        .filter_map(|(i, o)| {
            compare_parts(spec, me.point, o.point, || {
                mine.similarity(&[o.title, o.body], &mut scratch)
            })
            .map(|m| (i, m))
        })
        .collect();
    found.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    found.truncate(usize::try_from(spec.max_candidates).unwrap_or(usize::MAX));
    found
}

/// ASCII characters as trigram symbols: 0 for the padding space (and anything that is not a
/// letter or digit, which ends a word), 1-26 for letters of either case, 27-36 for digits.
const ASCII_SYMBOL: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 26 {
        t[b'a' as usize + i] = 1 + i as u8;
        t[b'A' as usize + i] = 1 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 27 + d as u8;
        d += 1;
    }
    t
};

/// 37 symbols: 37^3 possible ASCII trigrams, one bit each (6.3 KB, inside the L1 cache).
const ASCII_WORDS: usize = (37 * 37 * 37usize).div_ceil(64);

/// Every trigram of ASCII `parts` joined by spaces, duplicates included, as its number
/// `a * 37^2 + b * 37 + c` (the same trigrams as [`trigrams_into`], one to one).
fn ascii_trigrams(parts: &[&str], mut each: impl FnMut(usize)) {
    for part in parts {
        let (mut a, mut b, mut in_word) = (0usize, 0usize, false);
        for &byte in part.as_bytes() {
            let c = usize::from(ASCII_SYMBOL[usize::from(byte & 0x7f)]);
            if c != 0 {
                each(a * 1369 + b * 37 + c);
                (a, b, in_word) = (b, c, true);
            } else if in_word {
                each(a * 1369 + b * 37);
                (a, b, in_word) = (0, 0, false);
            }
        }
        if in_word {
            each(a * 1369 + b * 37);
        }
    }
}

/// A new report's trigram set, made once and compared with each earlier report: sorted (any
/// text) and, when its text is ASCII, also as a bitmap, so that an ASCII neighbour is compared
/// by looking its trigrams up, without building and sorting its set (profiled: building and
/// sorting the neighbours' sets was a fifth of routing's CPU under load, after the buffers were
/// reused).
struct Prepared {
    sorted: Trigrams,
    bits: Option<Vec<u64>>,
}

/// Buffers reused from one neighbour to the next.
#[derive(Default)]
struct Scratch {
    sorted: Trigrams,
    seen: Vec<u64>,
}

impl Prepared {
    fn new(parts: &[&str]) -> Self {
        let mut sorted = Vec::new();
        trigrams_into(parts, &mut sorted);
        let bits = parts.iter().all(|p| p.is_ascii()).then(|| {
            let mut bits = vec![0u64; ASCII_WORDS];
            ascii_trigrams(parts, |t| bits[t / 64] |= 1 << (t % 64));
            bits
        });
        Self { sorted, bits }
    }

    /// [`similarity`] with the text `parts` of another report: the same number either way.
    fn similarity(&self, parts: &[&str], scratch: &mut Scratch) -> f64 {
        match &self.bits {
            Some(mine) if parts.iter().all(|p| p.is_ascii()) => {
                let seen = &mut scratch.seen;
                seen.resize(ASCII_WORDS, 0);
                let (mut theirs, mut shared) = (0usize, 0usize);
                ascii_trigrams(parts, |t| {
                    let (w, bit) = (t / 64, 1u64 << (t % 64));
                    if seen[w] & bit == 0 {
                        seen[w] |= bit;
                        theirs += 1;
                        shared += usize::from(mine[w] & bit != 0);
                    }
                });
                seen.fill(0);
                ratio(shared, self.sorted.len() + theirs - shared)
            }
            _ => {
                trigrams_into(parts, &mut scratch.sorted);
                similarity(&self.sorted, &scratch.sorted)
            }
        }
    }
}

/// Shared over all (0 when both sets are empty).
fn ratio(shared: usize, union: usize) -> f64 {
    if union == 0 {
        0.0
    } else {
        shared as f64 / union as f64
    }
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
    let mut out = Vec::new();
    trigrams_into(&[s], &mut out);
    out
}

/// The trigrams of `parts` joined by spaces (a report's title and body), into `out`, replacing
/// what it held: a buffer reused from one report to the next allocates nothing. An ASCII part
/// (the common case) is lowercased character by character, without a lowercased copy; any other
/// part as a whole by `str::to_lowercase`, as before (its context rules, e.g. a word-final
/// sigma, never reach across the space that joins two parts).
pub fn trigrams_into(parts: &[&str], out: &mut Trigrams) {
    fn push_word(word: impl Iterator<Item = char>, out: &mut Trigrams) {
        let (mut a, mut b) = (' ', ' ');
        for c in word.chain(std::iter::once(' ')) {
            out.push(pack(a, b, c));
            (a, b) = (b, c);
        }
    }
    out.clear();
    for part in parts {
        if part.is_ascii() {
            for word in part
                .as_bytes()
                .split(|b| !b.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
            {
                push_word(word.iter().map(|b| char::from(b.to_ascii_lowercase())), out);
            }
        } else {
            for word in part
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
            {
                push_word(word.chars(), out);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// One trigram as one number: three 21-bit chars.
fn pack(a: char, b: char, c: char) -> u64 {
    (u64::from(a) << 42) | (u64::from(b) << 21) | u64::from(c)
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
    ratio(shared, a.len() + b.len() - shared)
}

/// Compares two reports of the same category inside the window, given the two points and the
/// texts' similarity, computed only when the two are not too far apart.
fn compare_parts(
    spec: &DuplicateSpec,
    my_point: Option<(f64, f64)>,
    their_point: Option<(f64, f64)>,
    similarity: impl FnOnce() -> f64,
) -> Option<Match> {
    let distance_m = match (my_point, their_point) {
        (Some(p), Some(q)) => Some(haversine_m(p, q)),
        _ => None,
    };
    if distance_m.is_some_and(|d| d > spec.max_distance_m) {
        return None;
    }
    let sim = similarity();
    if sim >= spec.text_similarity {
        return Some(Match {
            score: sim,
            by_text: true,
            distance_m,
        });
    }
    distance_m.map(|d| Match {
        score: 1.0 - d / spec.max_distance_m.max(1.0),
        by_text: false,
        distance_m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as the tests below give it: title and body as one text, and the map point.
    #[derive(Debug, Clone)]
    struct Item<'a> {
        text: &'a str,
        point: Option<(f64, f64)>,
    }

    /// Compares two reports of the same category inside the window (`ta`: `a`'s trigrams).
    fn compare(spec: &DuplicateSpec, a: &Item<'_>, b: &Item<'_>, ta: &Trigrams) -> Option<Match> {
        compare_parts(spec, a.point, b.point, || similarity(ta, &trigrams(b.text)))
    }

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
            // The same set, whether the text took the ASCII path or the general one.
            let mut want: Vec<u64> = reference(a).iter().map(|t| pack(t[0], t[1], t[2])).collect();
            want.sort_unstable();
            assert_eq!(trigrams(a), want, "{a}");
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

    /// A title and a body as two parts give the trigrams of the text joined by a space, on the
    /// ASCII path and the general one alike (a word-final sigma and a dotted capital I included).
    #[test]
    fn parts_give_the_joined_texts_trigrams() {
        let texts = [
            "",
            "Jalan berlubang",
            "Lampu jalan padam di Jl. Ahmad Yani, RT 12 (dekat masjid)",
            "Ünïcödé ÇAFÉ naïve — 東京 🚧 rusak",
            "ΟΔΟΣ ΚΛΕΙΣΤΗ",
            "Σ.Β ΑΣ'Β",
            "İSTANBUL İzmir",
        ];
        let mut parts = Vec::new();
        for t in texts {
            for b in texts {
                trigrams_into(&[t, b], &mut parts);
                assert_eq!(parts, trigrams(&format!("{t} {b}")), "{t} / {b}");
            }
        }
    }

    /// The bitmap comparison of ASCII texts gives exactly the sorted sets' similarity, and a
    /// non-ASCII text on either side takes the sorted path.
    #[test]
    fn ascii_bitmap_gives_the_sorted_sets_similarity() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const CHARS: &[u8] = b"aAbBcCdeEfgzZ0189 .,-/'!  ";
        let mut texts: Vec<String> = (0..60)
            .map(|_| {
                let n = (next() % 40) as usize;
                (0..n)
                    .map(|_| char::from(CHARS[(next() % CHARS.len() as u64) as usize]))
                    .collect()
            })
            .collect();
        texts.extend(
            [
                "",
                "a",
                "Jalan berlubang di depan Pasar Rawa Indah",
                "jalan BERLUBANG besar depan pasar rawa indah!",
                "jalan jalan jalan",
                "Ünïcödé ÇAFÉ naïve rusak",
            ]
            .map(String::from),
        );
        let mut scratch = Scratch::default();
        for a in &texts {
            for b in &texts {
                if !a.is_char_boundary(a.len() / 2) {
                    continue;
                }
                let (ta, tb) = a.split_at(a.len() / 2);
                let mine = Prepared::new(&[ta, tb]);
                assert_eq!(mine.bits.is_some(), a.is_ascii());
                let want = similarity(&trigrams(&format!("{ta} {tb}")), &trigrams(b));
                assert_eq!(mine.similarity(&[b], &mut scratch), want, "{a:?} / {b:?}");
            }
        }
    }

    /// The best matches come highest score first, then newest (earlier in `others`), at most
    /// `max_candidates`; far reports never; each says why.
    #[test]
    fn best_matches_keeps_the_likeliest_and_says_why() {
        let spec = DuplicateSpec {
            max_candidates: 3,
            ..DuplicateSpec::default()
        };
        let here = Some((0.1337, 117.4917));
        // About 111 m north per 0.001 degree.
        let north = |k: f64| Some((0.1337 + 0.001 * k, 117.4917));
        let r = |title, body, point| Report { title, body, point };
        let me = r("Lampu jalan padam", "di Jl. Ahmad Yani dekat masjid", here);
        let others = [
            r("Sampah", "menumpuk di pasar", north(3.0)),
            r("Lampu jalan padam", "di Jl. Ahmad Yani dekat masjid", None),
            r("Sampah", "menumpuk di pasar", north(1.0)),
            r("Lampu jalan padam", "di Jl. Ahmad Yani dekat masjid", north(9.0)),
            r("Sampah", "menumpuk di pasar", north(1.0)),
            r("lampu jalan PADAM", "di jl ahmad yani, dekat masjid!", north(2.0)),
        ];
        let found = best_matches(&spec, &me, others);
        let got: Vec<(usize, String)> = found.iter().map(|(i, m)| (*i, m.reason())).collect();
        assert_eq!(
            got,
            vec![
                (1, "similar text (100%)".to_owned()),
                (5, "similar text (100%), 222 m apart".to_owned()),
                (2, "same category, 111 m apart".to_owned()),
            ]
        );
        assert!(
            found[2].1.score > 0.77 && found[2].1.score < 0.78,
            "{:?}",
            found[2]
        );
        assert!(!found[2].1.by_text && found[0].1.by_text);
        // 0 keeps none.
        let none = DuplicateSpec {
            max_candidates: 0,
            ..spec
        };
        assert!(best_matches(&none, &me, others).is_empty());
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
        assert!(compare(&spec, &a, &near, &ta).is_some_and(|m| m.reason().starts_with("same category")));
        let no_point = Item {
            text: "lampu jalan padam di jalan ahmad yani",
            point: None,
        };
        assert!(compare(&spec, &a, &no_point, &ta).is_some_and(|m| m.reason().starts_with("similar text")));
        let unrelated = Item {
            text: "Permohonan data APBD",
            point: None,
        };
        assert_eq!(compare(&spec, &a, &unrelated, &ta), None);
    }
}
