//! The RoutingService gRPC API: the operator's queue, decisions, registry and audit trail.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lapor_domain::content::Location;
use lapor_domain::{CategoryId, OpdId, Privacy, ReportId, ReportKind, Status, Violations};
use lapor_events::codec::{
    from_ts, kind_from_proto, kind_to_proto, location_to_proto, status_code_to_proto, ts,
};
use lapor_platform::{Caller, Role};
use lapor_proto::routing::v1::{self as pb, routing_service_server::RoutingService};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::Notify;
use tonic::{Request, Response};

use lapor_proto::intake::v1::{ResolveIdentityRequest, intake_service_client::IntakeServiceClient};

use crate::decisions::{Actor, Decision, Desk};
use crate::entities::{queue_report, report_history};
use crate::error::Error;
use crate::rule_store;
use crate::rules::{RuleSpec, Subject, explain};

/// The API state.
pub struct Api {
    pub db: DatabaseConnection,
    pub desk: Arc<Desk>,
    pub relay_wake: Arc<Notify>,
    /// Intake, for identity reveals (connected lazily).
    pub intake: IntakeServiceClient<tonic::transport::Channel>,
}

fn invalid(field: &str, description: &str) -> Error {
    let mut v = Violations::new();
    v.add(field, description);
    Error::InvalidArgument(v)
}

fn cursor_encode(due: DateTime<Utc>, id: uuid::Uuid) -> String {
    format!("{}~{}", due.timestamp_micros(), id)
}

fn cursor_decode(s: &str) -> Result<(DateTime<Utc>, uuid::Uuid), Error> {
    let bad = || invalid("page_token", "not a page token from this API");
    let (a, b) = s.split_once('~').ok_or_else(bad)?;
    let micros: i64 = a.parse().map_err(|_| bad())?;
    Ok((
        DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
        b.parse().map_err(|_| bad())?,
    ))
}

/// The report as operators see it (never the reporter's identity: routing does not hold it).
pub fn to_item(row: queue_report::Model) -> pb::QueueItem {
    pb::QueueItem {
        report_id: row.report_id.to_string(),
        tracking_id: row.tracking_id,
        kind: ReportKind::from_code(&row.kind).map_or(0, |k| kind_to_proto(k) as i32),
        title: row.title,
        body: row.body,
        category_id: row.category_id.unwrap_or_default(),
        status: status_code_to_proto(&row.status),
        anonim: row.anonim,
        rahasia: row.rahasia,
        submitted_at: Some(ts(row.submitted_at)),
        verification_due_at: Some(ts(row.verification_due_at)),
        routing_note: row.routing_note,
        needs_examination: row.needs_examination,
        verified: row.verified_at.is_some(),
        location: row
            .location
            .and_then(|l| serde_json::from_value::<Location>(l).ok())
            .map(|l| location_to_proto(&l)),
        incident_date: row.incident_date.map(|d| d.to_string()).unwrap_or_default(),
        original_title: row.original_title.unwrap_or_default(),
        hold_reason: row.hold_reason.unwrap_or_default(),
        close_reason: row.close_reason.unwrap_or_default(),
        opd_id: row.opd_id.unwrap_or_default(),
        returned_from_opd: row.returned_from_opd.unwrap_or_default(),
        return_reason: row.return_reason.unwrap_or_default(),
        duplicate_candidates: Vec::new(),
        duplicate_of: row.duplicate_of.map(|d| d.to_string()).unwrap_or_default(),
    }
}

/// Fills in the duplicate candidates of listed reports (one query): for each, the other report
/// of every pair it is in, best first.
async fn with_candidates(
    db: &DatabaseConnection,
    mut items: Vec<pb::QueueItem>,
) -> Result<Vec<pb::QueueItem>, Error> {
    use crate::entities::duplicate_pair;
    use sea_orm::Condition;
    let ids: Vec<uuid::Uuid> = items.iter().filter_map(|i| i.report_id.parse().ok()).collect();
    if ids.is_empty() {
        return Ok(items);
    }
    let rows = duplicate_pair::Entity::find()
        .filter(
            Condition::any()
                .add(duplicate_pair::Column::ReportId.is_in(ids.clone()))
                .add(duplicate_pair::Column::CandidateId.is_in(ids)),
        )
        .all(db)
        .await?;
    for item in &mut items {
        let Ok(id) = item.report_id.parse::<uuid::Uuid>() else {
            continue;
        };
        let mut theirs: Vec<(uuid::Uuid, pb::DuplicateCandidate)> = rows
            .iter()
            .filter_map(|r| {
                let (other, tracking) = if r.report_id == id {
                    (r.candidate_id, &r.candidate_tracking_id)
                } else if r.candidate_id == id {
                    (r.report_id, &r.report_tracking_id)
                } else {
                    return None;
                };
                Some((
                    other,
                    pb::DuplicateCandidate {
                        report_id: other.to_string(),
                        tracking_id: tracking.clone(),
                        score: r.score,
                        reason: r.reason.clone(),
                    },
                ))
            })
            .collect();
        theirs.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then_with(|| a.0.cmp(&b.0)));
        item.duplicate_candidates = theirs.into_iter().map(|(_, c)| c).collect();
    }
    Ok(items)
}

fn to_entry(h: report_history::Model) -> pb::AuditEntry {
    pb::AuditEntry {
        report_id: h.report_id.to_string(),
        at: Some(ts(h.at)),
        actor: h.actor,
        role: h.role,
        action: h.action,
        from_status: status_code_to_proto(&h.from_status),
        to_status: status_code_to_proto(&h.to_status),
        opd_id: h.opd_id.unwrap_or_default(),
        reason: h.reason.unwrap_or_default(),
        changes_json: h.changes.to_string(),
    }
}

fn parse_report_id(s: &str) -> Result<ReportId, Error> {
    let id = s
        .parse::<ReportId>()
        .map_err(|e| invalid("report_id", &e.to_string()))?;
    lapor_platform::telemetry::record_report(id, None);
    Ok(id)
}

fn text(field: &str, s: &str, max: usize, v: &mut Violations) -> String {
    let t = s.trim();
    if t.chars().count() > max {
        v.add(field, format!("must have at most {max} characters"));
    }
    t.to_owned()
}

impl Api {
    /// Runs one operator decision in a transaction and returns the updated report.
    async fn decide(
        &self,
        caller: &Caller,
        report_id: ReportId,
        decision: Decision,
    ) -> Result<queue_report::Model, Error> {
        let txn = lapor_platform::db::begin_write(&self.db).await?;
        let row = queue_report::Entity::find_by_id(report_id.as_uuid())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no report {report_id}")))?;
        let actor = Actor {
            subject: caller.subject.clone(),
            role: caller.role.as_str().to_owned(),
        };
        let next = self.desk.decide(&txn, row, decision, &actor, Utc::now()).await?;
        txn.commit().await?;
        self.relay_wake.notify_one();
        Ok(next)
    }

    /// An operator decision that needs only a report id and a reason (Tunda, Bukan Wewenang).
    async fn reasoned(
        &self,
        caller: &Caller,
        report_id: &str,
        reason: &str,
        decision: impl FnOnce(String) -> Decision,
    ) -> Result<queue_report::Model, Error> {
        caller
            .require(&[Role::Operator])
            .map_err(|e| Error::PermissionDenied(e.message().to_owned()))?;
        let mut v = Violations::new();
        let report_id = v.check("report_id", report_id.parse::<ReportId>());
        let reason = text("reason", reason, 1000, &mut v);
        v.into_result().map_err(Error::InvalidArgument)?;
        let Some(report_id) = report_id else {
            return Err(invalid("report_id", "required"));
        };
        self.decide(caller, report_id, decision(reason)).await
    }

    fn known_category(&self, c: &CategoryId) -> bool {
        let cats = &self.desk.config.categories;
        cats.is_empty() || cats.iter().any(|k| &k.id == c)
    }
}

#[tonic::async_trait]
impl RoutingService for Api {
    async fn list_queue(
        &self,
        req: Request<pb::ListQueueRequest>,
    ) -> Result<Response<pb::ListQueueResponse>, tonic::Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor])?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let limit = lapor_platform::paging::page_size(r.page_size, 50, 200, &mut v);
        let mut q = queue_report::Entity::find();
        let mut statuses = Vec::new();
        for s in &r.statuses {
            match lapor_events::codec::status_from_proto(*s) {
                Some(st) => statuses.push(st.code()),
                None => v.add("statuses", format!("unknown status {s}")),
            }
        }
        if statuses.is_empty() {
            statuses.push(Status::Submitted.code());
        }
        q = q.filter(queue_report::Column::Status.is_in(statuses));
        if r.kind != 0 {
            match kind_from_proto(r.kind) {
                Some(k) => q = q.filter(queue_report::Column::Kind.eq(k.code())),
                None => v.add("kind", "unknown kind"),
            }
        }
        if !r.category_id.is_empty() {
            match r.category_id.parse::<CategoryId>() {
                Ok(c) => {
                    q = q.filter(
                        Condition::any()
                            .add(queue_report::Column::CategoryId.eq(c.as_str()))
                            .add(queue_report::Column::CategoryId.like(format!("{}.%", c.as_str()))),
                    );
                }
                Err(e) => v.add("category_id", e.to_string()),
            }
        }
        if let Some(t) = from_ts(r.submitted_before.as_ref()) {
            q = q.filter(queue_report::Column::SubmittedAt.lte(t));
        }
        if let Some(t) = from_ts(r.submitted_after.as_ref()) {
            q = q.filter(queue_report::Column::SubmittedAt.gte(t));
        }
        if let Some(t) = from_ts(r.verification_due_before.as_ref()) {
            q = q.filter(queue_report::Column::VerificationDueAt.lte(t));
        }
        let query = r.query.trim();
        if query.chars().count() > 100 {
            v.add("query", "must have at most 100 characters");
        } else if !query.is_empty() {
            let escaped: String = query
                .to_lowercase()
                .chars()
                .flat_map(|c| {
                    if matches!(c, '%' | '_' | '\\') {
                        vec!['\\', c]
                    } else {
                        vec![c]
                    }
                })
                .collect();
            let pattern = format!("%{escaped}%");
            let lower_like = |col: queue_report::Column| {
                Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            q = q.filter(
                Condition::any()
                    .add(lower_like(queue_report::Column::Title))
                    .add(lower_like(queue_report::Column::Body))
                    .add(lower_like(queue_report::Column::TrackingId)),
            );
        }
        if !r.page_token.is_empty() {
            match cursor_decode(&r.page_token) {
                Ok((due, id)) => {
                    q = q.filter(
                        Condition::any()
                            .add(queue_report::Column::VerificationDueAt.gt(due))
                            .add(
                                Condition::all()
                                    .add(queue_report::Column::VerificationDueAt.eq(due))
                                    .add(queue_report::Column::ReportId.gt(id)),
                            ),
                    );
                }
                Err(e) => v.0.extend(violations(e)),
            }
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let rows = q
            .order_by_asc(queue_report::Column::VerificationDueAt)
            .order_by_asc(queue_report::Column::ReportId)
            .limit(limit + 1)
            .all(&self.db)
            .await
            .map_err(Error::from)?;
        let (rows, next_page_token) = lapor_platform::paging::split_page(rows, limit, |last| {
            cursor_encode(last.verification_due_at, last.report_id)
        });
        let items = with_candidates(&self.db, rows.into_iter().map(to_item).collect()).await?;
        Ok(Response::new(pb::ListQueueResponse {
            items,
            next_page_token,
        }))
    }

    async fn dispatch(
        &self,
        req: Request<pb::DispatchRequest>,
    ) -> Result<Response<pb::DispatchResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator])?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let report_id = v.check("report_id", r.report_id.parse::<ReportId>());
        let opd = v.check("opd_id", r.opd_id.parse::<OpdId>());
        v.into_result().map_err(Error::InvalidArgument)?;
        let (Some(report_id), Some(opd)) = (report_id, opd) else {
            return Err(tonic::Status::internal("validated ids missing"));
        };
        if !self.desk.config.opds.iter().any(|o| o.id == opd) {
            return Err(Error::NotFound(format!("no OPD {opd} in the registry")).into());
        }
        let row = self
            .decide(
                &caller,
                report_id,
                Decision::Dispatch {
                    opd: opd.clone(),
                    rule: None,
                },
            )
            .await?;
        Ok(Response::new(pb::DispatchResponse {
            report_id: report_id.to_string(),
            opd_id: opd.to_string(),
            dispatched_at: row.dispatched_at.map(ts),
        }))
    }

    async fn list_opds(
        &self,
        req: Request<pb::ListOpdsRequest>,
    ) -> Result<Response<pb::ListOpdsResponse>, tonic::Status> {
        Caller::of(&req)?;
        let mut opds: Vec<pb::Opd> = self.desk.config.opds.iter().map(opd_to_proto).collect();
        opds.sort_by(|a, b| a.opd_id.cmp(&b.opd_id));
        Ok(Response::new(pb::ListOpdsResponse { opds }))
    }

    async fn get_opd(
        &self,
        req: Request<pb::GetOpdRequest>,
    ) -> Result<Response<pb::GetOpdResponse>, tonic::Status> {
        Caller::of(&req)?;
        let id = req.into_inner().opd_id;
        let opd = self
            .desk
            .config
            .opds
            .iter()
            .find(|o| o.id.as_str() == id)
            .ok_or_else(|| Error::NotFound(format!("no OPD {id} in the registry")))?;
        let cfg = &self.desk.config.escalation;
        let escalation = cfg
            .levels
            .iter()
            .map(|level| pb::EscalationLevel {
                level: level.clone(),
                officials: match level.as_str() {
                    "liaison" => opd.liaison_officers.iter().map(official).collect(),
                    "head" => opd.head.iter().map(official).collect(),
                    other => cfg
                        .city
                        .iter()
                        .filter(|c| c.level == other)
                        .map(|c| pb::Official {
                            official_id: c.id.clone(),
                            name: c.name.clone(),
                        })
                        .collect(),
                },
            })
            .collect();
        Ok(Response::new(pb::GetOpdResponse {
            opd: Some(opd_to_proto(opd)),
            escalation,
        }))
    }

    async fn get_report(
        &self,
        req: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::GetReportResponse>, tonic::Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor, Role::Auditor])?;
        let id = parse_report_id(&req.get_ref().report_id)?;
        let row = queue_report::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(format!("no report {id}")))?;
        let history = report_history::Entity::find()
            .filter(report_history::Column::ReportId.eq(id.as_uuid()))
            .order_by_asc(report_history::Column::Id)
            .all(&self.db)
            .await
            .map_err(Error::from)?;
        let spans = spans_of(&history);
        Ok(Response::new(pb::GetReportResponse {
            report: with_candidates(&self.db, vec![to_item(row)]).await?.pop(),
            history: history.into_iter().map(to_entry).collect(),
            spans,
        }))
    }

    async fn verify_report(
        &self,
        req: Request<pb::VerifyReportRequest>,
    ) -> Result<Response<pb::VerifyReportResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator])?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let report_id = v.check("report_id", r.report_id.parse::<ReportId>());
        let kind = kind_from_proto(r.kind);
        if kind.is_none() {
            v.add("kind", "kind must be PENGADUAN, ASPIRASI or PERMINTAAN_INFORMASI");
        }
        if r.needs_examination && kind.is_some_and(|k| k != ReportKind::Pengaduan) {
            v.add(
                "needs_examination",
                "only a complaint (PENGADUAN) can need examination",
            );
        }
        let category = if r.category_id.trim().is_empty() {
            v.add("category_id", "category_id is required");
            None
        } else {
            match r.category_id.trim().parse::<CategoryId>() {
                Ok(c) if self.known_category(&c) => Some(c),
                Ok(c) => {
                    v.add("category_id", format!("{c} is not in the category tree"));
                    None
                }
                Err(e) => {
                    v.add("category_id", e.to_string());
                    None
                }
            }
        };
        let title = r.title.trim();
        let limits = lapor_domain::content::ContentLimits::default();
        if !title.is_empty() && !(limits.title_min..=limits.title_max).contains(&title.chars().count()) {
            v.add(
                "title",
                format!(
                    "must have {} to {} characters",
                    limits.title_min, limits.title_max
                ),
            );
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let (Some(report_id), Some(kind), Some(category)) = (report_id, kind, category) else {
            return Err(tonic::Status::internal("validated fields missing"));
        };
        let decision = Decision::Verify {
            kind,
            needs_examination: r.needs_examination,
            category,
            privacy: Privacy {
                anonim: r.anonim,
                rahasia: r.rahasia,
            },
            title: (!title.is_empty()).then(|| title.to_owned()),
        };
        let report = self.decide(&caller, report_id, decision).await?;
        Ok(Response::new(pb::VerifyReportResponse {
            report: Some(to_item(report)),
        }))
    }

    async fn hold_report(
        &self,
        req: Request<pb::HoldReportRequest>,
    ) -> Result<Response<pb::HoldReportResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        let r = req.into_inner();
        let report = self
            .reasoned(&caller, &r.report_id, &r.reason, |reason| Decision::Hold {
                reason,
            })
            .await?;
        Ok(Response::new(pb::HoldReportResponse {
            report: Some(to_item(report)),
        }))
    }

    async fn declare_not_authorized(
        &self,
        req: Request<pb::DeclareNotAuthorizedRequest>,
    ) -> Result<Response<pb::DeclareNotAuthorizedResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        let r = req.into_inner();
        let report = self
            .reasoned(&caller, &r.report_id, &r.reason, |reason| {
                Decision::NotAuthorized { reason }
            })
            .await?;
        Ok(Response::new(pb::DeclareNotAuthorizedResponse {
            report: Some(to_item(report)),
        }))
    }

    async fn archive_report(
        &self,
        req: Request<pb::ArchiveReportRequest>,
    ) -> Result<Response<pb::ArchiveReportResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator])?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let report_id = v.check("report_id", r.report_id.parse::<ReportId>());
        let note = text("note", &r.note, 1000, &mut v);
        let reason = self
            .desk
            .config
            .archive_reasons
            .iter()
            .find(|a| a.code == r.reason_code.trim());
        if reason.is_none() {
            let codes: Vec<&str> = self
                .desk
                .config
                .archive_reasons
                .iter()
                .map(|a| a.code.as_str())
                .collect();
            v.add("reason_code", format!("must be one of: {}", codes.join(", ")));
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let (Some(report_id), Some(reason)) = (report_id, reason) else {
            return Err(tonic::Status::internal("validated fields missing"));
        };
        let text = if note.is_empty() {
            reason.label.clone()
        } else {
            format!("{}: {note}", reason.label)
        };
        let decision = Decision::Archive {
            duplicate_of: None,
            code: reason.code.clone(),
            reason: text,
        };
        let report = self.decide(&caller, report_id, decision).await?;
        Ok(Response::new(pb::ArchiveReportResponse {
            report: Some(to_item(report)),
        }))
    }

    async fn list_archive_reasons(
        &self,
        req: Request<pb::ListArchiveReasonsRequest>,
    ) -> Result<Response<pb::ListArchiveReasonsResponse>, tonic::Status> {
        Caller::of(&req)?;
        let reasons = self
            .desk
            .config
            .archive_reasons
            .iter()
            .map(|a| pb::ArchiveReason {
                code: a.code.clone(),
                label: a.label.clone(),
            })
            .collect();
        Ok(Response::new(pb::ListArchiveReasonsResponse { reasons }))
    }

    async fn list_audit(
        &self,
        req: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, tonic::Status> {
        Caller::of(&req)?.require(&[Role::Auditor, Role::Supervisor, Role::Operator])?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let limit = lapor_platform::paging::page_size(r.page_size, 100, 500, &mut v);
        let mut q = report_history::Entity::find();
        if !r.report_id.is_empty()
            && let Some(id) = v.check("report_id", r.report_id.parse::<ReportId>())
        {
            q = q.filter(report_history::Column::ReportId.eq(id.as_uuid()));
        }
        if !r.page_token.is_empty() {
            match r.page_token.parse::<i64>() {
                Ok(before) => q = q.filter(report_history::Column::Id.lt(before)),
                Err(_) => v.add("page_token", "not a page token from this API"),
            }
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let rows = q
            .order_by_desc(report_history::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await
            .map_err(Error::from)?;
        let (rows, next_page_token) =
            lapor_platform::paging::split_page(rows, limit, |last| last.id.to_string());
        Ok(Response::new(pb::ListAuditResponse {
            entries: rows.into_iter().map(to_entry).collect(),
            next_page_token,
        }))
    }

    async fn list_rules(
        &self,
        req: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, tonic::Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor, Role::Auditor])?;
        let rules = rule_store::load(&self.db)
            .await?
            .into_iter()
            .map(|r| rule_to_proto(&r.spec, r.version, Some(r.updated_at), &r.updated_by))
            .collect();
        Ok(Response::new(pb::ListRulesResponse { rules }))
    }

    async fn get_rule(
        &self,
        req: Request<pb::GetRuleRequest>,
    ) -> Result<Response<pb::GetRuleResponse>, tonic::Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor, Role::Auditor])?;
        let id = req.into_inner().rule_id;
        let versions = rule_store::history(&self.db, &id).await?;
        if versions.is_empty() {
            return Err(Error::NotFound(format!("no rule {id}")).into());
        }
        let current = rule_store::load(&self.db)
            .await?
            .into_iter()
            .find(|r| r.spec.id == id);
        let versions = versions
            .into_iter()
            .map(|v| pb::RuleVersion {
                version: v.version,
                change: v.change,
                rule: serde_json::from_value::<RuleSpec>(v.spec)
                    .ok()
                    .map(|spec| rule_to_proto(&spec, v.version, Some(v.changed_at), &v.changed_by)),
                changed_at: Some(ts(v.changed_at)),
                changed_by: v.changed_by,
            })
            .collect();
        Ok(Response::new(pb::GetRuleResponse {
            rule: current.map(|r| rule_to_proto(&r.spec, r.version, Some(r.updated_at), &r.updated_by)),
            versions,
        }))
    }

    async fn put_rule(
        &self,
        req: Request<pb::PutRuleRequest>,
    ) -> Result<Response<pb::PutRuleResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator, Role::Supervisor])?;
        let r = req.into_inner();
        let Some(rule) = r.rule else {
            return Err(invalid("rule", "rule is required").into());
        };
        let spec = rule_from_proto(&rule)?;
        if r.expected_version < 0 {
            return Err(invalid("expected_version", "must be 0 (create) or the current version").into());
        }
        let txn = lapor_platform::db::begin_write(&self.db)
            .await
            .map_err(Error::from)?;
        let stored =
            rule_store::put(&txn, &self.desk.config, spec, r.expected_version, &caller.subject).await?;
        txn.commit().await.map_err(Error::from)?;
        tracing::info!(rule_id = %stored.spec.id, version = stored.version, by = %caller.subject, "routing rule saved");
        Ok(Response::new(pb::PutRuleResponse {
            rule: Some(rule_to_proto(
                &stored.spec,
                stored.version,
                Some(stored.updated_at),
                &stored.updated_by,
            )),
        }))
    }

    async fn delete_rule(
        &self,
        req: Request<pb::DeleteRuleRequest>,
    ) -> Result<Response<pb::DeleteRuleResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator, Role::Supervisor])?;
        let r = req.into_inner();
        let txn = lapor_platform::db::begin_write(&self.db)
            .await
            .map_err(Error::from)?;
        let version = rule_store::delete(&txn, &r.rule_id, r.expected_version, &caller.subject).await?;
        txn.commit().await.map_err(Error::from)?;
        tracing::info!(rule_id = %r.rule_id, version, by = %caller.subject, "routing rule deleted");
        Ok(Response::new(pb::DeleteRuleResponse { version }))
    }

    async fn explain_routing(
        &self,
        req: Request<pb::ExplainRoutingRequest>,
    ) -> Result<Response<pb::ExplainRoutingResponse>, tonic::Status> {
        Caller::of(&req)?.require(&[Role::Operator, Role::Supervisor, Role::Auditor])?;
        let id = parse_report_id(&req.get_ref().report_id)?;
        let row = queue_report::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(format!("no report {id}")))?;
        let content = crate::decisions::content_of(&row)?;
        let stored = rule_store::load(&self.db).await?;
        let specs: Vec<RuleSpec> = stored.iter().map(|r| r.spec.clone()).collect();
        let subject = Subject {
            kind: content.kind,
            category: content.category.as_ref(),
            title: &content.title,
            body: &content.body,
            location: content.location.as_ref(),
        };
        let (winner, verdicts) = explain(&specs, &subject);
        let version_of = |id: &str| stored.iter().find(|s| s.spec.id == id).map_or(0, |s| s.version);
        let summary = match winner {
            Some(w) if w.auto_dispatch => format!(
                "rule {} (v{}) dispatches to {} automatically",
                w.id,
                version_of(&w.id),
                w.opd
            ),
            Some(w) => format!(
                "rule {} (v{}) suggests {}; the operator decides",
                w.id,
                version_of(&w.id),
                w.opd
            ),
            None => "no rule matches: the report waits for the operator".to_owned(),
        };
        Ok(Response::new(pb::ExplainRoutingResponse {
            rule_id: winner.map(|w| w.id.clone()).unwrap_or_default(),
            opd_id: winner.map(|w| w.opd.to_string()).unwrap_or_default(),
            auto_dispatch: winner.is_some_and(|w| w.auto_dispatch),
            summary,
            verdicts: verdicts
                .into_iter()
                .map(|v| pb::RuleVerdict {
                    rule_id: v.rule.id.clone(),
                    version: version_of(&v.rule.id),
                    opd_id: v.rule.opd.to_string(),
                    matched: v.matched,
                    reasons: v.reasons,
                })
                .collect(),
            dispatched_by_rule_id: row.rule_id.unwrap_or_default(),
            dispatched_by_rule_version: row.rule_version.unwrap_or_default(),
        }))
    }

    async fn reveal_identity(
        &self,
        req: Request<pb::RevealIdentityRequest>,
    ) -> Result<Response<pb::RevealIdentityResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&self.desk.config.identity_reveal_roles)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let report_id = v.check("report_id", r.report_id.parse::<ReportId>());
        let reason = r.reason.trim().to_owned();
        if !(10..=1000).contains(&reason.chars().count()) {
            v.add("reason", "a reason of 10 to 1000 characters is required");
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let Some(report_id) = report_id else {
            return Err(tonic::Status::internal("validated id missing"));
        };
        let row = queue_report::Entity::find_by_id(report_id.as_uuid())
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(format!("no report {report_id}")))?;
        // The reveal is on the record before anything is revealed.
        self.desk
            .audit_only(&self.db, &row, "reveal_identity", &caller, &reason)
            .await?;
        let token =
            lapor_platform::auth::mint(&self.desk.config.common.auth, "routing", Role::Service, None, 60)
                .map_err(|e| tonic::Status::internal(format!("minting a service token: {e}")))?;
        let mut call = tonic::Request::new(ResolveIdentityRequest {
            report_id: report_id.to_string(),
            reason,
            on_behalf_of: caller.subject.clone(),
            on_behalf_of_role: caller.role.as_str().to_owned(),
        });
        let bearer = format!("Bearer {token}")
            .parse()
            .map_err(|_| tonic::Status::internal("bad token"))?;
        call.metadata_mut().insert("authorization", bearer);
        lapor_platform::telemetry::inject_into_metadata(call.metadata_mut());
        let answer = self
            .intake
            .clone()
            .resolve_identity(call)
            .await
            .map_err(|e| match e.code() {
                tonic::Code::NotFound => tonic::Status::not_found("no identity is stored for this report"),
                _ => {
                    tracing::warn!(error = %e, "intake did not resolve the identity");
                    tonic::Status::unavailable("the identity store is unavailable; try again")
                }
            })?;
        let a = answer.into_inner();
        let c = a.reporter.unwrap_or_default();
        Ok(Response::new(pb::RevealIdentityResponse {
            name: c.name,
            nik: c.nik,
            phone: c.phone,
            email: c.email,
            anonim: a.anonim,
        }))
    }

    async fn mark_duplicate(
        &self,
        req: Request<pb::MarkDuplicateRequest>,
    ) -> Result<Response<pb::MarkDuplicateResponse>, tonic::Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator])?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let report_id = v.check("report_id", r.report_id.parse::<ReportId>());
        let original = v.check("duplicate_of", r.duplicate_of.parse::<ReportId>());
        if report_id.is_some() && report_id == original {
            v.add("duplicate_of", "a report cannot duplicate itself");
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let (Some(report_id), Some(original)) = (report_id, original) else {
            return Err(tonic::Status::internal("validated ids missing"));
        };
        let orig = queue_report::Entity::find_by_id(original.as_uuid())
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(format!("no report {original}")))?;
        if let Some(first) = orig.duplicate_of {
            return Err(Error::FailedPrecondition(format!(
                "{original} is itself a duplicate of {first}: mark it as a duplicate of {first}"
            ))
            .into());
        }
        let decision = Decision::Archive {
            code: "duplikat".into(),
            reason: format!("Duplikat dari laporan {}", orig.tracking_id),
            duplicate_of: Some((orig.report_id, orig.tracking_id.clone())),
        };
        let report = self.decide(&caller, report_id, decision).await?;
        Ok(Response::new(pb::MarkDuplicateResponse {
            report: Some(to_item(report)),
        }))
    }
}

fn violations(e: Error) -> Vec<lapor_domain::FieldViolation> {
    match e {
        Error::InvalidArgument(v) => v.0,
        other => vec![lapor_domain::FieldViolation {
            field: String::new(),
            description: other.to_string(),
        }],
    }
}

fn rule_to_proto(r: &RuleSpec, version: i64, at: Option<DateTime<Utc>>, by: &str) -> pb::RoutingRule {
    pb::RoutingRule {
        rule_id: r.id.clone(),
        opd_id: r.opd.to_string(),
        category_id: r.category.as_ref().map(ToString::to_string).unwrap_or_default(),
        kinds: r.kinds.iter().map(|k| kind_to_proto(*k) as i32).collect(),
        keywords: r.keywords.clone(),
        kecamatan: r.kecamatan.clone(),
        kelurahan: r.kelurahan.clone(),
        polygon: r
            .polygon
            .iter()
            .map(|(latitude, longitude)| pb::GeoPoint {
                latitude: *latitude,
                longitude: *longitude,
            })
            .collect(),
        auto_dispatch: r.auto_dispatch,
        priority: r.priority,
        enabled: r.enabled,
        version,
        updated_at: at.map(ts),
        updated_by: by.to_owned(),
    }
}

fn rule_from_proto(p: &pb::RoutingRule) -> Result<RuleSpec, Error> {
    let mut v = Violations::new();
    let opd = v.check("rule.opd_id", p.opd_id.parse::<OpdId>());
    let category = if p.category_id.is_empty() {
        None
    } else {
        v.check("rule.category_id", p.category_id.parse::<CategoryId>())
    };
    let mut kinds = Vec::new();
    for k in &p.kinds {
        match kind_from_proto(*k) {
            Some(k) => kinds.push(k),
            None => v.add("rule.kinds", format!("unknown kind {k}")),
        }
    }
    v.into_result().map_err(Error::InvalidArgument)?;
    let Some(opd) = opd else {
        return Err(invalid("rule.opd_id", "required"));
    };
    Ok(RuleSpec {
        id: p.rule_id.trim().to_owned(),
        opd,
        category,
        kinds,
        keywords: p.keywords.iter().map(|k| k.trim().to_owned()).collect(),
        kecamatan: p.kecamatan.iter().map(|k| k.trim().to_owned()).collect(),
        kelurahan: p.kelurahan.iter().map(|k| k.trim().to_owned()).collect(),
        polygon: p.polygon.iter().map(|g| (g.latitude, g.longitude)).collect(),
        auto_dispatch: p.auto_dispatch,
        priority: p.priority,
        enabled: p.enabled,
    })
}

fn official(o: &crate::config::OfficialSpec) -> pb::Official {
    pb::Official {
        official_id: o.id.clone(),
        name: o.name.clone(),
    }
}

fn opd_to_proto(o: &crate::config::OpdSpec) -> pb::Opd {
    pb::Opd {
        opd_id: o.id.to_string(),
        name: o.name.clone(),
        liaison_officers: o.liaison_officers.iter().map(official).collect(),
        head: o.head.as_ref().map(official),
    }
}

/// Every OPD span from the history: a dispatch opens one, a transfer closes it.
fn spans_of(history: &[report_history::Model]) -> Vec<pb::OpdSpan> {
    let mut spans: Vec<pb::OpdSpan> = Vec::new();
    for h in history {
        match h.action.as_str() {
            "dispatch" => spans.push(pb::OpdSpan {
                opd_id: h.opd_id.clone().unwrap_or_default(),
                from: Some(ts(h.at)),
                until: None,
                ended_by: String::new(),
                reason: String::new(),
            }),
            "transfer" => {
                if let Some(open) = spans.iter_mut().rev().find(|s| s.until.is_none()) {
                    open.until = Some(ts(h.at));
                    open.ended_by = "transfer".into();
                    open.reason = h.reason.clone().unwrap_or_default();
                }
            }
            _ => {}
        }
    }
    spans
}
