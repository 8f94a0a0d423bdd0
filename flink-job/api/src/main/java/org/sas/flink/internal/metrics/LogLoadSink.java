package org.sas.flink.internal.metrics;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Sink that writes each sample to the task manager's log at INFO: the sink when no agent is configured. */
public final class LogLoadSink implements WorkerLoadSink {

    private static final Logger LOG = LoggerFactory.getLogger(LogLoadSink.class);

    @Override
    public void accept(long interval, int worker, double busyMs, double backPressuredMs, double intervalMs, long recordsIn) {
        if (LOG.isInfoEnabled()) {
            LOG.info(String.format("worker %d interval %d: busy %.1f ms, back-pressured %.1f ms of %.1f ms, %d records in",
                    worker, interval, busyMs, backPressuredMs, intervalMs, recordsIn));
        }
    }

    @Override
    public String toString() {
        return "LOG";
    }

    /** Opens a {@link LogLoadSink} for every worker. */
    public static final class Factory implements WorkerLoadSink.Factory {
        private static final long serialVersionUID = 1L;

        @Override
        public WorkerLoadSink open(int worker) {
            return new LogLoadSink();
        }

        @Override
        public String toString() {
            return "LOG";
        }
    }
}
