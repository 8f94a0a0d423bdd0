package org.sas.job;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamUtils;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;

import org.sas.flink.internal.loads.RouterOperator;
import org.sas.flink.internal.loads.WorkerLoadOperator;
import org.sas.flink.internal.metrics.AgentLoadSink;
import org.sas.flink.internal.metrics.LogLoadSink;
import org.sas.flink.internal.metrics.WorkerLoadSampler;
import org.sas.flink.internal.metrics.WorkerLoadSink;
import org.sas.nativeloader.NativeRouter;

import java.time.Duration;
import java.util.function.Function;
import java.util.function.UnaryOperator;

/**
 * The two-phase keyed aggregation: source → router → {@code keyBy(worker)} → partial aggregate per
 * (key, window) on each worker → per-key merge of the partials → results.
 *
 * <p>When the partitioner never splits a key (hash, drifting-key), a worker's partial is already the
 * final result and the merge is skipped. Otherwise <em>every</em> key goes through the merge, so a
 * (key, window) result is never split between a direct and a merged path, whatever the router decides
 * mid-window (the prototype's hot flag could change inside a window and split a result in two).
 */
public final class TwoPhasePipeline {

    private TwoPhasePipeline() {}

    /** Builds the pipeline for {@code params} and returns the stream of final results. */
    public static <A> DataStream<Partial<A>> build(StreamExecutionEnvironment env, JobParams params, Task<A> task) {
        return build(env, params, task, UnaryOperator.identity());
    }

    /** As {@link #build}, with {@code afterRouter} applied to the routed stream (tests inject faults). */
    static <A> DataStream<Partial<A>> build(
            StreamExecutionEnvironment env,
            JobParams params,
            Task<A> task,
            UnaryOperator<DataStream<Event>> afterRouter) {
        return build(env, params, task, afterRouter, loadReporting(params));
    }

    /**
     * As {@link #build}, with {@code afterRouter} applied to the routed stream and {@code atWorker} to each
     * worker's records just before its partial aggregate, after the emulated capacity (the throughput test
     * paces the source and measures latency there). {@code atWorker} keeps the workers' parallelism.
     */
    public static <A> DataStream<Partial<A>> build(
            StreamExecutionEnvironment env,
            JobParams params,
            Task<A> task,
            UnaryOperator<DataStream<Event>> afterRouter,
            Function<KeyedStream<Event, Integer>, DataStream<Event>> atWorker) {
        return build(env, params, task, afterRouter, atWorker, loadReporting(params));
    }

    /** As {@link #build}, with the workers' load samples sent as {@code load} says (tests collect them). */
    static <A> DataStream<Partial<A>> build(
            StreamExecutionEnvironment env,
            JobParams params,
            Task<A> task,
            UnaryOperator<DataStream<Event>> afterRouter,
            WorkerLoadSampler.Config load) {
        return build(env, params, task, afterRouter, perWorker -> perWorker, load);
    }

    private static <A> DataStream<Partial<A>> build(
            StreamExecutionEnvironment env,
            JobParams params,
            Task<A> task,
            UnaryOperator<DataStream<Event>> afterRouter,
            Function<KeyedStream<Event, Integer>, DataStream<Event>> atWorker,
            WorkerLoadSampler.Config load) {
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

        // The router operator is a process() of RouterFunction that also takes the workers' loads from
        // its coordinator each interval (docs/flink-job.md, "Worker loads reach the routers").
        DataStream<Event> routed = env.fromSource(source, watermarks, "workload")
                .setParallelism(params.routers)
                .transform("router", TypeInformation.of(Event.class),
                        new RouterOperator.Factory<>(new RouterFunction(params), params.workers))
                .uid("router")
                .setParallelism(params.routers);
        routed = afterRouter.apply(routed);

        WorkerKeySelector byWorker = new WorkerKeySelector(params.workers);
        KeyedStream<Event, Integer> perWorker = routed.keyBy(byWorker);
        if (hasCapacityLimit(params)) {
            DataStream<Event> limited = perWorker
                    .process(new CapacityLimiter(params.capacity))
                    .name("capacity")
                    .setParallelism(params.workers)
                    .setMaxParallelism(params.workers);
            perWorker = DataStreamUtils.reinterpretAsKeyedStream(limited, byWorker);
        }
        DataStream<Event> atWorkers = atWorker.apply(perWorker);
        if (atWorkers != perWorker) {
            perWorker = DataStreamUtils.reinterpretAsKeyedStream(atWorkers, byWorker);
        }
        // Chained into each worker's task: samples the task's load for the sink and for the routers.
        DataStream<Event> sampled = perWorker
                .transform("worker-load", TypeInformation.of(Event.class),
                        new WorkerLoadOperator.Factory<Event>(load, params.workers))
                .uid("worker-load")
                .setParallelism(params.workers)
                .setMaxParallelism(params.workers);
        perWorker = DataStreamUtils.reinterpretAsKeyedStream(sampled, byWorker);
        DataStream<Partial<A>> partials = perWorker
                .window(SlidingEventTimeWindows.of(
                        Duration.ofMillis(params.windowMs), Duration.ofMillis(params.slideMs)))
                .aggregate(
                        new PartialAggregate<>(task),
                        new PartialAggregate.Emit<A>(null),
                        Types.MAP(Types.LONG, task.valueType()),
                        Types.MAP(Types.LONG, task.valueType()),
                        task.partialType())
                .name("aggregate")
                .uid("aggregate")
                .setParallelism(params.workers)
                .setMaxParallelism(params.workers);

        if (!splitsKeys(params)) {
            return partials;
        }
        return partials
                .keyBy(p -> Tuple2.of(p.key, p.windowEnd), Types.TUPLE(Types.LONG, Types.LONG))
                .process(new MergePartials<>(task), task.partialType())
                .name("merge")
                .uid("merge")
                .setParallelism(params.workers);
    }

    /** Worker loads go to the agent when the params name one, else to the task managers' logs. */
    static WorkerLoadSampler.Config loadReporting(JobParams params) {
        WorkerLoadSink.Factory sink = params.agentAddress.isEmpty()
                ? new LogLoadSink.Factory()
                : new AgentLoadSink.Factory(params.yaml);
        return new WorkerLoadSampler.Config(params.loadIntervalMs, sink);
    }

    private static boolean hasCapacityLimit(JobParams params) {
        for (double c : params.capacity) {
            if (c > 0) {
                return true;
            }
        }
        return false;
    }

    /** Asks the router itself whether it may split keys (one source of truth for every name). */
    static boolean splitsKeys(JobParams params) {
        NativeRouter.ensureLoaded();
        long router = NativeRouter.create(params.yaml, "");
        try {
            return NativeRouter.splitsKeys(router);
        } finally {
            NativeRouter.close(router);
        }
    }
}
