//! Consumers: opening a case when a report is dispatched, and keeping the reporter's credential
//! (the hash of the access token) when a report is submitted.

use std::sync::Arc;

use lapor_domain::events::{CaseOpened, Envelope, Event};
use lapor_domain::{CaseId, Status};
use lapor_events::{Handler, HandlerError};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait, Set};
use uuid::Uuid;

use crate::core::{Core, Entry, SYSTEM_AUTHOR, Visibility, add_entry, kind};
use crate::entities::{case, credential};

/// The consumer of `ReportDispatched`.
pub struct DispatchedHandler {
    pub core: Arc<Core>,
}

impl Handler for DispatchedHandler {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let Event::ReportDispatched(e) = &env.event else {
            return Err(HandlerError::Permanent(format!(
                "opd-case does not consume {} here",
                env.event.type_name()
            )));
        };
        let case_id = Uuid::now_v7();
        let now = self.core.now();
        let row = case::ActiveModel {
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
            assignee: Set(None),
            // The OPD's clock starts at the dispatch, as in sla-monitor.
            due_at: Set(Some(self.core.answer_due(e.dispatched_at))),
            info_requested_at: Set(None),
            reply_pending_by: Set(None),
            last_reply_at: Set(None),
            auto_close_at: Set(None),
            closed_at: Set(None),
            closed_by: Set(None),
            rating: Set(None),
            rating_comment: Set(None),
            rated_at: Set(None),
            ombudsman_requested_at: Set(None),
        }
        .insert(txn)
        .await?;
        add_entry(
            txn,
            &row,
            Entry {
                kind: kind::OPENED,
                visibility: Visibility::Public,
                author: SYSTEM_AUTHOR,
                text: "",
                at: now,
                attachment_id: None,
            },
        )
        .await
        .map_err(|e| HandlerError::Transient(e.to_string()))?;
        self.core
            .emit(
                txn,
                now,
                Event::CaseOpened(CaseOpened {
                    case_id: CaseId::from_uuid(case_id),
                    report_id: e.report_id,
                    tracking_id: e.tracking_id.clone(),
                    opd_id: e.opd_id.clone(),
                    kind: e.content.kind,
                    reporter_ref: e.reporter_ref,
                    opened_at: now,
                }),
            )
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        tracing::info!(report_id = %e.report_id, opd_id = %e.opd_id, case_id = %case_id, "case opened");
        Ok(())
    }
}

/// The consumer of `ReportSubmitted`: keeps what lets the reporter prove ownership here.
pub struct CredentialHandler;

impl Handler for CredentialHandler {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        let Event::ReportSubmitted(e) = &env.event else {
            return Err(HandlerError::Permanent(format!(
                "opd-case does not consume {} here",
                env.event.type_name()
            )));
        };
        if e.access_token_hash.is_empty() {
            // From a producer that does not publish token hashes: the reporter cannot act here.
            tracing::warn!(report_id = %e.report_id, "submitted report without an access token hash");
            return Ok(());
        }
        credential::Entity::insert(credential::ActiveModel {
            report_id: Set(e.report_id.as_uuid()),
            tracking_id: Set(e.tracking_id.to_string()),
            token_hash: Set(e.access_token_hash.clone()),
            submitted_at: Set(e.submitted_at),
            public_name: Set(None),
        })
        .on_conflict(
            OnConflict::column(credential::Column::ReportId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        Ok(())
    }
}
