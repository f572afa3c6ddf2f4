//! The NotificationService gRPC API.

use lapor_domain::ReportId;
use lapor_events::codec::ts;
use lapor_platform::{Caller, Role};
use lapor_proto::notification::v1::{self as pb, notification_service_server::NotificationService};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use tonic::{Request, Response, Status};

use crate::entities::{delivery, message};

/// The API state.
pub struct Api {
    pub db: DatabaseConnection,
}

#[tonic::async_trait]
impl NotificationService for Api {
    async fn list_messages(
        &self,
        req: Request<pb::ListMessagesRequest>,
    ) -> Result<Response<pb::ListMessagesResponse>, Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor, Role::Auditor, Role::Service])?;
        let id: ReportId = req
            .get_ref()
            .report_id
            .parse()
            .map_err(|e: lapor_domain::ids::IdError| {
                lapor_platform::status::invalid_field("report_id", e.to_string())
            })?;
        let rows = message::Entity::find()
            .filter(message::Column::ReportId.eq(id.as_uuid()))
            .order_by_asc(message::Column::CreatedAt)
            .order_by_asc(message::Column::Id)
            .all(&self.db)
            .await
            .map_err(|e| lapor_platform::status::internal(&e))?;
        let mut deliveries: std::collections::HashMap<uuid::Uuid, Vec<pb::Delivery>> =
            std::collections::HashMap::new();
        for d in delivery::Entity::find()
            .filter(delivery::Column::ReportId.eq(id.as_uuid()))
            .order_by_asc(delivery::Column::CreatedAt)
            .order_by_asc(delivery::Column::Id)
            .all(&self.db)
            .await
            .map_err(|e| lapor_platform::status::internal(&e))?
        {
            deliveries.entry(d.message_id).or_default().push(pb::Delivery {
                delivery_id: d.id.to_string(),
                channel: d.channel,
                state: d.state.clone(),
                attempts: u32::try_from(d.attempts).unwrap_or(0),
                last_error: d.last_error.unwrap_or_default(),
                next_attempt_at: (d.state == crate::delivery::state::PENDING).then(|| ts(d.next_attempt_at)),
                delivered_at: d.delivered_at.map(ts),
            });
        }
        let messages = rows
            .into_iter()
            .map(|m| pb::Message {
                deliveries: deliveries.remove(&m.id).unwrap_or_default(),
                message_id: m.id.to_string(),
                report_id: m.report_id.to_string(),
                recipient_kind: m.recipient_kind,
                recipient_ref: m.recipient_ref,
                channel: m.channel,
                template: m.template,
                subject: m.subject,
                body: m.body,
                state: m.state,
                created_at: Some(ts(m.created_at)),
            })
            .collect();
        Ok(Response::new(pb::ListMessagesResponse { messages }))
    }
}
