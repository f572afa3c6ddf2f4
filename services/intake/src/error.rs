//! Intake's errors and their one mapping to gRPC status.

use lapor_domain::Violations;
use sea_orm::DbErr;
use tonic::Status;

/// What can go wrong in intake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; each field says why.
    #[error("invalid request: {0}")]
    InvalidArgument(Violations),
    /// Nothing matches (also for a wrong access token: the two are indistinguishable on purpose).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
    /// Anything else unexpected.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            Error::InvalidArgument(v) => lapor_platform::status::invalid_argument(&v),
            Error::NotFound(what) => Status::not_found(what),
            Error::Db(e) => {
                if matches!(e, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) {
                    Status::unavailable("database unavailable, retry with the same idempotency key")
                } else {
                    lapor_platform::status::internal(&e)
                }
            }
            Error::Internal(m) => lapor_platform::status::internal(&m),
        }
    }
}
