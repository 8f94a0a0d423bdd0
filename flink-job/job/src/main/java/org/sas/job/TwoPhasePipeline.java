package org.sas.job;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;

import org.sas.flink.KeyHasher;
import org.sas.flink.KeyedWindowResult;
import org.sas.flink.internal.Partial;
import org.sas.flink.internal.Pipeline;
import org.sas.flink.internal.Routed;
import org.sas.flink.internal.RouterParams;
import org.sas.flink.internal.metrics.AgentLoadSink;
import org.sas.flink.internal.metrics.LogLoadSink;
import org.sas.flink.internal.metrics.WorkerLoadSink;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The job's pipeline: the params' generated stream, aggregated by {@link Task} per key and sliding window
 * through the pipeline of {@code SkewedAggregation} ({@link Pipeline}), with what only the experiments add
 * in its hooks: the emulated worker capacity, and load samples logged when there is no agent.
 *
 * <p>Keys are the generator's ids, handed to the router as they are ({@link KeyHasher#integral}): the
 * router's {@code static} hot-key mode takes a key's id for its popularity rank.
 */
public final class TwoPhasePipeline {

    /** The name of the pipeline's operators, uids and accumulators ({@code keyed-aggregation/router}, ...). */
    public static final String NAME = "keyed-aggregation";

    /** The stage of the workers' records, in {@link CapacityLimiter#unitsAccumulator}. */
    public static final String RECORDS_STAGE = "records";

    /** The stage of the merge's partials, in {@link CapacityLimiter#unitsAccumulator}. */
    public static final String PARTIALS_STAGE = "partials";

    private TwoPhasePipeline() {}

    /** Builds the pipeline for {@code params} and returns the stream of final results. */
    public static <A> DataStream<KeyedWindowResult<Long, A>> build(
            StreamExecutionEnvironment env, JobParams params, Task<A> task) {
        return build(env, params, task, UnaryOperator.identity());
    }

    /**
     * As {@link #build(StreamExecutionEnvironment, JobParams, Task)}, with {@code more} adding hooks to the
     * job's own (tests inject failures after the router or collect the load samples; the throughput test
     * paces the source and measures latency at the workers, after the emulated capacity).
     */
    public static <A> DataStream<KeyedWindowResult<Long, A>> build(
            StreamExecutionEnvironment env,
            JobParams params,
            Task<A> task,
            UnaryOperator<Pipeline.Hooks<Event, Long, A>> more) {
        // Chained operators hand records on without a defensive copy (the router is chained to the
        // source). Safe here: no operator keeps a reference to an input record after processing it,
        // and partials reach the merge through the network, deserialised into fresh objects.
        env.getConfig().enableObjectReuse();
        DataGeneratorSource<Event> source = new DataGeneratorSource<>(
                new WorkloadGenerator(params),
                params.records,
                params.sourceRate > 0
                        ? RateLimiterStrategy.perSecond(params.sourceRate)
                        : RateLimiterStrategy.noOp(),
                TypeInformation.of(Event.class));
        WatermarkStrategy<Event> watermarks =
                WatermarkStrategy.<Event>forMonotonousTimestamps().withTimestampAssigner((e, t) -> e.ts);
        DataStream<Event> events = env.fromSource(source, watermarks, "workload").setParallelism(params.routers);

        SlidingEventTimeWindows window = SlidingEventTimeWindows.of(
                Duration.ofMillis(params.windowMs), Duration.ofMillis(params.slideMs));
        // The params are validated already and set the window themselves: this only reads them again.
        RouterParams routing = RouterParams.resolve(params.yaml, "params", Path.of(""), List.of(), window);
        return new Pipeline<Event, Long, A, A>(routing, window, e -> e.key, Types.LONG, KeyHasher.integral(),
                        task, task.valueType(), task.valueType())
                .name(NAME, NAME)
                .build(events, more.apply(hooks(params)));
    }

    /**
     * The job's own hooks: where the load samples go, and the emulated capacity. Each worker's records cost
     * their key's units ({@code capacity.key_cost}) and, when there is a merge, each partial its merge
     * takes costs {@code capacity.partial_cost} units, from the same per-worker budget ({@link
     * WorkerBudget}): spreading a key over more workers costs the merging worker one more partial per
     * window.
     */
    private static <A> Pipeline.Hooks<Event, Long, A> hooks(JobParams params) {
        Pipeline.Hooks<Event, Long, A> hooks = Pipeline.Hooks.<Event, Long, A>none().loadSink(loadSink(params));
        WorkerBudget.Schedule schedule = new WorkerBudget.Schedule(params);
        if (!schedule.limits()) {
            return hooks;
        }
        KeyCost keyCost = new KeyCost(params);
        double partialCost = params.partialCost;
        CapacityLimiter.Units<Routed<Event>> recordUnits = r -> keyCost.units(r.value.key);
        CapacityLimiter.Units<Partial<Long, A>> partialUnits = p -> partialCost;
        return hooks
                .atWorkers(workers -> workers
                        .process(new CapacityLimiter<>(schedule, RECORDS_STAGE, recordUnits), workers.getType())
                        .name(NAME + "/capacity"))
                .beforeMerge(partials -> partials
                        .process(new CapacityLimiter<>(schedule, PARTIALS_STAGE, partialUnits), partials.getType())
                        .name(NAME + "/merge-capacity"));
    }

    /** Worker loads go to the agent when the params name one, else to the task managers' logs. */
    static WorkerLoadSink.Factory loadSink(JobParams params) {
        return params.agentAddress.isEmpty() ? new LogLoadSink.Factory() : new AgentLoadSink.Factory(params.yaml);
    }
}
