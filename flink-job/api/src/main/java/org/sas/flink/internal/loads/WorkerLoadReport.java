package org.sas.flink.internal.loads;

import org.apache.flink.runtime.operators.coordination.OperatorEvent;

/**
 * One worker's load over one interval, sent by its {@link WorkerLoadOperator} to the
 * {@link WorkerLoadCoordinator}: the figures its {@code WorkerLoadSampler} handed the load sink (the
 * agent's or the log's). The worker is the sending subtask.
 *
 * @param interval {@code floor(epochMs / I)} of the interval the sample ends
 * @param busyMs time the task neither waited for input nor for output
 * @param intervalMs wall time the sample covers (I, less for a worker's first sample)
 */
public record WorkerLoadReport(long interval, double busyMs, double intervalMs) implements OperatorEvent {

    private static final long serialVersionUID = 1L;

    /** The busy ratio {@code busyMs / intervalMs}, or NaN for a sample that covers no time. */
    public double busyRatio() {
        return intervalMs > 0 ? busyMs / intervalMs : Double.NaN;
    }
}
