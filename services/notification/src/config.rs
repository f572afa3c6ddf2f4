//! Notification's settings.

use lapor_platform::CommonConfig;
use serde::{Deserialize, Serialize};

/// An OPD's display name for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpdName {
    /// OPD id.
    pub id: String,
    /// Official name.
    pub name: String,
}

/// Notification configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Settings every service has.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// IANA time zone for dates in messages.
    pub time_zone: String,
    /// OPD names used in messages (the same `[[opds]]` list routing reads).
    pub opds: Vec<OpdName>,
    /// SLA policy (the same `[policy]` the other services read), for the periods messages name.
    pub policy: lapor_domain::SlaPolicy,
}

impl Default for Config {
    fn default() -> Self {
        let mut common = CommonConfig::default();
        common.database.url = "sqlite://.lapor/data/notification.db?mode=rwc".into();
        common.database.schema = "notification".into();
        Self {
            common,
            time_zone: "Asia/Makassar".into(),
            opds: Vec::new(),
            policy: lapor_domain::SlaPolicy::default(),
        }
    }
}
