package org.sas.flink.internal.loads;

import org.apache.flink.runtime.operators.coordination.OperatorEvent;

import java.util.Arrays;

/**
 * Every worker's busy ratio over one interval, sent by the {@link RouterLoadCoordinator} to each router
 * subtask once all P workers have reported that interval.
 *
 * <p>Loss-tolerant: a router that has finished (its bounded source ran out while the workers still
 * drain their queues) simply misses the interval instead of failing the job.
 *
 * @param interval {@code floor(epochMs / I)} of the interval
 * @param loads busy ratio per worker, in worker order (length P)
 */
public record WorkerLoads(long interval, double[] loads) implements OperatorEvent {

    private static final long serialVersionUID = 1L;

    @Override
    public boolean isLossTolerant() {
        return true;
    }

    @Override
    public String toString() {
        return "WorkerLoads{interval=" + interval + ", loads=" + Arrays.toString(loads) + "}";
    }
}
