package org.sas.job;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.util.concurrent.locks.LockSupport;

/**
 * Emulates a worker that serves at most C records per second: each record occupies 1/C s of the worker's
 * time, from its arrival or the end of the previous record, whichever is later, and the worker parks
 * (rather than spins) for it. One machine can thus stand for P slower machines; back-pressure shows where
 * a real cluster would show it, and Flink's busy time is the records' cost, at any load.
 *
 * <p>{@code parkNanos} wakes late (tens of microseconds); the limiter learns that lateness and parks that
 * much less, so back-to-back records still average 1/C s each.
 *
 * <p>It never reads a record or its key: it charges any keyed stage whose subtask index is the worker's.
 *
 * @param <K> the stage's key
 * @param <T> the records
 */
public class CapacityLimiter<K, T> extends KeyedProcessFunction<K, T, T> {

    private static final long serialVersionUID = 1L;

    private final double[] recordsPerSecond;
    private transient long costNanos;
    /** When the worker finishes the records it has taken so far. */
    private transient long nextFree;
    /** Running mean of how late {@code parkNanos} wakes. */
    private transient long lateNanos;

    /** Charges each record of worker w 1/C s, C = {@code recordsPerSecond[w]} (0: no charge). */
    public CapacityLimiter(double[] recordsPerSecond) {
        this.recordsPerSecond = recordsPerSecond;
    }

    @Override
    public void open(OpenContext openContext) {
        double c = recordsPerSecond[getRuntimeContext().getTaskInfo().getIndexOfThisSubtask()];
        costNanos = c > 0 ? (long) (1e9 / c) : 0;
        nextFree = System.nanoTime();
        lateNanos = 0;
    }

    @Override
    public void processElement(T record, Context ctx, Collector<T> out) {
        if (costNanos > 0) {
            long now = System.nanoTime();
            nextFree = Math.max(nextFree, now) + costNanos;
            long wait = nextFree - now - lateNanos;
            if (wait > 0) {
                LockSupport.parkNanos(wait);
                long late = System.nanoTime() - (now + wait);
                lateNanos += (late - lateNanos) / 8;
            }
        }
        out.collect(record);
    }
}
