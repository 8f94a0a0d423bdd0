package org.sas.flink.internal.metrics;

import java.io.Serializable;

/**
 * Where a worker's load samples go, one call per interval (see {@link WorkerLoadSampler}).
 *
 * <p>A sink belongs to one worker subtask. Calls never overlap: they come from the sampler's thread,
 * and the last one, then {@link #close}, from the task thread once that thread has ended.
 */
public interface WorkerLoadSink extends AutoCloseable {

    /**
     * One interval of one worker. {@code busyMs + backPressuredMs + idle = intervalMs}.
     *
     * @param interval {@code floor(epochMs / I)} of the interval the sample ends
     * @param worker the worker index (the router's)
     * @param busyMs time the task neither waited for input nor for output
     * @param backPressuredMs time the task waited for output buffers (soft and hard back-pressure)
     * @param intervalMs wall time the sample covers: I, less for the first and last sample of a run
     * @param recordsIn records the task took in during the interval
     */
    void accept(long interval, int worker, double busyMs, double backPressuredMs, double intervalMs, long recordsIn);

    @Override
    default void close() {}

    /** Opens no sink: the samples go only where the caller sends them (the routers). */
    final class None implements Factory {
        private static final long serialVersionUID = 1L;

        @Override
        public WorkerLoadSink open(int worker) {
            return (interval, w, busyMs, backPressuredMs, intervalMs, recordsIn) -> {};
        }

        @Override
        public String toString() {
            return "NONE";
        }
    }

    /** Opens a worker's sink in the worker's subtask; travels with the job graph. */
    interface Factory extends Serializable {
        WorkerLoadSink open(int worker);
    }
}
