//! Routing's errors and their one mapping to gRPC status.

use lapor_domain::Violations;
use lapor_events::HandlerError;
use sea_orm::DbErr;
use tonic::Status;

/// What can go wrong in routing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    InvalidArgument(Violations),
    /// No such report or OPD.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The report's status does not allow this.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            Error::InvalidArgument(v) => lapor_platform::status::invalid_argument(&v),
            Error::NotFound(m) => Status::not_found(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::PermissionDenied(m) => Status::permission_denied(m),
            Error::Db(e) => lapor_platform::status::internal(&e),
        }
    }
}

impl From<Error> for HandlerError {
    fn from(e: Error) -> HandlerError {
        match e {
            Error::Db(e) => HandlerError::Transient(e.to_string()),
            other => HandlerError::Permanent(other.to_string()),
        }
    }
}
