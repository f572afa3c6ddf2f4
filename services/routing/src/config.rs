//! Routing's settings: the calendar and policy (for the verification deadline shown in the
//! queue), the OPD registry, the category tree and the routing rules.

use lapor_domain::calendar::CalendarSpec;
use lapor_domain::{CategoryId, OpdId, SlaPolicy};

pub use crate::rules::RuleSpec;
use lapor_platform::CommonConfig;
use serde::{Deserialize, Serialize};

/// An official (a position or a person) in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficialSpec {
    /// Stable id: the subject of the official's token.
    pub id: String,
    /// Position or name.
    pub name: String,
}

/// An OPD in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpdSpec {
    /// Stable id.
    pub id: OpdId,
    /// Official name.
    pub name: String,
    /// Head of the OPD.
    #[serde(default)]
    pub head: Option<OfficialSpec>,
    /// Liaison officers (pejabat penghubung).
    #[serde(default)]
    pub liaison_officers: Vec<OfficialSpec>,
}

/// A city-level official of an escalation level (e.g. the Sekda, the mayor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CityOfficialSpec {
    /// Level name.
    pub level: String,
    /// Stable id.
    pub id: String,
    /// Position or name.
    pub name: String,
}

/// The escalation chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EscalationSpec {
    /// Levels, first to last; "liaison" and "head" come from the OPD, others from `city`.
    pub levels: Vec<String>,
    /// Officials of the city-level levels.
    pub city: Vec<CityOfficialSpec>,
}

impl Default for EscalationSpec {
    fn default() -> Self {
        Self {
            levels: ["liaison", "head", "sekda", "mayor"].map(String::from).to_vec(),
            city: Vec::new(),
        }
    }
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
    /// Escalation chain.
    pub escalation: EscalationSpec,
    /// Intake's gRPC address, for RevealIdentity.
    pub intake_url: String,
    /// Roles that may reveal a reporter's identity (with a reason, audited).
    pub identity_reveal_roles: Vec<lapor_platform::Role>,
    /// Duplicate detection.
    pub duplicates: crate::duplicates::DuplicateSpec,
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
            escalation: EscalationSpec::default(),
            intake_url: "http://127.0.0.1:50051".into(),
            identity_reveal_roles: vec![lapor_platform::Role::Operator],
            duplicates: crate::duplicates::DuplicateSpec::default(),
        }
    }
}
