//! Configuration: compiled-in defaults, then an optional TOML file, then `LAPOR_<SERVICE>__...`
//! environment variables (`__` separates levels: `LAPOR_INTAKE__DATABASE__URL`).

use std::path::Path;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Settings every service has.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CommonConfig {
    /// gRPC listen address, e.g. `0.0.0.0:50051`.
    pub grpc_addr: String,
    /// Serve gRPC reflection (switch off in production if the API should not be browsable).
    pub reflection: bool,
    /// Database settings.
    pub database: DatabaseConfig,
    /// NATS settings.
    pub nats: NatsConfig,
    /// Authentication settings.
    pub auth: AuthConfig,
    /// Telemetry settings.
    pub telemetry: TelemetryConfig,
    /// Seconds to let in-flight work finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Milliseconds between turning health NOT_SERVING and closing the listener on shutdown, so
    /// that load balancers stop sending first.
    pub drain_ms: u64,
}

impl Default for CommonConfig {
    fn default() -> Self {
        Self {
            grpc_addr: "127.0.0.1:0".into(),
            reflection: true,
            database: DatabaseConfig::default(),
            nats: NatsConfig::default(),
            auth: AuthConfig::default(),
            telemetry: TelemetryConfig::default(),
            shutdown_grace_secs: 20,
            drain_ms: 1000,
        }
    }
}

/// Database settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db?mode=rwc` (default, embedded) or `postgres://user@host/db`.
    pub url: String,
    /// PostgreSQL schema holding this service's tables (ignored on SQLite).
    pub schema: String,
    /// Connection pool size.
    pub max_connections: u32,
    /// Seconds a pooled connection may sit idle and still be handed out without a check; one
    /// idle longer is pinged first (and replaced if dead). 0 pings on every checkout, which
    /// costs a round trip per transaction.
    pub check_idle_secs: u64,
    /// PostgreSQL only, optional: a URL for the role that owns the schema and runs migrations.
    /// When set, the service migrates over it, then grants `url`'s role what it needs (and no
    /// UPDATE/DELETE on append-only tables such as the SLA ledger) and runs over `url`, so
    /// the running service can neither change those tables nor switch their triggers off.
    pub migration_url: String,
    /// PostgreSQL only: whether the server may JIT-compile this service's statements. Off by
    /// default: PostgreSQL compiles a statement whose estimated cost passes `jit_above_cost`
    /// (100,000), again at every execution, and the estimate grows with the tables once they are
    /// analyzed. Routing's batched duplicate scan on an analyzed table of 470,000 reports is
    /// estimated at about 270,000 and then took 23.5 ms for one report instead of 0.6 (28.5 ms
    /// of compiling) and 60 ms for 64 instead of 30 (BENCHMARKS.md, twenty-fifth session). The
    /// benchmark machine's server runs without autovacuum, never analyzes, and never showed it.
    /// `true` leaves the server's own `jit` setting in force.
    pub jit: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://.lapor/data/service.db?mode=rwc".into(),
            schema: "public".into(),
            max_connections: 8,
            check_idle_secs: 30,
            migration_url: String::new(),
            jit: false,
        }
    }
}

/// NATS JetStream settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsConfig {
    /// Server URL.
    pub url: String,
    /// Subject prefix; the stream is named after it. Tests use a unique prefix each.
    pub prefix: String,
    /// How long the stream keeps events, in days (replay source for the SLA monitor).
    pub max_age_days: u64,
    /// Deliveries of one message before it goes to the dead-letter table.
    pub max_deliver: i64,
    /// Seconds before an unacknowledged message is redelivered.
    pub ack_wait_secs: u64,
    /// Milliseconds between outbox relay polls when nothing wakes it.
    pub relay_poll_ms: u64,
    /// Milliseconds a consumer under load waits for more events to join a batch (one
    /// transaction and commit for them all). It waits only after a batch found more than one event
    /// already waiting, so events arriving one by one are never delayed. 0 never waits.
    pub consumer_linger_ms: u64,
    /// Replicas of the event stream when a service creates it (3 on a three-server cluster; an
    /// existing stream keeps its own, change it with `nats stream edit`).
    pub stream_replicas: usize,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            prefix: "lapor".into(),
            max_age_days: 400,
            max_deliver: 5,
            ack_wait_secs: 30,
            relay_poll_ms: 500,
            consumer_linger_ms: 5,
            stream_replicas: 1,
        }
    }
}

/// Bearer-token (JWT) settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// HS256 secrets accepted for verification; the first one also signs development tokens.
    /// Several may be listed during a key rotation.
    pub hs256_secrets: Vec<String>,
    /// Required `iss` claim.
    pub issuer: String,
    /// Required `aud` claim.
    pub audience: String,
}

/// The development secret; `laporctl` and `make run` use it. Never use it in production.
pub const DEV_SECRET: &str = "lapor-dev-secret-change-me-0123456789abcdef";

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            hs256_secrets: vec![DEV_SECRET.into()],
            issuer: "lapor".into(),
            audience: "lapor".into(),
        }
    }
}

/// Telemetry settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// OTLP/gRPC endpoint, e.g. `http://otel-collector:4317`; empty disables export.
    pub otlp_endpoint: String,
    /// `json` (one JSON object per line) or `text`.
    pub log_format: String,
    /// `tracing` filter directive, e.g. `info,lapor=debug`.
    pub log_filter: String,
    /// Fraction of new traces recorded (0.0 to 1.0); a caller's sampling decision is followed.
    pub sample_ratio: f64,
    /// How long finished spans wait in the batch before they are exported, in milliseconds.
    pub span_export_delay_ms: u64,
    /// Spans kept waiting for export at most; beyond it new spans are dropped, never blocking.
    pub span_queue_size: usize,
    /// How often metrics are exported, in milliseconds.
    pub metrics_interval_ms: u64,
    /// How long one export may take before it is abandoned, in milliseconds (it bounds the
    /// flush at shutdown when the collector is unreachable).
    pub export_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            log_format: "text".into(),
            log_filter: "info".into(),
            sample_ratio: 1.0,
            span_export_delay_ms: 5000,
            span_queue_size: 2048,
            metrics_interval_ms: 60_000,
            export_timeout_ms: 5000,
        }
    }
}

/// A configuration that cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(#[from] ::config::ConfigError);

/// Loads a service's configuration: `defaults`, then `file` if given, then the environment
/// variables `LAPOR_<SERVICE>__...` (service name upper-cased, `-` as `_`).
pub fn load<T>(service: &str, defaults: &T, file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned,
{
    load_with_env(service, defaults, file, None)
}

/// As [`load`], reading the variables from `env` instead of the process environment when given.
pub fn load_with_env<T>(
    service: &str,
    defaults: &T,
    file: Option<&Path>,
    env: Option<std::collections::HashMap<String, String>>,
) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned,
{
    let prefix = format!("LAPOR_{}", service.to_uppercase().replace('-', "_"));
    let mut builder = ::config::Config::builder().add_source(::config::Config::try_from(defaults)?);
    if let Some(f) = file {
        builder = builder.add_source(::config::File::from(f).required(true));
    }
    builder = builder.add_source(
        ::config::Environment::with_prefix(&prefix)
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("auth.hs256_secrets")
            .try_parsing(true)
            .source(env),
    );
    Ok(builder.build()?.try_deserialize()?)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, Default)]
    #[serde(default)]
    struct Svc {
        #[serde(flatten)]
        common: CommonConfig,
        extra: u32,
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let dir = std::env::temp_dir().join(format!("lapor-config-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("svc.toml");
        std::fs::write(
            &file,
            "extra = 7\n[database]\nurl = \"postgres://file/db\"\nschema = \"from_file\"\n",
        )
        .unwrap();
        let env = HashMap::from([
            (
                "LAPOR_SLA_MONITOR__DATABASE__SCHEMA".to_owned(),
                "from_env".to_owned(),
            ),
            ("LAPOR_SLA_MONITOR__NATS__MAX_DELIVER".to_owned(), "9".to_owned()),
            (
                "LAPOR_SLA_MONITOR__AUTH__HS256_SECRETS".to_owned(),
                "new-key,old-key".to_owned(),
            ),
            ("LAPOR_INTAKE__EXTRA".to_owned(), "99".to_owned()),
        ]);
        let cfg: Svc = load_with_env("sla-monitor", &Svc::default(), Some(&file), Some(env)).unwrap();
        assert_eq!(cfg.extra, 7, "file value; another service's variable is ignored");
        assert_eq!(cfg.common.database.url, "postgres://file/db");
        assert_eq!(cfg.common.database.schema, "from_env");
        assert_eq!(cfg.common.nats.max_deliver, 9);
        assert_eq!(cfg.common.auth.hs256_secrets, ["new-key", "old-key"]);
        assert_eq!(cfg.common.nats.url, NatsConfig::default().url, "default kept");
        assert!(load("sla-monitor", &Svc::default(), Some(&dir.join("nope.toml"))).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
