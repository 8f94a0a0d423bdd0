package org.sas.flink.internal;

import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyedWindowResult;

/**
 * The one-phase aggregate, for a router that never splits a key: the user's function over the routed
 * records of one (worker, key, window), whose result is already final.
 *
 * @param <T> the record
 * @param <ACC> the accumulator
 * @param <OUT> the result
 */
public class RoutedAggregate<T, ACC, OUT> implements AggregateFunction<Routed<T>, ACC, OUT> {

    private static final long serialVersionUID = 1L;

    private final AggregateFunction<T, ACC, OUT> aggregate;

    /** Applies {@code aggregate} to the records inside. */
    public RoutedAggregate(AggregateFunction<T, ACC, OUT> aggregate) {
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
    public OUT getResult(ACC accumulator) {
        return aggregate.getResult(accumulator);
    }

    @Override
    public ACC merge(ACC a, ACC b) {
        return aggregate.merge(a, b);
    }

    /**
     * Emits the result of a fired (worker, key, window) with its key and window.
     *
     * @param <K> the key
     * @param <OUT> the result
     */
    public static class Emit<K, OUT>
            extends ProcessWindowFunction<OUT, KeyedWindowResult<K, OUT>, WorkerKey<K>, TimeWindow> {
        private static final long serialVersionUID = 1L;

        @Override
        public void process(WorkerKey<K> key, Context ctx, Iterable<OUT> results, Collector<KeyedWindowResult<K, OUT>> out) {
            TimeWindow window = ctx.window();
            for (OUT result : results) {
                out.collect(new KeyedWindowResult<>(key.key, window.getStart(), window.getEnd(), result));
            }
        }
    }
}
