//! The generated gRPC types and services of package `sas.v1` (`proto/sas/v1/agent.proto`).

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("sas.v1");
