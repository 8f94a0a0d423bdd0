package org.sas.examples;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.SkewedAggregation;

import com.tdunning.math.stats.MergingDigest;

import java.time.Duration;
import java.util.HashMap;
import java.util.TreeMap;

/**
 * The experiment job's benchmark tasks as examples on the public API: {@value #WORD_HISTOGRAM} ({@link
 * WordHistogram}) and {@value #QUANTILE_DIGEST} ({@link QuantileDigest}), per key and tumbling window of
 * event time, over {@code --records} {@link GeneratedRecords} (record n at event time {@code n * 1000 / rate}
 * ms, its key Zipf-distributed).
 *
 * <pre>
 * fromSequence ─► generate ─► event time ─► SkewedAggregation(task) ─► count results and keys
 *   (1 reader, chained)                      (router chained, P workers)  └► [--verify: compare with keyBy]
 * </pre>
 *
 * <p>With {@code --verify} the same records also go through a plain {@code keyBy(key).window(window)
 * .aggregate(task)} in the same job, and {@link CompareWithKeyBy} compares the two results of every (key,
 * window): histograms must be equal, digests must hold exactly the same values (their count, minimum and
 * maximum; their quantiles may differ within the digest's rank error).
 */
public final class BenchmarkTasks {

    /** The word-histogram example's name: its operators', its accumulators' and its command's. */
    public static final String WORD_HISTOGRAM = "word-histogram";
    /** The quantile-digest example's name. */
    public static final String QUANTILE_DIGEST = "quantile-digest";

    /** Seed of the generated stream: every run sees the same records. */
    static final long SEED = 7;

    private BenchmarkTasks() {}

    /** Runs {@value #WORD_HISTOGRAM} with the flags of {@link ExampleArgs#parseGenerated}. */
    public static void wordHistogram(String[] flags) {
        Examples.run(WORD_HISTOGRAM, flags, ExampleArgs::parseGenerated, (env, args) -> run(env, args,
                WORD_HISTOGRAM, new WordHistogram(), TypeInformation.of(new TypeHint<HashMap<String, Long>>() {}),
                new Histogram()));
    }

    /** Runs {@value #QUANTILE_DIGEST} with the flags of {@link ExampleArgs#parseGenerated}. */
    public static void quantileDigest(String[] flags) {
        Examples.run(QUANTILE_DIGEST, flags, ExampleArgs::parseGenerated, (env, args) -> run(env, args,
                QUANTILE_DIGEST, new QuantileDigest(), TypeInformation.of(MergingDigest.class), new DigestValues()));
    }

    /** A histogram, word by word in order: all of it is compared. */
    static final class Histogram implements MapFunction<HashMap<String, Long>, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String map(HashMap<String, Long> histogram) {
            return new TreeMap<>(histogram).toString();
        }
    }

    /** A digest's values as far as it keeps them exactly: how many, the least and the greatest. */
    static final class DigestValues implements MapFunction<MergingDigest, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String map(MergingDigest digest) {
            return digest.size() + " values in [" + digest.getMin() + ", " + digest.getMax() + "]";
        }
    }

    /**
     * Runs {@code task} as the example {@code name} on {@code env} (a cluster under {@code flink run}, a
     * MiniCluster when started with {@code java}) and returns what it found.
     *
     * @param type the task's accumulator and result type
     * @param fingerprint what {@code --verify} compares of two results, as text: all of a result, or what a
     *     correct merge must keep of it
     */
    public static <A> Summary run(StreamExecutionEnvironment env, ExampleArgs args, String name,
            AggregateFunction<BenchmarkRecord, A, A> task, TypeInformation<A> type, MapFunction<A, String> fingerprint)
            throws Exception {
        if (args.checkpointMs > 0) {
            env.enableCheckpointing(args.checkpointMs);
        }
        long rate = args.rate;
        // One reader of one split: the records come in index order, so their event times never go back.
        DataStream<BenchmarkRecord> records = env.fromSequence(0, args.records - 1).setParallelism(1)
                .map(new GeneratedRecords(SEED)).name(name + "/generate").setParallelism(1)
                .assignTimestampsAndWatermarks(WatermarkStrategy.<BenchmarkRecord>forMonotonousTimestamps()
                        .withTimestampAssigner((r, previous) -> r.index * 1000 / rate))
                .name(name + "/event-time").setParallelism(1);
        TumblingEventTimeWindows window = TumblingEventTimeWindows.of(Duration.ofMillis(args.windowMs));
        DataStream<KeyedWindowResult<Long, A>> results = KeyCounts.configured(SkewedAggregation
                        .of(records, r -> r.key, task)
                        .keyType(Types.LONG)
                        .accumulatorType(type)
                        .resultType(type)
                        .window(window)
                        .name(name)
                        .uid(name), args)
                .build();
        int workers = results.getParallelism();
        results.keyBy(KeyedWindowResult::getKey, Types.LONG)
                .process(new CountResults<>(KeyCounts.resultsAccumulator(name), KeyCounts.keysAccumulator(name)),
                        Types.VOID)
                .name(name + "/count-results").setParallelism(workers)
                .sinkTo(new DiscardingSink<>()).name(name + "/discard").setParallelism(workers);

        return Summary.execute(env, args, name, workers, () -> {
            DataStream<KeyedWindowResult<Long, A>> reference = records
                    .keyBy(r -> r.key, Types.LONG)
                    .window(window)
                    .aggregate(task, new KeyCounts.WithKeyAndWindow<>(), type, type,
                            KeyCounts.resultType(Types.LONG, type))
                    .name(name + "/key-by")
                    .setParallelism(workers);
            return fingerprinted(results, fingerprint, workers)
                    .connect(fingerprinted(reference, fingerprint, workers))
                    .keyBy(r -> Tuple2.of(r.getKey(), r.getWindowStart()),
                            r -> Tuple2.of(r.getKey(), r.getWindowStart()), Types.TUPLE(Types.LONG, Types.LONG))
                    .process(new CompareWithKeyBy<>(KeyCounts.matchedAccumulator(name), Types.STRING), Types.STRING)
                    .name(name + "/compare-with-key-by")
                    .setParallelism(workers);
        });
    }

    /** Each result with its value's fingerprint in place of the value. */
    private static <A> DataStream<KeyedWindowResult<Long, String>> fingerprinted(
            DataStream<KeyedWindowResult<Long, A>> results, MapFunction<A, String> fingerprint, int workers) {
        return results
                .map(new FingerprintValue<>(fingerprint))
                .returns(KeyCounts.resultType(Types.LONG, Types.STRING))
                .setParallelism(workers);
    }

    /** Replaces a result's value by its fingerprint. */
    static final class FingerprintValue<A>
            implements MapFunction<KeyedWindowResult<Long, A>, KeyedWindowResult<Long, String>> {
        private static final long serialVersionUID = 1L;

        private final MapFunction<A, String> fingerprint;

        FingerprintValue(MapFunction<A, String> fingerprint) {
            this.fingerprint = fingerprint;
        }

        @Override
        public KeyedWindowResult<Long, String> map(KeyedWindowResult<Long, A> r) throws Exception {
            return new KeyedWindowResult<>(
                    r.getKey(), r.getWindowStart(), r.getWindowEnd(), fingerprint.map(r.getValue()));
        }
    }
}
