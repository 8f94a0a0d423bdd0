package org.sas.examples;

import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyedWindowResult;

/**
 * Counts the results and the distinct keys among them (every key of the input has at least one result), keyed
 * by the result's key, into two {@link LongCounter} accumulators. Emits nothing.
 *
 * @param <K> the key
 * @param <V> the result's value
 */
public class CountResults<K, V> extends KeyedProcessFunction<K, KeyedWindowResult<K, V>, Void> {

    private static final long serialVersionUID = 1L;

    private final String resultsAccumulator;
    private final String keysAccumulator;
    private transient LongCounter results;
    private transient LongCounter keys;
    private transient ValueState<Boolean> seen;

    /** Counts into the accumulators named {@code resultsAccumulator} and {@code keysAccumulator}. */
    public CountResults(String resultsAccumulator, String keysAccumulator) {
        this.resultsAccumulator = resultsAccumulator;
        this.keysAccumulator = keysAccumulator;
    }

    @Override
    public void open(OpenContext openContext) {
        results = new LongCounter();
        keys = new LongCounter();
        getRuntimeContext().addAccumulator(resultsAccumulator, results);
        getRuntimeContext().addAccumulator(keysAccumulator, keys);
        seen = getRuntimeContext().getState(new ValueStateDescriptor<>("key-seen", Types.BOOLEAN));
    }

    @Override
    public void processElement(KeyedWindowResult<K, V> result, Context ctx, Collector<Void> out)
            throws Exception {
        results.add(1);
        if (seen.value() == null) {
            seen.update(true);
            keys.add(1);
        }
    }
}
