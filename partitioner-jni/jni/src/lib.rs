//! The JNI layer: the router core exported to the JVM as the static natives of
//! `org.sas.nativeloader.NativeRouter`.
//!
//! Two kinds of entry points:
//! * **Per record** (`route`, `keyAt`, `eventTime`): plain functions over primitives. On success they
//!   never touch the JNI environment, so they skip jni's `with_env` wrapper (about 50 ns here, against
//!   about 6 ns for the bare call). A refused handle or a panic takes a cold path that throws the Java
//!   exception through `with_env` and returns −1.
//! * **Everything else** (params, create, batch routing, intervals, actions, per-window balance metrics,
//!   saved state, status, close): wrapped in `with_env`; a bad config, override, action or handle becomes an
//!   `IllegalArgumentException` naming the key or the handle, a closed or busy handle an
//!   `IllegalStateException`, any other failure or panic a `RuntimeException`. Nothing unwinds into the
//!   JVM.
//!
//! A handle is a checked name, not a pointer ([`handles`]): a slot index, a generation and a kind packed
//! into the `jlong`, looked up in one registry per kind. Handle 0, a closed handle, a second close, a
//! handle of another kind and a made-up number are refused with an exception naming the handle. The
//! check is a lookup and one compare-and-swap per call (about 4 ns on `route`: 8 → 12 ns measured), and
//! the compare-and-swap also refuses a second thread using the handle while its owner does. `agentStatus` reads a router's status through the slot's shared part
//! ([`StatusReader`], atomics only) while the owner routes with the exclusive part, so the metrics
//! thread and the task thread never touch the same memory.
//!
//! When the params have an `agent:` section with an address, a router handle holds a
//! [`LinkedRouter`] on the JVM's shared link to the agent, and worker
//! reporters join the same link; the link's logs go to stderr (filter: `SAS_ROUTER_LOG`, default
//! `info`), which Flink keeps in the TaskManager's `.out` file.

mod handles;

use handles::{CallError, Kind, Registry};
use jni::errors::{Error, Result, ThrowRuntimeExAndDefault};
use jni::objects::{
    JByteArray, JClass, JDoubleArray, JIntArray, JLongArray, JObject, JObjectArray, JString, Reference,
};
use jni::strings::JNIString;
use jni::sys::{jint, jlong};
use jni::{Env, EnvUnowned, jni_str};
use sas_agent_link::{LinkError, LinkedRouter, StatusReader, WorkerInterval, WorkerReporter};
use sas_router::error::{DecodeError, StateError};
use sas_router::limits::MAX_STATE_BYTES;
use sas_router::params::Params;
use sas_router::partitioner::{Partitioner, build};
use sas_router::workload::Workload;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Every open router. The shared part is what `agentStatus` reads from another thread (`None` without an
/// agent); the router itself is the exclusive part, used by its subtask's thread.
static ROUTERS: Registry<Option<StatusReader>, RouterHandle> = Registry::new(Kind::Router);
/// Every open key stream.
static WORKLOADS: Registry<(), Workload> = Registry::new(Kind::Workload);
/// Every open worker reporter.
static REPORTERS: Registry<(), WorkerReporter> = Registry::new(Kind::Reporter);

/// What a router handle names.
// One per subtask, in a registry slot, so the variants' sizes do not matter; boxing `Linked` would add a
// pointer chase per record.
#[allow(clippy::large_enum_variant)]
enum RouterHandle {
    /// A partitioner on its own (no agent in the params).
    Plain(Box<dyn Partitioner>),
    /// A partitioner on the agent link.
    Linked(LinkedRouter),
}

impl RouterHandle {
    #[inline]
    fn route(&mut self, key: u64, ts_ms: u64) -> u32 {
        match self {
            RouterHandle::Plain(p) => p.route(key, ts_ms),
            RouterHandle::Linked(l) => l.route(key, ts_ms),
        }
    }

    fn end_interval(&mut self, loads: &[f64]) {
        match self {
            RouterHandle::Plain(p) => p.end_interval(loads),
            RouterHandle::Linked(l) => l.end_interval(loads),
        }
    }

    fn apply_action(&mut self, action: &[f64]) -> std::result::Result<(), DecodeError> {
        match self {
            RouterHandle::Plain(p) => p.apply_action(action),
            RouterHandle::Linked(l) => l.apply_action(action),
        }
    }

    fn splits_keys(&self) -> bool {
        match self {
            RouterHandle::Plain(p) => p.splits_keys(),
            RouterHandle::Linked(l) => l.splits_keys(),
        }
    }

    fn save_state(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            RouterHandle::Plain(p) => p.save_state(&mut out),
            RouterHandle::Linked(l) => l.save_state(&mut out),
        }
        out
    }

    fn restore_state(&mut self, bytes: &[u8]) -> std::result::Result<(), StateError> {
        match self {
            RouterHandle::Plain(p) => p.restore_state(bytes),
            RouterHandle::Linked(l) => l.restore_state(bytes),
        }
    }
}

/// Sends the agent link's `tracing` events to stderr, once per process; a subscriber installed by someone
/// else first is kept.
fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("SAS_ROUTER_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    });
}

/// Throws `RuntimeException(message)` and returns the error that makes `with_env` return.
fn runtime_exception(env: &mut Env, message: impl AsRef<str>) -> Error {
    // As in `illegal_argument`.
    let _ = env.throw_new(jni_str!("java/lang/RuntimeException"), JNIString::new(message));
    Error::JavaException
}

/// A link error as a Java exception: a bad setting is the caller's, a thread that cannot start is not.
fn link_exception(env: &mut Env, e: LinkError) -> Error {
    match e {
        LinkError::Runtime(_) => runtime_exception(env, e.to_string()),
        LinkError::NoAgent | LinkError::Config(_) | LinkError::Address { .. } => {
            illegal_argument(env, e.to_string())
        }
    }
}

/// Throws `IllegalArgumentException(message)` and returns the error that makes `with_env` return.
fn illegal_argument(env: &mut Env, message: impl AsRef<str>) -> Error {
    // If throwing itself fails there is already an exception pending, which reaches Java either way.
    let _ = env.throw_new(
        jni_str!("java/lang/IllegalArgumentException"),
        JNIString::new(message),
    );
    Error::JavaException
}

/// Throws `IllegalStateException(message)` and returns the error that makes `with_env` return.
fn illegal_state(env: &mut Env, message: impl AsRef<str>) -> Error {
    // As in `illegal_argument`.
    let _ = env.throw_new(
        jni_str!("java/lang/IllegalStateException"),
        JNIString::new(message),
    );
    Error::JavaException
}

/// A failed call on a handle as a Java exception, the message starting with the native's name: a bad
/// `long` (0, another kind, never issued) is an `IllegalArgumentException`, a closed, busy or poisoned
/// handle (or a full registry) an `IllegalStateException`, a panic a `RuntimeException`.
fn call_exception(env: &mut Env, native: &str, e: CallError) -> Error {
    match e {
        CallError::Handle(h) if h.is_argument() => illegal_argument(env, format!("{native}: {h}")),
        CallError::Handle(h) => illegal_state(env, format!("{native}: {h}")),
        CallError::Panic(message) => runtime_exception(env, format!("{native} panicked: {message}")),
    }
}

/// The cold path of the per-record natives: throws `e` as [`call_exception`] does. The caller then
/// returns −1, which Java never sees: the exception is pending when the native returns.
#[cold]
#[inline(never)]
fn throw_from_record_path(unowned: &mut EnvUnowned<'_>, native: &str, e: CallError) {
    unowned
        .with_env(|env| -> Result<()> { Err(call_exception(env, native, e)) })
        .resolve::<ThrowRuntimeExAndDefault>();
}

/// Frees the parts of a closed handle. A panic while dropping them (stopping a link) is a
/// `RuntimeException`; the handle is closed either way.
fn drop_closed<T>(env: &mut Env, native: &str, parts: T) -> Result<()> {
    catch_unwind(AssertUnwindSafe(move || drop(parts))).map_err(|p| {
        let message = format!(
            "{native}: closed, but freeing it panicked: {}",
            handles::panic_message(p)
        );
        runtime_exception(env, message)
    })
}

fn parse_params(env: &mut Env, yaml: &JString) -> Result<Params> {
    let text = yaml.try_to_string(env)?;
    Params::parse(&text, "params").map_err(|e| illegal_argument(env, e.to_string()))
}

/// `static native String normalizeParams(String yaml, String baseDir, String[] overrides)`: the params
/// with the `KEY=VALUE` overrides applied (dotted keys reach into sections, values are YAML scalars),
/// relative paths resolved against `baseDir` and every default filled in, as YAML;
/// `IllegalArgumentException` naming the bad override or key otherwise. The job edits params only
/// this way, never by rewriting their text.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_normalizeParams<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    yaml: JString<'l>,
    base_dir: JString<'l>,
    overrides: JObjectArray<'l, JString<'l>>,
) -> JObject<'l> {
    unowned
        .with_env(|env| -> Result<JObject<'l>> {
            let text = yaml.try_to_string(env)?;
            let base = base_dir.try_to_string(env)?;
            let overrides = strings(env, &overrides, "overrides")?;
            let params = Params::parse_with(&text, "params", std::path::Path::new(&base), &overrides)
                .map_err(|e| illegal_argument(env, e.to_string()))?;
            let out = serde_norway::to_string(&params).map_err(|e| illegal_argument(env, e.to_string()))?;
            Ok(JString::new(env, out)?.into())
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// The elements of a Java `String[]`; a null array is empty, a null element an
/// `IllegalArgumentException` naming `what` and the index.
fn strings(env: &mut Env, array: &JObjectArray<JString>, what: &str) -> Result<Vec<String>> {
    if array.is_null() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for i in 0..array.len(env)? {
        let element = array.get_element(env, i)?;
        if element.is_null() {
            return Err(illegal_argument(env, format!("{what}[{i}] is null")));
        }
        out.push(element.try_to_string(env)?);
    }
    Ok(out)
}

/// `static native String jobView(String yaml)`: the values the Flink job reads from validated params
/// ([`JobView`](sas_router::params::JobView)), as JSON.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_jobView<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    yaml: JString<'l>,
) -> JObject<'l> {
    unowned
        .with_env(|env| -> Result<JObject<'l>> {
            let view = parse_params(env, &yaml)?.job_view();
            // Cannot fail: the view holds only strings, numbers, a path and a list of numbers.
            let json = serde_json::to_string(&view).expect("the job view serialises to JSON");
            Ok(JString::new(env, json)?.into())
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native double imbalance(double[] loads)`: λ = (max − mean) / mean of per-worker loads, 0 for
/// all-zero loads ([`sas_router::metrics::imbalance`]). Called once per report window, not per record.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_imbalance<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    loads: JDoubleArray<'l>,
) -> f64 {
    unowned
        .with_env(|env| -> Result<f64> { Ok(sas_router::metrics::imbalance(&doubles(env, &loads)?)) })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native double nmad(double[] loads)`: NMAD = Σ|L_i − mean| / (n · mean) of per-worker loads,
/// 0 for all-zero loads ([`sas_router::metrics::nmad`]). Called once per report window, not per record.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_nmad<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    loads: JDoubleArray<'l>,
) -> f64 {
    unowned
        .with_env(|env| -> Result<f64> { Ok(sas_router::metrics::nmad(&doubles(env, &loads)?)) })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// The elements of a Java `double[]`; `IllegalArgumentException` for a null array.
fn doubles(env: &mut Env, array: &JDoubleArray) -> Result<Vec<f64>> {
    if array.is_null() {
        return Err(illegal_argument(env, "loads is null"));
    }
    let mut out = vec![0.0; array.len(env)?];
    array.get_region(env, 0, &mut out)?;
    Ok(out)
}

/// `static native String partitionerNames()`: every partitioner name, comma-separated, in table order.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_partitionerNames<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JObject<'l> {
    unowned
        .with_env(|env| -> Result<JObject<'l>> { Ok(JString::new(env, sas_router::NAMES.join(","))?.into()) })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native long create(String paramsYaml, String partitioner)`: router 0 of the job, as
/// `createRouter(paramsYaml, partitioner, 0)`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_create<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    yaml: JString<'l>,
    partitioner: JString<'l>,
) -> jlong {
    unowned
        .with_env(|env| -> Result<jlong> { create_router(env, &yaml, &partitioner, 0) })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native long createRouter(String paramsYaml, String partitioner, int routerIndex)`: the router
/// of subtask `routerIndex` (`0 <= routerIndex < routers`). An empty `partitioner` means the one named in
/// the params. With an agent in the params the router joins the JVM's link to it (shared by every router
/// and worker of the job), reports its counts and applies the agent's tables.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_createRouter<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    yaml: JString<'l>,
    partitioner: JString<'l>,
    router_index: jint,
) -> jlong {
    unowned
        .with_env(|env| -> Result<jlong> { create_router(env, &yaml, &partitioner, router_index) })
        .resolve::<ThrowRuntimeExAndDefault>()
}

fn create_router(env: &mut Env, yaml: &JString, partitioner: &JString, router_index: jint) -> Result<jlong> {
    let params = parse_params(env, yaml)?;
    let mut name = partitioner.try_to_string(env)?;
    if name.is_empty() {
        name = params.partitioner.clone();
    }
    let index = u32::try_from(router_index)
        .ok()
        .filter(|&i| i < params.routers)
        .ok_or_else(|| {
            let message = format!("routerIndex = {router_index}: must be in 0..{}", params.routers);
            illegal_argument(env, message)
        })?;
    let (status, router) = if params.agent_link().is_some() {
        init_logging();
        let linked = LinkedRouter::open(&params, &name, index).map_err(|e| link_exception(env, e))?;
        (Some(linked.status_reader()), RouterHandle::Linked(linked))
    } else {
        let plain =
            build(&name, &params.router_config()).map_err(|e| illegal_argument(env, e.to_string()))?;
        (None, RouterHandle::Plain(plain))
    };
    ROUTERS
        .open(status, router)
        .map_err(|e| call_exception(env, "createRouter", e.into()))
}

/// `static native int route(long handle, long key, long tsMs)`: the worker for one record. The
/// per-record path: no JNI environment, no allocation, one compare-and-swap to check and take the handle.
/// A refused handle or a panic throws (see [`call_exception`]) and returns −1.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_route(
    mut unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    handle: jlong,
    key: jlong,
    ts_ms: jlong,
) -> jint {
    match ROUTERS.with_exclusive(handle, |router, _| router.route(key as u64, ts_ms as u64)) {
        Ok(worker) => worker as jint,
        Err(e) => {
            throw_from_record_path(&mut unowned, "route", e);
            -1
        }
    }
}

/// `static native void routeBatch(long handle, long[] keys, long[] tsMs, int[] workers, int n)`: routes
/// the first `n` records of the arrays in one crossing.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_routeBatch<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    keys: JLongArray<'l>,
    ts_ms: JLongArray<'l>,
    workers: JIntArray<'l>,
    n: jint,
) {
    unowned
        .with_env(|env| -> Result<()> {
            let n = usize::try_from(n).map_err(|_| illegal_argument(env, format!("n = {n} must be >= 0")))?;
            if keys.len(env)? < n || ts_ms.len(env)? < n || workers.len(env)? < n {
                return Err(illegal_argument(env, format!("arrays shorter than n = {n}")));
            }
            let mut k = vec![0i64; n];
            let mut t = vec![0i64; n];
            keys.get_region(env, 0, &mut k)?;
            ts_ms.get_region(env, 0, &mut t)?;
            let out: Vec<jint> = ROUTERS
                .with_exclusive(handle, |router, _| {
                    k.iter()
                        .zip(&t)
                        .map(|(&k, &t)| router.route(k as u64, t as u64) as jint)
                        .collect()
                })
                .map_err(|e| call_exception(env, "routeBatch", e))?;
            workers.set_region(env, 0, &out)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native void endInterval(long handle, double[] loads)`: closes a reporting interval.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_endInterval<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    loads: JDoubleArray<'l>,
) {
    unowned
        .with_env(|env| -> Result<()> {
            let l = doubles(env, &loads)?;
            ROUTERS
                .with_exclusive(handle, |router, _| router.end_interval(&l))
                .map_err(|e| call_exception(env, "endInterval", e))
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native void applyAction(long handle, double[] action)`: installs a policy action;
/// `IllegalArgumentException` for a wrong length or a NaN, infinite or negative element.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_applyAction<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    action: JDoubleArray<'l>,
) {
    unowned
        .with_env(|env| -> Result<()> {
            let mut a = vec![0.0; action.len(env)?];
            action.get_region(env, 0, &mut a)?;
            ROUTERS
                .with_exclusive(handle, |router, _| router.apply_action(&a))
                .map_err(|e| call_exception(env, "applyAction", e))?
                .map_err(|e| illegal_argument(env, e.to_string()))
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native boolean splitsKeys(long handle)`: whether one key may reach several workers.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_splitsKeys<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> bool {
    unowned
        .with_env(|env| -> Result<bool> {
            ROUTERS
                .with_exclusive(handle, |router, _| router.splits_keys())
                .map_err(|e| call_exception(env, "splitsKeys", e))
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native byte[] snapshotState(long handle)`: the router's state (what it has learned and the
/// routing table in force, see [`sas_router::state`]) for a Flink checkpoint. `IllegalStateException`
/// for a state above [`MAX_STATE_BYTES`], which no restore would take.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_snapshotState<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JByteArray<'l> {
    unowned
        .with_env(|env| -> Result<JByteArray<'l>> {
            let bytes = ROUTERS
                .with_exclusive(handle, |router, _| router.save_state())
                .map_err(|e| call_exception(env, "snapshotState", e))?;
            if bytes.len() > MAX_STATE_BYTES {
                let message = format!(
                    "snapshotState: the router's state is {} bytes, above the limit of {MAX_STATE_BYTES}",
                    bytes.len()
                );
                return Err(illegal_state(env, message));
            }
            env.byte_array_from_slice(&bytes)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native void restoreState(long handle, byte[] state)`: replaces the router's state with one
/// `snapshotState` returned, from a router of the same strategy, worker count and settings (with an
/// agent link on both or on neither). `IllegalArgumentException` saying what does not fit (the
/// strategy, the worker count, a setting the state depends on) or what is wrong with the bytes
/// (truncated, damaged, not a router state); the router is unchanged then.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_restoreState<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    state: JByteArray<'l>,
) {
    unowned
        .with_env(|env| -> Result<()> {
            if state.is_null() {
                return Err(illegal_argument(env, "restoreState: state is null"));
            }
            let len = state.len(env)?;
            if len > MAX_STATE_BYTES {
                let message =
                    format!("restoreState: a state of {len} bytes is above the limit of {MAX_STATE_BYTES}");
                return Err(illegal_argument(env, message));
            }
            let bytes = env.convert_byte_array(&state)?;
            ROUTERS
                .with_exclusive(handle, |router, _| router.restore_state(&bytes))
                .map_err(|e| call_exception(env, "restoreState", e))?
                .map_err(|e| illegal_argument(env, format!("restoreState: {e}")))
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native void close(long handle)`: frees a router and releases its link to the agent (the last
/// handle of a link stops it; the session stays open for the job's other JVMs and restarts, until the
/// agent closes it as idle). Waits for `agentStatus` calls in progress; `IllegalStateException` for a
/// handle closed already or in use by another thread.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_close<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    unowned
        .with_env(|env| -> Result<()> {
            let parts = ROUTERS
                .close(handle)
                .map_err(|e| call_exception(env, "close", e.into()))?;
            drop_closed(env, "close", parts)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native long[] agentStatus(long handle)`: the router's link counters, in the order of
/// [`StatusSnapshot::FIELDS`](sas_agent_link::StatusSnapshot::FIELDS): connected (0/1),
/// tables_received, model_version, last_table_step, reports_sent, reports_dropped, reconnects,
/// fallback_active (0/1), tables_applied. Empty for a router without an agent. Called by the metrics
/// thread while the task thread routes: it reads the handle's shared part only (a [`StatusReader`]).
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_agentStatus<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JLongArray<'l> {
    unowned
        .with_env(|env| -> Result<JLongArray<'l>> {
            let snapshot = ROUTERS
                .with_shared(handle, |status| status.as_ref().map(StatusReader::snapshot))
                .map_err(|e| call_exception(env, "agentStatus", e))?;
            let values: Vec<i64> =
                snapshot.map_or_else(Vec::new, |s| s.to_array().iter().map(|&v| v as i64).collect());
            let array = env.new_long_array(values.len())?;
            array.set_region(env, 0, &values)?;
            Ok(array)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native long openWorkerReporter(String paramsYaml, int worker)`: the reporter of worker
/// `worker` (`0 <= worker < workers`) on the JVM's link to the params' agent;
/// `IllegalArgumentException` when the params have no agent.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_openWorkerReporter<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    yaml: JString<'l>,
    worker: jint,
) -> jlong {
    unowned
        .with_env(|env| -> Result<jlong> {
            let params = parse_params(env, &yaml)?;
            let worker = u32::try_from(worker)
                .map_err(|_| illegal_argument(env, format!("worker = {worker}: must be >= 0")))?;
            init_logging();
            let reporter = WorkerReporter::open(&params, worker).map_err(|e| link_exception(env, e))?;
            REPORTERS
                .open((), reporter)
                .map_err(|e| call_exception(env, "openWorkerReporter", e.into()))
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native boolean reportWorker(long h, long interval, double busyMs, double backpressuredMs,
/// double intervalMs, long recordsIn)`: queues one interval's report without waiting; false when the
/// queue was full (the report is dropped and counted). `interval` is `currentTimeMillis() /
/// agent.interval_ms` of the interval reported. `IllegalArgumentException` for a negative interval or
/// record count, a negative or non-finite time, or an interval length that is not > 0.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // The JNI signature: env, class and the six Java arguments.
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_reportWorker<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
    interval: jlong,
    busy_ms: f64,
    backpressured_ms: f64,
    interval_ms: f64,
    records_in: jlong,
) -> bool {
    unowned
        .with_env(|env| -> Result<bool> {
            let (Ok(interval), Ok(records_in)) = (u64::try_from(interval), u64::try_from(records_in)) else {
                let message = format!("interval = {interval}, recordsIn = {records_in}: must be >= 0");
                return Err(illegal_argument(env, message));
            };
            let report = WorkerInterval {
                interval,
                busy_ms,
                backpressured_ms,
                interval_ms,
                records_in,
            };
            REPORTERS
                .with_exclusive(handle, |reporter, _| reporter.report(&report))
                .map_err(|e| call_exception(env, "reportWorker", e))?
                .map_err(|e| illegal_argument(env, e.to_string()))
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native void closeWorkerReporter(long h)`: frees a worker reporter and releases its link;
/// `IllegalStateException` for a handle closed already.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_closeWorkerReporter<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) {
    unowned
        .with_env(|env| -> Result<()> {
            let parts = REPORTERS
                .close(handle)
                .map_err(|e| call_exception(env, "closeWorkerReporter", e.into()))?;
            drop_closed(env, "closeWorkerReporter", parts)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native long createWorkload(String paramsYaml)`: the key stream of the params.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_createWorkload<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    yaml: JString<'l>,
) -> jlong {
    unowned
        .with_env(|env| -> Result<jlong> {
            let params = parse_params(env, &yaml)?;
            let workload =
                Workload::new(&params.workload_config()).map_err(|e| illegal_argument(env, e.to_string()))?;
            WORKLOADS
                .open((), workload)
                .map_err(|e| call_exception(env, "createWorkload", e.into()))
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native long keyAt(long workload, long index)`: the key of record `index`. Per record, as
/// `route`: a refused handle or a panic throws and returns −1.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_keyAt(
    mut unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    workload: jlong,
    index: jlong,
) -> jlong {
    match WORKLOADS.with_exclusive(workload, |w, _| w.record_at(index as u64).key) {
        Ok(key) => key as jlong,
        Err(e) => {
            throw_from_record_path(&mut unowned, "keyAt", e);
            -1
        }
    }
}

/// `static native long eventTime(long workload, long index)`: the event time of record `index` (ms). Per
/// record, as `keyAt`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_eventTime(
    mut unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    workload: jlong,
    index: jlong,
) -> jlong {
    match WORKLOADS.with_exclusive(workload, |w, _| w.event_time(index as u64)) {
        Ok(ts_ms) => ts_ms as jlong,
        Err(e) => {
            throw_from_record_path(&mut unowned, "eventTime", e);
            -1
        }
    }
}

/// `static native void closeWorkload(long workload)`: frees a workload; `IllegalStateException` for a
/// handle closed already.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_closeWorkload<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    workload: jlong,
) {
    unowned
        .with_env(|env| -> Result<()> {
            let parts = WORKLOADS
                .close(workload)
                .map_err(|e| call_exception(env, "closeWorkload", e.into()))?;
            drop_closed(env, "closeWorkload", parts)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}
