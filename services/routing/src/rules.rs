//! Routing rules: which OPD a report goes to. A rule matches when every criterion it sets holds
//! (an empty criterion matches anything). Among matching rules the highest priority wins, then
//! the most specific category, then the smallest id. `explain` says, rule by rule, why.

use lapor_domain::content::Location;
use lapor_domain::{CategoryId, OpdId, ReportKind};
use serde::{Deserialize, Serialize};

/// A routing rule, as configured (seed) and as stored (one version of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Stable id, recorded with each dispatch it makes.
    pub id: String,
    /// Target OPD.
    pub opd: OpdId,
    /// Category it covers, with its descendants; none for any category.
    #[serde(default)]
    pub category: Option<CategoryId>,
    /// Kinds it applies to; empty for all.
    #[serde(default)]
    pub kinds: Vec<ReportKind>,
    /// Words of which at least one must occur in the title or body (case-insensitive); empty for any.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Kecamatan names of which one must match the report's (case-insensitive); empty for any.
    #[serde(default)]
    pub kecamatan: Vec<String>,
    /// Kelurahan names of which one must match the report's (case-insensitive); empty for any.
    #[serde(default)]
    pub kelurahan: Vec<String>,
    /// Polygon ring as (latitude, longitude) points the report's point must lie inside; empty for any.
    #[serde(default)]
    pub polygon: Vec<(f64, f64)>,
    /// Dispatch without the operator when it wins.
    #[serde(default)]
    pub auto_dispatch: bool,
    /// Higher wins.
    #[serde(default)]
    pub priority: i32,
    /// A disabled rule never matches.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// What a rule is matched against.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Kind.
    pub kind: ReportKind,
    /// Category, if classified.
    pub category: Option<&'a CategoryId>,
    /// Title.
    pub title: &'a str,
    /// Body.
    pub body: &'a str,
    /// Place.
    pub location: Option<&'a Location>,
}

/// One rule's verdict with its reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'a> {
    /// The rule.
    pub rule: &'a RuleSpec,
    /// Whether every criterion held.
    pub matched: bool,
    /// One line per criterion the rule sets: what held or why it did not.
    pub reasons: Vec<String>,
}

/// Outcome of routing a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Routing<'a> {
    /// A rule won and may dispatch by itself.
    Dispatch(&'a RuleSpec),
    /// The operator must decide; the note says why.
    Queue(String),
}

/// Returns true when the point lies inside the polygon ring (ray casting; points on an edge may
/// fall either way).
pub fn point_in_polygon(point: (f64, f64), ring: &[(f64, f64)]) -> bool {
    let (py, px) = point;
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let (yi, xi) = ring[i];
        let (yj, xj) = ring[j];
        if (yi > py) != (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Checks one rule against a report.
pub fn verdict<'a>(rule: &'a RuleSpec, s: &Subject<'_>) -> Verdict<'a> {
    let mut reasons = Vec::new();
    let mut matched = rule.enabled;
    if !rule.enabled {
        reasons.push("rule is disabled".to_owned());
    }
    let mut check = |ok: bool, yes: String, no: String| {
        matched &= ok;
        reasons.push(if ok { yes } else { no });
    };
    if !rule.kinds.is_empty() {
        let ok = rule.kinds.contains(&s.kind);
        let kinds: Vec<&str> = rule.kinds.iter().map(|k| k.code()).collect();
        check(
            ok,
            format!("kind {} is one of {kinds:?}", s.kind.code()),
            format!("kind {} is not one of {kinds:?}", s.kind.code()),
        );
    }
    if let Some(cat) = &rule.category {
        match s.category {
            Some(c) => {
                let ok = c.with_ancestors().contains(cat);
                check(
                    ok,
                    format!("category {c} is {cat} or below it"),
                    format!("category {c} is not {cat} or below it"),
                );
            }
            None => check(
                false,
                String::new(),
                format!("the report has no category (rule needs {cat})"),
            ),
        }
    }
    if !rule.keywords.is_empty() {
        let text = format!("{} {}", norm(s.title), norm(s.body));
        let hit = rule
            .keywords
            .iter()
            .find(|k| !k.trim().is_empty() && text.contains(&norm(k)));
        match hit {
            Some(k) => check(true, format!("keyword {k:?} occurs in the text"), String::new()),
            None => check(
                false,
                String::new(),
                format!("no keyword of {:?} occurs in the text", rule.keywords),
            ),
        }
    }
    for (name, wanted, got) in [
        (
            "kecamatan",
            &rule.kecamatan,
            s.location.map(|l| l.kecamatan.as_str()),
        ),
        (
            "kelurahan",
            &rule.kelurahan,
            s.location.map(|l| l.kelurahan.as_str()),
        ),
    ] {
        if wanted.is_empty() {
            continue;
        }
        let got = got.map(norm).unwrap_or_default();
        let ok = !got.is_empty() && wanted.iter().any(|w| norm(w) == got);
        let shown = if got.is_empty() {
            "none given".to_owned()
        } else {
            got.clone()
        };
        check(
            ok,
            format!("{name} {shown} is one of {wanted:?}"),
            format!("{name} {shown} is not one of {wanted:?}"),
        );
    }
    if !rule.polygon.is_empty() {
        match s.location.and_then(|l| l.point) {
            Some(p) => {
                let ok = point_in_polygon(p, &rule.polygon);
                check(
                    ok,
                    format!("point {p:?} lies inside the rule's area"),
                    format!("point {p:?} lies outside the rule's area"),
                );
            }
            None => check(
                false,
                String::new(),
                "the report has no map point (rule needs one inside its area)".to_owned(),
            ),
        }
    }
    if reasons.is_empty() {
        reasons.push("the rule sets no criterion: it matches every report".to_owned());
    }
    Verdict {
        rule,
        matched,
        reasons,
    }
}

fn depth(rule: &RuleSpec) -> usize {
    rule.category
        .as_ref()
        .map_or(0, |c| c.as_str().split('.').count())
}

/// Checks every rule; the winner (if any) first among the matched, in decision order.
pub fn explain<'a>(rules: &'a [RuleSpec], s: &Subject<'_>) -> (Option<&'a RuleSpec>, Vec<Verdict<'a>>) {
    let mut verdicts: Vec<Verdict<'a>> = rules.iter().map(|r| verdict(r, s)).collect();
    verdicts.sort_by(|a, b| {
        b.matched
            .cmp(&a.matched)
            .then(b.rule.priority.cmp(&a.rule.priority))
            .then(depth(b.rule).cmp(&depth(a.rule)))
            .then(a.rule.id.cmp(&b.rule.id))
    });
    let winner = verdicts.first().filter(|v| v.matched).map(|v| v.rule);
    (winner, verdicts)
}

/// Routes a report: the winning rule dispatches if its auto-dispatch is on.
pub fn route<'a>(rules: &'a [RuleSpec], s: &Subject<'_>) -> Routing<'a> {
    match explain(rules, s).0 {
        Some(rule) if rule.auto_dispatch => Routing::Dispatch(rule),
        Some(rule) => Routing::Queue(format!(
            "rule {} suggests {}; auto-dispatch is off",
            rule.id, rule.opd
        )),
        None if s.category.is_none() => {
            Routing::Queue("no category and no rule matched: the operator classifies it".into())
        }
        None => Routing::Queue(format!(
            "no rule matched category {}",
            s.category.map(ToString::to_string).unwrap_or_default()
        )),
    }
}

/// Checks a rule against the registry: a known OPD, a known category, a sane polygon and keywords.
pub fn validate_rule(
    rule: &RuleSpec,
    opds: &[OpdId],
    categories: &[CategoryId],
) -> Result<(), Vec<(String, String)>> {
    let mut errs = Vec::new();
    if rule.id.trim().is_empty()
        || rule.id.len() > 64
        || !rule
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        errs.push((
            "rule_id".into(),
            "must be 1-64 characters of letters, digits, '-' or '_'".into(),
        ));
    }
    if !opds.contains(&rule.opd) {
        errs.push(("opd_id".into(), format!("no OPD {} in the registry", rule.opd)));
    }
    if let Some(c) = &rule.category
        && !categories.is_empty()
        && !categories.contains(c)
    {
        errs.push(("category_id".into(), format!("{c} is not in the category tree")));
    }
    if !rule.polygon.is_empty() && rule.polygon.len() < 3 {
        errs.push(("polygon".into(), "a polygon needs at least 3 points".into()));
    }
    if rule
        .polygon
        .iter()
        .any(|(lat, lon)| !(-90.0..=90.0).contains(lat) || !(-180.0..=180.0).contains(lon))
    {
        errs.push(("polygon".into(), "points must be valid latitude/longitude".into()));
    }
    if rule.keywords.iter().any(|k| k.trim().is_empty() || k.len() > 100) || rule.keywords.len() > 50 {
        errs.push((
            "keywords".into(),
            "at most 50 keywords of 1-100 characters".into(),
        ));
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, opd: &str) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            opd: opd.parse().unwrap(),
            category: None,
            kinds: vec![],
            keywords: vec![],
            kecamatan: vec![],
            kelurahan: vec![],
            polygon: vec![],
            auto_dispatch: true,
            priority: 0,
            enabled: true,
        }
    }

    fn cat(s: &str) -> CategoryId {
        s.parse().unwrap()
    }

    fn subject<'a>(
        kind: ReportKind,
        category: Option<&'a CategoryId>,
        body: &'a str,
        loc: Option<&'a Location>,
    ) -> Subject<'a> {
        Subject {
            kind,
            category,
            title: "Laporan",
            body,
            location: loc,
        }
    }

    fn winner(rules: &[RuleSpec], s: &Subject<'_>) -> String {
        match route(rules, s) {
            Routing::Dispatch(r) => r.id.clone(),
            Routing::Queue(n) => format!("queue: {n}"),
        }
    }

    // Bontang Utara, roughly: a box around 0.13-0.17 N, 117.47-117.51 E.
    const UTARA: [(f64, f64); 4] = [(0.13, 117.47), (0.13, 117.51), (0.17, 117.51), (0.17, 117.47)];

    #[test]
    fn table_of_match_kinds() {
        let jalan = cat("infrastruktur.jalan");
        let kes = cat("kesehatan");
        let in_utara = Location {
            point: Some((0.15, 117.49)),
            kecamatan: "Bontang Utara".into(),
            kelurahan: "Api-Api".into(),
            ..Location::default()
        };
        let in_selatan = Location {
            point: Some((0.10, 117.49)),
            kecamatan: "Bontang Selatan".into(),
            kelurahan: "Tanjung Laut".into(),
            ..Location::default()
        };
        let r_cat = RuleSpec {
            category: Some(cat("infrastruktur")),
            ..rule("cat", "dinas-pupr")
        };
        let r_kind = RuleSpec {
            kinds: vec![ReportKind::PermintaanInformasi],
            ..rule("kind", "diskominfo")
        };
        let r_kw = RuleSpec {
            keywords: vec!["banjir".into(), "Genangan".into()],
            ..rule("kw", "bpbd")
        };
        let r_kec = RuleSpec {
            kecamatan: vec!["bontang selatan".into()],
            ..rule("kec", "dlh")
        };
        let r_kel = RuleSpec {
            kelurahan: vec!["Api-Api".into()],
            ..rule("kel", "dishub")
        };
        let r_poly = RuleSpec {
            polygon: UTARA.to_vec(),
            ..rule("poly", "satpol-pp")
        };
        let nowhere = Location::default();
        let cases: Vec<(&RuleSpec, Subject<'_>, bool)> = vec![
            (
                &r_cat,
                subject(ReportKind::Pengaduan, Some(&jalan), "", None),
                true,
            ),
            (
                &r_cat,
                subject(ReportKind::Pengaduan, Some(&kes), "", None),
                false,
            ),
            (&r_cat, subject(ReportKind::Pengaduan, None, "", None), false),
            (
                &r_kind,
                subject(ReportKind::PermintaanInformasi, None, "", None),
                true,
            ),
            (&r_kind, subject(ReportKind::Aspirasi, None, "", None), false),
            (
                &r_kw,
                subject(
                    ReportKind::Pengaduan,
                    None,
                    "Terjadi GENANGAN air setinggi lutut",
                    None,
                ),
                true,
            ),
            (
                &r_kw,
                subject(ReportKind::Pengaduan, None, "Jalan berlubang", None),
                false,
            ),
            (
                &r_kec,
                subject(ReportKind::Pengaduan, None, "", Some(&in_selatan)),
                true,
            ),
            (
                &r_kec,
                subject(ReportKind::Pengaduan, None, "", Some(&in_utara)),
                false,
            ),
            (&r_kec, subject(ReportKind::Pengaduan, None, "", None), false),
            (
                &r_kel,
                subject(ReportKind::Pengaduan, None, "", Some(&in_utara)),
                true,
            ),
            (
                &r_kel,
                subject(ReportKind::Pengaduan, None, "", Some(&in_selatan)),
                false,
            ),
            (
                &r_poly,
                subject(ReportKind::Pengaduan, None, "", Some(&in_utara)),
                true,
            ),
            (
                &r_poly,
                subject(ReportKind::Pengaduan, None, "", Some(&in_selatan)),
                false,
            ),
            (
                &r_poly,
                subject(ReportKind::Pengaduan, None, "", Some(&nowhere)),
                false,
            ),
        ];
        for (i, (r, s, want)) in cases.iter().enumerate() {
            let v = verdict(r, s);
            assert_eq!(v.matched, *want, "case {i} ({}): {:?}", r.id, v.reasons);
            assert!(!v.reasons.is_empty());
        }
        let disabled = RuleSpec {
            enabled: false,
            ..rule("off", "dinkes")
        };
        assert!(!verdict(&disabled, &subject(ReportKind::Pengaduan, None, "", None)).matched);
    }

    #[test]
    fn priority_then_specificity_then_id() {
        let jalan = cat("infrastruktur.jalan");
        let penerangan = cat("infrastruktur.penerangan");
        let rules = vec![
            RuleSpec {
                category: Some(cat("infrastruktur")),
                ..rule("a-general", "dinas-pupr")
            },
            RuleSpec {
                category: Some(cat("infrastruktur.penerangan")),
                ..rule("b-lights", "dishub")
            },
            RuleSpec {
                keywords: vec!["banjir".into()],
                priority: 10,
                ..rule("c-flood", "bpbd")
            },
            RuleSpec {
                category: Some(cat("infrastruktur.jalan")),
                auto_dispatch: false,
                ..rule("d-manual", "disperkimtan")
            },
            RuleSpec {
                category: Some(cat("infrastruktur")),
                ..rule("0-same", "dlh")
            },
        ];
        let s =
            |c: &'static CategoryId, body: &'static str| subject(ReportKind::Pengaduan, Some(c), body, None);
        let (penerangan, jalan) = (Box::leak(Box::new(penerangan)), Box::leak(Box::new(jalan)));
        assert_eq!(
            winner(&rules, &s(penerangan, "lampu mati")),
            "b-lights",
            "more specific category wins"
        );
        assert_eq!(
            winner(&rules, &s(penerangan, "banjir di bawah lampu")),
            "c-flood",
            "priority wins first"
        );
        assert!(
            winner(&rules, &s(jalan, "lubang")).contains("auto-dispatch is off"),
            "winner without auto-dispatch queues"
        );
        let general = Box::leak(Box::new(cat("infrastruktur")));
        assert_eq!(
            winner(&rules, &s(general, "x")),
            "0-same",
            "ties go to the smallest id"
        );
        let (win, verdicts) = explain(&rules, &s(penerangan, "lampu mati"));
        assert_eq!(win.map(|r| r.id.as_str()), Some("b-lights"));
        let c_flood = verdicts.iter().find(|v| v.rule.id == "c-flood").unwrap();
        assert!(
            !c_flood.matched && c_flood.reasons[0].contains("no keyword"),
            "{:?}",
            c_flood.reasons
        );
    }

    #[test]
    fn polygon_edges_and_holes() {
        let tri = [(0.0, 0.0), (0.0, 10.0), (10.0, 0.0)];
        assert!(point_in_polygon((1.0, 1.0), &tri));
        assert!(!point_in_polygon((9.0, 9.0), &tri));
        assert!(!point_in_polygon((1.0, 1.0), &tri[..2]));
        // A concave "U": the notch is outside.
        let u = [
            (0.0, 0.0),
            (0.0, 3.0),
            (3.0, 3.0),
            (3.0, 2.0),
            (1.0, 2.0),
            (1.0, 1.0),
            (3.0, 1.0),
            (3.0, 0.0),
        ];
        assert!(point_in_polygon((0.5, 1.5), &u));
        assert!(!point_in_polygon((2.0, 1.5), &u));
    }

    #[test]
    fn validation() {
        let ok = RuleSpec {
            category: Some(cat("kesehatan")),
            ..rule("r1", "dinkes")
        };
        let opds = vec!["dinkes".parse().unwrap()];
        assert!(validate_rule(&ok, &opds, &[cat("kesehatan")]).is_ok());
        let bad = RuleSpec {
            id: "bad id".into(),
            polygon: vec![(0.0, 0.0)],
            keywords: vec![" ".into()],
            category: Some(cat("x")),
            ..rule("", "dinas-fiktif")
        };
        let fields: Vec<String> = validate_rule(&bad, &opds, &[cat("kesehatan")])
            .unwrap_err()
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(
            fields,
            ["rule_id", "opd_id", "category_id", "polygon", "keywords"]
        );
    }
}
