//! Compliance and allowance reports: deadlines that fell due in a period, classified as of an
//! instant (on time, breached, pending, ended by a timely transfer), per OPD and per accountable
//! official, with the allowance consequence under the configured rule and the evidence of every
//! breach. Read straight from the deadline rows, so the numbers reconcile with the case history.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use lapor_domain::Calendar;
use lapor_domain::deadlines::Pause;
use lapor_events::codec::ts;
use lapor_proto::sla::v1 as pb;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::config::Config;
use crate::entities::deadline;

/// How a deadline stood at the report's instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done by its due time.
    OnTime,
    /// Done late, not done by its due time, or held past it and transferred.
    Breached,
    /// Not due yet, or its clock stood still.
    Pending,
    /// The OPD's span ended by a transfer before the due time.
    Ended,
}

/// Classifies a deadline as of `as_of` (anything that happened later is ignored).
pub fn classify(d: &deadline::Model, as_of: DateTime<Utc>) -> Outcome {
    let met = d.met_at.filter(|m| *m <= as_of);
    let ended = d.ended_at.filter(|e| *e <= as_of);
    match (met, ended) {
        (Some(m), _) if m <= d.due_at => Outcome::OnTime,
        (Some(_), _) => Outcome::Breached,
        (None, Some(e)) if e <= d.due_at => Outcome::Ended,
        (None, Some(_)) => Outcome::Breached,
        (None, None) => {
            let pauses: Vec<Pause> = serde_json::from_str(&d.pauses).unwrap_or_default();
            let paused = pauses
                .iter()
                .any(|p| p.from <= as_of && p.to.is_none_or(|t| t > as_of));
            if !paused && as_of > d.due_at {
                Outcome::Breached
            } else {
                Outcome::Pending
            }
        }
    }
}

#[derive(Default, Clone)]
struct Counts {
    due: u64,
    on_time: u64,
    breached: u64,
    pending: u64,
    ended: u64,
}

impl Counts {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::OnTime => self.on_time += 1,
            Outcome::Breached => self.breached += 1,
            Outcome::Pending => self.pending += 1,
            Outcome::Ended => self.ended += 1,
        }
        if o != Outcome::Ended {
            self.due += 1;
        }
    }

    fn percent(&self) -> f64 {
        let judged = self.on_time + self.breached;
        if judged == 0 {
            100.0
        } else {
            (self.on_time as f64 * 1000.0 / judged as f64).round() / 10.0
        }
    }
}

/// Builds the report for the local days `from..=to`.
pub async fn report(
    db: &impl ConnectionTrait,
    cfg: &Config,
    calendar: &Calendar,
    (from, to): (NaiveDate, NaiveDate),
    only_opd: Option<&str>,
    as_of: DateTime<Utc>,
) -> Result<pb::ComplianceReportResponse, DbErr> {
    let start = calendar.end_of_day(from.pred_opt().unwrap_or(from)) + chrono::Duration::seconds(1);
    let end = calendar.end_of_day(to) + chrono::Duration::seconds(1);
    let opd_of = |d: &deadline::Model| d.opd_id.clone().unwrap_or_else(|| cfg.operator_opd.clone());
    // Open and closed deadlines apart: each part is what one partial index by due time holds
    // (migration m0007).
    let due = || {
        deadline::Entity::find()
            .filter(deadline::Column::DueAt.gte(start))
            .filter(deadline::Column::DueAt.lt(end))
    };
    let mut due_rows = due()
        .filter(deadline::Column::MetAt.is_null())
        .filter(deadline::Column::EndedAt.is_null())
        .all(db)
        .await?;
    due_rows.extend(
        due()
            .filter(
                sea_orm::Condition::any()
                    .add(deadline::Column::MetAt.is_not_null())
                    .add(deadline::Column::EndedAt.is_not_null()),
            )
            .all(db)
            .await?,
    );
    let started = deadline::Entity::find()
        .filter(deadline::Column::Step.eq(lapor_domain::Step::FirstFollowUp.code()))
        .filter(deadline::Column::StartedAt.gte(start))
        .filter(deadline::Column::StartedAt.lt(end))
        .all(db)
        .await?;
    let mut received: BTreeMap<String, u64> = BTreeMap::new();
    for d in &started {
        *received.entry(opd_of(d)).or_default() += 1;
    }
    let mut per_opd: BTreeMap<String, BTreeMap<String, Counts>> = BTreeMap::new();
    let mut breaches = Vec::new();
    for d in &due_rows {
        let opd = opd_of(d);
        let outcome = classify(d, as_of);
        per_opd
            .entry(opd.clone())
            .or_default()
            .entry(d.step.clone())
            .or_default()
            .add(outcome);
        if outcome == Outcome::Breached {
            let done = d.met_at.or(d.ended_at).filter(|t| *t <= as_of);
            breaches.push(pb::BreachEvidence {
                deadline_id: d.id.clone(),
                report_id: d.report_id.to_string(),
                step: d.step.clone(),
                span: u32::try_from(d.span).unwrap_or(0),
                opd_id: opd.clone(),
                started_at: Some(ts(d.started_at)),
                due_at: Some(ts(d.due_at)),
                done_at: done.map(ts),
                late_seconds: (done.unwrap_or(as_of) - d.due_at).num_seconds().max(0),
                officials: cfg.officials_of(d.opd_id.as_deref()),
            });
        }
    }
    for opd in received.keys() {
        per_opd.entry(opd.clone()).or_default();
    }
    if let Some(o) = only_opd {
        per_opd.retain(|k, _| k == o);
        breaches.retain(|b| b.opd_id == o);
    }
    breaches.sort_by(|a, b| {
        (
            &a.opd_id,
            &a.due_at.as_ref().map(|t| (t.seconds, t.nanos)),
            &a.deadline_id,
        )
            .cmp(&(
                &b.opd_id,
                &b.due_at.as_ref().map(|t| (t.seconds, t.nanos)),
                &b.deadline_id,
            ))
    });
    let rule = &cfg.allowance;
    let mut opds = Vec::new();
    let mut by_official: BTreeMap<String, (BTreeSet<String>, Counts)> = BTreeMap::new();
    for (opd, steps) in &per_opd {
        let mut total = Counts::default();
        let mut step_rows = Vec::new();
        for step in lapor_domain::Step::ALL {
            let c = steps.get(step.code()).cloned().unwrap_or_default();
            total.due += c.due;
            total.on_time += c.on_time;
            total.breached += c.breached;
            total.pending += c.pending;
            total.ended += c.ended;
            step_rows.push(pb::StepCompliance {
                step: step.code().to_owned(),
                due: c.due,
                on_time: c.on_time,
                breached: c.breached,
                pending: c.pending,
                ended: c.ended,
            });
        }
        let officials = cfg.officials_of(
            if *opd == cfg.operator_opd && !cfg.opds.iter().any(|o| &o.id == opd) {
                None
            } else {
                Some(opd.as_str())
            },
        );
        for o in &officials {
            let e = by_official.entry(o.clone()).or_default();
            e.0.insert(opd.clone());
            e.1.due += total.due;
            e.1.on_time += total.on_time;
            e.1.breached += total.breached;
        }
        opds.push(pb::OpdCompliance {
            opd_id: opd.clone(),
            received: received.get(opd).copied().unwrap_or(0),
            steps: step_rows,
            compliance_percent: total.percent(),
            breaches: total.breached,
            allowance_cut_percent: rule.cut(total.breached, total.percent()),
            officials,
        });
    }
    let officials: Vec<pb::OfficialCompliance> = by_official
        .into_iter()
        .map(|(id, (opds, c))| pb::OfficialCompliance {
            official_id: id,
            opd_ids: opds.into_iter().collect(),
            due: c.due,
            on_time: c.on_time,
            breached: c.breached,
            compliance_percent: c.percent(),
            allowance_cut_percent: rule.cut(c.breached, c.percent()),
        })
        .collect();
    let csv = to_csv(&opds, &officials, &breaches);
    Ok(pb::ComplianceReportResponse {
        opds,
        officials,
        breaches,
        csv,
        rule: rule.describe(),
        as_of: Some(ts(as_of)),
    })
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn time(t: Option<&prost_types::Timestamp>) -> String {
    lapor_events::codec::from_ts(t).map_or_else(String::new, |t| t.to_rfc3339())
}

/// The report as CSV: three sections, each with its own header line.
fn to_csv(
    opds: &[pb::OpdCompliance],
    officials: &[pb::OfficialCompliance],
    breaches: &[pb::BreachEvidence],
) -> String {
    let mut out = String::from(
        "section,opd_id,received,step,due,on_time,breached,pending,ended,compliance_percent,breaches,allowance_cut_percent\n",
    );
    for o in opds {
        for s in &o.steps {
            out.push_str(&format!(
                "opd,{},{},{},{},{},{},{},{},{:.1},{},{:.1}\n",
                field(&o.opd_id),
                o.received,
                s.step,
                s.due,
                s.on_time,
                s.breached,
                s.pending,
                s.ended,
                o.compliance_percent,
                o.breaches,
                o.allowance_cut_percent
            ));
        }
    }
    out.push_str(
        "\nsection,official_id,opd_ids,due,on_time,breached,compliance_percent,allowance_cut_percent\n",
    );
    for o in officials {
        out.push_str(&format!(
            "official,{},{},{},{},{},{:.1},{:.1}\n",
            field(&o.official_id),
            field(&o.opd_ids.join(" ")),
            o.due,
            o.on_time,
            o.breached,
            o.compliance_percent,
            o.allowance_cut_percent
        ));
    }
    out.push_str(
        "\nsection,deadline_id,report_id,step,span,opd_id,started_at,due_at,done_at,late_seconds,officials\n",
    );
    for b in breaches {
        out.push_str(&format!(
            "breach,{},{},{},{},{},{},{},{},{},{}\n",
            field(&b.deadline_id),
            b.report_id,
            b.step,
            b.span,
            field(&b.opd_id),
            time(b.started_at.as_ref()),
            time(b.due_at.as_ref()),
            time(b.done_at.as_ref()),
            b.late_seconds,
            field(&b.officials.join(" "))
        ));
    }
    out
}
