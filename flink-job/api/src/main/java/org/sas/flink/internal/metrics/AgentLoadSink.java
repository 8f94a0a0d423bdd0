package org.sas.flink.internal.metrics;

import org.sas.nativeloader.NativeRouter;

/**
 * Sink that hands each sample to the SaS agent through the Rust library's worker reporter, on the JVM's
 * link to the agent of the params' {@code agent:} section (docs/agent-link.md).
 */
public final class AgentLoadSink implements WorkerLoadSink {

    private long reporter;

    private AgentLoadSink(String paramsYaml, int worker) {
        NativeRouter.ensureLoaded();
        this.reporter = NativeRouter.openWorkerReporter(paramsYaml, worker);
    }

    /** Queues the report without waiting; a full queue drops it, and the link counts the drop. */
    @Override
    public void accept(long interval, int worker, double busyMs, double backPressuredMs, double intervalMs, long recordsIn) {
        NativeRouter.reportWorker(reporter, interval, busyMs, backPressuredMs, intervalMs, recordsIn);
    }

    @Override
    public void close() {
        if (reporter != 0) {
            long closing = reporter;
            reporter = 0;
            NativeRouter.closeWorkerReporter(closing);
        }
    }

    @Override
    public String toString() {
        return "AGENT";
    }

    /** Opens an {@link AgentLoadSink} per worker from the params' {@code agent:} section. */
    public static final class Factory implements WorkerLoadSink.Factory {
        private static final long serialVersionUID = 1L;

        private final String paramsYaml;

        public Factory(String paramsYaml) {
            this.paramsYaml = paramsYaml;
        }

        @Override
        public WorkerLoadSink open(int worker) {
            return new AgentLoadSink(paramsYaml, worker);
        }

        @Override
        public String toString() {
            return "AGENT";
        }
    }
}
