package org.sas.job;

import org.apache.flink.api.common.accumulators.Histogram;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
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
        router = NativeRouter.createRouter(
                params.yaml, "", getRuntimeContext().getTaskInfo().getIndexOfThisSubtask());
        perWorker = new Histogram();
        registerAgentGauges();
        getRuntimeContext().addAccumulator(WORKER_COUNTS, perWorker);
    }

    /** The agent link's counters as gauges under {@code sasAgent.*} (nothing without an agent). */
    private void registerAgentGauges() {
        if (NativeRouter.agentStatus(router).length == 0) {
            return;
        }
        MetricGroup group = getRuntimeContext().getMetricGroup().addGroup("sasAgent");
        String[] names = {
            "connected", "tablesReceived", "modelVersion", "lastTableStep",
            "reportsSent", "reportsDropped", "reconnects", "fallbackActive", "tablesApplied"
        };
        for (int i = 0; i < names.length; i++) {
            final int index = i;
            group.gauge(names[i], (Gauge<Long>) () -> status(index));
        }
    }

    /** Read by the metric reporter's thread; synchronized with {@link #close} so the handle stays valid. */
    private synchronized long status(int index) {
        long[] status = router == 0 ? new long[0] : NativeRouter.agentStatus(router);
        return index < status.length ? status[index] : -1L;
    }

    @Override
    public void processElement(Event e, Context ctx, Collector<Event> out) {
        try {
            e.worker = NativeRouter.route(router, e.key, e.ts);
        } catch (RuntimeException failure) {
            // A bad handle or a panic in the router: name the record as well.
            throw new IllegalStateException("router " + params.partitioner + " failed on " + e, failure);
        }
        perWorker.add(e.worker);
        out.collect(e);
    }

    @Override
    public synchronized void close() {
        if (router != 0) {
            long closing = router;
            router = 0;
            NativeRouter.close(closing);
        }
    }

    @Override
    public String toString() {
        return "ROUTER(" + params.partitioner + ")";
    }
}
