package org.sas.flink.internal;

import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.accumulators.Histogram;
import org.apache.flink.api.common.accumulators.IntCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyHasher;
import org.sas.flink.SkewedAggregation;
import org.sas.flink.internal.loads.LoadFeedback;
import org.sas.nativeloader.NativeRouter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Routes each record to a worker with the Rust router (one router per subtask): the key selector's key,
 * hashed by the {@link KeyHasher}, and the record's event time go to {@code NativeRouter.route}. Counts
 * records per worker in a {@link Histogram} accumulator. The router of every {@link Pipeline}: of {@code
 * SkewedAggregation} and of the experiment job.
 *
 * <p>The router's state (what it has learned and the routing table in force) is operator state: each
 * checkpoint stores one entry per subtask in the list state {@value #STATE_NAME} ({@code
 * NativeRouter.snapshotState}), and after a restore each router resumes from its entry ({@code
 * NativeRouter.restoreState}). With the same parallelism every subtask gets its own entry back. After a
 * rescale Flink deals the entries out round-robin; a subtask that gets exactly one restores it
 * (the routers of an aggregation share their settings, so any router's state fits any subtask), one that
 * gets none or several starts cold, as does one whose entry the router refuses (saved under another
 * partitioner, worker count or setting it depends on). Each case is logged; the subtasks that resumed are
 * counted in a second accumulator. Results are exact either way: the state only decides balance.
 *
 * <p>Each load interval, {@link #endInterval} closes the router's interval with the workers' busy ratios
 * (the {@code RouterOperator} running it hands them over from the workers' {@code WorkerLoadOperator}s:
 * {@code docs/flink-job.md}, "Worker loads reach the routers"); the intervals taken
 * and dropped are counted in two more accumulators. {@code dalton-metrics} routes by them.
 *
 * <p>A router on the agent link ({@code docs/agent-link.md}) publishes the link's counters as gauges under
 * {@value #AGENT_METRIC_GROUP} ({@link #AGENT_GAUGES}), read by the metric reporter's thread.
 *
 * @param <T> the record
 * @param <K> the key
 */
public class KeyRouter<T, K> extends ProcessFunction<T, Routed<T>> implements CheckpointedFunction, LoadFeedback {

    private static final long serialVersionUID = 1L;

    /** The name of the operator's list state: one serialized router per subtask. */
    public static final String STATE_NAME = "router-state";

    /** The metric group of the agent link's gauges, under the router operator's group. */
    public static final String AGENT_METRIC_GROUP = "sasAgent";

    /** The agent link's gauges, in the order of {@code NativeRouter.agentStatus}. */
    public static final List<String> AGENT_GAUGES = List.of("connected", "tablesReceived", "modelVersion",
            "lastTableStep", "reportsSent", "reportsDropped", "reconnects", "fallbackActive", "tablesApplied");

    private static final Logger LOG = LoggerFactory.getLogger(KeyRouter.class);

    /** Validated params, without {@code routers}: the subtask count is only known in {@link #open}. */
    private final RouterParams params;
    private final String partitioner;
    private final int workers;
    private final KeySelector<T, K> keySelector;
    private final KeyHasher<K> hasher;
    /** The aggregation's name, which names its accumulators. */
    private final String name;
    private transient long router;
    /** Whether the router is on the agent link, which closes the router's intervals itself. */
    private transient boolean linked;
    /** The last interval whose loads the router took, or {@code Long.MIN_VALUE}. */
    private transient long lastLoadInterval;
    private transient IntCounter loadIntervals;
    private transient IntCounter loadIntervalsDropped;
    private transient Histogram perWorker;
    private transient ListState<byte[]> routerState;
    /** The state handed back by {@link #initializeState}, applied in {@link #open}, where the router is made. */
    private transient byte[] restored;

    /**
     * A router as {@code params} configure it, of the aggregation {@code name} (which names its accumulators).
     */
    public KeyRouter(RouterParams params, KeySelector<T, K> keySelector, KeyHasher<K> hasher, String name) {
        this.params = params;
        this.partitioner = params.partitioner;
        this.workers = params.workers;
        this.keySelector = keySelector;
        this.hasher = hasher;
        this.name = name;
    }

    /** Called before {@link #open}: keeps this subtask's saved router, if there is exactly one, for open. */
    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        routerState = context.getOperatorStateStore().getListState(
                new ListStateDescriptor<>(STATE_NAME, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        if (!context.isRestored()) {
            return;
        }
        List<byte[]> entries = new ArrayList<>();
        routerState.get().forEach(entries::add);
        if (entries.size() == 1) {
            restored = entries.get(0);
        } else {
            LOG.warn("SkewedAggregation: router {} of {}: {} saved router states for this subtask (restoring needs "
                    + "exactly one: the parallelism changed, or the checkpoint has no router state); starting cold",
                    subtask(), partitioner, entries.size());
        }
    }

    @Override
    public void open(OpenContext openContext) {
        NativeRouter.ensureLoaded();
        TaskInfo task = getRuntimeContext().getTaskInfo();
        String yaml = NativeRouter.normalizeParams(
                params.yaml, ".", new String[] {"routers=" + task.getNumberOfParallelSubtasks()});
        router = NativeRouter.createRouter(yaml, "", task.getIndexOfThisSubtask());
        perWorker = new Histogram();
        getRuntimeContext().addAccumulator(SkewedAggregation.recordsPerWorkerAccumulator(name), perWorker);
        IntCounter statesRestored = new IntCounter();
        getRuntimeContext().addAccumulator(SkewedAggregation.routerStatesRestoredAccumulator(name), statesRestored);
        linked = NativeRouter.agentStatus(router).length > 0;
        lastLoadInterval = Long.MIN_VALUE;
        loadIntervals = new IntCounter();
        loadIntervalsDropped = new IntCounter();
        getRuntimeContext().addAccumulator(SkewedAggregation.routerLoadIntervalsAccumulator(name), loadIntervals);
        getRuntimeContext().addAccumulator(
                SkewedAggregation.routerLoadIntervalsDroppedAccumulator(name), loadIntervalsDropped);
        if (restored != null) {
            try {
                NativeRouter.restoreState(router, restored);
                statesRestored.add(1);
                LOG.info("SkewedAggregation: router {} of {}: resumed from its checkpointed state ({} bytes)",
                        subtask(), partitioner, restored.length);
            } catch (IllegalArgumentException e) {
                // A refused state leaves the router unchanged: it starts cold, and results stay exact.
                LOG.warn("SkewedAggregation: router {} of {}: checkpointed state refused, starting cold: {}",
                        subtask(), partitioner, e.getMessage());
            }
            restored = null;
        }
        if (linked) {
            registerAgentGauges();
        }
    }

    /** The agent link's counters as gauges under {@value #AGENT_METRIC_GROUP}. */
    private void registerAgentGauges() {
        MetricGroup group = getRuntimeContext().getMetricGroup().addGroup(AGENT_METRIC_GROUP);
        for (int i = 0; i < AGENT_GAUGES.size(); i++) {
            int index = i;
            group.gauge(AGENT_GAUGES.get(i), (Gauge<Long>) () -> agentStatus(index));
        }
    }

    /** Read by the metric reporter's thread; synchronized with {@link #close} so that the handle stays valid. */
    private synchronized long agentStatus(int index) {
        long[] status = router == 0 ? new long[0] : NativeRouter.agentStatus(router);
        return index < status.length ? status[index] : -1L;
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        routerState.update(List.of(NativeRouter.snapshotState(router)));
    }

    private int subtask() {
        return getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
    }

    @Override
    public void processElement(T value, Context ctx, Collector<Routed<T>> out) throws Exception {
        K key = keySelector.getKey(value);
        if (key == null) {
            throw new NullPointerException("SkewedAggregation: the key selector " + describe(keySelector)
                    + " returned null for the record " + value + "; every record needs a key, as in keyBy");
        }
        Long ts = ctx.timestamp();
        if (ts == null) {
            throw new IllegalStateException("SkewedAggregation: the record " + value + " has no timestamp; its "
                    + "windows are event-time, so assign timestamps and watermarks before it "
                    + "(DataStream#assignTimestampsAndWatermarks or the source's WatermarkStrategy)");
        }
        long hash = hasher.hash(key);
        int worker;
        try {
            // The router reads time as unsigned: a negative timestamp counts as 0 (balance only).
            worker = NativeRouter.route(router, hash, Math.max(0L, ts));
        } catch (RuntimeException failure) {
            throw new IllegalStateException(
                    "SkewedAggregation: router " + partitioner + " failed on the record with key " + key, failure);
        }
        perWorker.add(worker);
        out.collect(new Routed<>(worker, WorkerKey.codeFor(worker, hash, workers), value));
    }

    /**
     * Closes the router's interval with the workers' loads over load interval {@code interval}, if they are
     * fresh ({@link LoadFeedback#takesLoads}). A router on the agent link takes none: it closes its
     * intervals itself, with its record counts.
     */
    @Override
    public void endInterval(long interval, double[] loads) {
        if (router == 0) {
            return;
        }
        long nowMs = System.currentTimeMillis();
        if (linked || !LoadFeedback.takesLoads(interval, lastLoadInterval, nowMs, params.loadIntervalMs)) {
            loadIntervalsDropped.add(1);
            LOG.debug("SkewedAggregation: router {} of {}: loads of interval {} not taken ({}; last taken {}, "
                    + "now in interval {})", subtask(), partitioner, interval,
                    linked ? "on the agent link" : "stale or repeated", lastLoadInterval,
                    Math.floorDiv(nowMs, params.loadIntervalMs));
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

    /** The selector's own {@code toString} if it has one, else its class name. */
    static String describe(Object selector) {
        try {
            if (selector.getClass().getMethod("toString").getDeclaringClass() != Object.class) {
                return selector.toString();
            }
        } catch (NoSuchMethodException e) {
            // Cannot happen: every class has a public toString.
        }
        return selector.getClass().getName();
    }

    @Override
    public String toString() {
        return "ROUTER(" + partitioner + ")";
    }
}
