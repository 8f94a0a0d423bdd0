package org.sas.flink.internal;

import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyedWindowResult;

/**
 * The merge: combines the partials of one (key, window) from every worker that received the key with the
 * user's {@code AggregateFunction.merge}, then takes its result.
 *
 * @param <K> the key
 * @param <ACC> the accumulator
 * @param <OUT> the result
 */
public class MergeAccumulators<K, ACC, OUT> implements AggregateFunction<Partial<K, ACC>, ACC, OUT> {

    private static final long serialVersionUID = 1L;

    private final AggregateFunction<?, ACC, OUT> aggregate;

    /** Merges with {@code aggregate}. */
    public MergeAccumulators(AggregateFunction<?, ACC, OUT> aggregate) {
        this.aggregate = aggregate;
    }

    @Override
    public ACC createAccumulator() {
        return aggregate.createAccumulator();
    }

    @Override
    public ACC add(Partial<K, ACC> partial, ACC accumulator) {
        return aggregate.merge(accumulator, partial.accumulator);
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
     * Emits the merged result of a fired (key, window).
     *
     * @param <K> the key
     * @param <OUT> the result
     */
    public static class Emit<K, OUT> extends ProcessWindowFunction<OUT, KeyedWindowResult<K, OUT>, K, TimeWindow> {
        private static final long serialVersionUID = 1L;

        @Override
        public void process(K key, Context ctx, Iterable<OUT> results, Collector<KeyedWindowResult<K, OUT>> out) {
            TimeWindow window = ctx.window();
            for (OUT result : results) {
                out.collect(new KeyedWindowResult<>(key, window.getStart(), window.getEnd(), result));
            }
        }
    }
}
