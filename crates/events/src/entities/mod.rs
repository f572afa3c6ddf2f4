//! Tables every service that publishes or consumes events has.

pub mod dead_letter;
pub mod outbox;
pub mod processed_event;
