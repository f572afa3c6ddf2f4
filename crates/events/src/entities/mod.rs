//! Tables every service that publishes or consumes events has.

pub mod calendar_in_force;
pub mod dead_letter;
pub mod outbox;
pub mod processed_event;
