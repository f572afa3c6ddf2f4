//! Consumers: opening a case when a report is dispatched, and keeping the reporter's credential
//! (the hash of the access token) when a report is submitted.

use std::sync::Arc;

use lapor_domain::events::{CaseOpened, Envelope, Event};
use lapor_domain::{CaseId, EventId, Status};
use lapor_events::{BatchError, BatchItem, Handler, HandlerError, enqueue_many};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseTransaction, EntityTrait, Set};
use uuid::Uuid;

use crate::core::{Core, Entry, SYSTEM_AUTHOR, Visibility, entry, kind};
use crate::entities::{case, credential, timeline};

/// The consumer of `ReportDispatched`.
pub struct DispatchedHandler {
    pub core: Arc<Core>,
}

impl Handler for DispatchedHandler {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        lapor_events::consumer::as_batch_of_one(self, txn, env).await
    }

    /// Opens a case for each dispatch of the batch: one statement for the cases, one for their
    /// timeline entries, one for their `CaseOpened` events (each carrying its dispatch's trace).
    async fn handle_batch(
        &self,
        txn: &DatabaseTransaction,
        items: &[BatchItem<'_>],
    ) -> Result<(), BatchError> {
        let now = self.core.now();
        let (mut cases, mut entries, mut events) = (Vec::new(), Vec::new(), Vec::new());
        for (i, item) in items.iter().enumerate() {
            let Event::ReportDispatched(e) = &item.env.event else {
                return Err(BatchError {
                    at: Some(i),
                    error: HandlerError::Permanent(format!(
                        "opd-case does not consume {} here",
                        item.env.event.type_name()
                    )),
                });
            };
            let case_id = Uuid::now_v7();
            cases.push(case::ActiveModel {
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
            });
            entries.push(entry(
                case_id,
                e.report_id.as_uuid(),
                e.opd_id.as_str(),
                Entry {
                    kind: kind::OPENED,
                    visibility: Visibility::Public,
                    author: SYSTEM_AUTHOR,
                    text: "",
                    at: now,
                    attachment_id: None,
                },
            ));
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
            events.push((opened, lapor_platform::telemetry::traceparent_of(item.span)));
        }
        case::Entity::insert_many(cases)
            .exec_without_returning(txn)
            .await
            .map_err(BatchError::whole)?;
        timeline::Entity::insert_many(entries)
            .exec_without_returning(txn)
            .await
            .map_err(BatchError::whole)?;
        enqueue_many(txn, &self.core.bus, &events)
            .await
            .map_err(BatchError::whole)?;
        for (item, (opened, _)) in items.iter().zip(&events) {
            if let Event::CaseOpened(c) = &opened.event {
                item.span.in_scope(|| {
                    tracing::info!(report_id = %c.report_id, opd_id = %c.opd_id, case_id = %c.case_id, "case opened");
                });
            }
        }
        Ok(())
    }
}

/// The consumer of `ReportSubmitted`: keeps what lets the reporter prove ownership here.
pub struct CredentialHandler;

impl Handler for CredentialHandler {
    async fn handle(&self, txn: &DatabaseTransaction, env: &Envelope) -> Result<(), HandlerError> {
        lapor_events::consumer::as_batch_of_one(self, txn, env).await
    }

    /// The batch's credentials in one statement.
    async fn handle_batch(
        &self,
        txn: &DatabaseTransaction,
        items: &[BatchItem<'_>],
    ) -> Result<(), BatchError> {
        let mut rows = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Event::ReportSubmitted(e) = &item.env.event else {
                return Err(BatchError {
                    at: Some(i),
                    error: HandlerError::Permanent(format!(
                        "opd-case does not consume {} here",
                        item.env.event.type_name()
                    )),
                });
            };
            if e.access_token_hash.is_empty() {
                // From a producer that does not publish token hashes: the reporter cannot act here.
                item.span.in_scope(|| {
                    tracing::warn!(report_id = %e.report_id, "submitted report without an access token hash");
                });
                continue;
            }
            rows.push(credential::ActiveModel {
                report_id: Set(e.report_id.as_uuid()),
                tracking_id: Set(e.tracking_id.to_string()),
                token_hash: Set(e.access_token_hash.clone()),
                submitted_at: Set(e.submitted_at),
                public_name: Set(None),
            });
        }
        if rows.is_empty() {
            return Ok(());
        }
        credential::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(credential::Column::ReportId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await
            .map_err(BatchError::whole)?;
        Ok(())
    }
}
