//! Routing's settings: the calendar and policy (for the verification deadline shown in the
//! queue), the OPD registry, the category tree and the routing rules.

use lapor_domain::calendar::CalendarSpec;
use lapor_domain::{CategoryId, OpdId, ReportKind, SlaPolicy};
use lapor_platform::CommonConfig;
use serde::{Deserialize, Serialize};

/// An OPD in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpdSpec {
    /// Stable id.
    pub id: OpdId,
    /// Official name.
    pub name: String,
}

/// A node of the category tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategorySpec {
    /// Dotted id; its prefix names the parent.
    pub id: CategoryId,
    /// Display name.
    pub name: String,
}

/// A routing rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Stable id, recorded with each dispatch it makes.
    pub id: String,
    /// Category it covers (with its descendants).
    pub category: CategoryId,
    /// Target OPD.
    pub opd: OpdId,
    /// Kinds it applies to; empty for all.
    #[serde(default)]
    pub kinds: Vec<ReportKind>,
    /// Dispatch without the operator when it matches.
    #[serde(default)]
    pub auto_dispatch: bool,
    /// Higher wins among rules on the same category.
    #[serde(default)]
    pub priority: i32,
}

/// A reason an operator may archive a report for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveReasonSpec {
    /// Stable code.
    pub code: String,
    /// Label.
    pub label: String,
}

/// Routing configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Settings every service has.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// City calendar.
    pub calendar: CalendarSpec,
    /// SLA policy.
    pub policy: SlaPolicy,
    /// OPD registry.
    pub opds: Vec<OpdSpec>,
    /// Category tree.
    pub categories: Vec<CategorySpec>,
    /// Routing rules.
    pub rules: Vec<RuleSpec>,
    /// Reasons ArchiveReport accepts.
    pub archive_reasons: Vec<ArchiveReasonSpec>,
}

impl Default for Config {
    fn default() -> Self {
        let mut common = CommonConfig::default();
        common.database.url = "sqlite://.lapor/data/routing.db?mode=rwc".into();
        common.database.schema = "routing".into();
        Self {
            common,
            calendar: CalendarSpec::default(),
            policy: SlaPolicy::default(),
            opds: Vec::new(),
            categories: Vec::new(),
            rules: Vec::new(),
            archive_reasons: [
                ("terlalu-umum", "Terlalu umum atau tidak jelas"),
                (
                    "bukan-pelayanan-publik",
                    "Bukan tentang pelayanan publik atau pemerintahan",
                ),
                ("tidak-dilengkapi", "Tidak dilengkapi pelapor setelah ditunda"),
                ("spam", "Spam, uji coba, atau berisi SARA/ujaran kebencian"),
            ]
            .into_iter()
            .map(|(code, label)| ArchiveReasonSpec {
                code: code.into(),
                label: label.into(),
            })
            .collect(),
        }
    }
}
