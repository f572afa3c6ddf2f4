//! Opening a case when a report is dispatched.

use chrono::Utc;
use lapor_domain::events::{CaseOpened, Envelope, Event};
use lapor_domain::{CaseId, EventId, Status};
use lapor_events::{Bus, Handler, HandlerError, enqueue};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, Set};
use uuid::Uuid;

use crate::entities::case;

/// The consumer of `ReportDispatched`.
pub struct DispatchedHandler {
    pub bus: Bus,
}

impl Handler for DispatchedHandler {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let Event::ReportDispatched(e) = &env.event else {
            return Err(HandlerError::Permanent(format!(
                "opd-case does not consume {}",
                env.event.type_name()
            )));
        };
        let case_id = Uuid::now_v7();
        let now = Utc::now();
        case::ActiveModel {
            id: Set(case_id),
            report_id: Set(e.report_id.as_uuid()),
            tracking_id: Set(e.tracking_id.to_string()),
            opd_id: Set(e.opd_id.to_string()),
            kind: Set(e.content.kind.code().to_owned()),
            title: Set(e.content.title.clone()),
            body: Set(e.content.body.clone()),
            category_id: Set(e.content.category.as_ref().map(ToString::to_string)),
            location: Set(e
                .content
                .location
                .as_ref()
                .and_then(|l| serde_json::to_value(l).ok())),
            anonim: Set(e.content.privacy.anonim),
            rahasia: Set(e.content.privacy.rahasia),
            reporter_ref: Set(e.reporter_ref.as_uuid()),
            status: Set(Status::Dispatched.code().to_owned()),
            submitted_at: Set(e.submitted_at),
            opened_at: Set(now),
            transferred_at: Set(None),
            transfer_reason: Set(None),
            transferred_by: Set(None),
            last_follow_up_at: Set(None),
        }
        .insert(txn)
        .await?;
        let opened = Envelope {
            id: EventId::from_uuid(Uuid::now_v7()),
            occurred_at: now,
            event: Event::CaseOpened(CaseOpened {
                case_id: CaseId::from_uuid(case_id),
                report_id: e.report_id,
                tracking_id: e.tracking_id.clone(),
                opd_id: e.opd_id.clone(),
                kind: e.content.kind,
                reporter_ref: e.reporter_ref,
                opened_at: now,
            }),
        };
        enqueue(txn, &self.bus, &opened).await?;
        tracing::info!(report_id = %e.report_id, opd_id = %e.opd_id, case_id = %case_id, "case opened");
        Ok(())
    }
}
