//! Events on the bus: the codec between the domain's [`Event`](lapor_domain::events::Event) and
//! its one proto schema, the subject of each event, the transactional outbox and its relay, and
//! the idempotent consumer loop with its processed-events and dead-letter tables.

pub mod bus;
pub mod calendar;
pub mod codec;
pub mod consumer;
pub mod entities;
pub mod migration;
pub mod outbox;
pub mod runtime;
pub mod subjects;

pub use bus::Bus;
pub use consumer::{BatchError, BatchItem, ConsumerSpec, Handler, HandlerError};
pub use outbox::{Relay, enqueue, enqueue_many, outbox_rows};
pub use runtime::Runtime;
pub use subjects::Subjects;

/// Header carrying the schema version of the payload.
pub const SCHEMA_HEADER: &str = "Lapor-Schema";
/// Header carrying the event type name.
pub const TYPE_HEADER: &str = "Lapor-Event-Type";
/// Schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;
