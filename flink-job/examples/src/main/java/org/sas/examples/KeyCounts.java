package org.sas.examples;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.reader.TextLineInputFormat;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.SkewedAggregation;

import java.time.Duration;
import java.util.Map;

/**
 * The one pipeline of the examples: a text file, read by Flink's file connector, becomes keys (each example
 * says how a line gives its keys), counted per key and tumbling window of event time through the router.
 *
 * <pre>
 * FileSource(TextLineInputFormat) ─► keys of a line ─► number ─► event time ─► SkewedAggregation(count) ─► count results and keys
 *            (1 reader)               (chained, parallelism 1)    (index/rate)   (router chained, P workers)   └► [--verify: compare with keyBy]
 * </pre>
 *
 * <p>A text file is one split, read by one reader, so the keys come in file order and their numbers are their
 * positions: key n is at event time {@code n * 1000 / rate} ms, whichever run or restart reads it. The router
 * chains to the reader unless {@code --routers} asks for more. With {@code --verify} the same records also go
 * through a plain {@code keyBy(key).window(window).aggregate(count)} in the same job, and {@link
 * CompareWithKeyBy} compares the two results of every (key, window).
 */
public final class KeyCounts {

    private KeyCounts() {}

    /** The job's pieces that a run and a test look at. */
    static final class Pipeline {
        /** The numbered, timestamped keys. */
        final DataStream<KeyRecord> records;
        /** The router's counts, one per key and window. */
        final DataStream<KeyedWindowResult<String, Long>> counts;
        /** The windows. */
        final TumblingEventTimeWindows window;

        Pipeline(DataStream<KeyRecord> records, DataStream<KeyedWindowResult<String, Long>> counts,
                TumblingEventTimeWindows window) {
            this.records = records;
            this.counts = counts;
            this.window = window;
        }
    }

    /**
     * Adds the example {@code name}'s counting to {@code env}'s job and returns the router's counts, one per
     * key and window.
     *
     * @param keysOfLine the keys of one line of the file, in order
     */
    public static DataStream<KeyedWindowResult<String, Long>> counts(StreamExecutionEnvironment env, ExampleArgs args,
            String name, FlatMapFunction<String, String> keysOfLine) {
        return build(env, args, name, keysOfLine).counts;
    }

    static Pipeline build(StreamExecutionEnvironment env, ExampleArgs args, String name,
            FlatMapFunction<String, String> keysOfLine) {
        FileSource<String> file = FileSource
                .forRecordStreamFormat(new TextLineInputFormat(), new org.apache.flink.core.fs.Path(args.path.toUri()))
                .build();
        long rate = args.rate;
        DataStream<KeyRecord> records = env.fromSource(file, WatermarkStrategy.noWatermarks(), "file")
                .setParallelism(1)
                .flatMap(keysOfLine).returns(Types.STRING).name("keys").setParallelism(1)
                .process(new NumberKeys()).name("number").setParallelism(1)
                .assignTimestampsAndWatermarks(WatermarkStrategy.<KeyRecord>forMonotonousTimestamps()
                        .withTimestampAssigner((r, previous) -> r.index * 1000 / rate))
                .name("event-time").setParallelism(1);
        TumblingEventTimeWindows window = TumblingEventTimeWindows.of(Duration.ofMillis(args.windowMs));
        SkewedAggregation<KeyRecord, String, Long, Long> aggregation = SkewedAggregation
                .of(records, r -> r.key, new CountPerKey())
                .keyType(Types.STRING)
                .window(window)
                .name(name)
                .uid(name);
        return new Pipeline(records, configured(aggregation, args).build(), window);
    }

    /** Sets the router params, P and the router parallelism of {@code aggregation} as the flags say. */
    static <T, K, ACC, OUT> SkewedAggregation<T, K, ACC, OUT> configured(
            SkewedAggregation<T, K, ACC, OUT> aggregation, ExampleArgs args) {
        if (args.params != null) {
            aggregation.paramsFile(args.params);
        }
        if (args.partitioner != null) {
            aggregation.partitioner(args.partitioner);
        }
        if (args.workers > 0) {
            aggregation.parallelism(args.workers);
        }
        for (String kv : args.overrides) {
            int eq = kv.indexOf('=');
            aggregation.set(kv.substring(0, eq), kv.substring(eq + 1));
        }
        if (args.routers > 0) {
            aggregation.routerParallelism(args.routers);
        }
        return aggregation;
    }

    /**
     * The same counts by a plain {@code keyBy(key).window(window).aggregate(count)} over {@code records}, at
     * parallelism {@code workers}: the reference of {@code --verify}.
     */
    static DataStream<KeyedWindowResult<String, Long>> keyByCounts(
            DataStream<KeyRecord> records, TumblingEventTimeWindows window, int workers, String name) {
        return records
                .keyBy(r -> r.key, Types.STRING)
                .window(window)
                .aggregate(new CountPerKey(), new WithKeyAndWindow<>(), Types.LONG, Types.LONG, resultType())
                .name(name + "/key-by")
                .setParallelism(workers);
    }

    /**
     * The differences between the router's counts and the reference's, per (key, window): none when they are
     * equal; the equal pairs are counted in the accumulator {@code matchedAccumulator}.
     */
    static DataStream<String> differences(DataStream<KeyedWindowResult<String, Long>> routed,
            DataStream<KeyedWindowResult<String, Long>> reference, String matchedAccumulator, String name) {
        return routed.connect(reference)
                .keyBy(r -> Tuple2.of(r.getKey(), r.getWindowStart()), r -> Tuple2.of(r.getKey(), r.getWindowStart()),
                        Types.TUPLE(Types.STRING, Types.LONG))
                .process(new CompareWithKeyBy<>(matchedAccumulator, Types.LONG), Types.STRING)
                .name(name + "/compare-with-key-by")
                .setParallelism(routed.getParallelism());
    }

    /**
     * Runs the example {@code name} on {@code env} (a cluster under {@code flink run}, a MiniCluster when
     * started with {@code java}) and returns what it found.
     */
    public static Summary run(StreamExecutionEnvironment env, ExampleArgs args, String name,
            FlatMapFunction<String, String> keysOfLine) throws Exception {
        if (args.checkpointMs > 0) {
            env.enableCheckpointing(args.checkpointMs);
        }
        Pipeline pipeline = build(env, args, name, keysOfLine);
        int workers = pipeline.counts.getParallelism();
        pipeline.counts
                .keyBy(KeyedWindowResult::getKey, Types.STRING)
                .process(new CountResults<>(resultsAccumulator(name), keysAccumulator(name)), Types.VOID)
                .name(name + "/count-results").setParallelism(workers)
                .sinkTo(new DiscardingSink<>()).name(name + "/discard").setParallelism(workers);

        return Summary.execute(env, args, name, workers, () -> differences(pipeline.counts,
                keyByCounts(pipeline.records, pipeline.window, workers, name), matchedAccumulator(name), name));
    }

    /** {@return the accumulator counting the results of the example {@code name}} */
    public static String resultsAccumulator(String name) {
        return name + ".results";
    }

    /** {@return the accumulator counting the distinct keys of the example {@code name}} */
    public static String keysAccumulator(String name) {
        return name + ".distinct-keys";
    }

    /** {@return the accumulator counting, with {@code --verify}, the results equal to keyBy's} */
    public static String matchedAccumulator(String name) {
        return name + ".verify.matched";
    }

    /** The reference's window function: the result with its key and window. */
    static class WithKeyAndWindow<K, V> extends ProcessWindowFunction<V, KeyedWindowResult<K, V>, K, TimeWindow> {
        private static final long serialVersionUID = 1L;

        @Override
        public void process(K key, Context ctx, Iterable<V> results, Collector<KeyedWindowResult<K, V>> out) {
            for (V result : results) {
                out.collect(new KeyedWindowResult<>(key, ctx.window().getStart(), ctx.window().getEnd(), result));
            }
        }
    }

    /** Flink's type of a count per key and window, as {@link SkewedAggregation#build} gives it. */
    static TypeInformation<KeyedWindowResult<String, Long>> resultType() {
        return resultType(Types.STRING, Types.LONG);
    }

    /** Flink's type of a result per key and window, as {@link SkewedAggregation#build} gives it. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static <K, V> TypeInformation<KeyedWindowResult<K, V>> resultType(
            TypeInformation<K> key, TypeInformation<V> value) {
        return (TypeInformation) Types.POJO(KeyedWindowResult.class, Map.of(
                "key", key, "windowStart", Types.LONG, "windowEnd", Types.LONG, "value", value));
    }
}
