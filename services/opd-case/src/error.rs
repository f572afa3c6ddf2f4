//! opd-case's errors and their one mapping to gRPC status.

use lapor_domain::{TransitionError, Violations};
use sea_orm::DbErr;
use tonic::Status;

/// What can go wrong in opd-case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    InvalidArgument(Violations),
    /// No such case visible to the caller (another OPD's case looks exactly like a missing one;
    /// a wrong reporter token looks exactly like an unknown tracking id).
    #[error("not found")]
    NotFound,
    /// The case is not in a state that allows this.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The upload is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// Stored data that should not be possible.
    #[error("internal: {0}")]
    Internal(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl From<TransitionError> for Error {
    fn from(e: TransitionError) -> Self {
        Error::FailedPrecondition(e.to_string())
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            Error::InvalidArgument(v) => lapor_platform::status::invalid_argument(&v),
            Error::NotFound => Status::not_found("no such case"),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::PermissionDenied(m) => Status::permission_denied(m),
            Error::TooLarge(m) => Status::resource_exhausted(m),
            Error::Internal(m) => Status::internal(m),
            Error::Db(e) => lapor_platform::status::internal(&e),
        }
    }
}

/// Shorthand for a single-field INVALID_ARGUMENT.
pub fn invalid(field: &str, problem: impl Into<String>) -> Error {
    let mut v = Violations::new();
    v.add(field, problem);
    Error::InvalidArgument(v)
}
