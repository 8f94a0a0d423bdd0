package org.sas.job.throughput;

/**
 * The averages of one stage's measured part, from counters read at its start and at its end: never a
 * single sample, so one slow wake-up or one full buffer does not decide a stage.
 *
 * <ul>
 *   <li>achieved = records let through / seconds;</li>
 *   <li>back-pressure = growth of the task's accumulated back-pressured time / the same time;</li>
 *   <li>{@link #delivered} from the records routed to each worker and those it processed.</li>
 * </ul>
 */
final class StageMeter {

    /** Records of a worker that may be in flight (in buffers, in service) at either end of the stage. */
    static final long IN_FLIGHT = 20;

    /**
     * What a stage measured.
     *
     * @param delivered NaN when the workers' counts were not available
     */
    record Averages(double achieved, double backpressure, double delivered, double seconds) {}

    private final long[] routedAtStart;
    private final long[] processedAtStart;
    private long startNanos;
    private long backpressureAtStartMs;
    private long records;

    StageMeter(int workers) {
        routedAtStart = new long[workers];
        processedAtStart = new long[workers];
    }

    /**
     * Starts measuring.
     *
     * @param backpressureMs the task's accumulated back-pressured time
     * @param routed records routed to each worker so far
     * @param processed records each worker has processed so far
     */
    void start(long nowNanos, long backpressureMs, long[] routed, long[] processed) {
        startNanos = nowNanos;
        backpressureAtStartMs = backpressureMs;
        System.arraycopy(routed, 0, routedAtStart, 0, routed.length);
        System.arraycopy(processed, 0, processedAtStart, 0, processed.length);
        records = 0;
    }

    /** Counts one record let through. */
    void count() {
        records++;
    }

    /**
     * The averages since {@link #start}.
     *
     * @param processed records each worker has processed so far, or null when not available
     */
    Averages end(long nowNanos, long backpressureMs, long[] routed, long[] processed) {
        double seconds = (nowNanos - startNanos) / 1e9;
        double backpressure = (backpressureMs - backpressureAtStartMs) / (seconds * 1000);
        double delivered = Double.NaN;
        if (processed != null) {
            long[] sent = new long[routed.length];
            long[] done = new long[routed.length];
            for (int w = 0; w < routed.length; w++) {
                sent[w] = routed[w] - routedAtStart[w];
                done[w] = processed[w] - processedAtStart[w];
            }
            delivered = delivered(sent, done);
        }
        return new Averages(records / seconds, Math.min(1, Math.max(0, backpressure)), delivered, seconds);
    }

    /**
     * The smallest share of the records sent to a worker that the worker processed, with
     * {@value #IN_FLIGHT} records in flight counted as processed, at most 1; workers sent nothing are
     * skipped. Below 1 − tolerance a worker's queue grew: it could not keep up, whatever the source saw yet.
     */
    static double delivered(long[] sent, long[] done) {
        double min = 1;
        for (int w = 0; w < sent.length; w++) {
            if (sent[w] > 0) {
                min = Math.min(min, (double) (done[w] + IN_FLIGHT) / sent[w]);
            }
        }
        return min;
    }
}
