package org.sas.examples;

import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyedWindowResult;

/**
 * Compares, per (key, window start), the router's result (first input) with the plain {@code
 * keyBy().window().aggregate()}'s (second input); emits a line for every difference and counts the equal
 * pairs in a {@link LongCounter} accumulator.
 *
 * <p>Both results of a window carry its end − 1 as timestamp, and each window operator emits them before it
 * forwards the watermark that fired them. So when this operator's watermark (the minimum of its two inputs')
 * reaches end − 1, both are in: the event-time timer at end − 1 compares them, and a missing one is missing
 * for good.
 */
public class CompareWithKeyBy extends KeyedCoProcessFunction<Tuple2<String, Long>,
        KeyedWindowResult<String, Long>, KeyedWindowResult<String, Long>, String> {

    private static final long serialVersionUID = 1L;

    private final String matchedAccumulator;
    private transient LongCounter matched;
    private transient ValueState<Long> routed;
    private transient ValueState<Long> keyBy;

    /** Counts the (key, window) pairs with equal results into the accumulator {@code matchedAccumulator}. */
    public CompareWithKeyBy(String matchedAccumulator) {
        this.matchedAccumulator = matchedAccumulator;
    }

    @Override
    public void open(OpenContext openContext) {
        matched = new LongCounter();
        getRuntimeContext().addAccumulator(matchedAccumulator, matched);
        routed = getRuntimeContext().getState(new ValueStateDescriptor<>("routed", Types.LONG));
        keyBy = getRuntimeContext().getState(new ValueStateDescriptor<>("key-by", Types.LONG));
    }

    @Override
    public void processElement1(KeyedWindowResult<String, Long> result, Context ctx, Collector<String> out)
            throws Exception {
        hold(routed, "the router", result, ctx, out);
    }

    @Override
    public void processElement2(KeyedWindowResult<String, Long> result, Context ctx, Collector<String> out)
            throws Exception {
        hold(keyBy, "keyBy", result, ctx, out);
    }

    private static void hold(ValueState<Long> side, String name, KeyedWindowResult<String, Long> result,
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
        Long r = routed.value();
        Long k = keyBy.value();
        if (r != null && r.equals(k)) {
            matched.add(1);
        } else {
            out.collect(describe(ctx.getCurrentKey()) + ": the router gave " + (r == null ? "no result" : r)
                    + ", keyBy " + (k == null ? "no result" : k));
        }
        routed.clear();
        keyBy.clear();
    }

    private static String describe(Tuple2<String, Long> keyAndWindow) {
        return "key `" + keyAndWindow.f0 + "`, window from " + keyAndWindow.f1 + " ms";
    }
}
