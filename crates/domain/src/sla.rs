//! SLA policy: how many working days each step may take. Every number is a setting; the defaults
//! are DOMAIN.md's table.

use serde::{Deserialize, Serialize};

use crate::content::ReportKind;

/// A step of the handling that has a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The operator verifies and dispatches after submission.
    Verification,
    /// The OPD posts its first follow-up after dispatch.
    FirstFollowUp,
    /// The OPD completes the report (Selesai) after dispatch.
    Completion,
}

impl Step {
    /// All steps, in handling order.
    pub const ALL: [Step; 3] = [Self::Verification, Self::FirstFollowUp, Self::Completion];

    /// Stable storage code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Verification => "VERIFICATION",
            Self::FirstFollowUp => "FIRST_FOLLOW_UP",
            Self::Completion => "COMPLETION",
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

/// How a step's allowance is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Working days: due at the end of the n-th working day after the start's local day.
    WorkingDays,
    /// Working hours: office hours of working days only, from the start (or the next opening).
    WorkingHours,
    /// Calendar days: due at the end of the n-th day after the start's local day.
    CalendarDays,
}

impl Unit {
    /// Stable storage code.
    pub fn code(self) -> &'static str {
        match self {
            Self::WorkingDays => "WORKING_DAYS",
            Self::WorkingHours => "WORKING_HOURS",
            Self::CalendarDays => "CALENDAR_DAYS",
        }
    }
}

/// The time a step may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Allowance {
    /// How many units.
    pub amount: u32,
    /// Which unit.
    pub unit: Unit,
}

impl Allowance {
    /// `n` working days.
    pub fn working_days(n: u32) -> Self {
        Self {
            amount: n,
            unit: Unit::WorkingDays,
        }
    }
}

/// A policy rule overriding the default allowance of a step, for a kind (and, for complaints, the
/// examination sub-type) or for every kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// The step.
    pub step: Step,
    /// Only this kind (`None`: every kind).
    #[serde(default)]
    pub kind: Option<ReportKind>,
    /// Only complaints needing (true) or not needing (false) examination (`None`: both).
    #[serde(default)]
    pub needs_examination: Option<bool>,
    /// The allowance.
    pub amount: u32,
    /// Its unit.
    pub unit: Unit,
}

/// The SLA policy in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Whether Tunda (the report on hold with its reporter) stops the verification clock.
    pub pause_on_hold: bool,
    /// Whether the OPD's open question to the reporter stops its clocks.
    pub pause_on_question: bool,
    /// Overrides, most specific first wins (kind + sub-type, then kind, then any): for example a
    /// verification in 8 working hours, or an aspiration completed in 7 calendar days.
    pub rules: Vec<PolicyRule>,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        Self {
            verification_days: 3,
            first_follow_up_days: 5,
            completion: CompletionDays::default(),
            reply_window_days: 10,
            ombudsman_days: 60,
            pause_on_hold: true,
            pause_on_question: true,
            rules: Vec::new(),
        }
    }
}

impl SlaPolicy {
    /// Returns the working days allowed for `step` by the day fields (completion: a complaint
    /// not needing examination).
    pub fn working_days(&self, step: Step) -> u32 {
        match step {
            Step::Verification => self.verification_days,
            Step::FirstFollowUp => self.first_follow_up_days,
            Step::Completion => self.completion.pengaduan,
        }
    }

    /// Returns the allowance of `step` for a report of `kind`: the most specific matching rule,
    /// else the day fields (DOMAIN.md's table by default).
    pub fn allowance(&self, step: Step, kind: ReportKind, needs_examination: bool) -> Allowance {
        let specificity = |r: &PolicyRule| {
            let exam = match (r.needs_examination, kind) {
                (None, _) => Some(0),
                (Some(e), ReportKind::Pengaduan) if e == needs_examination => Some(1),
                _ => None,
            };
            let k = match r.kind {
                None => Some(0),
                Some(k) if k == kind => Some(2),
                _ => None,
            };
            Some(exam? + k?)
        };
        self.rules
            .iter()
            .filter(|r| r.step == step)
            .filter_map(|r| specificity(r).map(|s| (s, r)))
            .max_by_key(|(s, _)| *s)
            .map_or_else(
                || {
                    Allowance::working_days(match step {
                        Step::Completion => self.completion_days(kind, needs_examination),
                        other => self.working_days(other),
                    })
                },
                |(_, r)| Allowance {
                    amount: r.amount,
                    unit: r.unit,
                },
            )
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
