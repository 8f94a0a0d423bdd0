package org.sas.nativeloader;

import java.io.File;

/**
 * The Rust router, loaded once per JVM.
 *
 * <p>This class lives in its own jar for Flink's {@code lib/} folder: a native library can be loaded by
 * one class loader only, so a class in a job jar would fail on the first restart or the second job. The
 * library is found, in order, at the path given by the system property {@value #LIBRARY_PROPERTY}, the
 * environment variable {@value #LIBRARY_ENV}, or as {@code sas_router_jni} on {@code java.library.path}.
 *
 * <p>{@link #route}, {@link #keyAt} and {@link #eventTime} are the per-record calls: primitives only, and
 * on success no JNI environment is touched. Everything else throws {@link IllegalArgumentException} for a
 * bad config or action, naming the key.
 *
 * <p>A handle ({@code long}) names an object of one kind (router, workload or worker reporter) until it is
 * closed; it is a checked name, not an address. Every native taking one, the per-record ones included,
 * throws instead of touching anything when the handle is wrong: {@link IllegalArgumentException} for 0, a
 * handle of another kind or a number this library never issued, {@link IllegalStateException} for a
 * closed handle (a second close included) and for a handle another thread is using. A handle serves one
 * thread at a time; only {@link #agentStatus} may be called from another thread (a metrics reporter's)
 * while the owner routes, and {@link #close} waits for it. A panic inside the library is a
 * {@link RuntimeException}, from the per-record calls too.
 *
 * <p>When the params have an {@code agent:} section with an address, routers and worker reporters of the
 * JVM share one link to the agent per session key (see {@code docs/agent-link.md}): routers report their
 * counts and apply the agent's routing tables, workers report their load, and nothing on the record path
 * waits on the network.
 */
public final class NativeRouter {

    /** System property holding the path of {@code libsas_router_jni.so}. */
    public static final String LIBRARY_PROPERTY = "sas.router.library";

    /** Environment variable holding the path of {@code libsas_router_jni.so}. */
    public static final String LIBRARY_ENV = "SAS_ROUTER_LIBRARY";

    /** Index in {@link #agentStatus}: 1 if a session is open and its table stream is live. */
    public static final int STATUS_CONNECTED = 0;
    /** Index in {@link #agentStatus}: routing tables received since the link started. */
    public static final int STATUS_TABLES_RECEIVED = 1;
    /** Index in {@link #agentStatus}: model version of the newest table. */
    public static final int STATUS_MODEL_VERSION = 2;
    /** Index in {@link #agentStatus}: step of the newest table (0 = a session's initial table). */
    public static final int STATUS_LAST_TABLE_STEP = 3;
    /** Index in {@link #agentStatus}: reports the agent answered. */
    public static final int STATUS_REPORTS_SENT = 4;
    /** Index in {@link #agentStatus}: reports dropped (queue full, no session, or the call failed). */
    public static final int STATUS_REPORTS_DROPPED = 5;
    /** Index in {@link #agentStatus}: sessions re-opened after the first one. */
    public static final int STATUS_RECONNECTS = 6;
    /** Index in {@link #agentStatus}: 1 if this router routes with the fallback baseline. */
    public static final int STATUS_FALLBACK_ACTIVE = 7;
    /** Index in {@link #agentStatus}: tables this router applied. */
    public static final int STATUS_TABLES_APPLIED = 8;

    private static final Throwable LOAD_FAILURE = load();

    private NativeRouter() {}

    private static Throwable load() {
        try {
            String path = System.getProperty(LIBRARY_PROPERTY);
            if (path == null || path.isEmpty()) {
                path = System.getenv(LIBRARY_ENV);
            }
            if (path != null && !path.isEmpty()) {
                File file = new File(path);
                if (!file.isFile()) {
                    return new UnsatisfiedLinkError("no file at " + file.getAbsolutePath());
                }
                System.load(file.getAbsolutePath());
            } else {
                System.loadLibrary("sas_router_jni");
            }
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    /**
     * Fails with a message saying how to point at the library when it could not be loaded.
     *
     * @throws IllegalStateException if the library is not loaded
     */
    public static void ensureLoaded() {
        if (LOAD_FAILURE != null) {
            throw new IllegalStateException(
                    "The SaS router library (libsas_router_jni.so) could not be loaded: "
                            + LOAD_FAILURE.getMessage()
                            + ". Build it with `cargo build --release -p sas-router-jni` and set -D"
                            + LIBRARY_PROPERTY
                            + "=/path/to/libsas_router_jni.so or "
                            + LIBRARY_ENV
                            + ", or add its folder to java.library.path.",
                    LOAD_FAILURE);
        }
    }

    /**
     * Applies {@code KEY=VALUE} overrides to params (dotted keys such as {@code agent.mode=collect} reach
     * into sections; values are YAML scalars), validates them and returns them as YAML with every default
     * filled in and relative file paths resolved against {@code baseDir}. The one way the job changes
     * params: it never edits their text.
     *
     * @throws IllegalArgumentException naming the bad override or key
     */
    public static native String normalizeParams(String yaml, String baseDir, String[] overrides);

    /**
     * Returns the values the job reads from validated params as JSON: the fields of the Rust
     * {@code JobView} ({@code partitioner-jni/core/src/params/job_view.rs}), every default and derived
     * value (per-worker capacity, the effective agent) filled in.
     */
    public static native String jobView(String yaml);

    /**
     * Returns the imbalance λ = (max − mean) / mean of per-worker loads, 0 when all are 0 (the Rust
     * {@code sas_router::metrics::imbalance}). For per-window reports, not per record.
     */
    public static native double imbalance(double[] loads);

    /**
     * Returns NMAD = Σ|L_i − mean| / (n · mean) of per-worker loads, 0 when all are 0 (the Rust
     * {@code sas_router::metrics::nmad}). For per-window reports, not per record.
     */
    public static native double nmad(double[] loads);

    /** Returns every partitioner name, comma-separated, in the order result tables list them. */
    public static native String partitionerNames();

    /** Creates router 0 of the job; an empty {@code partitioner} means the params' own. */
    public static native long create(String paramsYaml, String partitioner);

    /**
     * Creates the router of subtask {@code routerIndex} ({@code 0 <= routerIndex < routers}); an empty
     * {@code partitioner} means the params' own. With an agent in the params the router joins the JVM's
     * link to it.
     */
    public static native long createRouter(String paramsYaml, String partitioner, int routerIndex);

    /** Returns the worker of one record; a bad handle or a failing router throws. */
    public static native int route(long handle, long key, long tsMs);

    /** Routes the first {@code n} records of the arrays in one call. */
    public static native void routeBatch(long handle, long[] keys, long[] tsMs, int[] workers, int n);

    /** Closes a reporting interval with each worker's load over it. */
    public static native void endInterval(long handle, double[] loads);

    /** Installs a policy action (mask order). */
    public static native void applyAction(long handle, double[] action);

    /** Whether the router may send one key to several workers. */
    public static native boolean splitsKeys(long handle);

    /**
     * Returns the router's state: what its later decisions depend on (loads, hot keys, bandit estimates,
     * the routing table in force, its random stream; with an agent link, the fallback's too), in a
     * versioned envelope naming the strategy and the worker count (see {@code docs/flink-job.md}). For a
     * checkpoint: it copies the state, not for the record path.
     *
     * @throws IllegalStateException if the state exceeds the size limit (1 GiB)
     */
    public static native byte[] snapshotState(long handle);

    /**
     * Replaces the router's state with one {@link #snapshotState} returned, from a router of the same
     * strategy, worker count and settings (with an agent link on both or on neither): from then on it
     * routes as that router would have. On error the router is unchanged.
     *
     * @throws IllegalArgumentException saying what does not fit (the strategy, the worker count, a setting
     *     the state depends on) or what is wrong with the bytes (truncated, damaged, not a router state)
     */
    public static native void restoreState(long handle, byte[] state);

    /**
     * Frees a router and releases its link to the agent (the last handle of a link stops it; the agent
     * closes the session once it is idle). Waits for {@link #agentStatus} calls in progress.
     *
     * @throws IllegalStateException if the handle is closed already or in use by another thread
     */
    public static native void close(long handle);

    /**
     * Returns the router's agent-link counters, indexed by the {@code STATUS_*} constants; an empty array
     * for a router without an agent. The one call that may run on another thread while the owner routes.
     */
    public static native long[] agentStatus(long handle);

    /**
     * Opens the reporter of worker {@code worker} ({@code 0 <= worker < workers}) on the JVM's link to the
     * params' agent.
     *
     * @throws IllegalArgumentException if the params have no agent or the worker is out of range
     */
    public static native long openWorkerReporter(String paramsYaml, int worker);

    /**
     * Queues one interval's report without waiting. {@code interval} is {@code
     * System.currentTimeMillis() / agent.interval_ms} of the interval reported, the numbering every router
     * uses.
     *
     * @return false if the queue was full and the report was dropped
     * @throws IllegalArgumentException for a negative interval or count, a negative or non-finite time, or
     *     an interval length that is not positive
     */
    public static native boolean reportWorker(
            long handle,
            long interval,
            double busyMs,
            double backpressuredMs,
            double intervalMs,
            long recordsIn);

    /**
     * Frees a worker reporter and releases its link to the agent.
     *
     * @throws IllegalStateException if the handle is closed already
     */
    public static native void closeWorkerReporter(long handle);

    /** Creates the key stream the params describe. */
    public static native long createWorkload(String paramsYaml);

    /** Returns the key of record {@code index}; a bad handle throws. */
    public static native long keyAt(long workload, long index);

    /** Returns the event time (ms) of record {@code index}; a bad handle throws. */
    public static native long eventTime(long workload, long index);

    /**
     * Frees a key stream.
     *
     * @throws IllegalStateException if the handle is closed already
     */
    public static native void closeWorkload(long workload);
}
