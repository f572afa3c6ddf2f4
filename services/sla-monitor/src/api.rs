//! The SlaService gRPC API: a report's deadlines with their state now, their pauses and every
//! move of their due time.

use chrono::Utc;
use lapor_domain::calendar::CalendarSpec;
use lapor_domain::deadlines::{Deadline, Pause, State};
use lapor_domain::sla::{Allowance, Unit};
use lapor_domain::{ReportId, Step};
use lapor_events::codec::ts;
use lapor_platform::{Caller, Role};
use lapor_proto::sla::v1::{self as pb, sla_service_server::SlaService};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use tonic::{Request, Response, Status};

use crate::entities::{change, deadline};

/// The API state.
pub struct Api {
    pub db: DatabaseConnection,
    pub config: std::sync::Arc<crate::config::Config>,
    pub live: std::sync::Arc<crate::engine::Live>,
    pub bus: lapor_events::Bus,
    pub relay_wake: std::sync::Arc<tokio::sync::Notify>,
}

fn spec_to_proto(s: &CalendarSpec) -> pb::Calendar {
    pb::Calendar {
        time_zone: s.time_zone.clone(),
        working_weekdays: s.working_weekdays.clone(),
        holidays: s
            .holidays
            .iter()
            .map(|h| pb::Holiday {
                date: h.date.to_string(),
                name: h.name.clone(),
                source: h.source.clone(),
            })
            .collect(),
        office_open: s.office_hours.open.clone(),
        office_close: s.office_hours.close.clone(),
    }
}

fn version_to_proto(v: &crate::entities::calendar_version::Model) -> Result<pb::CalendarVersion, Status> {
    let spec = crate::calendars::spec_of(v).map_err(|e| lapor_platform::status::internal(&e))?;
    Ok(pb::CalendarVersion {
        version: u64::try_from(v.version).unwrap_or(0),
        calendar: Some(spec_to_proto(&spec)),
        reason: v.reason.clone(),
        changed_by: v.changed_by.clone(),
        changed_at: Some(ts(v.changed_at)),
    })
}

fn spec_from_proto(c: &pb::Calendar, v: &mut lapor_domain::Violations) -> CalendarSpec {
    let holidays = c
        .holidays
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let date = v.check(
                &format!("calendar.holidays[{i}].date"),
                chrono::NaiveDate::parse_from_str(&h.date, "%Y-%m-%d"),
            )?;
            Some(lapor_domain::calendar::Holiday {
                date,
                name: h.name.trim().to_owned(),
                source: h.source.trim().to_owned(),
            })
        })
        .collect();
    CalendarSpec {
        time_zone: c.time_zone.trim().to_owned(),
        working_weekdays: c.working_weekdays.clone(),
        holidays,
        office_hours: lapor_domain::calendar::OfficeHours {
            open: c.office_open.trim().to_owned(),
            close: c.office_close.trim().to_owned(),
        },
    }
}

const STAFF: [Role; 5] = [
    Role::Operator,
    Role::Supervisor,
    Role::Auditor,
    Role::Service,
    Role::OpdOfficer,
];

impl Api {
    /// Puts a new calendar version in force and starts recomputing the open deadlines.
    async fn put_version(
        &self,
        spec: CalendarSpec,
        reason: &str,
        expected: u64,
        by: &str,
    ) -> Result<(u64, u64), Status> {
        let internal = |e: sea_orm::DbErr| lapor_platform::status::internal(&e);
        let engine = crate::engine::Engine::new(spec.clone(), self.live.get().policy.clone())
            .map_err(|e| lapor_platform::status::invalid_field("calendar", e.to_string()))?;
        let txn = lapor_platform::db::begin_write(&self.db)
            .await
            .map_err(internal)?;
        let current = crate::calendars::current(&txn).await.map_err(internal)?;
        let in_force = current
            .as_ref()
            .map_or(0, |c| u64::try_from(c.version).unwrap_or(0));
        if in_force != expected {
            return Err(Status::aborted(format!(
                "the calendar changed meanwhile: version {in_force} is in force, not {expected}"
            )));
        }
        let v = crate::calendars::append(&txn, &self.bus, &spec, reason, by, Utc::now())
            .await
            .map_err(|_| Status::aborted("the calendar changed meanwhile"))?;
        txn.commit()
            .await
            .map_err(|_| Status::aborted("the calendar changed meanwhile"))?;
        self.relay_wake.notify_one();
        self.live.set(engine);
        let open = deadline::Entity::find()
            .filter(deadline::Column::MetAt.is_null())
            .filter(deadline::Column::EndedAt.is_null())
            .count(&self.db)
            .await
            .map_err(internal)?;
        let (db, live, config) = (self.db.clone(), self.live.clone(), self.config.clone());
        let note = format!("calendar version {} by {by}: {reason}", v.version);
        tokio::spawn(async move {
            if let Err(e) = live
                .get()
                .adopt_settings(&db, &config.recompute, Utc::now(), Some(&note))
                .await
            {
                tracing::error!(error = %e, "recompute after a calendar change failed; it resumes at the next start");
            }
        });
        tracing::info!(version = v.version, by, "calendar version in force");
        Ok((u64::try_from(v.version).unwrap_or(0), open))
    }
}

/// A stored row as the domain's deadline (for its state and lateness).
fn domain(d: &deadline::Model) -> Result<Deadline, String> {
    let unit = match d.unit.as_str() {
        "WORKING_HOURS" => Unit::WorkingHours,
        "CALENDAR_DAYS" => Unit::CalendarDays,
        _ => Unit::WorkingDays,
    };
    Ok(Deadline {
        step: Step::from_code(&d.step).ok_or_else(|| format!("stored step {:?}", d.step))?,
        span: u32::try_from(d.span).unwrap_or(0),
        opd: d.opd_id.as_deref().and_then(|o| o.parse().ok()),
        started_at: d.started_at,
        allowance: Allowance {
            amount: u32::try_from(d.allowance).unwrap_or(0),
            unit,
        },
        due_at: d.due_at,
        met_at: d.met_at,
        ended_at: d.ended_at,
        pauses: serde_json::from_str::<Vec<Pause>>(&d.pauses).map_err(|e| e.to_string())?,
    })
}

fn state(s: State) -> pb::DeadlineState {
    match s {
        State::Open => pb::DeadlineState::Open,
        State::Paused => pb::DeadlineState::Paused,
        State::Met => pb::DeadlineState::Met,
        State::MetLate => pb::DeadlineState::MetLate,
        State::Breached => pb::DeadlineState::Breached,
        State::Ended => pb::DeadlineState::Ended,
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
        // Deadlines and their changes from one snapshot.
        let internal = |e: sea_orm::DbErr| lapor_platform::status::internal(&e);
        let txn = if self.db.get_database_backend() == sea_orm::DbBackend::Postgres {
            self.db
                .begin_with_config(
                    Some(sea_orm::IsolationLevel::RepeatableRead),
                    Some(sea_orm::AccessMode::ReadOnly),
                )
                .await
        } else {
            sea_orm::TransactionTrait::begin(&self.db).await
        }
        .map_err(internal)?;
        let mut rows = q.all(&txn).await.map_err(internal)?;
        // Handling order: by start, then span, then step (first follow-up before completion).
        let step_order = |code: &str| Step::ALL.iter().position(|s| s.code() == code);
        rows.sort_by(|a, b| {
            (a.started_at, a.span, step_order(&a.step)).cmp(&(b.started_at, b.span, step_order(&b.step)))
        });
        let changes = change::Entity::find()
            .filter(change::Column::ReportId.eq(id.as_uuid()))
            .order_by_asc(change::Column::Id)
            .all(&txn)
            .await
            .map_err(internal)?;
        txn.commit().await.map_err(internal)?;
        let now = Utc::now();
        let mut deadlines = Vec::with_capacity(rows.len());
        for row in &rows {
            let d = domain(row).map_err(|e| Status::internal(format!("stored deadline {}: {e}", row.id)))?;
            deadlines.push(pb::Deadline {
                report_id: row.report_id.to_string(),
                step: match d.step {
                    Step::Verification => pb::Step::Verification,
                    Step::FirstFollowUp => pb::Step::FirstFollowUp,
                    Step::Completion => pb::Step::Completion,
                } as i32,
                opd_id: row.opd_id.clone().unwrap_or_default(),
                started_at: Some(ts(d.started_at)),
                due_at: Some(ts(d.due_at)),
                met_at: d.met_at.map(ts),
                state: state(d.state(now)) as i32,
                working_days: if d.allowance.unit == Unit::WorkingDays {
                    d.allowance.amount
                } else {
                    0
                },
                pauses: d
                    .pauses
                    .iter()
                    .map(|p| pb::Pause {
                        held_at: Some(ts(p.from)),
                        resumed_at: p.to.map(ts),
                        working_days: p.added,
                    })
                    .collect(),
                span: d.span,
                ended_at: d.ended_at.map(ts),
                allowance: d.allowance.amount,
                unit: d.allowance.unit.code().to_owned(),
                changes: changes
                    .iter()
                    .filter(|c| c.deadline_id == row.id)
                    .map(|c| pb::DueChange {
                        from_due: Some(ts(c.from_due)),
                        to_due: Some(ts(c.to_due)),
                        reason: c.reason.clone(),
                        at: Some(ts(c.at)),
                    })
                    .collect(),
                late_seconds: d.late_by(now).map_or(0, |l| l.num_seconds()),
            });
        }
        Ok(Response::new(pb::ListDeadlinesResponse { deadlines }))
    }

    async fn verify_ledger(
        &self,
        req: Request<pb::VerifyLedgerRequest>,
    ) -> Result<Response<pb::VerifyLedgerResponse>, Status> {
        Caller::of(&req)?.require(&[Role::Auditor, Role::Supervisor, Role::Operator, Role::Service])?;
        let internal = |e: sea_orm::DbErr| lapor_platform::status::internal(&e);
        let v = crate::ledger::verify(&self.db).await.map_err(internal)?;
        let (mut ok, mut problem) = match &v.first_bad {
            None => (true, String::new()),
            Some((_, p)) => (false, p.clone()),
        };
        if let Some(c) = &req.get_ref().checkpoint {
            let seq = i64::try_from(c.seq)
                .map_err(|_| lapor_platform::status::invalid_field("checkpoint.seq", "too large"))?;
            if let Err(p) = crate::ledger::check_checkpoint(
                &self.db,
                &self.config.ledger.checkpoint_key,
                seq,
                &c.hash,
                &c.signature,
            )
            .await
            .map_err(internal)?
            {
                ok = false;
                if problem.is_empty() {
                    problem = p;
                }
            }
        }
        Ok(Response::new(pb::VerifyLedgerResponse {
            ok,
            entries: v.entries,
            first_bad_seq: v
                .first_bad
                .as_ref()
                .map_or(0, |(s, _)| u64::try_from(*s).unwrap_or(0)),
            problem,
            last_good_seq: u64::try_from(v.last_seq).unwrap_or(0),
            last_good_hash: v.last_hash,
        }))
    }

    async fn export_checkpoint(
        &self,
        req: Request<pb::ExportCheckpointRequest>,
    ) -> Result<Response<pb::ExportCheckpointResponse>, Status> {
        Caller::of(&req)?.require(&[Role::Auditor, Role::Service])?;
        let v = crate::ledger::verify(&self.db)
            .await
            .map_err(|e| lapor_platform::status::internal(&e))?;
        let c = crate::ledger::checkpoint(&self.config.ledger.checkpoint_key, &v, Utc::now());
        Ok(Response::new(pb::ExportCheckpointResponse {
            checkpoint: Some(pb::LedgerCheckpoint {
                seq: u64::try_from(c.seq).unwrap_or(0),
                hash: c.hash,
                at: Some(ts(c.at)),
                signature: c.signature,
            }),
            chain_ok: v.first_bad.is_none(),
        }))
    }

    async fn compliance_report(
        &self,
        req: Request<pb::ComplianceReportRequest>,
    ) -> Result<Response<pb::ComplianceReportResponse>, Status> {
        Caller::of(&req)?.require(&[Role::Supervisor, Role::Auditor, Role::Operator, Role::Service])?;
        let r = req.into_inner();
        let mut v = lapor_domain::Violations::new();
        let from = v.check("from", chrono::NaiveDate::parse_from_str(&r.from, "%Y-%m-%d"));
        let to = v.check("to", chrono::NaiveDate::parse_from_str(&r.to, "%Y-%m-%d"));
        if let (Some(f), Some(t)) = (from, to) {
            if t < f {
                v.add("to", "must not be before from");
            } else if (t - f).num_days() > 366 {
                v.add("to", "a period is at most a year");
            }
        }
        let opd = (!r.opd_id.is_empty()).then_some(r.opd_id.clone());
        if let Some(o) = &opd {
            v.check("opd_id", o.parse::<lapor_domain::OpdId>());
        }
        v.into_result()
            .map_err(|v| lapor_platform::status::invalid_argument(&v))?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(Status::internal("validated dates missing"));
        };
        let engine = self.live.get();
        let end = engine.calendar.end_of_day(to);
        let as_of = lapor_events::codec::from_ts(r.as_of.as_ref()).unwrap_or_else(|| Utc::now().min(end));
        let report = crate::compliance::report(
            &self.db,
            &self.config,
            &engine.calendar,
            (from, to),
            opd.as_deref(),
            as_of,
        )
        .await
        .map_err(|e| lapor_platform::status::internal(&e))?;
        Ok(Response::new(report))
    }

    async fn get_calendar(
        &self,
        req: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::GetCalendarResponse>, Status> {
        Caller::of(&req)?.require(&STAFF)?;
        let v = crate::calendars::current(&self.db)
            .await
            .map_err(|e| lapor_platform::status::internal(&e))?
            .ok_or_else(|| Status::failed_precondition("no calendar yet"))?;
        Ok(Response::new(pb::GetCalendarResponse {
            current: Some(version_to_proto(&v)?),
        }))
    }

    async fn list_calendar_versions(
        &self,
        req: Request<pb::ListCalendarVersionsRequest>,
    ) -> Result<Response<pb::ListCalendarVersionsResponse>, Status> {
        Caller::of(&req)?.require(&STAFF)?;
        let rows = crate::entities::calendar_version::Entity::find()
            .order_by_desc(crate::entities::calendar_version::Column::Version)
            .all(&self.db)
            .await
            .map_err(|e| lapor_platform::status::internal(&e))?;
        Ok(Response::new(pb::ListCalendarVersionsResponse {
            versions: rows.iter().map(version_to_proto).collect::<Result<_, _>>()?,
        }))
    }

    async fn put_calendar(
        &self,
        req: Request<pb::PutCalendarRequest>,
    ) -> Result<Response<pb::PutCalendarResponse>, Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator])?;
        let r = req.into_inner();
        let mut v = lapor_domain::Violations::new();
        let reason = r.reason.trim().to_owned();
        if !(5..=500).contains(&reason.chars().count()) {
            v.add("reason", "must have 5 to 500 characters");
        }
        let spec = match &r.calendar {
            Some(c) => {
                let spec = spec_from_proto(c, &mut v);
                v.0.extend(crate::calendars::validate(&spec).0);
                spec
            }
            None => {
                v.add("calendar", "required");
                CalendarSpec::default()
            }
        };
        v.into_result()
            .map_err(|v| lapor_platform::status::invalid_argument(&v))?;
        let (version, reports) = self
            .put_version(spec, &reason, r.expected_version, &caller.subject)
            .await?;
        Ok(Response::new(pb::PutCalendarResponse {
            version,
            reports_to_recompute: reports,
        }))
    }

    async fn import_i_calendar(
        &self,
        req: Request<pb::ImportICalendarRequest>,
    ) -> Result<Response<pb::ImportICalendarResponse>, Status> {
        let caller = Caller::of(&req)?;
        caller.require(&[Role::Operator])?;
        let r = req.into_inner();
        let mut v = lapor_domain::Violations::new();
        let reason = r.reason.trim().to_owned();
        if !(5..=500).contains(&reason.chars().count()) {
            v.add("reason", "must have 5 to 500 characters");
        }
        let days = v.check("ics", crate::calendars::parse_ics(&r.ics, &reason));
        v.into_result()
            .map_err(|v| lapor_platform::status::invalid_argument(&v))?;
        let mut spec = self.live.get().spec.clone();
        let mut added = 0u64;
        for d in days.unwrap_or_default() {
            if !spec.holidays.iter().any(|h| h.date == d.date) {
                spec.holidays.push(d);
                added += 1;
            }
        }
        spec.holidays.sort_by_key(|h| h.date);
        let (version, _) = self
            .put_version(spec, &reason, r.expected_version, &caller.subject)
            .await?;
        Ok(Response::new(pb::ImportICalendarResponse { version, added }))
    }

    async fn record_compliance(
        &self,
        req: Request<pb::RecordComplianceRequest>,
    ) -> Result<Response<pb::RecordComplianceResponse>, Status> {
        Caller::of(&req)?.require(&[Role::Auditor, Role::Supervisor])?;
        let r = req.into_inner();
        let mut v = lapor_domain::Violations::new();
        let from = v.check("from", chrono::NaiveDate::parse_from_str(&r.from, "%Y-%m-%d"));
        let to = v.check("to", chrono::NaiveDate::parse_from_str(&r.to, "%Y-%m-%d"));
        let engine = self.live.get();
        let now = Utc::now();
        if let (Some(f), Some(t)) = (from, to) {
            if t < f {
                v.add("to", "must not be before from");
            } else if engine.calendar.end_of_day(t) >= now {
                v.add("to", "the period has not ended yet");
            }
        }
        v.into_result()
            .map_err(|v| lapor_platform::status::invalid_argument(&v))?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(Status::internal("validated dates missing"));
        };
        let internal = |e: sea_orm::DbErr| lapor_platform::status::internal(&e);
        let kind = format!("compliance:{from}:{to}");
        let txn = lapor_platform::db::begin_write(&self.db)
            .await
            .map_err(internal)?;
        crate::ledger::lock(&txn).await.map_err(internal)?;
        if let Some(e) = crate::entities::ledger::Entity::find()
            .filter(crate::entities::ledger::Column::Kind.eq(kind.clone()))
            .one(&txn)
            .await
            .map_err(internal)?
        {
            return Err(Status::already_exists(format!(
                "the period was recorded in ledger entry {} ({})",
                e.seq, e.hash
            )));
        }
        let report = crate::compliance::report(&txn, &self.config, &engine.calendar, (from, to), None, now)
            .await
            .map_err(internal)?;
        let opds: Vec<serde_json::Value> = report
            .opds
            .iter()
            .map(|o| {
                let sum = |f: fn(&pb::StepCompliance) -> u64| o.steps.iter().map(f).sum::<u64>();
                serde_json::json!({
                    "opd_id": o.opd_id,
                    "received": o.received,
                    "due": sum(|s| s.due),
                    "on_time": sum(|s| s.on_time),
                    "breached": sum(|s| s.breached),
                    "pending": sum(|s| s.pending),
                    "ended": sum(|s| s.ended),
                    "compliance_percent": o.compliance_percent,
                    "allowance_cut_percent": o.allowance_cut_percent,
                    "officials": o.officials,
                })
            })
            .collect();
        let officials: Vec<serde_json::Value> = report
            .officials
            .iter()
            .map(|o| {
                serde_json::json!({
                    "official_id": o.official_id,
                    "opd_ids": o.opd_ids,
                    "due": o.due,
                    "on_time": o.on_time,
                    "breached": o.breached,
                    "compliance_percent": o.compliance_percent,
                    "allowance_cut_percent": o.allowance_cut_percent,
                })
            })
            .collect();
        let body = serde_json::json!({
            "from": from.to_string(),
            "to": to.to_string(),
            "as_of": now,
            "rule": report.rule,
            "opds": opds,
            "officials": officials,
            "breaches": report.breaches.len(),
        });
        let seq = crate::ledger::append(&txn, &kind, &body, now)
            .await
            .map_err(internal)?;
        let hash = crate::entities::ledger::Entity::find_by_id(seq)
            .one(&txn)
            .await
            .map_err(internal)?
            .map(|e| e.hash)
            .unwrap_or_default();
        txn.commit().await.map_err(internal)?;
        tracing::info!(ledger_seq = seq, %from, %to, "compliance results recorded");
        Ok(Response::new(pb::RecordComplianceResponse {
            ledger_seq: u64::try_from(seq).unwrap_or(0),
            hash,
        }))
    }
}
