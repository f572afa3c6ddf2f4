//! The NotificationService gRPC API.

use lapor_domain::ReportId;
use lapor_events::codec::ts;
use lapor_platform::{Caller, Role};
use lapor_proto::notification::v1::{self as pb, notification_service_server::NotificationService};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use tonic::{Request, Response, Status};

use crate::entities::{credential, delivery, message, rule, template};

/// The API state.
pub struct Api {
    pub db: DatabaseConnection,
    pub templates: std::sync::Arc<crate::templates::Templates>,
    pub rules: std::sync::Arc<crate::rules::Rules>,
}

fn rule_to_proto(r: rule::Model) -> pb::Rule {
    pb::Rule {
        channels: crate::rules::channels_of(&r),
        template: r.template,
        recipient_kind: r.recipient_kind,
        enabled: r.enabled,
        version: u32::try_from(r.version).unwrap_or(0),
        changed_by: r.changed_by,
        changed_at: Some(ts(r.changed_at)),
    }
}

fn template_to_proto(t: template::Model) -> pb::Template {
    pb::Template {
        vars: crate::templates::vars_of(&t.name).unwrap_or_default(),
        name: t.name,
        lang: t.lang,
        channel: t.channel,
        subject: t.subject,
        body: t.body,
        version: u32::try_from(t.version).unwrap_or(0),
        changed_by: t.changed_by,
        changed_at: Some(ts(t.changed_at)),
    }
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
            .order_by_asc(message::Column::EventAt)
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

    async fn list_templates(
        &self,
        req: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesResponse>, Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor, Role::Auditor, Role::Service])?;
        let rows = template::Entity::find()
            .order_by_asc(template::Column::Name)
            .order_by_asc(template::Column::Lang)
            .order_by_asc(template::Column::Channel)
            .all(&self.db)
            .await
            .map_err(|e| lapor_platform::status::internal(&e))?;
        Ok(Response::new(pb::ListTemplatesResponse {
            templates: rows.into_iter().map(template_to_proto).collect(),
        }))
    }

    async fn put_template(
        &self,
        req: Request<pb::PutTemplateRequest>,
    ) -> Result<Response<pb::PutTemplateResponse>, Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator, Role::Supervisor])?;
        let r = req.into_inner();
        let v = crate::templates::validate(&r.name, &r.lang, &r.channel, &r.subject, &r.body);
        if !v.is_empty() {
            return Err(lapor_platform::status::invalid_argument(&v));
        }
        let internal = |e: sea_orm::DbErr| lapor_platform::status::internal(&e);
        let txn = lapor_platform::db::begin_write(&self.db)
            .await
            .map_err(internal)?;
        let current = template::Entity::find_by_id((r.name.clone(), r.lang.clone(), r.channel.clone()))
            .one(&txn)
            .await
            .map_err(internal)?;
        let in_force = current
            .as_ref()
            .map_or(0, |c| u32::try_from(c.version).unwrap_or(0));
        lapor_platform::status::check_version(
            "template",
            u64::from(in_force),
            u64::from(r.expected_version),
        )?;
        let row = template::ActiveModel {
            name: Set(r.name),
            lang: Set(r.lang),
            channel: Set(r.channel),
            subject: Set(r.subject),
            body: Set(r.body),
            version: Set(i32::try_from(in_force + 1).unwrap_or(i32::MAX)),
            changed_by: Set(caller.subject.clone()),
            changed_at: Set(chrono::Utc::now()),
        };
        let saved = if current.is_some() {
            row.update(&txn).await
        } else {
            row.insert(&txn).await
        }
        .map_err(internal)?;
        txn.commit().await.map_err(internal)?;
        self.templates.reload(&self.db).await.map_err(internal)?;
        tracing::info!(template = %saved.name, lang = %saved.lang, channel = %saved.channel, version = saved.version, by = %caller.subject, "template changed");
        Ok(Response::new(pb::PutTemplateResponse {
            template: Some(template_to_proto(saved)),
        }))
    }

    async fn list_reporter_messages(
        &self,
        req: Request<pb::ListReporterMessagesRequest>,
    ) -> Result<Response<pb::ListReporterMessagesResponse>, Status> {
        Caller::of(&req)?.require(&[Role::Reporter, Role::Service])?;
        let r = req.into_inner();
        let mut v = lapor_domain::Violations::new();
        let tracking = v.check("tracking_id", r.tracking_id.parse::<lapor_domain::TrackingId>());
        if r.access_token.trim().is_empty() {
            v.add("access_token", "required");
        }
        if !v.is_empty() {
            return Err(lapor_platform::status::invalid_argument(&v));
        }
        let internal = |e: sea_orm::DbErr| lapor_platform::status::internal(&e);
        let not_found = || Status::not_found("no report with that tracking id and access token");
        let tracking = tracking.ok_or_else(not_found)?;
        let cred = credential::Entity::find()
            .filter(credential::Column::TrackingId.eq(tracking.as_str()))
            .one(&self.db)
            .await
            .map_err(internal)?
            .filter(|c| lapor_platform::reporter::token_matches(&r.access_token, &c.token_hash))
            .ok_or_else(not_found)?;
        let rows = message::Entity::find()
            .filter(message::Column::ReportId.eq(cred.report_id))
            .filter(message::Column::RecipientKind.eq("reporter"))
            .order_by_asc(message::Column::EventAt)
            .order_by_asc(message::Column::CreatedAt)
            .order_by_asc(message::Column::Id)
            .all(&self.db)
            .await
            .map_err(internal)?;
        Ok(Response::new(pb::ListReporterMessagesResponse {
            messages: rows
                .into_iter()
                .map(|m| pb::ReporterMessage {
                    template: m.template,
                    subject: m.subject,
                    body: m.body,
                    created_at: Some(ts(m.created_at)),
                })
                .collect(),
        }))
    }

    async fn list_rules(
        &self,
        req: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor, Role::Auditor, Role::Service])?;
        let rows = rule::Entity::find()
            .order_by_asc(rule::Column::Template)
            .order_by_asc(rule::Column::RecipientKind)
            .all(&self.db)
            .await
            .map_err(|e| lapor_platform::status::internal(&e))?;
        Ok(Response::new(pb::ListRulesResponse {
            rules: rows.into_iter().map(rule_to_proto).collect(),
        }))
    }

    async fn put_rule(
        &self,
        req: Request<pb::PutRuleRequest>,
    ) -> Result<Response<pb::PutRuleResponse>, Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator, Role::Supervisor])?;
        let r = req.into_inner();
        let v = crate::rules::validate(&r.template, &r.recipient_kind, &r.channels);
        if !v.is_empty() {
            return Err(lapor_platform::status::invalid_argument(&v));
        }
        let internal = |e: sea_orm::DbErr| lapor_platform::status::internal(&e);
        let txn = lapor_platform::db::begin_write(&self.db)
            .await
            .map_err(internal)?;
        let current = rule::Entity::find_by_id((r.template.clone(), r.recipient_kind.clone()))
            .one(&txn)
            .await
            .map_err(internal)?;
        let in_force = current
            .as_ref()
            .map_or(0, |c| u32::try_from(c.version).unwrap_or(0));
        lapor_platform::status::check_version("rule", u64::from(in_force), u64::from(r.expected_version))?;
        let mut channels = r.channels.clone();
        channels.sort();
        channels.dedup();
        let row = rule::ActiveModel {
            template: Set(r.template),
            recipient_kind: Set(r.recipient_kind),
            enabled: Set(r.enabled),
            channels: Set(serde_json::to_string(&channels).map_err(|e| lapor_platform::status::internal(&e))?),
            version: Set(i32::try_from(in_force + 1).unwrap_or(i32::MAX)),
            changed_by: Set(caller.subject.clone()),
            changed_at: Set(chrono::Utc::now()),
        };
        let saved = if current.is_some() {
            row.update(&txn).await
        } else {
            row.insert(&txn).await
        }
        .map_err(internal)?;
        txn.commit().await.map_err(internal)?;
        self.rules.reload(&self.db).await.map_err(internal)?;
        tracing::info!(template = %saved.template, recipient_kind = %saved.recipient_kind, enabled = saved.enabled, by = %caller.subject, "rule changed");
        Ok(Response::new(pb::PutRuleResponse {
            rule: Some(rule_to_proto(saved)),
        }))
    }
}
