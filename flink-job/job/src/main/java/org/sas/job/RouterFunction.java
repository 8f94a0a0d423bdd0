package org.sas.job;

import org.apache.flink.api.common.accumulators.Histogram;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import org.sas.nativeloader.NativeRouter;

/**
 * Routes each record to a worker with the Rust router named in the params (one router per subtask),
 * and counts records per worker in the {@value #WORKER_COUNTS} accumulator.
 */
public class RouterFunction extends ProcessFunction<Event, Event> {

    private static final long serialVersionUID = 1L;

    /** Accumulator: records routed to each worker. */
    public static final String WORKER_COUNTS = "records-per-worker";

    private final JobParams params;
    private transient long router;
    private transient Histogram perWorker;

    public RouterFunction(JobParams params) {
        this.params = params;
    }

    @Override
    public void open(OpenContext openContext) {
        NativeRouter.ensureLoaded();
        router = NativeRouter.create(params.yaml, "");
        perWorker = new Histogram();
        getRuntimeContext().addAccumulator(WORKER_COUNTS, perWorker);
    }

    @Override
    public void processElement(Event e, Context ctx, Collector<Event> out) {
        int worker = NativeRouter.route(router, e.key, e.ts);
        if (worker < 0) {
            throw new IllegalStateException("router " + params.partitioner + " failed on " + e);
        }
        e.worker = worker;
        perWorker.add(worker);
        out.collect(e);
    }

    @Override
    public void close() {
        if (router != 0) {
            NativeRouter.close(router);
            router = 0;
        }
    }

    @Override
    public String toString() {
        return "ROUTER(" + params.partitioner + ")";
    }
}
