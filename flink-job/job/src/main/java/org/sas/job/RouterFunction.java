package org.sas.job;

import org.apache.flink.api.common.accumulators.Histogram;
import org.apache.flink.api.common.accumulators.IntCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import org.sas.flink.internal.loads.LoadFeedback;
import org.sas.nativeloader.NativeRouter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Routes each record to a worker with the Rust router named in the params (one router per subtask),
 * and counts records per worker in the {@value #WORKER_COUNTS} accumulator.
 *
 * <p>The router's state (what it has learned and the routing table in force) is operator state: each
 * checkpoint stores one entry per subtask, and after a restore the router resumes from it. With the
 * same parallelism every subtask gets its own entry back. After a rescale Flink deals the entries out
 * round-robin; a subtask that gets exactly one restores it (the routers of a job share their settings,
 * so any router's state fits any subtask), one that gets none or several starts cold. A state that does
 * not fit the router (another partitioner, worker count or setting it depends on) also means a cold
 * start. Each case is logged; subtasks that restored are counted in {@value #STATES_RESTORED}.
 *
 * <p>Each load interval, {@link #endInterval} closes the router's interval with the workers' busy ratios
 * (the {@code RouterOperator} hands them over, see {@code docs/flink-job.md}); the intervals taken and
 * dropped are counted in {@value #LOAD_INTERVALS} and {@value #LOAD_INTERVALS_DROPPED}.
 */
public class RouterFunction extends ProcessFunction<Event, Event> implements CheckpointedFunction, LoadFeedback {

    private static final long serialVersionUID = 1L;

    private static final Logger LOG = LoggerFactory.getLogger(RouterFunction.class);

    /** Accumulator: records routed to each worker. */
    public static final String WORKER_COUNTS = "records-per-worker";

    /** Accumulator: router subtasks that resumed from a checkpointed state. */
    public static final String STATES_RESTORED = "router-states-restored";

    /** Accumulator: intervals the routers closed with the workers' loads (summed over routers). */
    public static final String LOAD_INTERVALS = "router-load-intervals";

    /**
     * Accumulator: intervals of worker loads the routers received and did not use: stale, repeated, or
     * for a router on the agent link, which closes its intervals itself.
     */
    public static final String LOAD_INTERVALS_DROPPED = "router-load-intervals-dropped";

    private final JobParams params;
    private transient long router;
    private transient Histogram perWorker;
    private transient ListState<byte[]> routerState;
    /** The state handed back by {@link #initializeState}, applied in {@link #open}, where the router is made. */
    private transient byte[] restored;
    /** Whether the router is on the agent link, which closes the router's intervals itself. */
    private transient boolean linked;
    /** The last interval whose loads the router took, or {@code Long.MIN_VALUE}. */
    private transient long lastLoadInterval;
    private transient IntCounter loadIntervals;
    private transient IntCounter loadIntervalsDropped;

    public RouterFunction(JobParams params) {
        this.params = params;
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        routerState = context.getOperatorStateStore().getListState(
                new ListStateDescriptor<>("router-state", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        if (!context.isRestored()) {
            return;
        }
        List<byte[]> entries = new ArrayList<>();
        routerState.get().forEach(entries::add);
        if (entries.size() == 1) {
            restored = entries.get(0);
        } else {
            LOG.warn("router {} of {}: {} saved router states for this subtask (restoring needs exactly one: "
                    + "the parallelism changed, or the checkpoint has no router state); starting cold",
                    subtask(), params.partitioner, entries.size());
        }
    }

    @Override
    public void open(OpenContext openContext) {
        NativeRouter.ensureLoaded();
        router = NativeRouter.createRouter(params.yaml, "", subtask());
        perWorker = new Histogram();
        IntCounter statesRestored = new IntCounter();
        getRuntimeContext().addAccumulator(WORKER_COUNTS, perWorker);
        getRuntimeContext().addAccumulator(STATES_RESTORED, statesRestored);
        linked = NativeRouter.agentStatus(router).length > 0;
        lastLoadInterval = Long.MIN_VALUE;
        loadIntervals = new IntCounter();
        loadIntervalsDropped = new IntCounter();
        getRuntimeContext().addAccumulator(LOAD_INTERVALS, loadIntervals);
        getRuntimeContext().addAccumulator(LOAD_INTERVALS_DROPPED, loadIntervalsDropped);
        if (restored != null) {
            try {
                NativeRouter.restoreState(router, restored);
                statesRestored.add(1);
                LOG.info("router {} of {}: resumed from its checkpointed state ({} bytes)",
                        subtask(), params.partitioner, restored.length);
            } catch (IllegalArgumentException e) {
                // The router is unchanged by a refused state: it starts cold, and results stay exact.
                LOG.warn("router {} of {}: checkpointed state refused, starting cold: {}",
                        subtask(), params.partitioner, e.getMessage());
            }
            restored = null;
        }
        registerAgentGauges();
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        routerState.update(List.of(NativeRouter.snapshotState(router)));
    }

    private int subtask() {
        return getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
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

    /**
     * Closes the router's interval with the workers' loads over load interval {@code interval} ({@code
     * floor(epochMs / I)}, I = {@code agent.interval_ms}), if they are fresh: see {@link
     * LoadFeedback#takesLoads}. A router on the agent link takes none: it closes its intervals itself, with
     * its record counts. Call on the task thread, between records.
     *
     * @param loads each worker's busy ratio over the interval (length P)
     */
    @Override
    public void endInterval(long interval, double[] loads) {
        if (router == 0) {
            return;
        }
        long nowMs = System.currentTimeMillis();
        if (linked || !LoadFeedback.takesLoads(interval, lastLoadInterval, nowMs, params.loadIntervalMs)) {
            loadIntervalsDropped.add(1);
            LOG.debug("router {} of {}: loads of interval {} not taken ({}; last taken {}, now in interval {})",
                    subtask(), params.partitioner, interval, linked ? "on the agent link" : "stale or repeated",
                    lastLoadInterval, Math.floorDiv(nowMs, params.loadIntervalMs));
            return;
        }
        lastLoadInterval = interval;
        NativeRouter.endInterval(router, loads);
        loadIntervals.add(1);
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
