//! Auto-close: a case in Proses whose last OPD message (follow-up or question) is older than the
//! reporter's reply window, with no reply waiting, becomes Selesai by the system. Driven by the
//! stored `auto_close_at` of each case (indexed), never by an in-memory timer, so a restart loses
//! nothing; each close re-checks the case under a row lock and through the lifecycle, so it
//! happens exactly once however many replicas sweep.

use lapor_domain::lifecycle::Closer;
use lapor_domain::{Command, Status, TransitionError, decide};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::core::{Core, last_opd_message, lifecycle};
use crate::entities::case;
use crate::error::Error;

/// Cases closed per sweep at most (the rest wait for the next one).
const BATCH: u64 = 200;

/// Closes every case due at the core's `now`; returns how many it closed.
pub async fn sweep(core: &Core) -> Result<usize, Error> {
    let now = core.now();
    let due = case::Entity::find()
        .select_only()
        .column(case::Column::Id)
        .filter(case::Column::AutoCloseAt.lt(now))
        .filter(case::Column::Status.eq(Status::InProgress.code()))
        .filter(case::Column::ReplyPendingBy.is_null())
        .filter(case::Column::TransferredAt.is_null())
        .order_by_asc(case::Column::AutoCloseAt)
        .limit(BATCH)
        .into_tuple::<uuid::Uuid>()
        .all(&core.db)
        .await?;
    let mut closed = 0;
    for id in due {
        if close_one(core, id, now).await? {
            closed += 1;
        }
    }
    Ok(closed)
}

async fn close_one(core: &Core, id: uuid::Uuid, now: chrono::DateTime<chrono::Utc>) -> Result<bool, Error> {
    let txn = lapor_platform::db::begin_write(&core.db).await?;
    let Some(row) = case::Entity::find_by_id(id).lock_exclusive().one(&txn).await? else {
        return Ok(false);
    };
    match decide(&lifecycle(&row)?, &Command::AutoClose, &core.ctx(now).view()) {
        Ok(_) => {}
        Err(TransitionError::NotDue(_)) => {
            // The calendar changed since the due time was stored: store the new one.
            if let Some(from) = last_opd_message(&row) {
                let mut m: case::ActiveModel = row.into();
                m.auto_close_at = sea_orm::Set(Some(core.auto_close_at(from)));
                sea_orm::ActiveModelTrait::update(m, &txn).await?;
                txn.commit().await?;
            }
            return Ok(false);
        }
        // Changed meanwhile (replied, closed, transferred): nothing to do.
        Err(_) => return Ok(false),
    }
    crate::reporter::close(core, &txn, &row, Closer::System, now).await?;
    txn.commit().await?;
    core.committed();
    Ok(true)
}
