package org.sas.job;

import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;

import org.sas.flink.KeyedWindowResult;

/** Counts final results in the {@value #RESULTS} accumulator and passes them on. */
public class ResultCounter<A> extends RichMapFunction<KeyedWindowResult<Long, A>, KeyedWindowResult<Long, A>> {

    private static final long serialVersionUID = 1L;

    /** Accumulator: final (key, window) results. */
    public static final String RESULTS = "results";

    private transient LongCounter results;

    @Override
    public void open(OpenContext openContext) {
        results = new LongCounter();
        getRuntimeContext().addAccumulator(RESULTS, results);
    }

    @Override
    public KeyedWindowResult<Long, A> map(KeyedWindowResult<Long, A> result) {
        results.add(1);
        return result;
    }
}
