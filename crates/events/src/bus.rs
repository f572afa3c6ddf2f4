//! Connection to NATS JetStream and the stream every event lives in.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use lapor_platform::config::NatsConfig;

use crate::subjects::Subjects;

/// A bus that cannot be reached or set up.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Bad configuration.
    #[error("nats configuration: {0}")]
    Config(String),
    /// NATS did not answer or refused.
    #[error("nats: {0}")]
    Nats(String),
}

/// A JetStream context bound to one subject prefix.
#[derive(Clone, Debug)]
pub struct Bus {
    /// The core client.
    pub client: async_nats::Client,
    /// The JetStream context.
    pub js: jetstream::Context,
    /// Subject naming.
    pub subjects: Subjects,
    /// Settings.
    pub config: NatsConfig,
}

impl Bus {
    /// Connects and makes sure the stream exists (idempotent; every service does it at start).
    pub async fn connect(cfg: &NatsConfig, client_name: &str) -> Result<Self, BusError> {
        let subjects = Subjects::new(&cfg.prefix).map_err(BusError::Config)?;
        let client = async_nats::ConnectOptions::new()
            .name(client_name)
            .connection_timeout(Duration::from_secs(5))
            .connect(cfg.url.as_str())
            .await
            .map_err(|e| BusError::Nats(format!("connecting to {}: {e}", cfg.url)))?;
        let js = jetstream::new(client.clone());
        let bus = Self {
            client,
            js,
            subjects,
            config: cfg.clone(),
        };
        bus.ensure_stream().await?;
        Ok(bus)
    }

    /// Creates the stream if it does not exist and returns it.
    pub async fn ensure_stream(&self) -> Result<stream::Stream, BusError> {
        self.js
            .get_or_create_stream(stream::Config {
                name: self.subjects.stream_name(),
                subjects: vec![self.subjects.all()],
                max_age: Duration::from_secs(self.config.max_age_days * 86_400),
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                num_replicas: self.config.stream_replicas.max(1),
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::Nats(format!("creating stream {}: {e}", self.subjects.stream_name())))
    }
}
