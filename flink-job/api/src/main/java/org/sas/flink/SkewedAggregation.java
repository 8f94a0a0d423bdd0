package org.sas.flink;

import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.RichFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.TypeExtractor;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.windowing.assigners.MergingWindowAssigner;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.triggers.EventTimeTrigger;
import org.apache.flink.streaming.api.windowing.triggers.Trigger;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;

import org.sas.flink.internal.Pipeline;
import org.sas.flink.internal.RouterParams;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * A keyed window aggregation whose records the SaS router spreads over P workers: the replacement for a
 * skewed {@code keyBy(key).window(assigner).aggregate(function)}, with the same results.
 *
 * <pre>{@code
 * // Before: words.keyBy(w -> w).window(TumblingEventTimeWindows.of(Duration.ofSeconds(1))).aggregate(new Count());
 * DataStream<KeyedWindowResult<String, Long>> counts = SkewedAggregation
 *         .of(words, w -> w, new Count())
 *         .window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
 *         .partitioner("w-choices")
 *         .parallelism(16)
 *         .build();
 * }</pre>
 *
 * <p><b>What {@link #build} adds to the job.</b> A router (one Rust router per subtask, at the input's
 * parallelism, so it chains to it) picks each record's worker from the key's {@link KeyHasher hash} and the
 * record's event time. Then, when the partitioner may split a key over several workers (every one but
 * {@code hash} and {@code drifting-key}; the router says which), two phases: on each of the P workers a
 * window aggregate per (worker, key) emits its accumulator, and a merge keyed by the real key combines the
 * accumulators of each (key, window) with {@link AggregateFunction#merge} and emits one result. When the
 * partitioner never splits a key, the per-(worker, key) aggregate is the result: one phase. Each worker
 * samples its task's busy time every {@code agent.interval_ms} and the routers get every worker's busy
 * ratio per interval through the JobManager, as in the experiment job ({@code dalton-metrics} routes by
 * them); the intervals they took are counted in {@link #routerLoadIntervalsAccumulator}.
 *
 * <p><b>Same results as {@code keyBy().window().aggregate()}</b>: one {@link KeyedWindowResult} per key
 * and window, whatever the router decides, provided the function's {@code merge} of two accumulators equals
 * accumulating both inputs in one (the {@link AggregateFunction} contract). A hash collision between keys
 * only costs balance: both phases are keyed by the real key. The conditions:
 * <ul>
 *   <li>Windows are event-time, non-merging and fire once at their end ({@link EventTimeTrigger}):
 *       {@code TumblingEventTimeWindows} and {@code SlidingEventTimeWindows}. Records behind the watermark
 *       are dropped, as by {@code window()} without allowed lateness.
 *   <li>The key selector is deterministic and never returns null (a null fails the job with an error
 *       naming the selector and the record); the key type is one {@code keyBy} accepts.
 *   <li>The function is not a {@link RichFunction}, as {@code WindowedStream.aggregate} requires.
 * </ul>
 *
 * <p><b>Router params.</b> The partitioner and its settings come from params text in the {@code
 * params/*.yaml} schema ({@code docs/config.md}), validated by the Rust router, from {@link #paramsFile} or
 * {@link #paramsText}, with {@link #partitioner}, {@link #parallelism} and {@link #set} applied as {@code
 * KEY=VALUE} overrides in call order (later wins). Keys that only the experiment job reads ({@code task},
 * {@code records}, {@code workload.*} other than {@code keys}, {@code payload}, {@code capacity}) are
 * ignored; when the text omits {@code task} or {@code records} they are filled in, and when it sets neither
 * {@code window_ms} nor {@code slide_ms} the router's window is the aggregation's. {@code routers} is the
 * router operator's parallelism, whatever the params say. With an {@code agent:}
 * section the routers join the agent link ({@code docs/agent-link.md}) and the merge is always used.
 *
 * <p><b>Runtime.</b> The client (for {@link #build}) and every task manager load {@code
 * libsas_router_jni.so} through {@code org.sas.nativeloader.NativeRouter}, whose jar belongs in Flink's
 * {@code lib/} ({@code docs/flink-api.md}). The workers run at parallelism and max parallelism P. The
 * router records how many records it sent to each worker in the {@code Histogram} accumulator {@link
 * #recordsPerWorkerAccumulator}.
 *
 * <p><b>Checkpoints.</b> Each router's state (what it has learned, the routing table in force) is part of
 * every checkpoint: operator state of the router operator (uid {@code UID-router} with {@link #uid}), a list
 * state named {@code router-state} holding one entry per subtask. After a failover or a restart from a
 * savepoint with the same router parallelism, each router resumes where the checkpoint left it; the routers
 * that did are counted in the accumulator {@link #routerStatesRestoredAccumulator}. After a rescale a
 * subtask that gets exactly one entry restores it, others start cold (logged with the reason), as does a
 * router whose entry was saved under another partitioner, P or setting it depends on. That changes balance
 * only: results are exact either way.
 *
 * @param <T> the input records
 * @param <K> the key
 * @param <ACC> the aggregate's accumulator
 * @param <OUT> the aggregate's result
 */
public final class SkewedAggregation<T, K, ACC, OUT> {

    /** The name of the aggregation's operators and accumulator unless {@link #name} sets another. */
    public static final String DEFAULT_NAME = "skewed-aggregation";

    private final DataStream<T> input;
    private final KeySelector<T, K> keySelector;
    private final AggregateFunction<T, ACC, OUT> aggregate;
    private WindowAssigner<? super T, TimeWindow> window;
    private String paramsText = "";
    private String paramsOrigin = "params (none given)";
    private Path paramsBaseDir = Path.of("");
    private final List<String> overrides = new ArrayList<>();
    private int routerParallelism;
    private KeyHasher<K> keyHasher;
    private TypeInformation<K> keyType;
    private TypeInformation<ACC> accumulatorType;
    private TypeInformation<OUT> resultType;
    private String name = DEFAULT_NAME;
    private String uid;

    private SkewedAggregation(DataStream<T> input, KeySelector<T, K> keySelector, AggregateFunction<T, ACC, OUT> aggregate) {
        this.input = input;
        this.keySelector = keySelector;
        this.aggregate = aggregate;
    }

    /**
     * Starts an aggregation of {@code input}, keyed by {@code keySelector}, with {@code aggregate}: the three
     * arguments of {@code input.keyBy(keySelector).window(...).aggregate(aggregate)}.
     *
     * @param input records with event-time timestamps and watermarks
     * @param keySelector the key of a record; deterministic, never null
     * @param aggregate the aggregate; not a {@link RichFunction}
     * @param <T> the input records
     * @param <K> the key
     * @param <ACC> the aggregate's accumulator
     * @param <OUT> the aggregate's result
     * @return the builder; {@link #window} is required before {@link #build}
     * @throws NullPointerException for a null argument
     * @throws UnsupportedOperationException if {@code aggregate} is a {@link RichFunction}
     */
    public static <T, K, ACC, OUT> SkewedAggregation<T, K, ACC, OUT> of(
            DataStream<T> input, KeySelector<T, K> keySelector, AggregateFunction<T, ACC, OUT> aggregate) {
        Objects.requireNonNull(input, "SkewedAggregation: input is null");
        Objects.requireNonNull(keySelector, "SkewedAggregation: keySelector is null");
        Objects.requireNonNull(aggregate, "SkewedAggregation: aggregate is null");
        if (aggregate instanceof RichFunction) {
            throw new UnsupportedOperationException(
                    "SkewedAggregation: the aggregate function cannot be a RichFunction, as in WindowedStream.aggregate");
        }
        return new SkewedAggregation<>(input, keySelector, aggregate);
    }

    /**
     * Sets the windows (required): event-time, non-merging, firing once at their end, such as {@code
     * TumblingEventTimeWindows.of(Duration.ofSeconds(1))} or {@code SlidingEventTimeWindows.of(size, slide)}.
     *
     * @param window the assigner, as for {@code keyBy().window(window)}
     * @return this builder
     * @throws IllegalArgumentException for a merging (session), processing-time or early-firing assigner,
     *     saying why the merge cannot be exact with it
     */
    public SkewedAggregation<T, K, ACC, OUT> window(WindowAssigner<? super T, TimeWindow> window) {
        Objects.requireNonNull(window, "SkewedAggregation: window is null");
        if (window instanceof MergingWindowAssigner) {
            throw new IllegalArgumentException("SkewedAggregation: " + window + " merges windows: a key's sessions "
                    + "on different workers are not its sessions; use tumbling or sliding event-time windows");
        }
        if (!window.isEventTime()) {
            throw new IllegalArgumentException("SkewedAggregation: " + window + " is a processing-time assigner: "
                    + "the merge knows every worker's partial is in from the watermark; use event-time windows");
        }
        Trigger<?, ?> trigger = window.getDefaultTrigger();
        if (!(trigger instanceof EventTimeTrigger)) {
            throw new IllegalArgumentException("SkewedAggregation: " + window + " fires with " + trigger
                    + "; a partial must leave its worker once, complete, at the window's end (EventTimeTrigger)");
        }
        this.window = window;
        return this;
    }

    /**
     * Sets the partitioner, one of {@code hash shuffle pkg d-choices w-choices cm cam dagreedy flexd
     * dalton-original dalton-metrics dalton-offline drifting-key saspartitioner} ({@code
     * docs/partitioners.md}); the override {@code partitioner=NAME}. An unknown name fails in {@link #build}
     * with the list of valid ones.
     *
     * @param partitioner the partitioner's name
     * @return this builder
     */
    public SkewedAggregation<T, K, ACC, OUT> partitioner(String partitioner) {
        return set("partitioner", partitioner);
    }

    /**
     * Reads the router params from a {@code params/*.yaml}-style file; relative paths in it resolve against
     * the parent of its folder, as for the project's {@code params/} files.
     *
     * @param file the params file
     * @return this builder
     * @throws UncheckedIOException naming the file if it cannot be read
     */
    public SkewedAggregation<T, K, ACC, OUT> paramsFile(Path file) {
        Path absolute = file.toAbsolutePath();
        try {
            paramsText = Files.readString(absolute, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("SkewedAggregation: cannot read params file " + absolute, e);
        }
        paramsOrigin = file.toString();
        Path folder = absolute.getParent() == null ? absolute : absolute.getParent();
        paramsBaseDir = folder.getParent() == null ? folder : folder.getParent();
        return this;
    }

    /**
     * Sets the router params as YAML text in the {@code params/*.yaml} schema, for example {@code
     * "partitioner: w-choices\nworkers: 16\nrouter:\n  choices:\n    theta: 0.01\n"}; relative paths resolve
     * against the working directory.
     *
     * @param yaml the params
     * @return this builder
     */
    public SkewedAggregation<T, K, ACC, OUT> paramsText(String yaml) {
        paramsText = Objects.requireNonNull(yaml, "SkewedAggregation: params text is null");
        paramsOrigin = "params text";
        paramsBaseDir = Path.of("");
        return this;
    }

    /**
     * Overrides one params key, as {@code --set KEY=VALUE} does for the project's scripts: a dotted key
     * reaches into a section ({@code router.choices.theta}), the value is a YAML scalar or flow list.
     * Validated with the rest in {@link #build}, where a bad key or value fails naming it.
     *
     * @param key the params key, dotted for a section
     * @param value its value
     * @return this builder
     */
    public SkewedAggregation<T, K, ACC, OUT> set(String key, String value) {
        Objects.requireNonNull(key, "SkewedAggregation: override key is null");
        Objects.requireNonNull(value, "SkewedAggregation: value of " + key + " is null");
        overrides.add(key + "=" + value);
        return this;
    }

    /**
     * Sets P, the workers of the aggregate (their parallelism and max parallelism); the override {@code
     * workers=P}. Without it the params' {@code workers} is P.
     *
     * @param workers P
     * @return this builder
     * @throws IllegalArgumentException if {@code workers} is not positive
     */
    public SkewedAggregation<T, K, ACC, OUT> parallelism(int workers) {
        if (workers <= 0) {
            throw new IllegalArgumentException("SkewedAggregation: parallelism = " + workers + ": must be > 0");
        }
        return set("workers", Integer.toString(workers));
    }

    /**
     * Sets the router's parallelism; by default the input's, so the router chains to it.
     *
     * @param routers the router subtasks
     * @return this builder
     * @throws IllegalArgumentException if {@code routers} is not positive
     */
    public SkewedAggregation<T, K, ACC, OUT> routerParallelism(int routers) {
        if (routers <= 0) {
            throw new IllegalArgumentException("SkewedAggregation: routerParallelism = " + routers + ": must be > 0");
        }
        this.routerParallelism = routers;
        return this;
    }

    /**
     * Sets how keys become the router's 64-bit numbers; by default {@link KeyHasher#forType} of the key type.
     *
     * @param hasher a stable hash of the key's value
     * @return this builder
     */
    public SkewedAggregation<T, K, ACC, OUT> keyHasher(KeyHasher<K> hasher) {
        this.keyHasher = Objects.requireNonNull(hasher, "SkewedAggregation: keyHasher is null");
        return this;
    }

    /**
     * Sets the key's type, when Flink cannot extract it from the key selector (a generic lambda).
     *
     * @param type the key's type
     * @return this builder
     */
    public SkewedAggregation<T, K, ACC, OUT> keyType(TypeInformation<K> type) {
        this.keyType = Objects.requireNonNull(type, "SkewedAggregation: keyType is null");
        return this;
    }

    /**
     * Sets the accumulator's type, when Flink cannot extract it from the aggregate function.
     *
     * @param type the accumulator's type
     * @return this builder
     */
    public SkewedAggregation<T, K, ACC, OUT> accumulatorType(TypeInformation<ACC> type) {
        this.accumulatorType = Objects.requireNonNull(type, "SkewedAggregation: accumulatorType is null");
        return this;
    }

    /**
     * Sets the result's type, when Flink cannot extract it from the aggregate function.
     *
     * @param type the result's type
     * @return this builder
     */
    public SkewedAggregation<T, K, ACC, OUT> resultType(TypeInformation<OUT> type) {
        this.resultType = Objects.requireNonNull(type, "SkewedAggregation: resultType is null");
        return this;
    }

    /**
     * Names the operators ({@code NAME/router}, {@code NAME/partial}, {@code NAME/merge} or {@code
     * NAME/aggregate}) and the accumulator; default {@value #DEFAULT_NAME}. Give each aggregation of a job its
     * own.
     *
     * @param name the name
     * @return this builder
     */
    public SkewedAggregation<T, K, ACC, OUT> name(String name) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("SkewedAggregation: name must not be empty");
        }
        this.name = name;
        return this;
    }

    /**
     * Sets the operators' uids ({@code UID-router}, {@code UID-worker-load}, {@code UID-partial}, {@code
     * UID-merge} or {@code UID-aggregate}), for savepoints that survive changes to the job; unset, Flink generates them. The
     * routers' checkpointed state belongs to {@code UID-router}.
     *
     * @param uid the uids' prefix
     * @return this builder
     */
    public SkewedAggregation<T, K, ACC, OUT> uid(String uid) {
        if (uid == null || uid.isEmpty()) {
            throw new IllegalArgumentException("SkewedAggregation: uid must not be empty");
        }
        this.uid = uid;
        return this;
    }

    /**
     * {@return the name of the {@code Histogram} accumulator of records per worker of the aggregation {@code
     * name}: {@code name + ".records-per-worker"}}
     *
     * @param name the aggregation's {@link #name}
     */
    public static String recordsPerWorkerAccumulator(String name) {
        return name + ".records-per-worker";
    }

    /**
     * {@return the name of the {@code Integer} accumulator counting the router subtasks of the aggregation
     * {@code name} that resumed from a checkpointed router state: {@code name + ".router-states-restored"}}
     * It counts the job's last execution attempt: 0 in a run without failover, the router parallelism after a
     * failover in which every router resumed.
     *
     * @param name the aggregation's {@link #name}
     */
    public static String routerStatesRestoredAccumulator(String name) {
        return name + ".router-states-restored";
    }

    /**
     * {@return the name of the {@code Integer} accumulator counting the load intervals the routers of the
     * aggregation {@code name} closed with the workers' busy ratios: {@code name + ".router-load-intervals"}}
     * Summed over routers; it grows by about one per router each {@code agent.interval_ms} while records
     * flow, and stays 0 for routers on the agent link, which close their intervals themselves.
     *
     * @param name the aggregation's {@link #name}
     */
    public static String routerLoadIntervalsAccumulator(String name) {
        return name + ".router-load-intervals";
    }

    /**
     * {@return the name of the {@code Integer} accumulator counting the intervals of worker loads the routers
     * of the aggregation {@code name} received and did not use (stale, repeated, or on the agent link):
     * {@code name + ".router-load-intervals-dropped"}}
     *
     * @param name the aggregation's {@link #name}
     */
    public static String routerLoadIntervalsDroppedAccumulator(String name) {
        return name + ".router-load-intervals-dropped";
    }

    /**
     * Adds the aggregation to the input's job and returns its results: one per key and window, emitted when
     * the watermark passes the window's end.
     *
     * @return the results, one per key and window
     * @throws IllegalStateException if no window was set, or the native library cannot be loaded
     * @throws IllegalArgumentException naming the params origin and the bad key, override or partitioner;
     *     for a key type without a stable default hash (see {@link KeyHasher#forType})
     */
    public DataStream<KeyedWindowResult<K, OUT>> build() {
        if (window == null) {
            throw new IllegalStateException("SkewedAggregation: window(...) is required, "
                    + "e.g. window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))");
        }
        StreamExecutionEnvironment env = input.getExecutionEnvironment();
        TypeInformation<T> inputType = input.getType();
        TypeInformation<K> keys = keyType != null ? keyType
                : extracted(() -> TypeExtractor.getKeySelectorTypes(keySelector, inputType), "key", "keyType");
        TypeInformation<ACC> accumulators = accumulatorType != null ? accumulatorType
                : extracted(() -> TypeExtractor.getAggregateFunctionAccumulatorType(aggregate, inputType, null, false),
                        "accumulator", "accumulatorType");
        TypeInformation<OUT> results = resultType != null ? resultType
                : extracted(() -> TypeExtractor.getAggregateFunctionReturnType(aggregate, inputType, null, false),
                        "result", "resultType");
        KeyHasher<K> hasher = keyHasher != null ? keyHasher
                : KeyHasher.forType(keys, env.getConfig().getSerializerConfig());
        RouterParams params = RouterParams.resolve(paramsText, paramsOrigin, paramsBaseDir, overrides, window);
        return new Pipeline<>(params, window, env.clean(keySelector), keys, hasher, env.clean(aggregate),
                        accumulators, results)
                .name(name, uid)
                .routerParallelism(routerParallelism)
                .build(input, Pipeline.Hooks.none());
    }

    private <X> TypeInformation<X> extracted(Supplier<TypeInformation<X>> extract, String what, String setter) {
        try {
            return extract.get();
        } catch (RuntimeException e) {
            throw new IllegalStateException("SkewedAggregation: Flink cannot tell the " + what + " type ("
                    + e.getMessage() + "); pass it with " + setter + "(...)", e);
        }
    }
}
