//! The generated gRPC types and services of package `sas.v1` (`proto/sas/v1/agent.proto`), from the
//! `sas-proto` crate (server and client).

pub use sas_proto::pb::*;
