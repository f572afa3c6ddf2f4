//! SLA monitor's settings.

use lapor_domain::SlaPolicy;
use lapor_domain::calendar::CalendarSpec;
use lapor_platform::CommonConfig;
use lapor_platform::blobs::BlobStoreConfig;
use serde::{Deserialize, Serialize};

/// Development key for signing ledger checkpoints. Never use it in production.
pub const DEV_CHECKPOINT_KEY: &str = "lapor-dev-ledger-checkpoint-key-change-me";

/// SLA monitor configuration.
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
    /// Warnings and the sweep that finds due deadlines.
    pub alerts: AlertConfig,
    /// The escalation chain (the same `[escalation]` routing reads, plus when each level starts).
    pub escalation: EscalationConfig,
    /// The OPD registry (the same `[[opds]]` routing reads): who is accountable for a span.
    pub opds: Vec<OpdOfficials>,
    /// OPD whose officials answer for the operator's steps (the Diskominfo runs the desk).
    pub operator_opd: String,
    /// Ledger settings.
    pub ledger: LedgerConfig,
    /// The allowance consequence of breaches (a city setting: Perwali on TPP).
    pub allowance: AllowanceRule,
    /// How the recompute of every open deadline after a calendar or policy change runs.
    pub recompute: RecomputeConfig,
}

impl Default for Config {
    fn default() -> Self {
        let mut common = CommonConfig::default();
        common.database.url = "sqlite://.lapor/data/sla-monitor.db?mode=rwc".into();
        common.database.schema = "sla_monitor".into();
        Self {
            common,
            calendar: CalendarSpec::default(),
            policy: SlaPolicy::default(),
            alerts: AlertConfig::default(),
            escalation: EscalationConfig::default(),
            opds: Vec::new(),
            operator_opd: "diskominfo".into(),
            ledger: LedgerConfig::default(),
            allowance: AllowanceRule::default(),
            recompute: RecomputeConfig::default(),
        }
    }
}

/// The recompute after a calendar or policy change: reports are recomputed `batch_reports` to a
/// transaction, `parallel` transactions at a time (PostgreSQL; SQLite has one writer). Each
/// transaction holds one advisory lock per report, so `batch_reports x parallel` must stay well
/// inside PostgreSQL's lock table (`max_locks_per_transaction x max_connections`, 6,400 by
/// default) and `parallel` below the connection pool (8 by default: 4 stay free for the
/// consumers, the API and the sweep while a recompute runs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RecomputeConfig {
    /// Reports per transaction.
    pub batch_reports: usize,
    /// Transactions at a time.
    pub parallel: usize,
}

impl Default for RecomputeConfig {
    fn default() -> Self {
        Self {
            // Measured (BENCHMARKS.md, eleventh session): four transactions of 250 reports keep
            // both cores busy while one batch waits on the other side of its connection, and hold
            // as many advisory locks (1,000) as two of 500 did.
            batch_reports: 250,
            parallel: 4,
        }
    }
}

/// Warnings and the sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertConfig {
    /// Hours before a due time when `SlaWarning` is raised.
    pub warning_lead_hours: u32,
    /// Seconds between sweeps for due and due-soon deadlines (0: no automatic sweeps).
    pub sweep_interval_secs: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            warning_lead_hours: 24,
            sweep_interval_secs: 60,
        }
    }
}

/// A named official (a position, not a person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Official {
    /// Stable id.
    pub id: String,
    /// Position or name.
    #[serde(default)]
    pub name: String,
}

/// A city-level official of an escalation level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CityOfficial {
    /// Level name (`sekda`, `mayor`).
    pub level: String,
    /// Stable id.
    pub id: String,
    /// Position or name.
    #[serde(default)]
    pub name: String,
}

/// The escalation chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EscalationConfig {
    /// Levels, first to last; `liaison` and `head` come from the OPD, others from `city`.
    pub levels: Vec<String>,
    /// Whole working days overdue at which each level is reached (same length as `levels`).
    pub after_working_days: Vec<u32>,
    /// Officials of the city-level levels.
    pub city: Vec<CityOfficial>,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self {
            levels: ["liaison", "head", "sekda", "mayor"].map(String::from).to_vec(),
            after_working_days: vec![0, 3, 7, 14],
            city: Vec::new(),
        }
    }
}

/// An OPD's accountable officials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpdOfficials {
    /// OPD id.
    pub id: String,
    /// Head of the OPD.
    #[serde(default)]
    pub head: Option<Official>,
    /// Liaison officers (pejabat penghubung).
    #[serde(default)]
    pub liaison_officers: Vec<Official>,
}

/// Ledger settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LedgerConfig {
    /// HMAC-SHA256 key that signs exported checkpoints (keep it outside the database).
    pub checkpoint_key: String,
    /// Seconds between automatic checkpoint exports (0: only on request). One export also runs
    /// at start.
    pub export_interval_secs: u64,
    /// Where automatic exports are written: storage the database's administrators cannot
    /// rewrite (another host's directory, a bucket with object lock).
    pub export_store: BlobStoreConfig,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            checkpoint_key: DEV_CHECKPOINT_KEY.into(),
            export_interval_secs: 3600,
            export_store: BlobStoreConfig {
                path: ".lapor/data/ledger-checkpoints".into(),
                prefix: "checkpoints".into(),
                ..BlobStoreConfig::default()
            },
        }
    }
}

/// How breaches translate into an allowance cut for the accountable officials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AllowanceRule {
    /// `per_breach` (a percentage per breach, capped) or `below_compliance` (a fixed percentage
    /// withheld when the compliance rate is below a threshold).
    pub rule: String,
    /// `per_breach`: percent per breach.
    pub percent_per_breach: f64,
    /// `per_breach`: the most that can be cut, percent.
    pub cap_percent: f64,
    /// `below_compliance`: the compliance rate under which the allowance is cut, percent.
    pub threshold_percent: f64,
    /// `below_compliance`: percent withheld.
    pub withhold_percent: f64,
}

impl Default for AllowanceRule {
    fn default() -> Self {
        Self {
            rule: "per_breach".into(),
            percent_per_breach: 2.0,
            cap_percent: 20.0,
            threshold_percent: 80.0,
            withhold_percent: 10.0,
        }
    }
}

impl AllowanceRule {
    /// The cut, percent, for `breaches` and a compliance rate.
    pub fn cut(&self, breaches: u64, compliance_percent: f64) -> f64 {
        match self.rule.as_str() {
            "below_compliance" => {
                if compliance_percent < self.threshold_percent {
                    self.withhold_percent
                } else {
                    0.0
                }
            }
            _ => (self.percent_per_breach * breaches as f64).min(self.cap_percent),
        }
    }

    /// The rule in words.
    pub fn describe(&self) -> String {
        match self.rule.as_str() {
            "below_compliance" => format!(
                "{}% withheld when compliance is below {}%",
                self.withhold_percent, self.threshold_percent
            ),
            _ => format!(
                "{}% per breach, at most {}%",
                self.percent_per_breach, self.cap_percent
            ),
        }
    }
}

impl Config {
    /// Position ids accountable for a span of `opd` (`None`: the operator's steps): its liaison
    /// officers, then its head.
    pub fn officials_of(&self, opd: Option<&str>) -> Vec<String> {
        let id = opd.unwrap_or(&self.operator_opd);
        self.opds
            .iter()
            .find(|o| o.id == id)
            .map(|o| {
                o.liaison_officers
                    .iter()
                    .map(|l| l.id.clone())
                    .chain(o.head.iter().map(|h| h.id.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Position ids to tell at escalation level `level` (its name) for a span of `opd`.
    pub fn officials_at(&self, level: &str, opd: Option<&str>) -> Vec<String> {
        let id = opd.unwrap_or(&self.operator_opd);
        let o = self.opds.iter().find(|o| o.id == id);
        match level {
            "liaison" => o
                .map(|o| o.liaison_officers.iter().map(|l| l.id.clone()).collect())
                .unwrap_or_default(),
            "head" => o
                .and_then(|o| o.head.as_ref())
                .map(|h| vec![h.id.clone()])
                .unwrap_or_default(),
            other => self
                .escalation
                .city
                .iter()
                .filter(|c| c.level == other)
                .map(|c| c.id.clone())
                .collect(),
        }
    }
}
