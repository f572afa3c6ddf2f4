//! Notification: tells reporters and OPD staff what happened, through channel adapters behind
//! one trait. Consumes `ReportSubmitted` and `CaseOpened`. Messages are addressed by pseudonymous
//! ids; contact details never reach this service's tables.

mod api;
pub mod channel;
pub mod config;
mod contact;
pub mod delivery;
mod email;
mod entities;
mod handler;
mod migration;
pub mod rules;
mod sms;
pub mod templates;

use std::future::Future;
use std::sync::Arc;

use lapor_events::consumer::ConsumerSpec;
use lapor_events::{Runtime, subjects};
use lapor_proto::notification::v1::notification_service_server::NotificationServiceServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub use config::Config;

/// Name of the gRPC service, for health checks.
pub const GRPC_SERVICE: &str = "lapor.notification.v1.NotificationService";
/// Durable consumer of submitted reports.
pub const CONSUMER_SUBMITTED: &str = "notification-report-submitted";
/// Durable consumer of opened cases.
pub const CONSUMER_CASE_OPENED: &str = "notification-case-opened";
/// Durable consumer of reports put on hold.
pub const CONSUMER_PUT_ON_HOLD: &str = "notification-report-put-on-hold";
/// Durable consumers of the case dialogue, one per subject.
pub const DIALOGUE_SUBSCRIPTIONS: [(&str, &str); 10] = [
    ("notification-report-verified", subjects::REPORT_VERIFIED),
    (
        "notification-case-transfer-requested",
        subjects::CASE_TRANSFER_REQUESTED,
    ),
    ("notification-case-followed-up", subjects::CASE_FOLLOWED_UP),
    ("notification-case-info-requested", subjects::CASE_INFO_REQUESTED),
    ("notification-case-replied", subjects::CASE_REPLIED),
    ("notification-case-closed", subjects::CASE_CLOSED),
    ("notification-ombudsman-requested", subjects::OMBUDSMAN_REQUESTED),
    ("notification-sla-warning", subjects::SLA_WARNING),
    ("notification-sla-breached", subjects::SLA_BREACHED),
    ("notification-sla-escalated", subjects::SLA_ESCALATED),
];

/// A built notification service, ready to run.
pub struct Service {
    rt: Runtime,
    listener: TcpListener,
    config: Config,
    templates: Arc<templates::Templates>,
    rules: Arc<rules::Rules>,
}

impl Service {
    /// Connects, migrates and starts consuming.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let problems = config.violations();
        if !problems.is_empty() {
            anyhow::bail!("notification settings: {problems}");
        }
        // reqwest is built without a TLS crypto provider: ring, as async-nats and sqlx use.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut targets = std::collections::HashMap::new();
        for w in &config.webhooks {
            targets.insert(
                delivery::webhook_channel(&w.name),
                delivery::Target::new(Arc::new(delivery::WebhookSender::new(w)?), w.rate_per_sec),
            );
        }
        let contacts = contact::Contacts::new(&config.intake_url, &config.common.auth)?;
        if config.email.enabled {
            targets.insert(
                delivery::EMAIL_CHANNEL.to_owned(),
                delivery::Target::new(
                    Arc::new(email::EmailSender::new(&config.email, contacts.clone())?),
                    config.email.rate_per_sec,
                ),
            );
        }
        if config.sms.enabled {
            targets.insert(
                delivery::SMS_CHANNEL.to_owned(),
                delivery::Target::new(
                    Arc::new(sms::SmsSender::new(&config.sms, contacts)?),
                    config.sms.rate_per_sec,
                ),
            );
        }
        let mut rt = Runtime::start::<migration::Migrator>(&config.common, "notification").await?;
        let dispatcher = Arc::new(delivery::Dispatcher::new(
            rt.db.clone(),
            targets,
            config.delivery.clone(),
        ));
        rt.spawn_every(
            std::time::Duration::from_millis(config.delivery.poll_ms),
            "delivery pass",
            move || {
                let d = dispatcher.clone();
                async move { Ok(d.pass(chrono::Utc::now()).await.map(|_| ())?) }
            },
        );
        let templates = Arc::new(
            templates::Templates::load(&rt.db)
                .await
                .map_err(|e| anyhow::anyhow!("notification templates: {e}"))?,
        );
        let rules = Arc::new(
            rules::Rules::load(&rt.db)
                .await
                .map_err(|e| anyhow::anyhow!("notification rules: {e}"))?,
        );
        // An edit made through another replica reaches this one within 30 s.
        let (reload, reload_rules, db) = (templates.clone(), rules.clone(), rt.db.clone());
        rt.spawn_every(
            std::time::Duration::from_secs(30),
            "template and rule reload",
            move || {
                let (t, r, db) = (reload.clone(), reload_rules.clone(), db.clone());
                async move {
                    t.reload(&db).await?;
                    r.reload(&db).await?;
                    Ok(())
                }
            },
        );
        let handler = Arc::new(handler::Notifier::new(
            &config,
            channel::InboxChannel,
            templates.clone(),
            rules.clone(),
        ));
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_SUBMITTED.into(),
                filter_suffix: subjects::REPORT_SUBMITTED,
            },
            handler.clone(),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_CASE_OPENED.into(),
                filter_suffix: subjects::CASE_OPENED,
            },
            handler.clone(),
        );
        rt.spawn_consumer(
            ConsumerSpec {
                durable: CONSUMER_PUT_ON_HOLD.into(),
                filter_suffix: subjects::REPORT_PUT_ON_HOLD,
            },
            handler.clone(),
        );
        for (durable, suffix) in DIALOGUE_SUBSCRIPTIONS {
            rt.spawn_consumer(
                ConsumerSpec {
                    durable: durable.into(),
                    filter_suffix: suffix,
                },
                handler.clone(),
            );
        }
        Ok(Self {
            rt,
            listener,
            config,
            templates,
            rules,
        })
    }

    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains and stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self {
            rt,
            listener,
            config,
            templates,
            rules,
        } = self;
        let auth = lapor_platform::Authenticator::new(&config.common.auth);
        let routes = tonic::service::Routes::new(InterceptedService::new(
            NotificationServiceServer::new(api::Api {
                db: rt.db.clone(),
                templates,
                rules,
            }),
            move |r| auth.intercept(r),
        ));
        rt.serve(routes, &[GRPC_SERVICE], &config.common, listener, shutdown)
            .await
    }
}
