//! Shared plumbing every lapor service is built on: configuration, telemetry, authentication,
//! database connection and migration, the gRPC server scaffold with health and reflection,
//! graceful shutdown and the common error-to-Status helpers.

pub mod auth;
pub mod blobs;
pub mod config;
pub mod db;
pub mod metrics;
pub mod paging;
pub mod reporter;
pub mod server;
pub mod shutdown;
pub mod status;
pub mod telemetry;

pub use auth::{Authenticator, Caller, Role};
pub use config::CommonConfig;
