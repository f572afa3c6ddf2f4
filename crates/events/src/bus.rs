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

/// How many times [`Bus::ensure_stream`] asks before it gives up (pauses 0.2, 0.4, 0.8, 1.6 s).
pub const STREAM_ATTEMPTS: u32 = 5;

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

    /// Creates the stream if it does not exist and returns it. A refusal is tried again, up to
    /// [`STREAM_ATTEMPTS`] times with a growing pause: a server can refuse for a moment (a
    /// JetStream cluster still electing its leader; nats-server 2.9 fails a stream's creation
    /// while the last other stream of the account is being deleted, "could not create storage
    /// directory", seen in this project's parallel tests), and a service should not fail its
    /// start for that. A lasting refusal (another stream holding the subjects, say)
    /// is returned after the last attempt.
    pub async fn ensure_stream(&self) -> Result<stream::Stream, BusError> {
        let config = stream::Config {
            name: self.subjects.stream_name(),
            subjects: vec![self.subjects.all()],
            max_age: Duration::from_secs(self.config.max_age_days * 86_400),
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            num_replicas: self.config.stream_replicas.max(1),
            ..Default::default()
        };
        let mut attempt = 1;
        loop {
            match self.js.get_or_create_stream(config.clone()).await {
                Ok(stream) => return Ok(stream),
                Err(e) if attempt < STREAM_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, stream = %config.name, "creating the stream failed, trying again");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(BusError::Nats(format!(
                        "creating stream {} ({attempt} attempts): {e}",
                        config.name
                    )));
                }
            }
        }
    }
}
