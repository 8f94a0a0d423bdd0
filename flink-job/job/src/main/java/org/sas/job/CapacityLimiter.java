package org.sas.job;

import org.apache.flink.api.common.accumulators.DoubleCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.io.Serializable;
import java.util.concurrent.locks.LockSupport;
import java.util.function.ToDoubleFunction;

/**
 * Emulates a worker that serves at most C units of work per second: each record occupies units/C s of
 * the worker's time, from its arrival or the end of the work the worker already took on, whichever is
 * later, and the stage parks (rather than spins) for it. One machine can thus stand for P slower machines;
 * back-pressure shows where a real cluster would show it, and Flink's busy time is the records' cost, at
 * any load. Every stage of a worker charges the same {@link WorkerBudget} (the partial aggregate its
 * records, the merge its partials), so what one stage spends the other cannot.
 *
 * <p>{@code parkNanos} wakes late (tens of microseconds); the limiter learns that lateness and parks that
 * much less, so back-to-back records still average their cost.
 *
 * <p>The units charged are counted in the accumulator {@code capacity.<stage>-units}.
 *
 * @param <K> the stage's key
 * @param <T> the records
 */
public class CapacityLimiter<K, T> extends KeyedProcessFunction<K, T, T> {

    private static final long serialVersionUID = 2L;

    /** Units of work of one record (serializable, as the function travels with the job graph). */
    public interface Units<T> extends ToDoubleFunction<T>, Serializable {}

    private final WorkerBudget.Schedule schedule;
    private final String stage;
    private final Units<T> units;
    private transient String job;
    private transient WorkerBudget budget;
    /** Running mean of how late {@code parkNanos} wakes. */
    private transient long lateNanos;
    private transient DoubleCounter charged;

    /**
     * @param schedule every worker's capacity, in units per second, over time
     * @param stage what is charged ({@code records}, {@code partials}), in the accumulator's name
     * @param units the units of one record
     */
    CapacityLimiter(WorkerBudget.Schedule schedule, String stage, Units<T> units) {
        this.schedule = schedule;
        this.stage = stage;
        this.units = units;
    }

    /** The name of the accumulator of the units a stage charged. */
    public static String unitsAccumulator(String stage) {
        return "capacity." + stage + "-units";
    }

    @Override
    public void open(OpenContext openContext) {
        job = getRuntimeContext().getJobInfo().getJobId().toString();
        budget = WorkerBudget.acquire(job, getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(), schedule);
        lateNanos = 0;
        charged = new DoubleCounter();
        getRuntimeContext().addAccumulator(unitsAccumulator(stage), charged);
    }

    @Override
    public void close() {
        if (budget != null) {
            WorkerBudget.release(job, budget);
            budget = null;
        }
    }

    @Override
    public void processElement(T record, Context ctx, Collector<T> out) {
        double cost = units.applyAsDouble(record);
        charged.add(cost);
        long now = System.nanoTime();
        long wait = budget.reserve(cost, now) - now - lateNanos;
        if (wait > 0) {
            LockSupport.parkNanos(wait);
            long late = System.nanoTime() - (now + wait);
            lateNanos += (late - lateNanos) / 8;
        }
        out.collect(record);
    }
}
