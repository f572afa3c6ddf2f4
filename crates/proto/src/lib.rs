//! Generated protobuf messages and gRPC stubs for lapor's service APIs and bus events.
#![allow(clippy::all, missing_docs, unreachable_pub)]

/// Encoded `FileDescriptorSet` of every lapor proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lapor_descriptor.bin"));

/// Shared enums and messages.
pub mod common {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lapor.common.v1");
    }
}

/// Events on the bus.
pub mod events {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lapor.events.v1");
    }
}

/// Intake service API.
pub mod intake {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lapor.intake.v1");
    }
}

/// Routing service API.
pub mod routing {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lapor.routing.v1");
    }
}

/// OPD case service API.
pub mod cases {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lapor.cases.v1");
    }
}

/// Notification service API.
pub mod notification {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lapor.notification.v1");
    }
}

/// SLA monitor API.
pub mod sla {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("lapor.sla.v1");
    }
}
