//! SLA monitor's settings.

use lapor_domain::SlaPolicy;
use lapor_domain::calendar::CalendarSpec;
use lapor_platform::CommonConfig;
use serde::{Deserialize, Serialize};

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
        }
    }
}
