//! opd-case's migrations.

use lapor_events::migration::{EventTables, create_table};
use sea_orm_migration::prelude::*;

mod v1;
mod v3;
mod v4;

/// opd-case's migrator.
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(EventTables),
            Box::new(M0001Cases),
            Box::new(M0002Transfers),
            Box::new(M0003FollowUps),
            Box::new(M0004Dialogue),
            Box::new(lapor_events::calendar::CalendarTable),
            Box::new(lapor_events::migration::OutboxUnsentIndex),
        ]
    }
}

struct M0001Cases;

impl MigrationName for M0001Cases {
    fn name(&self) -> &str {
        "m0001_cases"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0001Cases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, v1::case::Entity).await
    }
}

struct M0002Transfers;

impl MigrationName for M0002Transfers {
    fn name(&self) -> &str {
        "m0002_case_transfers"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0002Transfers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for mut c in [
            ColumnDef::new(Alias::new("transferred_at"))
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Alias::new("transfer_reason"))
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Alias::new("transferred_by"))
                .string()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("cases"))
                        .add_column(&mut c)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

struct M0003FollowUps;

impl MigrationName for M0003FollowUps {
    fn name(&self) -> &str {
        "m0003_follow_ups"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0003FollowUps {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("cases"))
                    .add_column(
                        ColumnDef::new(Alias::new("last_follow_up_at"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        create_table(manager, v3::follow_up::Entity).await
    }
}

struct M0004Dialogue;

impl MigrationName for M0004Dialogue {
    fn name(&self) -> &str {
        "m0004_dialogue"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for M0004Dialogue {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ts = |n: &str| {
            ColumnDef::new(Alias::new(n))
                .timestamp_with_time_zone()
                .null()
                .to_owned()
        };
        let text = |n: &str| ColumnDef::new(Alias::new(n)).string().null().to_owned();
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for mut c in [
            text("assignee"),
            ts("due_at"),
            ts("info_requested_at"),
            text("reply_pending_by"),
            ts("last_reply_at"),
            ts("auto_close_at"),
            ts("closed_at"),
            text("closed_by"),
            ColumnDef::new(Alias::new("rating")).integer().null().to_owned(),
            text("rating_comment"),
            ts("rated_at"),
            ts("ombudsman_requested_at"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("cases"))
                        .add_column(&mut c)
                        .to_owned(),
                )
                .await?;
        }
        for (name, col) in [
            ("idx_cases_auto_close_at", "auto_close_at"),
            ("idx_cases_due_at", "due_at"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Alias::new("cases"))
                        .col(Alias::new(col))
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        create_table(manager, v4::timeline::Entity).await?;
        create_table(manager, v4::credential::Entity).await?;
        create_table(manager, v4::attachment::Entity).await?;
        create_table(manager, v4::support::Entity).await?;
        // Follow-ups become timeline entries (public), keeping their ids, then their table goes.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO timeline (id, case_id, report_id, opd_id, kind, visibility, author, text, at) \
                 SELECT f.id, f.case_id, c.report_id, f.opd_id, 'FOLLOW_UP', 'PUBLIC', f.posted_by, f.text, f.posted_at \
                 FROM follow_ups f JOIN cases c ON c.id = f.case_id",
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("follow_ups")).to_owned())
            .await
    }
}
