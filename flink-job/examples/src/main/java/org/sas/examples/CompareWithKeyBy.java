package org.sas.examples;

import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyedWindowResult;

import java.util.Objects;

/**
 * Compares, per (key, window start), the router's result (first input) with the plain {@code
 * keyBy().window().aggregate()}'s (second input); emits a line for every difference and counts the equal
 * pairs in a {@link LongCounter} accumulator.
 *
 * <p>Both results of a window carry its end − 1 as timestamp, and each window operator emits them before it
 * forwards the watermark that fired them. So when this operator's watermark (the minimum of its two inputs')
 * reaches end − 1, both are in: the event-time timer at end − 1 compares them, and a missing one is missing
 * for good. Values are equal when {@code equals} says so.
 *
 * @param <K> the key
 * @param <V> the result's value
 */
public class CompareWithKeyBy<K, V> extends KeyedCoProcessFunction<Tuple2<K, Long>,
        KeyedWindowResult<K, V>, KeyedWindowResult<K, V>, String> {

    private static final long serialVersionUID = 1L;

    private final String matchedAccumulator;
    private final TypeInformation<V> valueType;
    private transient LongCounter matched;
    private transient ValueState<V> routed;
    private transient ValueState<V> keyBy;

    /**
     * Counts the (key, window) pairs with equal results into the accumulator {@code matchedAccumulator}; the
     * values, of type {@code valueType}, wait in keyed state.
     */
    public CompareWithKeyBy(String matchedAccumulator, TypeInformation<V> valueType) {
        this.matchedAccumulator = matchedAccumulator;
        this.valueType = valueType;
    }

    @Override
    public void open(OpenContext openContext) {
        matched = new LongCounter();
        getRuntimeContext().addAccumulator(matchedAccumulator, matched);
        routed = getRuntimeContext().getState(new ValueStateDescriptor<>("routed", valueType));
        keyBy = getRuntimeContext().getState(new ValueStateDescriptor<>("key-by", valueType));
    }

    @Override
    public void processElement1(KeyedWindowResult<K, V> result, Context ctx, Collector<String> out)
            throws Exception {
        hold(routed, "the router", result, ctx, out);
    }

    @Override
    public void processElement2(KeyedWindowResult<K, V> result, Context ctx, Collector<String> out)
            throws Exception {
        hold(keyBy, "keyBy", result, ctx, out);
    }

    private void hold(ValueState<V> side, String name, KeyedWindowResult<K, V> result,
            Context ctx, Collector<String> out) throws Exception {
        if (side.value() != null) {
            out.collect(name + " gave two results for " + describe(ctx.getCurrentKey()) + ": " + side.value()
                    + " and " + result.getValue());
            return;
        }
        side.update(result.getValue());
        ctx.timerService().registerEventTimeTimer(result.getWindowEnd() - 1);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<String> out) throws Exception {
        V r = routed.value();
        V k = keyBy.value();
        if (r != null && Objects.equals(r, k)) {
            matched.add(1);
        } else {
            out.collect(describe(ctx.getCurrentKey()) + ": the router gave " + (r == null ? "no result" : r)
                    + ", keyBy " + (k == null ? "no result" : k));
        }
        routed.clear();
        keyBy.clear();
    }

    private static String describe(Tuple2<?, Long> keyAndWindow) {
        return "key `" + keyAndWindow.f0 + "`, window from " + keyAndWindow.f1 + " ms";
    }
}
