//! Field-level validation errors, collected so that a caller learns every problem at once.

use std::fmt;

/// One invalid field: which field (dotted path as in the API) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Field path, e.g. `location.latitude`.
    pub field: String,
    /// Human-readable description of the problem.
    pub description: String,
}

/// A set of field violations; empty means valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(pub Vec<FieldViolation>);

impl Violations {
    /// Returns an empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation of `field`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Records the violation of a parse result, keeping the value when it parsed.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    /// Returns true when no violation was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns `Ok(())` when empty, otherwise the violations.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl std::error::Error for Violations {}

impl From<FieldViolation> for Violations {
    fn from(v: FieldViolation) -> Self {
        Violations(vec![v])
    }
}
