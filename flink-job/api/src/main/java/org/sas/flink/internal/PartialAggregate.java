package org.sas.flink.internal;

import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/**
 * A worker's partial aggregate, for a router that may split a key: the user's function over the routed
 * records of one (worker, key, window), emitting the accumulator itself, which the merge combines with
 * the other workers' through {@code AggregateFunction.merge}.
 *
 * @param <T> the record
 * @param <ACC> the accumulator
 */
public class PartialAggregate<T, ACC> implements AggregateFunction<Routed<T>, ACC, ACC> {

    private static final long serialVersionUID = 1L;

    private final AggregateFunction<T, ACC, ?> aggregate;

    /** Accumulates with {@code aggregate} and emits its accumulator. */
    public PartialAggregate(AggregateFunction<T, ACC, ?> aggregate) {
        this.aggregate = aggregate;
    }

    @Override
    public ACC createAccumulator() {
        return aggregate.createAccumulator();
    }

    @Override
    public ACC add(Routed<T> record, ACC accumulator) {
        return aggregate.add(record.value, accumulator);
    }

    @Override
    public ACC getResult(ACC accumulator) {
        return accumulator;
    }

    @Override
    public ACC merge(ACC a, ACC b) {
        return aggregate.merge(a, b);
    }

    /**
     * Emits the accumulator of a fired (worker, key, window) as a {@link Partial}, timestamped {@code end - 1}
     * by the window operator.
     *
     * @param <K> the key
     * @param <ACC> the accumulator
     */
    public static class Emit<K, ACC> extends ProcessWindowFunction<ACC, Partial<K, ACC>, WorkerKey<K>, TimeWindow> {
        private static final long serialVersionUID = 1L;

        @Override
        public void process(WorkerKey<K> key, Context ctx, Iterable<ACC> accumulators, Collector<Partial<K, ACC>> out) {
            TimeWindow window = ctx.window();
            for (ACC accumulator : accumulators) {
                out.collect(new Partial<>(key.key, window.getStart(), window.getEnd(), accumulator));
            }
        }
    }
}
