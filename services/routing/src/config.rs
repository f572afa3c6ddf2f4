//! Routing's settings: the calendar and policy (for the verification deadline shown in the
//! queue), the OPD registry, the category tree and the routing rules.

use lapor_domain::calendar::CalendarSpec;
use lapor_domain::{CategoryId, OpdId, SlaPolicy};

pub use crate::rules::RuleSpec;
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
    /// Routing rules used to seed an empty rule store (afterwards rules are managed over gRPC).
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
