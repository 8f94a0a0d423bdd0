package org.sas.flink.internal;

import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.accumulators.Histogram;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyHasher;
import org.sas.nativeloader.NativeRouter;

/**
 * Routes each record to a worker with the Rust router (one router per subtask): the key selector's key,
 * hashed by the {@link KeyHasher}, and the record's event time go to {@code NativeRouter.route}. Counts
 * records per worker in a {@link Histogram} accumulator.
 *
 * @param <T> the record
 * @param <K> the key
 */
public class KeyRouter<T, K> extends ProcessFunction<T, Routed<T>> {

    private static final long serialVersionUID = 1L;

    /** Validated params, without {@code routers}: the subtask count is only known in {@link #open}. */
    private final String paramsYaml;
    private final String partitioner;
    private final int workers;
    private final KeySelector<T, K> keySelector;
    private final KeyHasher<K> hasher;
    private final String accumulator;
    private transient long router;
    private transient Histogram perWorker;

    /**
     * A router of {@code partitioner} over {@code workers} workers, as {@code paramsYaml} configures it.
     *
     * @param accumulator name of the records-per-worker accumulator
     */
    public KeyRouter(String paramsYaml, String partitioner, int workers, KeySelector<T, K> keySelector,
            KeyHasher<K> hasher, String accumulator) {
        this.paramsYaml = paramsYaml;
        this.partitioner = partitioner;
        this.workers = workers;
        this.keySelector = keySelector;
        this.hasher = hasher;
        this.accumulator = accumulator;
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
