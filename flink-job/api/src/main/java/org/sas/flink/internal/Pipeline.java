package org.sas.flink.internal;

import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.dag.Transformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamUtils;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.datastream.WindowedStream;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Preconditions;

import org.sas.flink.KeyHasher;
import org.sas.flink.KeyedWindowResult;
import org.sas.flink.SkewedAggregation;
import org.sas.flink.internal.loads.RouterOperator;
import org.sas.flink.internal.loads.WorkerLoadOperator;
import org.sas.flink.internal.metrics.AgentLoadSink;
import org.sas.flink.internal.metrics.WorkerLoadSampler;
import org.sas.flink.internal.metrics.WorkerLoadSink;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.UnaryOperator;

/**
 * Builds the graph of a routed keyed window aggregation: the one code path of {@code
 * SkewedAggregation.build()} and of the experiment job ({@code org.sas.job.TwoPhasePipeline}). Not part of
 * the API: it takes inputs already resolved (types extracted, params validated, key hasher chosen) and may
 * change without notice.
 *
 * <pre>
 * input ─► NAME/router ─► [after router] ─► keyBy(worker, key) ─► [at workers] ─► NAME/worker-load
 *   ─► NAME/partial per (worker, key, window) ─► keyBy(key) ─► NAME/merge per (key, window) ─► results
 * </pre>
 *
 * <p>When the router never splits a key ({@link RouterParams#splitsKeys}), the per-(worker, key) aggregate is
 * final: one phase, {@code NAME/aggregate}, no merge. The workers run at parallelism and max parallelism P:
 * the worker keys' codes pick key groups 0..P-1, one per worker. {@link Hooks} add what the experiment job
 * needs and users do not; {@code SkewedAggregation} passes {@link Hooks#none}.
 *
 * @param <T> the input records
 * @param <K> the key
 * @param <ACC> the aggregate's accumulator
 * @param <OUT> the aggregate's result
 */
public final class Pipeline<T, K, ACC, OUT> {

    private final RouterParams params;
    private final WindowAssigner<? super T, TimeWindow> window;
    private final KeySelector<T, K> keySelector;
    private final TypeInformation<K> keyType;
    private final KeyHasher<K> hasher;
    private final AggregateFunction<T, ACC, OUT> aggregate;
    private final TypeInformation<ACC> accumulatorType;
    private final TypeInformation<OUT> resultType;
    private String name = SkewedAggregation.DEFAULT_NAME;
    private String uid;
    private int routerParallelism;

    /**
     * A pipeline of {@code aggregate} over {@code window}, keyed by {@code keySelector}, routed as {@code params}
     * say. The functions must already be cleaned ({@code env.clean}).
     */
    public Pipeline(
            RouterParams params,
            WindowAssigner<? super T, TimeWindow> window,
            KeySelector<T, K> keySelector,
            TypeInformation<K> keyType,
            KeyHasher<K> hasher,
            AggregateFunction<T, ACC, OUT> aggregate,
            TypeInformation<ACC> accumulatorType,
            TypeInformation<OUT> resultType) {
        this.params = Objects.requireNonNull(params);
        this.window = Objects.requireNonNull(window);
        this.keySelector = Objects.requireNonNull(keySelector);
        this.keyType = Objects.requireNonNull(keyType);
        this.hasher = Objects.requireNonNull(hasher);
        this.aggregate = Objects.requireNonNull(aggregate);
        this.accumulatorType = Objects.requireNonNull(accumulatorType);
        this.resultType = Objects.requireNonNull(resultType);
    }

    /**
     * Names the operators {@code NAME/router}, {@code NAME/worker-load}, {@code NAME/partial}, {@code NAME/merge}
     * or {@code NAME/aggregate} and the routers' accumulators ({@code NAME.records-per-worker}, ...); with a
     * non-null {@code uid}, their uids are {@code UID-router}, {@code UID-worker-load}, ... .
     */
    public Pipeline<T, K, ACC, OUT> name(String name, String uid) {
        this.name = Objects.requireNonNull(name);
        this.uid = uid;
        return this;
    }

    /** Sets the router's parallelism; 0 (the default) takes the input's, so that the router chains to it. */
    public Pipeline<T, K, ACC, OUT> routerParallelism(int routers) {
        this.routerParallelism = routers;
        return this;
    }

    /** Adds the pipeline to {@code input}'s job, with {@code hooks}, and returns one result per key and window. */
    public DataStream<KeyedWindowResult<K, OUT>> build(DataStream<T> input, Hooks<T, K, ACC> hooks) {
        int workers = params.workers;
        // The router operator is a process() of KeyRouter that also takes the workers' loads from its
        // coordinator each interval (docs/flink-job.md, "Worker loads reach the routers").
        SingleOutputStreamOperator<Routed<T>> router = input
                .transform(name + "/router", Routed.typeInfo(input.getType()),
                        new RouterOperator.Factory<>(new KeyRouter<>(params, keySelector, hasher, name), workers));
        int routers = routerParallelism > 0 ? routerParallelism : input.getParallelism();
        if (routers > 0) {
            router.setParallelism(routers);
        }
        DataStream<Routed<T>> routed = withUid(router, "router");
        for (UnaryOperator<DataStream<Routed<T>>> transform : hooks.afterRouter) {
            routed = transform.apply(routed);
        }

        WorkerKey.Selector<T, K> byWorker = new WorkerKey.Selector<>(keySelector);
        TypeInformation<WorkerKey<K>> workerKeys = WorkerKey.typeInfo(keyType);
        KeyedStream<Routed<T>, WorkerKey<K>> atWorkers = routed.keyBy(byWorker, workerKeys);
        for (Function<KeyedStream<Routed<T>, WorkerKey<K>>, SingleOutputStreamOperator<Routed<T>>> transform
                : hooks.atWorkers) {
            SingleOutputStreamOperator<Routed<T>> added = transform.apply(atWorkers);
            // One operator on the stream it was given, so that it runs in the workers' tasks and the records
            // reach it where the router sent them.
            checkAddedTo(added, atWorkers, "an at-workers transform");
            added.setParallelism(workers).setMaxParallelism(workers);
            atWorkers = DataStreamUtils.reinterpretAsKeyedStream(added, byWorker, workerKeys);
        }
        // Chained into each worker's task, before its window aggregate: samples the task's busy time for the
        // routers and the load sink.
        SingleOutputStreamOperator<Routed<T>> sampled = atWorkers
                .transform(name + "/worker-load", atWorkers.getType(),
                        new WorkerLoadOperator.Factory<Routed<T>>(loadReporting(hooks), workers))
                .setParallelism(workers)
                .setMaxParallelism(workers);
        withUid(sampled, "worker-load");
        WindowedStream<Routed<T>, WorkerKey<K>, TimeWindow> perWorker = DataStreamUtils
                .reinterpretAsKeyedStream(sampled, byWorker, workerKeys)
                .window(new RoutedWindows<>(window));
        TypeInformation<KeyedWindowResult<K, OUT>> resultsType = resultTypeInfo(keyType, resultType);
        if (!params.splitsKeys) {
            SingleOutputStreamOperator<KeyedWindowResult<K, OUT>> direct = perWorker
                    .aggregate(new RoutedAggregate<>(aggregate), new RoutedAggregate.Emit<>(),
                            accumulatorType, resultType, resultsType)
                    .name(name + "/aggregate")
                    .setParallelism(workers)
                    .setMaxParallelism(workers);
            return withUid(direct, "aggregate");
        }
        SingleOutputStreamOperator<Partial<K, ACC>> partials = perWorker
                .aggregate(new PartialAggregate<>(aggregate), new PartialAggregate.Emit<>(),
                        accumulatorType, accumulatorType, Partial.typeInfo(keyType, accumulatorType))
                .name(name + "/partial")
                .setParallelism(workers)
                .setMaxParallelism(workers);
        withUid(partials, "partial");
        KeyedStream<Partial<K, ACC>, K> toMerge = partials.keyBy(new Partial.ByKey<>(), keyType);
        for (Function<KeyedStream<Partial<K, ACC>, K>, SingleOutputStreamOperator<Partial<K, ACC>>> transform
                : hooks.beforeMerge) {
            SingleOutputStreamOperator<Partial<K, ACC>> added = transform.apply(toMerge);
            // One operator on the keyed partials, so that it chains to the merge and runs in its tasks.
            checkAddedTo(added, toMerge, "a before-merge transform");
            added.setParallelism(workers);
            toMerge = DataStreamUtils.reinterpretAsKeyedStream(added, new Partial.ByKey<>(), keyType);
        }
        SingleOutputStreamOperator<KeyedWindowResult<K, OUT>> merged = toMerge
                .window(new PartialWindows())
                .aggregate(new MergeAccumulators<>(aggregate), new MergeAccumulators.Emit<>(),
                        accumulatorType, resultType, resultsType)
                .name(name + "/merge")
                .setParallelism(workers);
        return withUid(merged, "merge");
    }

    /** The hooks' load sink, else the agent's when the params name one; the routers get the loads either way. */
    private WorkerLoadSampler.Config loadReporting(Hooks<T, K, ACC> hooks) {
        WorkerLoadSink.Factory sink = hooks.loadSink != null ? hooks.loadSink
                : params.agent ? new AgentLoadSink.Factory(params.yaml) : new WorkerLoadSink.None();
        return new WorkerLoadSampler.Config(params.loadIntervalMs, sink);
    }

    private <R> SingleOutputStreamOperator<R> withUid(SingleOutputStreamOperator<R> operator, String role) {
        return uid == null ? operator : operator.uid(uid + "-" + role);
    }

    private static void checkAddedTo(SingleOutputStreamOperator<?> added, DataStream<?> given, String what) {
        List<Transformation<?>> inputs = added.getTransformation().getInputs();
        Preconditions.checkArgument(inputs.size() == 1 && inputs.get(0) == given.getTransformation(),
                "%s must add one operator to the stream it is given, got %s", what, added.getTransformation());
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static <K, OUT> TypeInformation<KeyedWindowResult<K, OUT>> resultTypeInfo(
            TypeInformation<K> keys, TypeInformation<OUT> results) {
        return (TypeInformation) Types.POJO(KeyedWindowResult.class, Map.of(
                "key", keys, "windowStart", Types.LONG, "windowEnd", Types.LONG, "value", results));
    }

    /**
     * What the experiment job adds to a pipeline and users do not, each at a fixed place of the graph: a
     * value, built from {@link #none} by methods that each return a copy with one more hook. Transforms of a
     * kind run in the order they were added.
     *
     * <p>A later kind of hook is one more field and method; those here keep their shape.
     *
     * @param <T> the input records, which the router wraps in {@link Routed}
     * @param <K> the key, which the workers' keys ({@link WorkerKey}) and the merge's partials carry
     * @param <ACC> the accumulator, which the partials carry from the workers to the merge
     */
    public static final class Hooks<T, K, ACC> {

        private final List<UnaryOperator<DataStream<Routed<T>>>> afterRouter;
        private final List<Function<KeyedStream<Routed<T>, WorkerKey<K>>, SingleOutputStreamOperator<Routed<T>>>>
                atWorkers;
        private final List<Function<KeyedStream<Partial<K, ACC>, K>, SingleOutputStreamOperator<Partial<K, ACC>>>>
                beforeMerge;
        /** Null: the pipeline's default (the agent's sink when the params name an agent, else none). */
        private final WorkerLoadSink.Factory loadSink;

        private Hooks(
                List<UnaryOperator<DataStream<Routed<T>>>> afterRouter,
                List<Function<KeyedStream<Routed<T>, WorkerKey<K>>, SingleOutputStreamOperator<Routed<T>>>> atWorkers,
                List<Function<KeyedStream<Partial<K, ACC>, K>, SingleOutputStreamOperator<Partial<K, ACC>>>> beforeMerge,
                WorkerLoadSink.Factory loadSink) {
            this.afterRouter = List.copyOf(afterRouter);
            this.atWorkers = List.copyOf(atWorkers);
            this.beforeMerge = List.copyOf(beforeMerge);
            this.loadSink = loadSink;
        }

        /** {@return no hooks: the pipeline as {@code SkewedAggregation.build()} makes it} */
        public static <T, K, ACC> Hooks<T, K, ACC> none() {
            return new Hooks<>(List.of(), List.of(), List.of(), null);
        }

        /**
         * Adds a transform of the routed stream, applied right after the router, before the records are keyed
         * to their workers (tests inject failures there; the throughput test paces the source). It may add any
         * operators that hand every record on, at any parallelism, without changing its worker.
         */
        public Hooks<T, K, ACC> afterRouter(UnaryOperator<DataStream<Routed<T>>> transform) {
            List<UnaryOperator<DataStream<Routed<T>>>> more = new ArrayList<>(afterRouter);
            more.add(Objects.requireNonNull(transform));
            return new Hooks<>(more, atWorkers, beforeMerge, loadSink);
        }

        /**
         * Adds a transform of each worker's records, applied before the worker-load sampler and the partial
         * aggregate (the job's emulated capacity, the throughput test's latency meter). It adds one operator to
         * the keyed stream it is given, such as {@code keyed.process(function, keyed.getType())}; the pipeline
         * runs it at the workers' parallelism and max parallelism, and keys its output as before.
         */
        public Hooks<T, K, ACC> atWorkers(
                Function<KeyedStream<Routed<T>, WorkerKey<K>>, SingleOutputStreamOperator<Routed<T>>> transform) {
            List<Function<KeyedStream<Routed<T>, WorkerKey<K>>, SingleOutputStreamOperator<Routed<T>>>> more =
                    new ArrayList<>(atWorkers);
            more.add(Objects.requireNonNull(transform));
            return new Hooks<>(afterRouter, more, beforeMerge, loadSink);
        }

        /**
         * Adds a transform of the partials on their way to the merge, keyed by the real key (the job charges
         * the merge's emulated cost there). It adds one operator to the keyed stream it is given; the
         * pipeline runs it at the merge's parallelism, so it chains to the merge, and keys its output as
         * before. Unused when the partitioner never splits a key (there is no merge).
         */
        public Hooks<T, K, ACC> beforeMerge(
                Function<KeyedStream<Partial<K, ACC>, K>, SingleOutputStreamOperator<Partial<K, ACC>>> transform) {
            List<Function<KeyedStream<Partial<K, ACC>, K>, SingleOutputStreamOperator<Partial<K, ACC>>>> more =
                    new ArrayList<>(beforeMerge);
            more.add(Objects.requireNonNull(transform));
            return new Hooks<>(afterRouter, atWorkers, more, loadSink);
        }

        /** Sends the workers' load samples to {@code sink} instead of the pipeline's default. */
        public Hooks<T, K, ACC> loadSink(WorkerLoadSink.Factory sink) {
            return new Hooks<>(afterRouter, atWorkers, beforeMerge, Objects.requireNonNull(sink));
        }
    }
}
