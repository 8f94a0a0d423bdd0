package org.sas.job;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Merges the partials of one (key, window) from every worker that received the key, and emits the final
 * result once the watermark shows every worker has reported that window.
 *
 * <p>Each worker emits its partial with timestamp {@code windowEnd - 1} before forwarding the watermark
 * that fired the window, so when this operator's watermark (the minimum over workers) reaches {@code
 * windowEnd - 1}, all partials are in.
 *
 * @param <A> the aggregate
 */
public class MergePartials<A> extends KeyedProcessFunction<Tuple2<Long, Long>, Partial<A>, Partial<A>> {

    private static final long serialVersionUID = 1L;

    private final Task<A> task;
    private transient ValueState<A> merged;

    public MergePartials(Task<A> task) {
        this.task = task;
    }

    @Override
    public void open(OpenContext openContext) {
        merged = getRuntimeContext().getState(new ValueStateDescriptor<>("merged", task.valueType()));
    }

    @Override
    public void processElement(Partial<A> p, Context ctx, Collector<Partial<A>> out) throws Exception {
        A current = merged.value();
        merged.update(current == null ? p.value : task.merge(current, p.value));
        ctx.timerService().registerEventTimeTimer(p.windowEnd - 1);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Partial<A>> out) throws Exception {
        Tuple2<Long, Long> keyAndWindow = ctx.getCurrentKey();
        out.collect(new Partial<>(keyAndWindow.f0, keyAndWindow.f1, merged.value()));
        merged.clear();
    }
}
