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

/// To the reporter: the OPD posted a follow-up.
pub fn followed_up(tracking_id: &str, opd_name: &str, text: &str, window_days: u32) -> (String, String) {
    (
        format!("Tindak lanjut laporan {tracking_id}"),
        format!(
            "{opd_name} menindaklanjuti laporan Anda {tracking_id}: \"{text}\". Tanggapi dalam \
             {window_days} hari kerja bila belum selesai; tanpa tanggapan, laporan ditutup otomatis."
        ),
    )
}

/// To the reporter: the OPD asks for information.
pub fn info_requested(tracking_id: &str, opd_name: &str, question: &str) -> (String, String) {
    (
        format!("{opd_name} memerlukan informasi tentang laporan {tracking_id}"),
        format!(
            "{opd_name} bertanya tentang laporan Anda {tracking_id}: \"{question}\". Mohon jawab \
             melalui halaman laporan Anda."
        ),
    )
}

/// To the OPD: someone replied on a case (the text stays in opd-case).
pub fn replied(tracking_id: &str, by_reporter: bool, answers_question: bool) -> (String, String) {
    let who = if by_reporter {
        "Pelapor"
    } else {
        "Admin (Diskominfo)"
    };
    let what = if answers_question {
        "menjawab pertanyaan Anda; tenggat Anda berjalan kembali"
    } else {
        "menanggapi tindak lanjut Anda; mohon jawab kembali"
    };
    (
        format!("Tanggapan baru pada laporan {tracking_id}"),
        format!("{who} {what} pada laporan {tracking_id}."),
    )
}

/// To the reporter: the case was completed.
pub fn closed(tracking_id: &str, by_reporter: bool) -> (String, String) {
    let how = if by_reporter {
        "atas konfirmasi Anda"
    } else {
        "otomatis karena tidak ada tanggapan dalam batas waktu"
    };
    (
        format!("Laporan {tracking_id} selesai"),
        format!(
            "Laporan Anda {tracking_id} dinyatakan selesai {how}. Beri penilaian 1-5 atas \
             penanganannya melalui halaman laporan Anda."
        ),
    )
}

/// To the reporter: the Ombudsman request was recorded.
pub fn ombudsman_requested(tracking_id: &str) -> (String, String) {
    (
        format!("Permintaan ke Ombudsman untuk laporan {tracking_id}"),
        format!("Persetujuan Anda agar laporan {tracking_id} diteruskan ke Ombudsman telah dicatat."),
    )
}

/// A step's name in messages.
pub fn step_name(step: lapor_domain::Step) -> &'static str {
    match step {
        lapor_domain::Step::Verification => "verifikasi",
        lapor_domain::Step::FirstFollowUp => "tindak lanjut pertama",
        lapor_domain::Step::Completion => "penyelesaian",
    }
}

/// To the OPD (or the operator): a deadline is about to pass.
pub fn sla_warning(report: &str, step: &str, due: &str) -> (String, String) {
    (
        format!("Tenggat {step} segera berakhir"),
        format!("Tenggat {step} untuk laporan {report} berakhir pada {due}. Mohon segera ditindaklanjuti."),
    )
}

/// To the OPD (or the operator): a deadline passed.
pub fn sla_breached(report: &str, step: &str, due: &str) -> (String, String) {
    (
        format!("Tenggat {step} terlewati"),
        format!(
            "Laporan {report} melewati tenggat {step} ({due}). Keterlambatan ini tercatat dan \
             diperhitungkan dalam penilaian kinerja pejabat yang bertanggung jawab."
        ),
    )
}

/// To an official higher up: a breached deadline escalated to them.
pub fn sla_escalated(report: &str, step: &str, days: u32, level: &str) -> (String, String) {
    (
        format!("Eskalasi ({level}): laporan terlambat {days} hari kerja"),
        format!(
            "Tenggat {step} laporan {report} telah terlewati {days} hari kerja dan dieskalasikan \
             kepada Anda ({level}). Mohon pastikan laporan segera ditindaklanjuti."
        ),
    )
}
