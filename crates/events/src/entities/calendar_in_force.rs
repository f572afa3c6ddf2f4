//! `calendar_in_force`: the newest calendar version a service has seen announced (one row), so
//! that a restart keeps it instead of falling back to the configuration file.

use sea_orm::entity::prelude::*;

/// The calendar in force.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calendar_in_force")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Version number announced by sla-monitor.
    pub version: i64,
    /// The calendar, as JSON of `CalendarSpec`.
    pub spec: String,
    /// Why it changed.
    pub reason: String,
    /// Who changed it.
    pub changed_by: String,
    /// When the change was announced.
    pub changed_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
