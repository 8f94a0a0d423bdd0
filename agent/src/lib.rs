//! The SaS agent: today the offline evaluator of routers; the gRPC agent server, the learners and the
//! simulator join it in later modules.
//!
//! # Layout
//!
//! * [`eval`]: replays a generated stream through partitioners of the router core and measures balance
//!   (λ, NMAD), hot-key fragmentation and routing time per record.
//! * [`table`]: plain-text tables for the terminal.
//!
//! The `sas-agent` binary (`src/main.rs`) only parses the command line, dispatches and maps errors to
//! exit codes.

#![deny(missing_docs)]

pub mod eval;
pub mod table;
