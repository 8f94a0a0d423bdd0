//! The JNI layer: the router core exported to the JVM as the static natives of
//! `org.sas.nativeloader.NativeRouter`.
//!
//! Two kinds of entry points:
//! * **Per record** (`route`, `keyAt`, `eventTime`): plain functions over primitives. They never touch
//!   the JNI environment, so they skip jni's `with_env` wrapper (about 50 ns here, against about 6 ns for
//!   the bare call). A panic is still caught, and reported as −1 for the Java side to raise.
//! * **Everything else** (params, create, batch routing, intervals, actions, per-window balance metrics,
//!   close): wrapped in `with_env`; a bad config, override or action becomes an
//!   `IllegalArgumentException` naming the key, any other failure or panic a `RuntimeException`. Nothing
//!   unwinds into the JVM.
//!
//! A handle is a `Box` turned into a `jlong`. The Java side owns it: one handle per subtask, used by that
//! subtask's thread only, closed exactly once.
//!
//! When the params have an `agent:` section with an address, a router handle is a
//! [`LinkedRouter`] on the JVM's shared link to the agent, and worker
//! reporters join the same link; the link's logs go to stderr (filter: `SAS_ROUTER_LOG`, default
//! `info`), which Flink keeps in the TaskManager's `.out` file.

use jni::errors::{Error, Result, ThrowRuntimeExAndDefault};
use jni::objects::{JClass, JDoubleArray, JIntArray, JLongArray, JObject, JObjectArray, JString, Reference};
use jni::strings::JNIString;
use jni::sys::{jint, jlong};
use jni::{Env, EnvUnowned, jni_str};
use sas_agent_link::{LinkError, LinkedRouter, WorkerInterval, WorkerReporter};
use sas_router::error::DecodeError;
use sas_router::params::Params;
use sas_router::partitioner::{Partitioner, build};
use sas_router::workload::Workload;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a router handle points to.
// The handle is boxed once per subtask, so the variants' sizes do not matter; boxing `Linked` again would
// add a pointer chase per record.
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

fn parse_params(env: &mut Env, yaml: &JString) -> Result<Params> {
    let text = yaml.try_to_string(env)?;
    Params::parse(&text, "params").map_err(|e| illegal_argument(env, e.to_string()))
}

/// # Safety
/// `handle` must come from `create` or `createRouter` and not be closed.
unsafe fn router<'a>(handle: jlong) -> &'a mut RouterHandle {
    // SAFETY: the caller guarantees the handle is a live pointer from `create`.
    unsafe { &mut *(handle as *mut RouterHandle) }
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
    let handle = if params.agent_link().is_some() {
        init_logging();
        let linked = LinkedRouter::open(&params, &name, index).map_err(|e| link_exception(env, e))?;
        RouterHandle::Linked(linked)
    } else {
        let plain =
            build(&name, &params.router_config()).map_err(|e| illegal_argument(env, e.to_string()))?;
        RouterHandle::Plain(plain)
    };
    Ok(Box::into_raw(Box::new(handle)) as jlong)
}

/// `static native int route(long handle, long key, long tsMs)`: the worker for one record, or −1 if the
/// router panicked (the Java side raises it). The per-record path: no JNI environment, no allocation.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_route(
    _unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    handle: jlong,
    key: jlong,
    ts_ms: jlong,
) -> jint {
    if handle == 0 {
        return -1;
    }
    // SAFETY: the Java side passes only live handles from `create` (NativeRouter checks for closed ones).
    let router = unsafe { router(handle) };
    catch_unwind(AssertUnwindSafe(|| {
        router.route(key as u64, ts_ms as u64) as jint
    }))
    .unwrap_or(-1)
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
            // SAFETY: as in `route`.
            let router = unsafe { router(handle) };
            let out: Vec<jint> = k
                .iter()
                .zip(&t)
                .map(|(&k, &t)| router.route(k as u64, t as u64) as jint)
                .collect();
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
            let mut l = vec![0.0; loads.len(env)?];
            loads.get_region(env, 0, &mut l)?;
            // SAFETY: as in `route`.
            unsafe { router(handle) }.end_interval(&l);
            Ok(())
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
            // SAFETY: as in `route`.
            unsafe { router(handle) }
                .apply_action(&a)
                .map_err(|e| illegal_argument(env, e.to_string()))
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native boolean splitsKeys(long handle)`: whether one key may reach several workers.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_splitsKeys(
    _unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    handle: jlong,
) -> bool {
    // SAFETY: as in `route`; the call cannot panic.
    handle != 0 && unsafe { router(handle) }.splits_keys()
}

/// `static native void close(long handle)`: frees a router and releases its link to the agent (the last
/// handle of a link stops it; the session stays open for the job's other JVMs and restarts, until the
/// agent closes it as idle).
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_close(
    _unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    handle: jlong,
) {
    if handle != 0 {
        // SAFETY: the handle came from `create` and the Java side closes it once.
        let router = unsafe { Box::from_raw(handle as *mut RouterHandle) };
        // Nothing unwinds into the JVM; a panic while stopping a link leaves at worst a thread behind.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(router)));
    }
}

/// `static native long[] agentStatus(long handle)`: the router's link counters, in the order of
/// [`StatusSnapshot::FIELDS`](sas_agent_link::StatusSnapshot::FIELDS): connected (0/1),
/// tables_received, model_version, last_table_step, reports_sent, reports_dropped, reconnects,
/// fallback_active (0/1), tables_applied. Empty for a router without an agent.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_agentStatus<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JLongArray<'l> {
    unowned
        .with_env(|env| -> Result<JLongArray<'l>> {
            if handle == 0 {
                return Err(illegal_argument(
                    env,
                    "agentStatus: the router handle is 0 (closed?)",
                ));
            }
            // SAFETY: as in `route`.
            let values: Vec<i64> = match unsafe { router(handle) } {
                RouterHandle::Plain(_) => Vec::new(),
                RouterHandle::Linked(l) => l.status().to_array().iter().map(|&v| v as i64).collect(),
            };
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
            Ok(Box::into_raw(Box::new(reporter)) as jlong)
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
            if handle == 0 {
                return Err(illegal_argument(
                    env,
                    "reportWorker: the reporter handle is 0 (closed?)",
                ));
            }
            let (Ok(interval), Ok(records_in)) = (u64::try_from(interval), u64::try_from(records_in)) else {
                let message = format!("interval = {interval}, recordsIn = {records_in}: must be >= 0");
                return Err(illegal_argument(env, message));
            };
            // SAFETY: a live handle from `openWorkerReporter`, used by one thread and closed once.
            let reporter = unsafe { &*(handle as *const WorkerReporter) };
            let report = WorkerInterval {
                interval,
                busy_ms,
                backpressured_ms,
                interval_ms,
                records_in,
            };
            reporter
                .report(&report)
                .map_err(|e| illegal_argument(env, e.to_string()))
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native void closeWorkerReporter(long h)`: frees a worker reporter and releases its link.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_closeWorkerReporter(
    _unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    handle: jlong,
) {
    if handle != 0 {
        // SAFETY: the handle came from `openWorkerReporter` and the Java side closes it once.
        let reporter = unsafe { Box::from_raw(handle as *mut WorkerReporter) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(reporter)));
    }
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
            Ok(Box::into_raw(Box::new(workload)) as jlong)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native long keyAt(long workload, long index)`: the key of record `index`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_keyAt(
    _unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    workload: jlong,
    index: jlong,
) -> jlong {
    if workload == 0 {
        return -1;
    }
    // SAFETY: a live handle from `createWorkload`; generating a key reads it only.
    let w = unsafe { &*(workload as *const Workload) };
    catch_unwind(AssertUnwindSafe(|| w.record_at(index as u64).key as jlong)).unwrap_or(-1)
}

/// `static native long eventTime(long workload, long index)`: the event time of record `index` (ms).
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_eventTime(
    _unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    workload: jlong,
    index: jlong,
) -> jlong {
    if workload == 0 {
        return -1;
    }
    // SAFETY: as in `keyAt`.
    let w = unsafe { &*(workload as *const Workload) };
    w.event_time(index as u64) as jlong
}

/// `static native void closeWorkload(long workload)`: frees a workload.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_closeWorkload(
    _unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    workload: jlong,
) {
    if workload != 0 {
        // SAFETY: the handle came from `createWorkload` and the Java side closes it once.
        drop(unsafe { Box::from_raw(workload as *mut Workload) });
    }
}
