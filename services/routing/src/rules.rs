//! Routing rules: which OPD a report goes to, decided from its kind and category.

use lapor_domain::{CategoryId, ReportKind};

use crate::config::{Config, RuleSpec};

/// Outcome of matching a report against the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing<'a> {
    /// A rule matched and may dispatch by itself.
    Dispatch(&'a RuleSpec),
    /// A rule matched but the operator must decide; the note says which.
    Queue(String),
}

/// Checks the rules against the registry: every rule's OPD and category must exist.
pub fn validate(cfg: &Config) -> Result<(), String> {
    for r in &cfg.rules {
        if !cfg.opds.iter().any(|o| o.id == r.opd) {
            return Err(format!("rule {} names unknown OPD {}", r.id, r.opd));
        }
        if !cfg.categories.is_empty() && !cfg.categories.iter().any(|c| c.id == r.category) {
            return Err(format!("rule {} names unknown category {}", r.id, r.category));
        }
    }
    Ok(())
}

/// Finds the rule for a report: the most specific category (the report's own, then each
/// ancestor) with a rule for its kind, the highest priority first, then the lowest id.
pub fn route<'a>(rules: &'a [RuleSpec], kind: ReportKind, category: Option<&CategoryId>) -> Routing<'a> {
    let Some(category) = category else {
        return Routing::Queue("no category: the operator classifies it".into());
    };
    for cat in category.with_ancestors() {
        let mut hits: Vec<&RuleSpec> = rules
            .iter()
            .filter(|r| r.category == cat && (r.kinds.is_empty() || r.kinds.contains(&kind)))
            .collect();
        hits.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
        if let Some(rule) = hits.first() {
            return if rule.auto_dispatch {
                Routing::Dispatch(rule)
            } else {
                Routing::Queue(format!(
                    "rule {} suggests {}; auto-dispatch is off",
                    rule.id, rule.opd
                ))
            };
        }
    }
    Routing::Queue(format!("no rule covers category {category}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, cat: &str, opd: &str, auto: bool, prio: i32, kinds: Vec<ReportKind>) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            category: cat.parse().unwrap(),
            opd: opd.parse().unwrap(),
            kinds,
            auto_dispatch: auto,
            priority: prio,
        }
    }

    #[test]
    fn most_specific_then_priority() {
        let rules = vec![
            rule("a", "infrastruktur", "dinas-pupr", true, 0, vec![]),
            rule("b", "infrastruktur.penerangan", "dishub", true, 0, vec![]),
            rule(
                "c",
                "infrastruktur.penerangan",
                "pln",
                true,
                5,
                vec![ReportKind::Aspirasi],
            ),
            rule("d", "ketertiban", "satpol-pp", false, 0, vec![]),
        ];
        let cat = |s: &str| s.parse::<CategoryId>().unwrap();
        let opd = |r: Routing<'_>| match r {
            Routing::Dispatch(r) => r.opd.to_string(),
            Routing::Queue(n) => format!("queue: {n}"),
        };
        assert_eq!(
            opd(route(
                &rules,
                ReportKind::Pengaduan,
                Some(&cat("infrastruktur.jalan"))
            )),
            "dinas-pupr"
        );
        assert_eq!(
            opd(route(
                &rules,
                ReportKind::Pengaduan,
                Some(&cat("infrastruktur.penerangan"))
            )),
            "dishub"
        );
        assert_eq!(
            opd(route(
                &rules,
                ReportKind::Aspirasi,
                Some(&cat("infrastruktur.penerangan"))
            )),
            "pln"
        );
        assert!(
            opd(route(&rules, ReportKind::Pengaduan, Some(&cat("ketertiban"))))
                .contains("auto-dispatch is off")
        );
        assert!(
            opd(route(&rules, ReportKind::Pengaduan, Some(&cat("kesehatan")))).starts_with("queue: no rule")
        );
        assert!(opd(route(&rules, ReportKind::Pengaduan, None)).starts_with("queue: no category"));
    }
}
