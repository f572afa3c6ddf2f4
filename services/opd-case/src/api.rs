//! The CaseService gRPC API. Scoping by OPD happens in the query, so another OPD's case is
//! indistinguishable from a missing one. Anonymous reporters appear only as "anonim".

use lapor_domain::content::Location;
use lapor_domain::{CaseId, ReportKind, Status, TrackingId, Violations};
use lapor_events::codec::{kind_to_proto, location_to_proto, ts};
use lapor_platform::{Caller, Role};
use lapor_proto::cases::v1::{self as pb, case_service_server::CaseService};
use lapor_proto::common::v1::ReportStatus;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use tonic::{Request, Response};

use crate::entities::case;
use crate::error::Error;

/// The API state.
pub struct Api {
    pub db: DatabaseConnection,
}

/// Restricts a query to what the caller may see; `None` when the role may see no case.
fn scoped(caller: &Caller) -> Result<Select<case::Entity>, tonic::Status> {
    caller.require(&[Role::OpdOfficer, Role::Supervisor, Role::Auditor])?;
    let q = case::Entity::find();
    Ok(match (&caller.role, &caller.opd) {
        (Role::OpdOfficer, Some(opd)) => q.filter(case::Column::OpdId.eq(opd.as_str())),
        (Role::OpdOfficer, None) => {
            return Err(tonic::Status::permission_denied("officer token without OPD"));
        }
        _ => q,
    })
}

fn status_to_proto(code: &str) -> i32 {
    (match Status::from_code(code) {
        Some(Status::Dispatched) => ReportStatus::Dispatched,
        Some(Status::InProgress) => ReportStatus::InProgress,
        Some(Status::Completed) => ReportStatus::Completed,
        Some(Status::Submitted) => ReportStatus::Submitted,
        Some(Status::OnHold) => ReportStatus::OnHold,
        Some(Status::NotAuthorized) => ReportStatus::NotAuthorized,
        Some(Status::Archived) => ReportStatus::Archived,
        None => ReportStatus::Unspecified,
    }) as i32
}

fn to_proto(m: case::Model) -> pb::Case {
    let reporter_display = if m.anonim {
        "anonim".to_owned()
    } else {
        format!("pelapor-{}", &m.reporter_ref.simple().to_string()[..8])
    };
    pb::Case {
        case_id: m.id.to_string(),
        report_id: m.report_id.to_string(),
        tracking_id: m.tracking_id,
        opd_id: m.opd_id,
        kind: ReportKind::from_code(&m.kind).map_or(0, |k| kind_to_proto(k) as i32),
        title: m.title,
        body: m.body,
        category_id: m.category_id.unwrap_or_default(),
        location: m
            .location
            .and_then(|l| serde_json::from_value::<Location>(l).ok())
            .map(|l| location_to_proto(&l)),
        status: status_to_proto(&m.status),
        reporter_display,
        anonim: m.anonim,
        rahasia: m.rahasia,
        submitted_at: Some(ts(m.submitted_at)),
        opened_at: Some(ts(m.opened_at)),
    }
}

#[tonic::async_trait]
impl CaseService for Api {
    async fn list_cases(
        &self,
        req: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, tonic::Status> {
        let mut q = scoped(&Caller::of(&req)?)?;
        let r = req.into_inner();
        let mut v = Violations::new();
        let limit: u64 = match r.page_size {
            0 => 50,
            n @ 1..=200 => u64::from(n),
            _ => {
                v.add("page_size", "must be between 0 and 200");
                0
            }
        };
        if !r.tracking_id.is_empty()
            && let Some(t) = v.check("tracking_id", r.tracking_id.parse::<TrackingId>())
        {
            q = q.filter(case::Column::TrackingId.eq(t.as_str()));
        }
        if !r.page_token.is_empty() {
            match r.page_token.parse::<CaseId>() {
                // Case ids are UUIDv7: ordering by id is ordering by opening time.
                Ok(after) => q = q.filter(Condition::all().add(case::Column::Id.lt(after.as_uuid()))),
                Err(_) => v.add("page_token", "not a page token from this API"),
            }
        }
        v.into_result().map_err(Error::InvalidArgument)?;
        let rows = q
            .order_by_desc(case::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await
            .map_err(Error::from)?;
        let more = rows.len() as u64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => last.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListCasesResponse {
            cases: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_case(
        &self,
        req: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::GetCaseResponse>, tonic::Status> {
        let q = scoped(&Caller::of(&req)?)?;
        let id: CaseId = req
            .get_ref()
            .case_id
            .parse()
            .map_err(|e: lapor_domain::ids::IdError| {
                lapor_platform::status::invalid_field("case_id", e.to_string())
            })?;
        let row = q
            .filter(case::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound)?;
        Ok(Response::new(pb::GetCaseResponse {
            case: Some(to_proto(row)),
        }))
    }
}
