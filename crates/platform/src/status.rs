//! Helpers for mapping errors to `tonic::Status` with rich error details. Each service keeps one
//! file that maps its own `Error` to a `Status` through these.

use lapor_domain::Violations;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// INVALID_ARGUMENT carrying every field violation as a `google.rpc.BadRequest` detail.
pub fn invalid_argument(v: &Violations) -> Status {
    let violations: Vec<FieldViolation> =
        v.0.iter()
            .map(|f| FieldViolation::new(f.field.clone(), f.description.clone()))
            .collect();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {v}"),
        ErrorDetails::with_bad_request(violations),
    )
}

/// INVALID_ARGUMENT for a single field.
pub fn invalid_field(field: &str, description: impl Into<String>) -> Status {
    let mut v = Violations::new();
    v.add(field, description);
    invalid_argument(&v)
}

/// Returns the field names of the BadRequest violations carried by a status (for tests and clients).
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|f| f.field).collect())
        .unwrap_or_default()
}

/// Optimistic concurrency: ABORTED unless the version in force is the one the edit is based on.
pub fn check_version(what: &str, in_force: u64, expected: u64) -> Result<(), Status> {
    if in_force == expected {
        Ok(())
    } else {
        Err(Status::aborted(format!(
            "the {what} changed meanwhile: version {in_force} is in force, not {expected}"
        )))
    }
}

/// INTERNAL with an opaque message; the cause is logged, never sent to the caller.
pub fn internal(cause: &dyn std::fmt::Display) -> Status {
    let id = uuid::Uuid::new_v4();
    tracing::error!(error_id = %id, error = %cause, "internal error");
    Status::internal(format!("internal error (id {id})"))
}
