//! Following the city calendar. sla-monitor keeps the calendar's versions and announces each with
//! `CalendarChanged`; a service that counts working days (routing, opd-case) stores the newest
//! version it has seen in `calendar_in_force` and reads it through a [`LiveCalendar`]. One
//! replica receives each announcement (the durable consumer is shared); every replica picks the
//! stored version up within `refresh` (a primary-key read), so all replicas converge.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use lapor_domain::Calendar;
use lapor_domain::calendar::CalendarSpec;
use lapor_domain::events::{CalendarChanged, Envelope, Event};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, Set};
use sea_orm_migration::prelude::*;

use crate::consumer::{ConsumerSpec, Handler, HandlerError};
use crate::entities::calendar_in_force;
use crate::migration::create_table;

/// The calendar a service counts working days with, replaced when a newer version arrives.
#[derive(Debug)]
pub struct LiveCalendar {
    inner: RwLock<(u64, Arc<Calendar>)>,
}

impl LiveCalendar {
    /// A calendar at `version` (0: the configuration file's, before any announcement).
    pub fn new(version: u64, calendar: Calendar) -> Self {
        Self {
            inner: RwLock::new((version, Arc::new(calendar))),
        }
    }

    /// The calendar in force.
    pub fn get(&self) -> Arc<Calendar> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone()
    }

    /// Its version (0: the configuration file's).
    pub fn version(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }

    /// Puts `calendar` in force if `version` is newer than the one in force; true if it was.
    fn offer(&self, version: u64, calendar: Calendar) -> bool {
        let mut g = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if version <= g.0 {
            return false;
        }
        *g = (version, Arc::new(calendar));
        true
    }

    /// At start: the stored version if there is one, else the configuration's `spec`.
    pub async fn load(db: &impl ConnectionTrait, spec: &CalendarSpec) -> anyhow::Result<Self> {
        let live = Self::new(
            0,
            Calendar::from_spec(spec).map_err(|e| anyhow::anyhow!("calendar: {e}"))?,
        );
        live.refresh(db).await?;
        Ok(live)
    }

    /// Puts the stored version in force if it is newer; true if it was.
    pub async fn refresh(&self, db: &impl ConnectionTrait) -> anyhow::Result<bool> {
        let Some(row) = calendar_in_force::Entity::find_by_id(1).one(db).await? else {
            return Ok(false);
        };
        let version = <u64 as TryFrom<i64>>::try_from(row.version).unwrap_or(0);
        if version <= self.version() {
            return Ok(false);
        }
        let spec: CalendarSpec = serde_json::from_str(&row.spec)?;
        let calendar = Calendar::from_spec(&spec).map_err(|e| anyhow::anyhow!("stored calendar: {e}"))?;
        let newer = self.offer(version, calendar);
        if newer {
            tracing::info!(version, "calendar version in force");
        }
        Ok(newer)
    }
}

/// Stores announced calendar versions (newest wins, whatever the delivery order) and puts them
/// in force.
pub struct CalendarFollower {
    /// The calendar to update.
    pub live: Arc<LiveCalendar>,
}

impl CalendarFollower {
    /// The durable consumer of `service` for calendar announcements.
    pub fn spec(service: &str) -> ConsumerSpec {
        ConsumerSpec {
            durable: format!("{service}-calendar-changed"),
            filter_suffix: crate::subjects::CALENDAR_CHANGED,
        }
    }
}

/// Stores `c` unless a version as new is stored already; true if stored.
async fn store(txn: &DatabaseTransaction, c: &CalendarChanged, at: DateTime<Utc>) -> Result<bool, DbErr> {
    let version = <i64 as TryFrom<u64>>::try_from(c.version)
        .map_err(|_| DbErr::Custom("calendar version too large".into()))?;
    if let Some(row) = calendar_in_force::Entity::find_by_id(1).one(txn).await?
        && row.version >= version
    {
        return Ok(false);
    }
    let spec = serde_json::to_string(&c.calendar).map_err(|e| DbErr::Custom(e.to_string()))?;
    calendar_in_force::Entity::insert(calendar_in_force::ActiveModel {
        id: Set(1),
        version: Set(version),
        spec: Set(spec),
        reason: Set(c.reason.clone()),
        changed_by: Set(c.changed_by.clone()),
        changed_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(calendar_in_force::Column::Id)
            .update_columns([
                calendar_in_force::Column::Version,
                calendar_in_force::Column::Spec,
                calendar_in_force::Column::Reason,
                calendar_in_force::Column::ChangedBy,
                calendar_in_force::Column::ChangedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(true)
}

impl Handler for CalendarFollower {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let Event::CalendarChanged(c) = &env.event else {
            return Ok(());
        };
        // The codec validated the calendar; a failure here is a bug, not a retryable state.
        let calendar = Calendar::from_spec(&c.calendar)
            .map_err(|e| HandlerError::Permanent(format!("calendar version {}: {e}", c.version)))?;
        if store(txn, c, env.occurred_at)
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?
        {
            // Put in force now; if the commit failed, the redelivery stores it again.
            self.live.offer(c.version, calendar);
            tracing::info!(version = c.version, changed_by = %c.changed_by, "calendar version in force");
        }
        Ok(())
    }
}

/// Creates `calendar_in_force`. Services that follow the calendar list it in their migrator.
#[derive(Debug)]
pub struct CalendarTable;

impl MigrationName for CalendarTable {
    fn name(&self) -> &str {
        "m0100_calendar_in_force"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for CalendarTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager, calendar_in_force::Entity).await
    }
}
