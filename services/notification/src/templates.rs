//! Message templates in Bahasa Indonesia (the default language). Stored as data and rendered with
//! a template engine in the notification issue; fixed texts for now.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Formats a time in the city's zone, e.g. `27-11-2026 10:15 WITA`.
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%d-%m-%Y %H:%M %Z").to_string()
}

/// To the reporter: the report was received.
pub fn report_received(tracking_id: &str, at: &str) -> (String, String) {
    (
        format!("Laporan {tracking_id} diterima"),
        format!(
            "Laporan Anda dengan nomor pelacakan {tracking_id} telah diterima pada {at} dan akan \
             diverifikasi oleh admin dalam 3 hari kerja."
        ),
    )
}

/// To the reporter: the report was sent on to an OPD.
pub fn case_opened_reporter(tracking_id: &str, opd_name: &str) -> (String, String) {
    (
        format!("Laporan {tracking_id} diteruskan"),
        format!("Laporan Anda {tracking_id} telah diteruskan kepada {opd_name} untuk ditindaklanjuti."),
    )
}

/// To the OPD: a new case arrived.
pub fn case_opened_opd(tracking_id: &str, at: &str) -> (String, String) {
    (
        format!("Laporan baru {tracking_id}"),
        format!(
            "Laporan baru {tracking_id} diterima pada {at}. Mohon tindak lanjut pertama dalam 5 hari kerja."
        ),
    )
}

/// To the reporter: the report is on hold until they complete it (Tunda).
pub fn report_on_hold(tracking_id: &str, reason: &str) -> (String, String) {
    (
        format!("Laporan {tracking_id} perlu dilengkapi"),
        format!(
            "Laporan Anda {tracking_id} ditunda karena belum lengkap: {reason}. Mohon lengkapi \
             laporan Anda agar dapat diverifikasi."
        ),
    )
}
