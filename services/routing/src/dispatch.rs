//! Receiving submitted reports and dispatching them, by a rule or by an operator. Both paths go
//! through the domain's lifecycle `decide` and commit the state change with its event.

use chrono::{DateTime, Utc};
use lapor_domain::content::{Location, Privacy, ReportContent};
use lapor_domain::events::{Envelope, Event, ReportDispatched, ReportSubmitted};
use lapor_domain::lifecycle::{Context, decide};
use lapor_domain::{Calendar, Command, EventId, Lifecycle, OpdId, ReportId, ReportKind, ReporterRef, Status};
use lapor_events::{Bus, enqueue};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::config::Config;
use crate::entities::queue_report;
use crate::error::Error;
use crate::rules::{Routing, route};

/// What routing needs to decide: configuration, calendar and the bus.
pub struct Dispatcher {
    pub config: Config,
    pub calendar: Calendar,
    pub bus: Bus,
}

fn lifecycle_of(row: &queue_report::Model) -> Lifecycle {
    match Status::from_code(&row.status) {
        Some(Status::Submitted) => Lifecycle::Submitted {
            verified: false,
            returned_from: None,
        },
        Some(Status::Dispatched) => match (
            row.opd_id.as_deref().and_then(|o| o.parse::<OpdId>().ok()),
            row.dispatched_at,
        ) {
            (Some(opd), Some(since)) => Lifecycle::Dispatched { opd, since },
            _ => Lifecycle::Submitted {
                verified: false,
                returned_from: None,
            },
        },
        // Later statuses are owned by other steps; for routing they only refuse dispatch.
        Some(Status::Completed) => Lifecycle::Completed {
            by: lapor_domain::lifecycle::Closer::System,
        },
        Some(Status::Archived) => Lifecycle::Archived {
            reason: String::new(),
        },
        Some(Status::NotAuthorized) => Lifecycle::NotAuthorized {
            reason: String::new(),
        },
        Some(Status::OnHold) => Lifecycle::OnHold {
            reason: String::new(),
            since: row.submitted_at,
        },
        Some(Status::InProgress) | None => Lifecycle::Completed {
            by: lapor_domain::lifecycle::Closer::System,
        },
    }
}

fn content_of(row: &queue_report::Model) -> Result<ReportContent, Error> {
    let bad = |what: &str| Error::FailedPrecondition(format!("stored report has a bad {what}"));
    Ok(ReportContent {
        kind: ReportKind::from_code(&row.kind).ok_or_else(|| bad("kind"))?,
        title: row.title.clone(),
        body: row.body.clone(),
        category: row
            .category_id
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| bad("category"))?,
        incident_date: row.incident_date,
        location: row
            .location
            .clone()
            .map(serde_json::from_value::<Location>)
            .transpose()
            .map_err(|_| bad("location"))?,
        privacy: Privacy {
            anonim: row.anonim,
            rahasia: row.rahasia,
        },
    })
}

impl Dispatcher {
    /// Stores a newly submitted report and dispatches it when a rule says so.
    pub async fn receive<C: ConnectionTrait>(&self, db: &C, e: &ReportSubmitted) -> Result<(), Error> {
        if queue_report::Entity::find_by_id(e.report_id.as_uuid())
            .one(db)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let due = self
            .calendar
            .add_working_days(e.submitted_at, self.config.policy.verification_days);
        let known = |c: &lapor_domain::CategoryId| {
            self.config.categories.is_empty() || self.config.categories.iter().any(|k| &k.id == c)
        };
        let routing = match &e.content.category {
            Some(c) if !known(c) => Routing::Queue(format!(
                "category {c} is not in the category tree: the operator classifies it"
            )),
            category => route(&self.config.rules, e.content.kind, category.as_ref()),
        };
        let note = match &routing {
            Routing::Queue(n) => n.clone(),
            Routing::Dispatch(_) => String::new(),
        };
        let row = queue_report::ActiveModel {
            report_id: Set(e.report_id.as_uuid()),
            tracking_id: Set(e.tracking_id.to_string()),
            kind: Set(e.content.kind.code().to_owned()),
            title: Set(e.content.title.clone()),
            body: Set(e.content.body.clone()),
            category_id: Set(e.content.category.as_ref().map(ToString::to_string)),
            incident_date: Set(e.content.incident_date),
            location: Set(e
                .content
                .location
                .as_ref()
                .and_then(|l| serde_json::to_value(l).ok())),
            anonim: Set(e.content.privacy.anonim),
            rahasia: Set(e.content.privacy.rahasia),
            reporter_ref: Set(e.reporter_ref.as_uuid()),
            submitted_at: Set(e.submitted_at),
            status: Set(Status::Submitted.code().to_owned()),
            verification_due_at: Set(due),
            routing_note: Set(note.clone()),
            opd_id: Set(None),
            dispatched_at: Set(None),
            rule_id: Set(None),
            dispatched_by: Set(None),
        }
        .insert(db)
        .await?;
        match routing {
            Routing::Dispatch(rule) => {
                let opd = rule.opd.clone();
                let rule_id = rule.id.clone();
                self.dispatch(db, row, opd, Some(rule_id), None, Utc::now())
                    .await?;
            }
            Routing::Queue(_) => {
                tracing::info!(report_id = %e.report_id, %note, "report queued for the operator");
            }
        }
        Ok(())
    }

    /// Dispatches a stored report to `opd`, refusing moves the lifecycle does not allow.
    pub async fn dispatch<C: ConnectionTrait>(
        &self,
        db: &C,
        row: queue_report::Model,
        opd: OpdId,
        rule_id: Option<String>,
        by: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, Error> {
        let ctx = Context {
            now,
            calendar: &self.calendar,
            policy: &self.config.policy,
        };
        decide(&lifecycle_of(&row), &Command::Dispatch { opd: opd.clone() }, &ctx)
            .map_err(|e| Error::FailedPrecondition(e.to_string()))?;
        // Optimistic concurrency: only one dispatcher moves it out of SUBMITTED.
        let res = queue_report::Entity::update_many()
            .col_expr(
                queue_report::Column::Status,
                Expr::value(Status::Dispatched.code()),
            )
            .col_expr(queue_report::Column::OpdId, Expr::value(opd.to_string()))
            .col_expr(queue_report::Column::DispatchedAt, Expr::value(now))
            .col_expr(queue_report::Column::RuleId, Expr::value(rule_id.clone()))
            .col_expr(queue_report::Column::DispatchedBy, Expr::value(by.clone()))
            .col_expr(queue_report::Column::RoutingNote, Expr::value(String::new()))
            .filter(queue_report::Column::ReportId.eq(row.report_id))
            .filter(queue_report::Column::Status.eq(Status::Submitted.code()))
            .exec(db)
            .await?;
        if res.rows_affected != 1 {
            return Err(Error::FailedPrecondition(
                "the report was dispatched by someone else meanwhile".into(),
            ));
        }
        let env = Envelope {
            id: EventId::from_uuid(Uuid::now_v7()),
            occurred_at: now,
            event: Event::ReportDispatched(ReportDispatched {
                report_id: ReportId::from_uuid(row.report_id),
                tracking_id: row
                    .tracking_id
                    .parse()
                    .map_err(|_| Error::FailedPrecondition("stored report has a bad tracking id".into()))?,
                opd_id: opd.clone(),
                content: content_of(&row)?,
                reporter_ref: ReporterRef::from_uuid(row.reporter_ref),
                submitted_at: row.submitted_at,
                dispatched_at: now,
                rule_id: rule_id.clone(),
                dispatched_by: by,
            }),
        };
        enqueue(db, &self.bus, &env).await?;
        tracing::info!(report_id = %row.report_id, opd_id = %opd, rule_id = rule_id.as_deref().unwrap_or(""), "report dispatched");
        Ok(now)
    }
}

/// The consumer of `ReportSubmitted`.
pub struct SubmittedHandler(pub std::sync::Arc<Dispatcher>);

impl lapor_events::Handler for SubmittedHandler {
    async fn handle(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        env: &Envelope,
    ) -> Result<(), lapor_events::HandlerError> {
        match &env.event {
            Event::ReportSubmitted(e) => Ok(self.0.receive(txn, e).await?),
            other => Err(lapor_events::HandlerError::Permanent(format!(
                "routing does not consume {}",
                other.type_name()
            ))),
        }
    }
}
