//! What a link's task and its handles share: the status counters and the newest table.

use super::slot::TableSlot;
use super::status::LinkStatus;

/// What the link's task and the handles share.
#[derive(Debug, Default)]
pub struct LinkShared {
    /// Status counters.
    pub status: LinkStatus,
    /// The newest table.
    pub slot: TableSlot,
}
