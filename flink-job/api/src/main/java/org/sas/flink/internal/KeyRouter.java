package org.sas.flink.internal;

import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.accumulators.Histogram;
import org.apache.flink.api.common.accumulators.IntCounter;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyHasher;
import org.sas.nativeloader.NativeRouter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Routes each record to a worker with the Rust router (one router per subtask): the key selector's key,
 * hashed by the {@link KeyHasher}, and the record's event time go to {@code NativeRouter.route}. Counts
 * records per worker in a {@link Histogram} accumulator.
 *
 * <p>The router's state (what it has learned and the routing table in force) is operator state, as in the
 * experiment job's {@code RouterFunction}: each checkpoint stores one entry per subtask in the list state
 * {@value #STATE_NAME} ({@code NativeRouter.snapshotState}), and after a restore each router resumes from
 * its entry ({@code NativeRouter.restoreState}). With the same parallelism every subtask gets its own entry
 * back. After a rescale Flink deals the entries out round-robin; a subtask that gets exactly one restores it
 * (the routers of an aggregation share their settings, so any router's state fits any subtask), one that
 * gets none or several starts cold, as does one whose entry the router refuses (saved under another
 * partitioner, worker count or setting it depends on). Each case is logged; the subtasks that resumed are
 * counted in a second accumulator. Results are exact either way: the state only decides balance.
 *
 * @param <T> the record
 * @param <K> the key
 */
public class KeyRouter<T, K> extends ProcessFunction<T, Routed<T>> implements CheckpointedFunction {

    private static final long serialVersionUID = 1L;

    /** The name of the operator's list state: one serialized router per subtask. */
    public static final String STATE_NAME = "router-state";

    private static final Logger LOG = LoggerFactory.getLogger(KeyRouter.class);

    /** Validated params, without {@code routers}: the subtask count is only known in {@link #open}. */
    private final String paramsYaml;
    private final String partitioner;
    private final int workers;
    private final KeySelector<T, K> keySelector;
    private final KeyHasher<K> hasher;
    private final String accumulator;
    private final String restoredAccumulator;
    private transient long router;
    private transient Histogram perWorker;
    private transient ListState<byte[]> routerState;
    /** The state handed back by {@link #initializeState}, applied in {@link #open}, where the router is made. */
    private transient byte[] restored;

    /**
     * A router of {@code partitioner} over {@code workers} workers, as {@code paramsYaml} configures it.
     *
     * @param accumulator name of the records-per-worker accumulator
     * @param restoredAccumulator name of the accumulator counting the subtasks that resumed from a checkpoint
     */
    public KeyRouter(String paramsYaml, String partitioner, int workers, KeySelector<T, K> keySelector,
            KeyHasher<K> hasher, String accumulator, String restoredAccumulator) {
        this.paramsYaml = paramsYaml;
        this.partitioner = partitioner;
        this.workers = workers;
        this.keySelector = keySelector;
        this.hasher = hasher;
        this.accumulator = accumulator;
        this.restoredAccumulator = restoredAccumulator;
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
                paramsYaml, ".", new String[] {"routers=" + task.getNumberOfParallelSubtasks()});
        router = NativeRouter.createRouter(yaml, "", task.getIndexOfThisSubtask());
        perWorker = new Histogram();
        getRuntimeContext().addAccumulator(accumulator, perWorker);
        IntCounter statesRestored = new IntCounter();
        getRuntimeContext().addAccumulator(restoredAccumulator, statesRestored);
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

    @Override
    public void close() {
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
