package org.sas.job;

import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

import org.sas.flink.internal.metrics.WorkerLoadSampler;

import java.util.HashMap;
import java.util.Map;

/**
 * A worker's partial aggregation: within one window, one aggregate per record key. The window operator
 * is keyed by worker, so this map holds every key the worker received in the window.
 *
 * @param <A> the aggregate
 */
public class PartialAggregate<A> implements AggregateFunction<Event, Map<Long, A>, Map<Long, A>> {

    private static final long serialVersionUID = 1L;

    private final Task<A> task;

    public PartialAggregate(Task<A> task) {
        this.task = task;
    }

    @Override
    public Map<Long, A> createAccumulator() {
        return new HashMap<>();
    }

    @Override
    public Map<Long, A> add(Event e, Map<Long, A> acc) {
        acc.put(e.key, task.add(acc.computeIfAbsent(e.key, k -> task.create()), e));
        return acc;
    }

    @Override
    public Map<Long, A> getResult(Map<Long, A> acc) {
        return acc;
    }

    @Override
    public Map<Long, A> merge(Map<Long, A> a, Map<Long, A> b) {
        b.forEach((k, v) -> a.merge(k, v, task::merge));
        return a;
    }

    /**
     * Emits one {@link Partial} per key of a fired window. It runs on every worker's task, so it can also
     * start the worker's {@link WorkerLoadSampler}; the job's pipeline passes no sampler config, its
     * {@code WorkerLoadOperator} samples the worker instead (for the sink and for the routers).
     */
    public static class Emit<A> extends ProcessWindowFunction<Map<Long, A>, Partial<A>, Integer, TimeWindow> {
        private static final long serialVersionUID = 1L;

        private final WorkerLoadSampler.Config load;
        private transient WorkerLoadSampler sampler;

        /** @param load how to sample the worker's load, or null for no sampler */
        public Emit(WorkerLoadSampler.Config load) {
            this.load = load;
        }

        @Override
        public void open(OpenContext openContext) {
            if (load != null) {
                sampler = WorkerLoadSampler.start(getRuntimeContext(), load);
            }
        }

        @Override
        public void close() throws Exception {
            if (sampler != null) {
                sampler.close();
                sampler = null;
            }
        }

        @Override
        public void process(Integer worker, Context ctx, Iterable<Map<Long, A>> maps, Collector<Partial<A>> out) {
            for (Map<Long, A> map : maps) {
                for (Map.Entry<Long, A> entry : map.entrySet()) {
                    out.collect(new Partial<>(entry.getKey(), ctx.window().getEnd(), entry.getValue()));
                }
            }
        }
    }
}
