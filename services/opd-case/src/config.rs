//! opd-case's settings.

use lapor_platform::CommonConfig;
use serde::{Deserialize, Serialize};

/// opd-case configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Settings every service has.
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Default for Config {
    fn default() -> Self {
        let mut common = CommonConfig::default();
        common.database.url = "sqlite://.lapor/data/opd-case.db?mode=rwc".into();
        common.database.schema = "opd_case".into();
        Self { common }
    }
}
