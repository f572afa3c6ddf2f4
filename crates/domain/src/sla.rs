//! SLA policy: how many working days each step may take. Every number is a setting; the defaults
//! are DOMAIN.md's table.

use serde::{Deserialize, Serialize};

use crate::content::ReportKind;

/// A step of the handling that has a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Step {
    /// The operator verifies and dispatches after submission.
    Verification,
    /// The OPD posts its first follow-up after dispatch.
    FirstFollowUp,
}

impl Step {
    /// All steps, in handling order.
    pub const ALL: [Step; 2] = [Self::Verification, Self::FirstFollowUp];

    /// Stable storage code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Verification => "VERIFICATION",
            Self::FirstFollowUp => "FIRST_FOLLOW_UP",
        }
    }

    /// Parses a storage code.
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// Completion limits per kind, in working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompletionDays {
    /// Complaint not needing examination.
    pub pengaduan: u32,
    /// Complaint needing examination (berkadar pengawasan).
    pub pengaduan_examination: u32,
    /// Aspiration.
    pub aspirasi: u32,
    /// Information request.
    pub permintaan_informasi: u32,
    /// Extension allowed for an information request (UU 14/2008).
    pub permintaan_informasi_extension: u32,
}

impl Default for CompletionDays {
    fn default() -> Self {
        Self {
            pengaduan: 14,
            pengaduan_examination: 60,
            aspirasi: 5,
            permintaan_informasi: 10,
            permintaan_informasi_extension: 7,
        }
    }
}

/// The SLA policy in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlaPolicy {
    /// Working days for the operator to verify and dispatch.
    pub verification_days: u32,
    /// Working days for the OPD's first follow-up after dispatch.
    pub first_follow_up_days: u32,
    /// Completion limits.
    pub completion: CompletionDays,
    /// Working days the reporter has to reply before the system closes the report.
    pub reply_window_days: u32,
    /// Calendar days after which the Ombudsman take-over is offered.
    pub ombudsman_days: u32,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        Self {
            verification_days: 3,
            first_follow_up_days: 5,
            completion: CompletionDays::default(),
            reply_window_days: 10,
            ombudsman_days: 60,
        }
    }
}

impl SlaPolicy {
    /// Returns the working days allowed for `step`.
    pub fn working_days(&self, step: Step) -> u32 {
        match step {
            Step::Verification => self.verification_days,
            Step::FirstFollowUp => self.first_follow_up_days,
        }
    }

    /// Returns the completion limit for a kind, in working days.
    pub fn completion_days(&self, kind: ReportKind, needs_examination: bool) -> u32 {
        match (kind, needs_examination) {
            (ReportKind::Pengaduan, true) => self.completion.pengaduan_examination,
            (ReportKind::Pengaduan, false) => self.completion.pengaduan,
            (ReportKind::Aspirasi, _) => self.completion.aspirasi,
            (ReportKind::PermintaanInformasi, _) => self.completion.permintaan_informasi,
        }
    }
}
