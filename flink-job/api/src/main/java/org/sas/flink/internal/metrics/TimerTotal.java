package org.sas.flink.internal.metrics;

import org.apache.flink.runtime.metrics.TimerGauge;
import org.apache.flink.util.clock.Clock;

/**
 * Total time one of the task's {@link TimerGauge}s (idle, soft or hard back-pressure) has measured
 * since this listener was registered, the period under way included.
 *
 * <p>The gauge's own {@code getAccumulatedCount()} leaves out the period under way until the metric
 * registry's 5-second view update folds it in, so a task idle across a sampling boundary would read as
 * busy. The listener gets the gauge's start and end calls instead; Flink makes them inside the gauge's
 * monitor, so {@link #nanos} reads both fields under that same monitor and sees a consistent pair. Time is
 * read from the clock given (the task's, in a test a manual one).
 */
final class TimerTotal implements TimerGauge.StartStopListener {

    private final TimerGauge gauge;
    private final Clock clock;
    /** Completed periods, ns. Guarded by {@code gauge}. */
    private long totalNanos;
    /** Start of the period under way, or -1. Guarded by {@code gauge}. */
    private long startNanos = -1;

    private TimerTotal(TimerGauge gauge, Clock clock) {
        this.gauge = gauge;
        this.clock = clock;
    }

    /** Listens to {@code gauge} from now on, timing with {@code clock}'s {@code relativeTimeNanos}. */
    static TimerTotal register(TimerGauge gauge, Clock clock) {
        TimerTotal total = new TimerTotal(gauge, clock);
        synchronized (gauge) {
            gauge.registerListener(total);
            if (gauge.isMeasuring()) {
                total.startNanos = clock.relativeTimeNanos();
            }
        }
        return total;
    }

    void unregister() {
        gauge.unregisterListener(this);
    }

    /** Time measured so far, ns. */
    long nanos() {
        synchronized (gauge) {
            return startNanos < 0 ? totalNanos : totalNanos + clock.relativeTimeNanos() - startNanos;
        }
    }

    @Override
    public void markStart() {
        startNanos = clock.relativeTimeNanos();
    }

    @Override
    public void markEnd() {
        if (startNanos >= 0) {
            totalNanos += clock.relativeTimeNanos() - startNanos;
            startNanos = -1;
        }
    }
}
