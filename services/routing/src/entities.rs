//! Routing's tables.

/// `queue_reports`: every report routing has seen, with its routing state.
pub mod queue_report {
    use sea_orm::entity::prelude::*;

    /// A report as routing holds it.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "queue_reports")]
    pub struct Model {
        /// Report id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub report_id: Uuid,
        /// Tracking id.
        pub tracking_id: String,
        /// Kind code.
        pub kind: String,
        /// Title.
        pub title: String,
        /// Body.
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// Category id.
        pub category_id: Option<String>,
        /// Incident date.
        pub incident_date: Option<Date>,
        /// Location as JSON.
        pub location: Option<Json>,
        /// Anonymous.
        pub anonim: bool,
        /// Confidential.
        pub rahasia: bool,
        /// Pseudonymous reporter id.
        pub reporter_ref: Uuid,
        /// Submission time.
        pub submitted_at: DateTimeUtc,
        /// Status code.
        #[sea_orm(indexed)]
        pub status: String,
        /// Verification deadline.
        #[sea_orm(indexed)]
        pub verification_due_at: DateTimeUtc,
        /// Why it is waiting for the operator.
        pub routing_note: String,
        /// OPD it was dispatched to.
        pub opd_id: Option<String>,
        /// When.
        pub dispatched_at: Option<DateTimeUtc>,
        /// Rule that dispatched it.
        pub rule_id: Option<String>,
        /// Operator who dispatched it.
        pub dispatched_by: Option<String>,
        /// Complaint sub-type set at verification.
        pub needs_examination: bool,
        /// When the operator verified it.
        pub verified_at: Option<DateTimeUtc>,
        /// Who verified it.
        pub verified_by: Option<String>,
        /// The reporter's title, when the operator rewrote it.
        pub original_title: Option<String>,
        /// What the reporter must complete (Tunda).
        pub hold_reason: Option<String>,
        /// Since when it is on hold.
        pub hold_since: Option<DateTimeUtc>,
        /// Why it was declared not the city's authority or archived.
        pub close_reason: Option<String>,
        /// OPD that sent it back with a transfer request.
        pub returned_from_opd: Option<String>,
        /// That OPD's reason.
        pub return_reason: Option<String>,
        /// Optimistic-concurrency version, bumped by every decision.
        pub version: i64,
        /// Version of the rule that dispatched it.
        pub rule_version: Option<i64>,
        /// The original this report duplicates.
        pub duplicate_of: Option<Uuid>,
        /// Latitude of the map point (copied from `location`; m0005).
        pub latitude: Option<f64>,
        /// Longitude of the map point (copied from `location`; m0005).
        pub longitude: Option<f64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `report_history`: every decision on a report (the audit trail and the OPD spans).
pub mod report_history {
    use sea_orm::entity::prelude::*;

    /// One decision.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "report_history")]
    pub struct Model {
        /// Insertion order.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Report.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// When.
        pub at: DateTimeUtc,
        /// Actor subject (`rule:<id>` for a routing rule).
        pub actor: String,
        /// Actor role.
        pub role: String,
        /// Action name.
        pub action: String,
        /// Status before.
        pub from_status: String,
        /// Status after.
        pub to_status: String,
        /// OPD concerned.
        pub opd_id: Option<String>,
        /// Reason given.
        pub reason: Option<String>,
        /// Changed fields as JSON `{"field": [before, after]}`.
        pub changes: Json,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `routing_rules`: the rules in force, one row per rule id.
pub mod routing_rule {
    use sea_orm::entity::prelude::*;

    /// A rule in force.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_rules")]
    pub struct Model {
        /// Rule id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The `RuleSpec` as JSON.
        pub spec: Json,
        /// Current version (1 for a new rule).
        pub version: i64,
        /// When this version was made.
        pub updated_at: DateTimeUtc,
        /// Who made it.
        pub updated_by: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `routing_rule_versions`: every version of every rule, never rewritten.
pub mod routing_rule_version {
    use sea_orm::entity::prelude::*;

    /// One version of a rule.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_rule_versions")]
    pub struct Model {
        /// Insertion order.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Rule id.
        #[sea_orm(indexed)]
        pub rule_id: String,
        /// Version number.
        pub version: i64,
        /// `created`, `updated` or `deleted`.
        pub change: String,
        /// The `RuleSpec` as JSON (the last one, for a deletion).
        pub spec: Json,
        /// When.
        pub changed_at: DateTimeUtc,
        /// Who.
        pub changed_by: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `duplicate_pairs`: possible duplicates, one row per pair (m0007). Either report of a pair
/// lists the other as its candidate.
pub mod duplicate_pair {
    use sea_orm::entity::prelude::*;

    /// One pair: a report and one stored before it that it may duplicate.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "duplicate_pairs")]
    pub struct Model {
        /// The report whose arrival found the pair (the one stored later; for pairs carried over
        /// from `duplicate_candidates` by m0007, either).
        #[sea_orm(primary_key, auto_increment = false)]
        pub report_id: Uuid,
        /// The other report.
        #[sea_orm(primary_key, auto_increment = false, indexed)]
        pub candidate_id: Uuid,
        /// `report_id`'s tracking id.
        pub report_tracking_id: String,
        /// `candidate_id`'s tracking id.
        pub candidate_tracking_id: String,
        /// 0-1.
        pub score: f64,
        /// Why.
        pub reason: String,
        /// When found.
        pub found_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
