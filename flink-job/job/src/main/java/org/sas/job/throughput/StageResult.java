package org.sas.job.throughput;

import java.io.Serializable;

/**
 * What one stage of the throughput test measured over its measured part (its warm-up left out).
 *
 * @param phase why the stage ran
 * @param targetRate records per second the source was paced at
 * @param achievedRate records the source emitted per second
 * @param backpressure fraction of the time the source task was back-pressured (Flink's soft and hard
 *     back-pressure timers of the task)
 * @param delivered the smallest share of the records routed to a worker that the worker processed,
 *     counting 20 records in flight as processed ({@link StageMeter#delivered}); NaN when the workers
 *     are not in the controller's JVM
 * @param sustained whether the job kept up ({@link Ramp#sustained})
 * @param seconds length of the measured part
 */
public record StageResult(
        Phase phase,
        double targetRate,
        double achievedRate,
        double backpressure,
        double delivered,
        boolean sustained,
        double seconds)
        implements Serializable {

    /** Why a stage ran. */
    public enum Phase {
        /** One stage above the capacity: the rate the back-pressured job achieves starts the ramp. */
        PROBE,
        /** Geometric ramp (up, or down while no rate has been sustained yet). */
        RAMP,
        /** Geometric bisection between the best sustained and the first failed rate. */
        BISECT,
        /** The final stage at a fraction of the maximum sustained rate: latency and balance. */
        LATENCY;

        /** The phase as written in results ({@code probe}, {@code ramp}, {@code bisect}, {@code latency}). */
        @Override
        public String toString() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }
}
