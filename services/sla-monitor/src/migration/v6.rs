//! Frozen snapshot of the table as migration m0006 created it. Never edit.

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
