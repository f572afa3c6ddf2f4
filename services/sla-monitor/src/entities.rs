//! SLA monitor's tables.

/// `facts`: what each event said that deadlines depend on, one row per event (the history every
/// deadline is computed from).
pub mod fact {
    use sea_orm::entity::prelude::*;

    /// A recorded fact.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "facts")]
    pub struct Model {
        /// Id of the event that carried it (a redelivery adds nothing).
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        /// Report.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// The instant the fact is about.
        pub at: DateTimeUtc,
        /// Fact type (`submitted`, `dispatched`, ...).
        pub kind: String,
        /// The fact as JSON (`lapor_domain::deadlines::Fact`).
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// When it was recorded here.
        pub recorded_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `deadlines`: the computed deadlines, one per report, step and span. Derived data: always
/// equal to `compute(facts)` for open deadlines; a deadline's due time is frozen once it is met
/// or its span ended.
pub mod deadline {
    use sea_orm::entity::prelude::*;

    /// A deadline.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deadlines")]
    pub struct Model {
        /// `report_id:STEP:span`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Report id.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// Step code.
        pub step: String,
        /// 0 for verification, else the OPD span (1-based).
        pub span: i32,
        /// Accountable OPD; NULL for the operator's steps.
        pub opd_id: Option<String>,
        /// When the clock started.
        pub started_at: DateTimeUtc,
        /// When the step is due (indexed by `idx_deadlines_open_due` and `idx_deadlines_closed_due`).
        pub due_at: DateTimeUtc,
        /// When the step was done.
        pub met_at: Option<DateTimeUtc>,
        /// When the OPD's span ended by a transfer before the step was done.
        pub ended_at: Option<DateTimeUtc>,
        /// Allowance amount.
        pub allowance: i32,
        /// Allowance unit code.
        pub unit: String,
        /// Pauses that count, JSON (`Vec<lapor_domain::deadlines::Pause>`).
        #[sea_orm(column_type = "Text")]
        pub pauses: String,
        /// Whether a pause is open now (the clock stands still).
        pub paused: bool,
        /// Fingerprint of the calendar and policy that computed it (a later recompute that gives
        /// the same deadline does not rewrite the row).
        pub settings: String,
        /// When this row was last computed.
        pub computed_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `deadline_changes`: every time an open deadline's due time moved, and why.
pub mod change {
    use sea_orm::entity::prelude::*;

    /// One move.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deadline_changes")]
    pub struct Model {
        /// Change id (UUIDv7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Deadline.
        pub deadline_id: String,
        /// Report.
        #[sea_orm(indexed)]
        pub report_id: Uuid,
        /// Due time before.
        pub from_due: DateTimeUtc,
        /// Due time after.
        pub to_due: DateTimeUtc,
        /// Why (an event, or a calendar/policy change with what changed).
        #[sea_orm(column_type = "Text")]
        pub reason: String,
        /// When.
        pub at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `settings`: the calendar and policy the stored deadlines were computed with (one row).
pub mod settings {
    use sea_orm::entity::prelude::*;

    /// The settings in force.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settings")]
    pub struct Model {
        /// Always 1.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        /// SHA-256 of the canonical JSON of calendar and policy.
        pub fingerprint: String,
        /// Calendar, JSON.
        #[sea_orm(column_type = "Text")]
        pub calendar: String,
        /// Policy, JSON.
        #[sea_orm(column_type = "Text")]
        pub policy: String,
        /// When they came into force here.
        pub since: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `alerts`: each warning, breach and escalation raised, once per deadline (and level).
pub mod alert {
    use sea_orm::entity::prelude::*;

    /// One alert.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "alerts")]
    pub struct Model {
        /// `deadline_id:KIND:level`: the key that makes each alert happen once.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Deadline.
        #[sea_orm(indexed)]
        pub deadline_id: String,
        /// `WARNING`, `BREACH` or `ESCALATION`.
        pub kind: String,
        /// Escalation level (0 otherwise).
        pub level: i32,
        /// Due time when raised.
        pub due_at: DateTimeUtc,
        /// When raised.
        pub at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `ledger`: the append-only, hash-chained record of breaches (and, later, monthly results).
pub mod ledger {
    use sea_orm::entity::prelude::*;

    /// One entry.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger")]
    pub struct Model {
        /// 1, 2, 3, ... without gaps.
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        /// When appended (microsecond precision).
        pub at: DateTimeUtc,
        /// Entry kind (`breach`).
        pub kind: String,
        /// The entry, canonical JSON (sorted keys).
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// Hash of the previous entry (64 zeros for the first).
        pub prev_hash: String,
        /// SHA-256 over prev_hash, seq, at, kind and body.
        pub hash: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `calendar_versions`: every version of the city calendar, with who changed it and why.
pub mod calendar_version {
    use sea_orm::entity::prelude::*;

    /// One version.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "calendar_versions")]
    pub struct Model {
        /// 1, 2, 3, ...
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        /// The calendar, JSON (`CalendarSpec`).
        #[sea_orm(column_type = "Text")]
        pub spec: String,
        /// Why it changed (a decree, an import, the configuration file).
        #[sea_orm(column_type = "Text")]
        pub reason: String,
        /// Who changed it.
        pub changed_by: String,
        /// When.
        pub changed_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
