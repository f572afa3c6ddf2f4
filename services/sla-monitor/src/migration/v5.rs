//! Frozen snapshot of the tables as migration m0005 created them. Never edit.

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
