//! laporctl: mints development tokens and submits and reads reports over the gRPC APIs.

use anyhow::Context;
use clap::{Parser, Subcommand};
use lapor_platform::Role;
use lapor_platform::config::AuthConfig;
use lapor_proto::cases::v1::{
    self as pc, case_service_client::CaseServiceClient, public_feed_service_client::PublicFeedServiceClient,
    reporter_case_service_client::ReporterCaseServiceClient,
};
use lapor_proto::common::v1::{Channel, ReportKind};
use lapor_proto::intake::v1::{self as pi, intake_service_client::IntakeServiceClient};
use lapor_proto::notification::v1::{self as pn, notification_service_client::NotificationServiceClient};
use lapor_proto::routing::v1::{self as pr, routing_service_client::RoutingServiceClient};
use lapor_proto::sla::v1::{self as ps, sla_service_client::SlaServiceClient};

#[derive(Parser)]
#[command(name = "laporctl", about = "Command-line client for lapor")]
struct Cli {
    /// Bearer token; minted from the development secret when absent.
    #[arg(long, env = "LAPOR_TOKEN", global = true)]
    token: Option<String>,
    /// HS256 secret used to mint development tokens.
    #[arg(long, env = "LAPOR_DEV_SECRET", global = true)]
    secret: Option<String>,
    /// Intake address.
    #[arg(
        long,
        env = "LAPOR_INTAKE_ADDR",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    intake: String,
    /// Routing address.
    #[arg(
        long,
        env = "LAPOR_ROUTING_ADDR",
        default_value = "http://127.0.0.1:50052",
        global = true
    )]
    routing: String,
    /// opd-case address.
    #[arg(
        long,
        env = "LAPOR_CASES_ADDR",
        default_value = "http://127.0.0.1:50053",
        global = true
    )]
    cases: String,
    /// Notification address.
    #[arg(
        long,
        env = "LAPOR_NOTIFICATION_ADDR",
        default_value = "http://127.0.0.1:50054",
        global = true
    )]
    notification: String,
    /// SLA monitor address.
    #[arg(
        long,
        env = "LAPOR_SLA_ADDR",
        default_value = "http://127.0.0.1:50055",
        global = true
    )]
    sla: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Mints a development bearer token.
    Token {
        /// reporter, operator, opd_officer, supervisor, auditor or service.
        #[arg(long, default_value = "operator")]
        role: String,
        /// OPD id (for opd_officer).
        #[arg(long)]
        opd: Option<String>,
        /// Subject.
        #[arg(long, default_value = "laporctl")]
        subject: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Submits a report.
    Submit {
        /// pengaduan, aspirasi or informasi.
        #[arg(long, default_value = "pengaduan")]
        kind: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        body: String,
        #[arg(long, default_value = "")]
        category: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long)]
        anonim: bool,
        #[arg(long)]
        rahasia: bool,
        /// Idempotency key; random when absent.
        #[arg(long)]
        key: Option<String>,
    },
    /// Shows a submission to its reporter.
    Status {
        tracking_id: String,
        access_token: String,
    },
    /// Lists the operator's queue.
    Queue,
    /// Dispatches a report to an OPD.
    Dispatch { report_id: String, opd_id: String },
    /// Lists an OPD's cases.
    Cases {
        #[arg(long)]
        opd: String,
    },
    /// Shows one case with its whole timeline (as an officer of its OPD).
    Case {
        case_id: String,
        #[arg(long)]
        opd: String,
    },
    /// Posts a public follow-up (tindak lanjut) on a case.
    FollowUp {
        case_id: String,
        #[arg(long)]
        opd: String,
        text: String,
    },
    /// Asks the reporter of a case for information (stops the OPD's clock).
    Ask {
        case_id: String,
        #[arg(long)]
        opd: String,
        question: String,
    },
    /// Writes an internal note on a case.
    Note {
        case_id: String,
        #[arg(long)]
        opd: String,
        text: String,
    },
    /// Shows the reporter's timeline of a report.
    Timeline {
        tracking_id: String,
        access_token: String,
    },
    /// Replies to the OPD as the reporter.
    Reply {
        tracking_id: String,
        access_token: String,
        text: String,
    },
    /// Confirms as the reporter that the report is resolved.
    Confirm {
        tracking_id: String,
        access_token: String,
    },
    /// Rates a completed case as the reporter (1-5).
    Rate {
        tracking_id: String,
        access_token: String,
        rating: u32,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Lists the public feed.
    Feed,
    /// Shows the calendar in force and its versions.
    Calendar,
    /// Puts the `[calendar]` section of a TOML file (e.g. config/bontang.toml) in force as a new
    /// calendar version; every open deadline is recomputed.
    CalendarLoad {
        file: std::path::PathBuf,
        /// Why (the decree), 5-500 characters.
        #[arg(long)]
        reason: String,
    },
    /// Adds the all-day events of an iCalendar file as non-working days (a new version).
    CalendarImport {
        file: std::path::PathBuf,
        /// Why / the source (the decree), 5-500 characters.
        #[arg(long)]
        reason: String,
    },
    /// Verifies the SLA ledger (and, given one, a checkpoint exported earlier).
    LedgerVerify {
        /// Checkpoint file written by `ledger-checkpoint`.
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Exports a signed checkpoint of the SLA ledger (keep the output outside the database).
    LedgerCheckpoint,
    /// Lists a report's deadlines.
    Deadlines { report_id: String },
    /// Lists a report's notifications.
    Messages { report_id: String },
    /// The reporter's inbox (tracking id and access token, as the public front would call it).
    Inbox {
        tracking_id: String,
        access_token: String,
    },
    /// Lists message templates.
    Templates,
    /// Lists who hears what (notification rules).
    Rules,
    /// The trace id of a report's submission (open it in Jaeger or Tempo: docs/operations.md).
    Trace { tracking_id: String },
}

fn token(cli: &Cli, role: Role, opd: Option<&str>) -> anyhow::Result<String> {
    if let Some(t) = &cli.token {
        return Ok(t.clone());
    }
    let mut cfg = AuthConfig::default();
    if let Some(s) = &cli.secret {
        cfg.hs256_secrets = vec![s.clone()];
    }
    Ok(lapor_platform::auth::mint(&cfg, "laporctl", role, opd, 3600)?)
}

fn req<T>(msg: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(r)
}

fn show<T: std::fmt::Debug>(v: &T) {
    #[allow(clippy::print_stdout)]
    {
        println!("{v:#?}");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.cmd {
        Cmd::Token {
            role,
            opd,
            subject,
            ttl,
        } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let mut cfg = AuthConfig::default();
            if let Some(s) = &cli.secret {
                cfg.hs256_secrets = vec![s.clone()];
            }
            let t = lapor_platform::auth::mint(&cfg, subject, role, opd.as_deref(), *ttl)?;
            #[allow(clippy::print_stdout)]
            {
                println!("{t}");
            }
        }
        Cmd::Submit {
            kind,
            title,
            body,
            category,
            name,
            email,
            anonim,
            rahasia,
            key,
        } => {
            let kind = match kind.as_str() {
                "pengaduan" => ReportKind::Pengaduan,
                "aspirasi" => ReportKind::Aspirasi,
                "informasi" | "permintaan_informasi" => ReportKind::PermintaanInformasi,
                other => anyhow::bail!("unknown kind {other}"),
            };
            let mut c = IntakeServiceClient::connect(cli.intake.clone())
                .await
                .context("intake")?;
            let r = pi::SubmitReportRequest {
                idempotency_key: key.clone().unwrap_or_else(uuid_like),
                kind: kind as i32,
                title: title.clone(),
                body: body.clone(),
                category_id: category.clone(),
                anonim: *anonim,
                rahasia: *rahasia,
                channel: Channel::Integration as i32,
                reporter: Some(pi::ReporterContact {
                    name: name.clone(),
                    email: email.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            show(
                &c.submit_report(req(r, &token(&cli, Role::Reporter, None)?)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::Status {
            tracking_id,
            access_token,
        } => {
            let mut c = IntakeServiceClient::connect(cli.intake.clone())
                .await
                .context("intake")?;
            let r = pi::GetSubmissionRequest {
                tracking_id: tracking_id.clone(),
                access_token: access_token.clone(),
            };
            show(
                &c.get_submission(req(r, &token(&cli, Role::Reporter, None)?)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::Queue => {
            let mut c = RoutingServiceClient::connect(cli.routing.clone())
                .await
                .context("routing")?;
            show(
                &c.list_queue(req(
                    pr::ListQueueRequest::default(),
                    &token(&cli, Role::Operator, None)?,
                )?)
                .await?
                .into_inner(),
            );
        }
        Cmd::Dispatch { report_id, opd_id } => {
            let mut c = RoutingServiceClient::connect(cli.routing.clone())
                .await
                .context("routing")?;
            let r = pr::DispatchRequest {
                report_id: report_id.clone(),
                opd_id: opd_id.clone(),
            };
            show(
                &c.dispatch(req(r, &token(&cli, Role::Operator, None)?)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::Cases { opd } => {
            let mut c = CaseServiceClient::connect(cli.cases.clone())
                .await
                .context("opd-case")?;
            let t = token(&cli, Role::OpdOfficer, Some(opd))?;
            show(
                &c.list_cases(req(pc::ListCasesRequest::default(), &t)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::Case { case_id, opd } => {
            let mut c = cases(&cli).await?;
            let r = pc::GetCaseRequest {
                case_id: case_id.clone(),
            };
            let t = token(&cli, Role::OpdOfficer, Some(opd))?;
            show(&c.get_case(req(r, &t)?).await?.into_inner());
        }
        Cmd::FollowUp { case_id, opd, text } => {
            let mut c = cases(&cli).await?;
            let r = pc::PostFollowUpRequest {
                case_id: case_id.clone(),
                text: text.clone(),
            };
            let t = token(&cli, Role::OpdOfficer, Some(opd))?;
            show(&c.post_follow_up(req(r, &t)?).await?.into_inner());
        }
        Cmd::Ask {
            case_id,
            opd,
            question,
        } => {
            let mut c = cases(&cli).await?;
            let r = pc::RequestInformationRequest {
                case_id: case_id.clone(),
                question: question.clone(),
            };
            let t = token(&cli, Role::OpdOfficer, Some(opd))?;
            show(&c.request_information(req(r, &t)?).await?.into_inner());
        }
        Cmd::Note { case_id, opd, text } => {
            let mut c = cases(&cli).await?;
            let r = pc::AddInternalNoteRequest {
                case_id: case_id.clone(),
                text: text.clone(),
            };
            let t = token(&cli, Role::OpdOfficer, Some(opd))?;
            show(&c.add_internal_note(req(r, &t)?).await?.into_inner());
        }
        Cmd::Timeline {
            tracking_id,
            access_token,
        } => {
            let mut c = ReporterCaseServiceClient::connect(cli.cases.clone())
                .await
                .context("opd-case")?;
            let r = pc::GetTimelineRequest {
                credential: credential(tracking_id, access_token),
            };
            let t = token(&cli, Role::Reporter, None)?;
            show(&c.get_timeline(req(r, &t)?).await?.into_inner());
        }
        Cmd::Reply {
            tracking_id,
            access_token,
            text,
        } => {
            let mut c = ReporterCaseServiceClient::connect(cli.cases.clone())
                .await
                .context("opd-case")?;
            let r = pc::ReplyRequest {
                credential: credential(tracking_id, access_token),
                text: text.clone(),
            };
            let t = token(&cli, Role::Reporter, None)?;
            show(&c.reply(req(r, &t)?).await?.into_inner());
        }
        Cmd::Confirm {
            tracking_id,
            access_token,
        } => {
            let mut c = ReporterCaseServiceClient::connect(cli.cases.clone())
                .await
                .context("opd-case")?;
            let r = pc::ConfirmResolvedRequest {
                credential: credential(tracking_id, access_token),
            };
            let t = token(&cli, Role::Reporter, None)?;
            show(&c.confirm_resolved(req(r, &t)?).await?.into_inner());
        }
        Cmd::Rate {
            tracking_id,
            access_token,
            rating,
            comment,
        } => {
            let mut c = ReporterCaseServiceClient::connect(cli.cases.clone())
                .await
                .context("opd-case")?;
            let r = pc::RateCaseRequest {
                credential: credential(tracking_id, access_token),
                rating: *rating,
                comment: comment.clone(),
            };
            let t = token(&cli, Role::Reporter, None)?;
            show(&c.rate_case(req(r, &t)?).await?.into_inner());
        }
        Cmd::Feed => {
            let mut c = PublicFeedServiceClient::connect(cli.cases.clone())
                .await
                .context("opd-case")?;
            let t = token(&cli, Role::Reporter, None)?;
            show(
                &c.list_public_reports(req(pc::ListPublicReportsRequest::default(), &t)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::Calendar => {
            let mut c = SlaServiceClient::connect(cli.sla.clone())
                .await
                .context("sla-monitor")?;
            let t = token(&cli, Role::Operator, None)?;
            show(
                &c.list_calendar_versions(req(ps::ListCalendarVersionsRequest {}, &t)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::CalendarLoad { file, reason } => {
            #[derive(serde::Deserialize, serde::Serialize, Default)]
            #[serde(default)]
            struct WithCalendar {
                calendar: lapor_domain::calendar::CalendarSpec,
            }
            let spec =
                lapor_platform::config::load("laporctl", &WithCalendar::default(), Some(file))?.calendar;
            let calendar = ps::Calendar {
                time_zone: spec.time_zone,
                working_weekdays: spec.working_weekdays,
                holidays: spec
                    .holidays
                    .into_iter()
                    .map(|h| ps::Holiday {
                        date: h.date.to_string(),
                        name: h.name,
                        source: h.source,
                    })
                    .collect(),
                office_open: spec.office_hours.open,
                office_close: spec.office_hours.close,
            };
            let mut c = SlaServiceClient::connect(cli.sla.clone())
                .await
                .context("sla-monitor")?;
            let t = token(&cli, Role::Operator, None)?;
            let current = calendar_version(&mut c, &t).await?;
            let r = ps::PutCalendarRequest {
                calendar: Some(calendar),
                reason: reason.clone(),
                expected_version: current,
            };
            show(&c.put_calendar(req(r, &t)?).await?.into_inner());
        }
        Cmd::CalendarImport { file, reason } => {
            let ics = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
            let mut c = SlaServiceClient::connect(cli.sla.clone())
                .await
                .context("sla-monitor")?;
            let t = token(&cli, Role::Operator, None)?;
            let current = calendar_version(&mut c, &t).await?;
            let r = ps::ImportICalendarRequest {
                ics,
                reason: reason.clone(),
                expected_version: current,
            };
            show(&c.import_i_calendar(req(r, &t)?).await?.into_inner());
        }
        Cmd::LedgerVerify { checkpoint } => {
            let mut c = SlaServiceClient::connect(cli.sla.clone())
                .await
                .context("sla-monitor")?;
            let checkpoint = match checkpoint {
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
                    let field = |name: &str| -> anyhow::Result<String> {
                        text.lines()
                            .find_map(|l| l.strip_prefix(&format!("{name}=")))
                            .map(str::to_owned)
                            .with_context(|| format!("checkpoint file has no {name}="))
                    };
                    Some(ps::LedgerCheckpoint {
                        seq: field("seq")?.parse()?,
                        hash: field("hash")?,
                        at: None,
                        signature: field("signature")?,
                    })
                }
                None => None,
            };
            let v = c
                .verify_ledger(req(
                    ps::VerifyLedgerRequest { checkpoint },
                    &token(&cli, Role::Auditor, None)?,
                )?)
                .await?
                .into_inner();
            show(&v);
            if !v.ok {
                anyhow::bail!(
                    "the SLA ledger does not verify: entry {}: {}",
                    v.first_bad_seq,
                    v.problem
                );
            }
        }
        Cmd::LedgerCheckpoint => {
            let mut c = SlaServiceClient::connect(cli.sla.clone())
                .await
                .context("sla-monitor")?;
            let r = c
                .export_checkpoint(req(
                    ps::ExportCheckpointRequest {},
                    &token(&cli, Role::Auditor, None)?,
                )?)
                .await?
                .into_inner();
            let cp = r.checkpoint.context("no checkpoint")?;
            #[allow(clippy::print_stdout)]
            {
                println!(
                    "seq={}\nhash={}\nsignature={}\nchain_ok={}",
                    cp.seq, cp.hash, cp.signature, r.chain_ok
                );
            }
        }
        Cmd::Deadlines { report_id } => {
            let mut c = SlaServiceClient::connect(cli.sla.clone())
                .await
                .context("sla-monitor")?;
            let r = ps::ListDeadlinesRequest {
                report_id: report_id.clone(),
            };
            show(
                &c.list_deadlines(req(r, &token(&cli, Role::Operator, None)?)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::Messages { report_id } => {
            let mut c = NotificationServiceClient::connect(cli.notification.clone())
                .await
                .context("notification")?;
            let r = pn::ListMessagesRequest {
                report_id: report_id.clone(),
            };
            show(
                &c.list_messages(req(r, &token(&cli, Role::Operator, None)?)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::Inbox {
            tracking_id,
            access_token,
        } => {
            let mut c = NotificationServiceClient::connect(cli.notification.clone())
                .await
                .context("notification")?;
            let r = pn::ListReporterMessagesRequest {
                tracking_id: tracking_id.clone(),
                access_token: access_token.clone(),
            };
            show(
                &c.list_reporter_messages(req(r, &token(&cli, Role::Reporter, None)?)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::Templates => {
            let mut c = NotificationServiceClient::connect(cli.notification.clone())
                .await
                .context("notification")?;
            show(
                &c.list_templates(req(
                    pn::ListTemplatesRequest {},
                    &token(&cli, Role::Operator, None)?,
                )?)
                .await?
                .into_inner(),
            );
        }
        Cmd::Trace { tracking_id } => {
            let mut c = IntakeServiceClient::connect(cli.intake.clone())
                .await
                .context("intake")?;
            let r = pi::GetTraceRequest {
                tracking_id: tracking_id.clone(),
            };
            show(
                &c.get_trace(req(r, &token(&cli, Role::Operator, None)?)?)
                    .await?
                    .into_inner(),
            );
        }
        Cmd::Rules => {
            let mut c = NotificationServiceClient::connect(cli.notification.clone())
                .await
                .context("notification")?;
            show(
                &c.list_rules(req(pn::ListRulesRequest {}, &token(&cli, Role::Operator, None)?)?)
                    .await?
                    .into_inner(),
            );
        }
    }
    Ok(())
}

async fn cases(cli: &Cli) -> anyhow::Result<CaseServiceClient<tonic::transport::Channel>> {
    CaseServiceClient::connect(cli.cases.clone())
        .await
        .context("opd-case")
}

/// The calendar version in force (an edit is based on it).
async fn calendar_version(
    c: &mut SlaServiceClient<tonic::transport::Channel>,
    token: &str,
) -> anyhow::Result<u64> {
    Ok(c.get_calendar(req(ps::GetCalendarRequest {}, token)?)
        .await?
        .into_inner()
        .current
        .map_or(0, |v| v.version))
}

fn credential(tracking_id: &str, access_token: &str) -> Option<pc::ReporterCredential> {
    Some(pc::ReporterCredential {
        tracking_id: tracking_id.to_owned(),
        access_token: access_token.to_owned(),
    })
}

fn uuid_like() -> String {
    format!(
        "laporctl-{}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}
