//! The contract between a Flink job (its routers and workers) and the SaS agent: package `sas.v1` of
//! `proto/sas/v1/agent.proto`, generated once for both sides.
//!
//! Everything is reached through [`pb`]. The `server` feature adds `pb::agent_server` (the agent), the
//! `client` feature `pb::agent_client` (the router's agent link).

#![deny(missing_docs)]

/// The generated messages and services of package `sas.v1`; their docs are the `.proto` comments.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("sas.v1");

    impl Mask {
        /// The mask of these worker ranges, in rank order (what both the routers' link and the agent send
        /// for their `sas_router::mask::Mask`).
        pub fn from_ranges(ranges: &[std::ops::Range<usize>]) -> Self {
            Self {
                ranges: ranges
                    .iter()
                    .map(|r| WorkerRange {
                        start: r.start as u32,
                        end: r.end as u32,
                    })
                    .collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pb;
    use prost::Message;

    #[test]
    fn messages_round_trip_with_the_session_key() {
        let open = pb::OpenSessionRequest {
            job_name: "job".into(),
            workers: 4,
            session_key: "job-7".into(),
            mode: pb::SessionMode::Collect as i32,
            ..Default::default()
        };
        let back = pb::OpenSessionRequest::decode(open.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, open);
    }
}
