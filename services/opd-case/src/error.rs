//! opd-case's errors and their one mapping to gRPC status.

use lapor_domain::Violations;
use sea_orm::DbErr;
use tonic::Status;

/// What can go wrong in opd-case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    InvalidArgument(Violations),
    /// No such case visible to the caller (another OPD's case looks exactly like a missing one).
    #[error("not found")]
    NotFound,
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e {
            Error::InvalidArgument(v) => lapor_platform::status::invalid_argument(&v),
            Error::NotFound => Status::not_found("no such case"),
            Error::Db(e) => lapor_platform::status::internal(&e),
        }
    }
}
