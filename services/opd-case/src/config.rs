//! opd-case's settings.

use lapor_domain::SlaPolicy;
use lapor_domain::calendar::CalendarSpec;
use lapor_platform::CommonConfig;
pub use lapor_platform::blobs::BlobStoreConfig;
use serde::{Deserialize, Serialize};

/// opd-case configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Settings every service has.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// City calendar (working days for deadlines and the reply window).
    pub calendar: CalendarSpec,
    /// SLA policy (first follow-up, reply window, Ombudsman period).
    pub policy: SlaPolicy,
    /// Seconds between auto-close sweeps.
    pub auto_close_interval_secs: u64,
    /// Attachment limits and storage.
    pub attachments: AttachmentConfig,
}

impl Default for Config {
    fn default() -> Self {
        let mut common = CommonConfig::default();
        common.database.url = "sqlite://.lapor/data/opd-case.db?mode=rwc".into();
        common.database.schema = "opd_case".into();
        Self {
            common,
            calendar: CalendarSpec::default(),
            policy: SlaPolicy::default(),
            auto_close_interval_secs: 60,
            attachments: AttachmentConfig::default(),
        }
    }
}

/// Attachment limits and storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AttachmentConfig {
    /// Largest attachment accepted, in bytes; a larger upload is refused as soon as it passes this.
    pub max_bytes: u64,
    /// Content types accepted (checked against the bytes, not the name): any of `image/jpeg`,
    /// `image/png`, `image/webp`, `application/pdf`, `video/mp4`.
    pub allowed_types: Vec<String>,
    /// Where blobs are stored.
    pub store: BlobStoreConfig,
}

impl Default for AttachmentConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            allowed_types: [
                "image/jpeg",
                "image/png",
                "image/webp",
                "application/pdf",
                "video/mp4",
            ]
            .map(String::from)
            .to_vec(),
            store: BlobStoreConfig {
                path: ".lapor/data/attachments".into(),
                prefix: "attachments".into(),
                ..BlobStoreConfig::default()
            },
        }
    }
}
