//! SLA monitor's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

use crate::entities::deadline;

/// SLA monitor's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Deadlines),
            Box::new(M0002Pauses),
            Box::new(M0003PauseSteps),
        ]
    }
}

struct M0001Deadlines;

impl MigrationName for M0001Deadlines {
    fn name(&self) -> &str {
        "m0001_deadlines"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0001Deadlines {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, deadline::Entity).await
    }
}

struct M0002Pauses;

impl MigrationName for M0002Pauses {
    fn name(&self) -> &str {
        "m0002_pauses"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0002Pauses {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v2::pause::Entity).await
    }
}

struct M0003PauseSteps;

impl MigrationName for M0003PauseSteps {
    fn name(&self) -> &str {
        "m0003_pause_steps"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0003PauseSteps {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Every pause before this migration was a Tunda, which stops the verification clock.
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("pauses"))
                    .add_column(
                        ColumnDef::new(Alias::new("step"))
                            .string()
                            .not_null()
                            .default("VERIFICATION"),
                    )
                    .to_owned(),
            )
            .await
    }
}

/// Frozen snapshot of `pauses` as m0002 created it. Never edit.
mod v2 {
    /// `pauses`.
    pub mod pause {
        use sea_orm::entity::prelude::*;

        /// One pause.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "pauses")]
        pub struct Model {
            /// `report_id:held_at` (microseconds).
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            /// Report.
            #[sea_orm(indexed)]
            pub report_id: Uuid,
            /// When the hold began.
            pub held_at: DateTimeUtc,
            /// When the reporter completed it.
            pub resumed_at: Option<DateTimeUtc>,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}
