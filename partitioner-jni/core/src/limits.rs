//! Every size a request or a params file may carry, in one place.
//!
//! A size that comes from outside (an `OpenSession` request, a report, a `params/*.yaml` file or a
//! `--set` override) is checked against these bounds before anything of that size is allocated, so one
//! message or one typo costs at most a bounded amount of memory and time: the agent answers
//! `INVALID_ARGUMENT` naming the field, the params loader a config error naming the key. The router core,
//! the agent link, the JNI layer and the agent all read the values from here; `docs/agent.md` ("Limits")
//! lists them with what a client gets.
//!
//! Two lengths are bounded by the session's shape rather than by a constant of their own: a router's
//! `worker_counts` has exactly P elements and its `pair_counts` none or exactly the action dimension A.
//!
//! Each bound is far above what an experiment needs (P = 16 to 128, 10 hot keys, A ≈ 140) and far below
//! what would hurt a machine; the comment on each says what it protects.

/// Workers P of a router, a session or a params file. Flink's largest max parallelism (2^15,
/// `KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM`): no job has more downstream subtasks.
pub const MAX_WORKERS: u32 = 32_768;

/// Routers R of a session or a params file (`routers`). A router is a Flink subtask too, so the same
/// bound as [`MAX_WORKERS`]; the agent keeps one flag per router for every open interval.
pub const MAX_ROUTERS: u32 = 32_768;

/// Hot keys K (`hot_keys.count`, `OpenSessionRequest.hot_keys`): rows of the routing table and the
/// length of the Zipf popularity vector the mask is drawn from. The prototype uses 10.
pub const MAX_HOT_KEYS: usize = 4_096;

/// Hot keys × workers (K·P): a router holds a routing table of K rows of P shares (8 bytes each) and the
/// `deficit` rule K·P counters per statistics interval, so this caps a router's table at 8 MiB. At
/// P = 128 it allows every K up to [`MAX_HOT_KEYS`]; at P = 32 768, 32 hot keys.
pub const MAX_TABLE_CELLS: usize = 1 << 20;

/// Ranges of a mask (`OpenSessionRequest.mask`, a checkpoint's mask): one per true hot key, so at most
/// [`MAX_HOT_KEYS`].
pub const MAX_MASK_RANGES: usize = MAX_HOT_KEYS;

/// The action dimension A (the sum of the mask's range widths): the length of every routing-table
/// update, of a policy's output layer and of a COLLECT router's `pair_counts`. 2^16 elements keep a table
/// update at 512 KiB, under the default message limit; a mask drawn by the heuristic has at most
/// P + K − 1 ≤ 36 863 elements, so only explicit masks or `spread_keys` can exceed it.
pub const MAX_ACTION_DIM: usize = 1 << 16;

/// Intervals the `deficit` rule's statistics span (`saspartitioner.stats_intervals`): each one is K·P
/// counters ([`MAX_TABLE_CELLS`]). Default 4.
pub const MAX_STATS_INTERVALS: usize = 16;

/// Slides in one window (`window_ms / slide_ms`, rounded up): the windowed strategies keep two rings of
/// P counters per slide (loads and key cardinality), allocated up front. Default 4.
pub const MAX_WINDOW_SLIDES: u64 = 256;

/// Counters of a SpaceSaving summary (`choices.capacity`, `hot_keys.online.capacity`), allocated up
/// front. Default 100 and 256.
pub const MAX_SUMMARY_CAPACITY: usize = 1 << 16;

/// Keys of a shuffled Zipf workload (`workload.keys` with `shuffle_keys`, summed over the phases of a
/// `zipf-sequence`): the permutation is materialised, 8 bytes a key, so this caps it at 128 MiB. An
/// unshuffled workload allocates nothing per key and takes any `u64` count.
pub const MAX_SHUFFLED_KEYS: u64 = 1 << 24;

/// Records of one run (`records`). A Flink source streams them, so this is no memory bound but a typo
/// guard: a day at 10 million records per second is 8.6 × 10¹¹, below it.
pub const MAX_RECORDS: u64 = 1 << 40;

/// Records `sas-agent eval-routers` materialises (16 bytes each, 1 GiB at most): it replays one stream
/// through every partitioner, so it holds the whole stream.
pub const MAX_EVAL_RECORDS: u64 = 1 << 26;

/// Words per WordCount sentence and values per TDigest record (`payload.*`): the job builds every record
/// with this many elements.
pub const MAX_PAYLOAD_ITEMS: u32 = 1 << 16;

/// Changes of the emulated capacity in one params file (`capacity.changes`).
pub const MAX_CAPACITY_CHANGES: usize = 1024;

/// Shortest reporting interval (ms): below it the per-interval reports and steps cost more than the
/// routing they steer.
pub const MIN_INTERVAL_MS: u64 = 100;

/// Longest reporting interval (ms), one hour: the agent keeps an interval open for
/// `deadline_intervals` intervals after its first report, so this bounds how long reports are held.
pub const MAX_INTERVAL_MS: u64 = 3_600_000;

/// Intervals averaged into one observation (`window_intervals`): the agent keeps 3P values for each of
/// them and averages them at every step.
pub const MAX_WINDOW_INTERVALS: u32 = 64;

/// Bytes of a job name or a session key. A job name names a directory (`<train_out>/<job_name>`,
/// `<offline_dir>/<job_name>-<n>`): well under every file system's 255-byte component, with room for
/// the suffix. Both appear in log lines and metrics.
pub const MAX_NAME_BYTES: usize = 128;

/// Reports a router or worker may queue while the agent is slow (`agent.report_queue`): each holds up
/// to P counts and A pair counts. Default 1 024.
pub const MAX_REPORT_QUEUE: usize = 4_096;

/// Reports in one `Report` batch (workers and routers together): a router's link sends at most what it
/// queued, and its queue holds at most [`MAX_REPORT_QUEUE`] reports per reporter of one JVM.
pub const MAX_BATCH_REPORTS: usize = 65_536;

/// Largest gRPC message the agent decodes (`max_message_bytes` may lower it; default 1 MiB): a
/// router report of the largest shape (P counts and A pair counts as varints) is well under it.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Sessions one agent keeps open (`max_sessions` may lower it; default 64): each holds its policy, its
/// open intervals and its subscribers.
pub const MAX_SESSIONS: usize = 1_024;

/// `SubscribeTables` streams per router of a session: a session of R routers accepts 2R streams at
/// once. The routers' link subscribes once per JVM (at most R), and a link that reconnects may briefly
/// hold its old stream beside the new one. Each stream is a task with a queue of tables.
pub const MAX_SUBSCRIBERS_PER_ROUTER: usize = 2;

/// Bytes a TRAIN session's replay buffer may grow to (its capacity × a transition: two observations of
/// 2P and an action of A, as f32): a session of a shape whose replay would exceed it is refused.
pub const MAX_REPLAY_BYTES: u64 = 4 << 30;

/// Bytes of one router's saved state (`NativeRouter.snapshotState`, a Flink checkpoint's operator
/// state): checked before the JNI layer copies a state out of or into the JVM. Every length inside a
/// state is also bounded by the bytes left, so restoring allocates at most a small multiple of the
/// state's size. A windowed router over a million distinct keys saves a few tens of MiB.
pub const MAX_STATE_BYTES: usize = 1 << 30;
