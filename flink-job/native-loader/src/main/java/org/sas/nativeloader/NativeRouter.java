package org.sas.nativeloader;

import java.io.File;

/**
 * The Rust router, loaded once per JVM.
 *
 * <p>This class lives in its own jar for Flink's {@code lib/} folder: a native library can be loaded by
 * one class loader only, so a class in a job jar would fail on the first restart or the second job. The
 * library is found, in order, at the path given by the system property {@value #LIBRARY_PROPERTY}, the
 * environment variable {@value #LIBRARY_ENV}, or as {@code sas_router} on {@code java.library.path}.
 *
 * <p>{@link #route} is the per-record call: primitives only, no exception from the native side (a
 * negative result means the router failed). Everything else throws {@link IllegalArgumentException} for a
 * bad config or action, naming the key.
 */
public final class NativeRouter {

    /** System property holding the path of {@code libsas_router.so}. */
    public static final String LIBRARY_PROPERTY = "sas.router.library";

    /** Environment variable holding the path of {@code libsas_router.so}. */
    public static final String LIBRARY_ENV = "SAS_ROUTER_LIBRARY";

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
                System.loadLibrary("sas_router");
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
                    "The SaS router library (libsas_router.so) could not be loaded: "
                            + LOAD_FAILURE.getMessage()
                            + ". Build it with `cargo build --release -p sas-router` and set -D"
                            + LIBRARY_PROPERTY
                            + "=/path/to/libsas_router.so or "
                            + LIBRARY_ENV
                            + ", or add its folder to java.library.path.",
                    LOAD_FAILURE);
        }
    }

    /**
     * Validates params and returns them as YAML with every default filled in and relative file paths
     * resolved against {@code baseDir}.
     */
    public static native String normalizeParams(String yaml, String baseDir);

    /** Returns validated params as JSON. */
    public static native String paramsJson(String yaml);

    /** Returns every partitioner name, comma-separated, in the order result tables list them. */
    public static native String partitionerNames();

    /** Creates a router; an empty {@code partitioner} means the params' own. */
    public static native long create(String paramsYaml, String partitioner);

    /** Returns the worker of one record, or a negative value if the router failed. */
    public static native int route(long handle, long key, long tsMs);

    /** Routes the first {@code n} records of the arrays in one call. */
    public static native void routeBatch(long handle, long[] keys, long[] tsMs, int[] workers, int n);

    /** Closes a reporting interval with each worker's load over it. */
    public static native void endInterval(long handle, double[] loads);

    /** Installs a policy action (mask order). */
    public static native void applyAction(long handle, double[] action);

    /** Whether the router may send one key to several workers. */
    public static native boolean splitsKeys(long handle);

    /** Frees a router. */
    public static native void close(long handle);

    /** Creates the key stream the params describe. */
    public static native long createWorkload(String paramsYaml);

    /** Returns the key of record {@code index}. */
    public static native long keyAt(long workload, long index);

    /** Returns the event time (ms) of record {@code index}. */
    public static native long eventTime(long workload, long index);

    /** Frees a key stream. */
    public static native void closeWorkload(long workload);
}
