//! The event side of a running service: its database (migrated), its bus connection, the outbox
//! relay and its consumers, started together and stopped together.

use std::sync::Arc;
use std::time::Duration;

use lapor_platform::config::CommonConfig;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::consumer::{self, ConsumerSpec, Handler};
use crate::outbox::Relay;

/// Database, bus, relay and consumers of one service process.
pub struct Runtime {
    /// The service's database, migrated.
    pub db: DatabaseConnection,
    /// The bus.
    pub bus: Bus,
    relay: Relay,
    poll: Duration,
    cancel: CancellationToken,
    /// Cancelled first at shutdown: consumers stop fetching while RPCs drain.
    consumers: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    durables: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Runtime {
    /// Connects the database (applying `M`'s migrations) and the bus, and starts the relay.
    pub async fn start<M: MigratorTrait>(cfg: &CommonConfig, service: &str) -> anyhow::Result<Self> {
        Self::start_with::<M>(cfg, service, &[]).await
    }

    /// [`Runtime::start`] for a service with append-only tables (see
    /// [`lapor_platform::db::connect_and_migrate_with`]).
    pub async fn start_with<M: MigratorTrait>(
        cfg: &CommonConfig,
        service: &str,
        append_only: &[&str],
    ) -> anyhow::Result<Self> {
        let db = lapor_platform::db::connect_and_migrate_with::<M>(&cfg.database, append_only)
            .await
            .map_err(|e| anyhow::anyhow!("{service} database: {e}"))?;
        let bus = Bus::connect(&cfg.nats, service).await?;
        let relay = Relay::new(db.clone(), bus.clone());
        let cancel = CancellationToken::new();
        let mut rt = Self {
            db,
            bus,
            relay,
            poll: Duration::from_millis(cfg.nats.relay_poll_ms),
            consumers: cancel.child_token(),
            cancel,
            tasks: Vec::new(),
            durables: Arc::default(),
        };
        let relay = rt.relay.clone();
        rt.tasks
            .push(tokio::spawn(relay.run(rt.poll, rt.cancel.child_token())));
        if !cfg.telemetry.otlp_endpoint.is_empty() {
            rt.sample_gauges(Duration::from_millis(cfg.telemetry.metrics_interval_ms.max(100)));
        }
        Ok(rt)
    }

    /// Handle that wakes the relay after a commit that wrote to the outbox.
    pub fn relay_waker(&self) -> Arc<Notify> {
        self.relay.waker()
    }

    /// Samples the outbox backlog and each consumer's pending counts into their gauges, as often
    /// as metrics are exported (only when they are exported at all).
    fn sample_gauges(&mut self, every: Duration) {
        let (db, bus, durables) = (self.db.clone(), self.bus.clone(), self.durables.clone());
        self.spawn_every(every, "gauge sampling", move || {
            let (db, bus, durables) = (db.clone(), bus.clone(), durables.clone());
            async move {
                let m = lapor_platform::metrics::get();
                m.outbox_backlog.record(crate::outbox::backlog(&db).await?, &[]);
                let names = durables.lock().map(|d| d.clone()).unwrap_or_default();
                if names.is_empty() {
                    return Ok(());
                }
                let stream = bus.ensure_stream().await?;
                for name in names {
                    let info = stream
                        .consumer_info(&name)
                        .await
                        .map_err(|e| anyhow::anyhow!("consumer {name}: {e}"))?;
                    let group = [lapor_platform::metrics::attr(
                        "messaging.consumer.group.name",
                        name,
                    )];
                    m.consumer_pending.record(info.num_pending, &group);
                    m.consumer_ack_pending.record(info.num_ack_pending as u64, &group);
                }
                Ok(())
            }
        });
    }

    /// Starts a consumer for `spec`. Call once per subscription after [`Runtime::start`].
    pub fn spawn_consumer<H: Handler>(&mut self, spec: ConsumerSpec, handler: Arc<H>) {
        if let Ok(mut d) = self.durables.lock() {
            d.push(spec.durable.clone());
        }
        let task = consumer::run(
            self.bus.clone(),
            self.db.clone(),
            spec,
            handler,
            self.relay.waker(),
            self.consumers.child_token(),
        );
        self.tasks.push(tokio::spawn(task));
    }

    /// Runs a background task (a sweeper, a scheduler) that must return once its token is
    /// cancelled; shutdown waits for it like for the consumers.
    pub fn spawn_task<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.push(tokio::spawn(task(self.cancel.child_token())));
    }

    /// Runs `work` at once and then every `every` until shutdown (a sweeper, a reload, an
    /// export). A failure is logged with `what` and retried at the next tick; a slow run delays
    /// the next tick instead of piling runs up.
    pub fn spawn_every<F, Fut>(&mut self, every: Duration, what: &'static str, work: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
    {
        self.spawn_task(move |cancel| async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = tick.tick() => {
                        if let Err(e) = work().await {
                            tracing::warn!(error = %e, task = what, "periodic task failed; retrying next interval");
                        }
                    }
                }
            }
        });
    }

    /// Follows the city calendar that sla-monitor announces: the stored version (else the
    /// configuration's `spec`) now, each announced version as it arrives, and what another
    /// replica stored within `refresh`.
    pub async fn follow_calendar(
        &mut self,
        service: &str,
        spec: &lapor_domain::calendar::CalendarSpec,
        refresh: Duration,
    ) -> anyhow::Result<Arc<crate::calendar::LiveCalendar>> {
        use crate::calendar::{CalendarFollower, LiveCalendar};
        let live = Arc::new(LiveCalendar::load(&self.db, spec).await?);
        self.spawn_consumer(
            CalendarFollower::spec(service),
            Arc::new(CalendarFollower { live: live.clone() }),
        );
        let (follow, db) = (live.clone(), self.db.clone());
        self.spawn_every(refresh, "calendar refresh", move || {
            let (follow, db) = (follow.clone(), db.clone());
            async move { follow.refresh(&db).await.map(|_| ()) }
        });
        Ok(live)
    }

    /// Stops fetching, lets in-flight handlers finish, drains the outbox once more, and waits at
    /// most `grace` for all of it.
    pub async fn shutdown(self, grace: Duration) {
        self.cancel.cancel();
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("background tasks did not stop within the grace period");
        }
        let _ = self.db.close().await;
    }
}

impl Runtime {
    /// Serves `routes` (plus health for each of `grpc_services`, and reflection) on `listener` until `shutdown` completes, then
    /// stops the relay and consumers within the grace period. The body of every service's
    /// `run_until`.
    pub async fn serve(
        self,
        routes: tonic::service::Routes,
        grpc_services: &[&'static str],
        common: &CommonConfig,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        lapor_platform::server::register_descriptor(lapor_proto::FILE_DESCRIPTOR_SET);
        // On the signal: consumers stop fetching (each finishes the event in hand) while health
        // turns NOT_SERVING and RPCs drain; the relay keeps publishing what they commit.
        let consumers = self.consumers.clone();
        let shutdown = async move {
            shutdown.await;
            consumers.cancel();
        };
        let served = lapor_platform::server::serve(
            routes,
            grpc_services.to_vec(),
            common,
            listener,
            Duration::from_millis(common.drain_ms),
            shutdown,
        )
        .await;
        self.shutdown(Duration::from_secs(common.shutdown_grace_secs))
            .await;
        served.map_err(Into::into)
    }
}
