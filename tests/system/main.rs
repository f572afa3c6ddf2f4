//! Whole-system suite: every test starts all five services in-process against real PostgreSQL
//! and NATS JetStream, with its own database and stream.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod calendar;
mod dialogue;
mod flow;
mod followup;
mod guards;
mod notify;
mod operator;
mod privacy;
mod restart;
mod shutdown;
mod sqlite;
mod telemetry;
mod tracing;

use lapor_proto::intake::v1 as pi;
use lapor_system_tests::{System, authed};

/// A valid submission of `kind` in `category`.
pub fn submission(key: &str, kind: i32, category: &str) -> pi::SubmitReportRequest {
    pi::SubmitReportRequest {
        idempotency_key: key.into(),
        kind,
        title: "Jalan berlubang di depan pasar".into(),
        body: "Sejak dua minggu jalan di depan Pasar Rawa Indah berlubang besar dan membahayakan pengendara."
            .into(),
        category_id: category.into(),
        incident_date: String::new(),
        location: Some(lapor_proto::common::v1::Location {
            text: "Jl. Pattimura depan Pasar Rawa Indah".into(),
            latitude: Some(0.1337),
            longitude: Some(117.4917),
            kecamatan: "Bontang Utara".into(),
            kelurahan: "Api-Api".into(),
        }),
        anonim: false,
        rahasia: false,
        channel: lapor_proto::common::v1::Channel::Web as i32,
        reporter: Some(pi::ReporterContact {
            name: "Budi Santoso".into(),
            nik: String::new(),
            phone: "0812 5555 0101".into(),
            email: "budi@example.org".into(),
        }),
    }
}

/// Submits and returns the response.
pub async fn submit(sys: &System, req: pi::SubmitReportRequest) -> pi::SubmitReportResponse {
    let token = sys.token(lapor_platform::Role::Reporter, None);
    sys.intake()
        .await
        .submit_report(authed(req, &token))
        .await
        .unwrap_or_else(|e| panic!("submit: {e:?}"))
        .into_inner()
}
