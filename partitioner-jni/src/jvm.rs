//! The JNI layer (`jvm`): the router core exported to the JVM as the static natives of
//! `org.sas.nativeloader.NativeRouter`.
//!
//! Two kinds of entry points:
//! * **Per record** (`route`, `keyAt`, `eventTime`): plain functions over primitives. They never touch
//!   the JNI environment, so they skip jni's `with_env` wrapper (about 50 ns here, against about 6 ns for
//!   the bare call). A panic is still caught, and reported as −1 for the Java side to raise.
//! * **Everything else** (create, batch routing, intervals, actions, close): wrapped in `with_env`; a bad
//!   config or action becomes an `IllegalArgumentException` naming the key, any other failure or panic a
//!   `RuntimeException`. Nothing unwinds into the JVM.
//!
//! A handle is a `Box` turned into a `jlong`. The Java side owns it: one handle per subtask, used by that
//! subtask's thread only, closed exactly once.

use crate::params::Params;
use crate::partitioner::{Partitioner, build};
use crate::workload::Workload;
use jni::errors::{Error, Result, ThrowRuntimeExAndDefault};
use jni::objects::{JClass, JDoubleArray, JIntArray, JLongArray, JObject, JString};
use jni::strings::JNIString;
use jni::sys::{jint, jlong};
use jni::{Env, EnvUnowned, jni_str};
use std::panic::{AssertUnwindSafe, catch_unwind};

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
/// `handle` must come from `create` and not be closed.
unsafe fn router<'a>(handle: jlong) -> &'a mut Box<dyn Partitioner> {
    // SAFETY: the caller guarantees the handle is a live pointer from `create`.
    unsafe { &mut *(handle as *mut Box<dyn Partitioner>) }
}

/// `static native String normalizeParams(String yaml, String baseDir)`: the params with relative paths
/// resolved against `baseDir` and every default filled in, as YAML; `IllegalArgumentException` naming the
/// bad key otherwise.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_normalizeParams<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    yaml: JString<'l>,
    base_dir: JString<'l>,
) -> JObject<'l> {
    unowned
        .with_env(|env| -> Result<JObject<'l>> {
            let text = yaml.try_to_string(env)?;
            let base = base_dir.try_to_string(env)?;
            let params = Params::parse_in(&text, "params", std::path::Path::new(&base))
                .map_err(|e| illegal_argument(env, e.to_string()))?;
            let out = serde_norway::to_string(&params).map_err(|e| illegal_argument(env, e.to_string()))?;
            Ok(JString::new(env, out)?.into())
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native String paramsJson(String yaml)`: validated params as JSON, for the Java side to read.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_paramsJson<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    yaml: JString<'l>,
) -> JObject<'l> {
    unowned
        .with_env(|env| -> Result<JObject<'l>> {
            let params = parse_params(env, &yaml)?;
            // Cannot fail: Params holds only strings, numbers, lists and maps with string keys.
            let json = serde_json::to_string(&params).expect("params serialise to JSON");
            Ok(JString::new(env, json)?.into())
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native String partitionerNames()`: every partitioner name, comma-separated, in table order.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_partitionerNames<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JObject<'l> {
    unowned
        .with_env(|env| -> Result<JObject<'l>> { Ok(JString::new(env, crate::NAMES.join(","))?.into()) })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `static native long create(String paramsYaml, String partitioner)`: a router for one subtask.
/// An empty `partitioner` means the one named in the params.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_create<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    yaml: JString<'l>,
    partitioner: JString<'l>,
) -> jlong {
    unowned
        .with_env(|env| -> Result<jlong> {
            let params = parse_params(env, &yaml)?;
            let mut name = partitioner.try_to_string(env)?;
            if name.is_empty() {
                name = params.partitioner.clone();
            }
            let router =
                build(&name, &params.router_config()).map_err(|e| illegal_argument(env, e.to_string()))?;
            Ok(Box::into_raw(Box::new(router)) as jlong)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
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

/// `static native void close(long handle)`: frees a router.
#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sas_nativeloader_NativeRouter_close(
    _unowned: EnvUnowned<'_>,
    _class: JClass<'_>,
    handle: jlong,
) {
    if handle != 0 {
        // SAFETY: the handle came from `create` and the Java side closes it once.
        drop(unsafe { Box::from_raw(handle as *mut Box<dyn Partitioner>) });
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
