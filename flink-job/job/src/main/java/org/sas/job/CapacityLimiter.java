package org.sas.job;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.util.concurrent.locks.LockSupport;

/**
 * Emulates a worker that serves at most C records per second: each record costs 1/C s of the worker's
 * time, and the worker parks (rather than spins) while it is ahead of its budget. One machine can thus
 * stand for P slower machines, and back-pressure shows where a real cluster would show it.
 */
public class CapacityLimiter extends KeyedProcessFunction<Integer, Event, Event> {

    private static final long serialVersionUID = 1L;

    /** Idle time a worker may bank, so short pauses upstream are not lost capacity. */
    private static final long MAX_CREDIT_NANOS = 10_000_000L;

    private final double[] recordsPerSecond;
    private transient long costNanos;
    private transient long nextFree;

    public CapacityLimiter(double[] recordsPerSecond) {
        this.recordsPerSecond = recordsPerSecond;
    }

    @Override
    public void open(OpenContext openContext) {
        double c = recordsPerSecond[getRuntimeContext().getTaskInfo().getIndexOfThisSubtask()];
        costNanos = c > 0 ? (long) (1e9 / c) : 0;
        nextFree = System.nanoTime();
    }

    @Override
    public void processElement(Event e, Context ctx, Collector<Event> out) {
        if (costNanos > 0) {
            long now = System.nanoTime();
            nextFree = Math.max(nextFree, now - MAX_CREDIT_NANOS) + costNanos;
            if (nextFree > now) {
                LockSupport.parkNanos(nextFree - now);
            }
        }
        out.collect(e);
    }
}
