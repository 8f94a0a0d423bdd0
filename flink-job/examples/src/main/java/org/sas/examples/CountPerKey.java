package org.sas.examples;

import org.apache.flink.api.common.functions.AggregateFunction;

/** Counts records: the examples' aggregate, the same for the router and for the plain {@code keyBy}. */
public class CountPerKey implements AggregateFunction<KeyRecord, Long, Long> {

    private static final long serialVersionUID = 1L;

    @Override
    public Long createAccumulator() {
        return 0L;
    }

    @Override
    public Long add(KeyRecord record, Long count) {
        return count + 1;
    }

    @Override
    public Long getResult(Long count) {
        return count;
    }

    @Override
    public Long merge(Long a, Long b) {
        return a + b;
    }
}
