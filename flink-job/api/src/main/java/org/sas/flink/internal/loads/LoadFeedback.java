package org.sas.flink.internal.loads;

/**
 * A router function that takes the workers' loads: the {@link RouterOperator} running it calls {@link
 * #endInterval} with each interval's busy ratios its {@link RouterLoadCoordinator} sends.
 */
public interface LoadFeedback {

    /**
     * Closes the router's interval with the workers' loads over load interval {@code interval} ({@code
     * floor(epochMs / I)}), if the router takes them (fresh, not on the agent link). Called on the task
     * thread, between records.
     *
     * @param interval the load interval the busy ratios cover
     * @param loads each worker's busy ratio over the interval (length P)
     */
    void endInterval(long interval, double[] loads);

    /**
     * Whether a router that last took the loads of interval {@code last} takes those of {@code interval}
     * at wall time {@code nowMs}: only a later interval (nothing twice, nothing out of order), and only
     * while the interval after it is under way, not once a newer interval has ended (then these loads
     * are stale, and the router waits for the next ones).
     *
     * @param intervalMs I, the load interval, ms
     * @return whether to close the router's interval with these loads
     */
    static boolean takesLoads(long interval, long last, long nowMs, long intervalMs) {
        return interval > last && Math.floorDiv(nowMs, intervalMs) <= interval + 1;
    }
}
