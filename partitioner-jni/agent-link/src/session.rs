//! The session a job opens: its shape, from the params, as the agent's `OpenSessionRequest`.

use sas_proto::pb;
use sas_router::error::ConfigError;
use sas_router::params::Params;
use sas_router::params::{AgentLinkConfig, LinkMode};
use sas_router::partitioner::HotKeyMode;

/// The request every router and worker of the job opens the session with, and the action dimension the
/// agent must answer with.
pub(crate) fn open_request(
    params: &Params,
    agent: &AgentLinkConfig,
) -> Result<(pb::OpenSessionRequest, usize), ConfigError> {
    let config = params.router_config();
    let mask = config.hot_keys.mask(config.workers)?;
    let request = pb::OpenSessionRequest {
        job_name: params.job_name(),
        workers: config.workers,
        routers: params.routers,
        // Cannot truncate: validated to be at most 3 600 000.
        interval_ms: agent.interval_ms as u32,
        window_intervals: agent.window_intervals,
        hot_key_mode: match config.hot_keys.mode {
            HotKeyMode::Static => pb::HotKeyMode::Static,
            HotKeyMode::Online => pb::HotKeyMode::Online,
        } as i32,
        hot_keys: config.hot_keys.count as u32,
        // The routers' own mask, so the agent acts on exactly the layout the routers decode.
        mask: Some(pb::Mask::from_ranges(mask.ranges())),
        mask_alpha: config.hot_keys.alpha,
        mode: match agent.mode {
            LinkMode::Serve => pb::SessionMode::Serve,
            LinkMode::Train => pb::SessionMode::Train,
            LinkMode::Collect => pb::SessionMode::Collect,
        } as i32,
        session_key: params.session_key(),
    };
    Ok((request, mask.action_dim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_the_routers_mask_and_the_shared_key() {
        let yaml = "task: wordcount\npartitioner: saspartitioner\nworkers: 8\nrouters: 2\nrecords: 10\n\
                    agent:\n  address: http://127.0.0.1:1\n  mode: train\n  interval_ms: 250\n";
        let params = Params::parse(yaml, "t").unwrap();
        let agent = params.agent_link().unwrap();
        let (r, action_dim) = open_request(&params, agent).unwrap();
        let mask = params.router_config().hot_keys.mask(8).unwrap();
        assert_eq!(action_dim, mask.action_dim());
        let widths: usize = r
            .mask
            .unwrap()
            .ranges
            .iter()
            .map(|w| (w.end - w.start) as usize)
            .sum();
        assert_eq!(widths, action_dim);
        assert_eq!((r.workers, r.routers, r.interval_ms), (8, 2, 250));
        assert_eq!(r.mode, pb::SessionMode::Train as i32);
        assert_eq!(r.session_key, params.session_key());
        assert_eq!(r.job_name, "wordcount-saspartitioner");
    }
}
