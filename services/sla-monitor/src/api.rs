//! The SlaService gRPC API.

use chrono::Utc;
use lapor_domain::{ReportId, Step};
use lapor_events::codec::ts;
use lapor_platform::{Caller, Role};
use lapor_proto::sla::v1::{self as pb, sla_service_server::SlaService};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use tonic::{Request, Response, Status};

use crate::entities::deadline;

/// The API state.
pub struct Api {
    pub db: DatabaseConnection,
    pub calendar: lapor_domain::Calendar,
}

fn state(d: &deadline::Model, paused: bool, now: chrono::DateTime<Utc>) -> pb::DeadlineState {
    match d.met_at {
        None if paused => pb::DeadlineState::Paused,
        Some(m) if m <= d.due_at => pb::DeadlineState::Met,
        Some(_) => pb::DeadlineState::MetLate,
        None if now > d.due_at => pb::DeadlineState::Breached,
        None => pb::DeadlineState::Open,
    }
}

#[tonic::async_trait]
impl SlaService for Api {
    async fn list_deadlines(
        &self,
        req: Request<pb::ListDeadlinesRequest>,
    ) -> Result<Response<pb::ListDeadlinesResponse>, Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[
            Role::Operator,
            Role::Supervisor,
            Role::Auditor,
            Role::Service,
            Role::OpdOfficer,
        ])?;
        let id: ReportId = req
            .get_ref()
            .report_id
            .parse()
            .map_err(|e: lapor_domain::ids::IdError| {
                lapor_platform::status::invalid_field("report_id", e.to_string())
            })?;
        let mut q = deadline::Entity::find().filter(deadline::Column::ReportId.eq(id.as_uuid()));
        if caller.role == Role::OpdOfficer {
            let opd = caller.opd.as_ref().map(|o| o.to_string()).unwrap_or_default();
            q = q.filter(deadline::Column::OpdId.eq(opd));
        }
        // Deadlines and pauses from one snapshot, so a due date and the pause that moved it are
        // never seen half-updated.
        let internal = |e: sea_orm::DbErr| lapor_platform::status::internal(&e);
        let txn = if self.db.get_database_backend() == sea_orm::DbBackend::Postgres {
            self.db
                .begin_with_config(
                    Some(sea_orm::IsolationLevel::RepeatableRead),
                    Some(sea_orm::AccessMode::ReadOnly),
                )
                .await
        } else {
            self.db.begin().await
        }
        .map_err(internal)?;
        let rows = q
            .order_by_asc(deadline::Column::StartedAt)
            .order_by_asc(deadline::Column::Id)
            .all(&txn)
            .await
            .map_err(internal)?;
        let pauses = crate::entities::pause::Entity::find()
            .filter(crate::entities::pause::Column::ReportId.eq(id.as_uuid()))
            .order_by_asc(crate::entities::pause::Column::HeldAt)
            .all(&txn)
            .await
            .map_err(internal)?;
        txn.commit().await.map_err(internal)?;
        let now = Utc::now();
        let deadlines = rows
            .iter()
            .map(|d| pb::Deadline {
                report_id: d.report_id.to_string(),
                step: match Step::from_code(&d.step) {
                    Some(Step::Verification) => pb::Step::Verification,
                    Some(Step::FirstFollowUp) => pb::Step::FirstFollowUp,
                    Some(Step::Completion) => pb::Step::Completion,
                    None => pb::Step::Unspecified,
                } as i32,
                opd_id: d.opd_id.clone().unwrap_or_default(),
                started_at: Some(ts(d.started_at)),
                due_at: Some(ts(d.due_at)),
                met_at: d.met_at.map(ts),
                state: state(
                    d,
                    pauses.iter().any(|p| p.step == d.step && p.resumed_at.is_none()),
                    now,
                ) as i32,
                pauses: pauses
                    .iter()
                    // Only the pauses that count: those of this step begun before it was met.
                    .filter(|p| p.step == d.step && d.met_at.is_none_or(|m| p.held_at < m))
                    .map(|p| pb::Pause {
                        held_at: Some(ts(p.held_at)),
                        resumed_at: p.resumed_at.map(ts),
                        working_days: crate::handler::paused_days(&self.calendar, p),
                    })
                    .collect(),
                working_days: u32::try_from(d.working_days).unwrap_or(0),
            })
            .collect();
        Ok(Response::new(pb::ListDeadlinesResponse { deadlines }))
    }
}
