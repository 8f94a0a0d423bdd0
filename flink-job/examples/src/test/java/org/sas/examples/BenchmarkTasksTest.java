package org.sas.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.SkewedAggregation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import com.tdunning.math.stats.MergingDigest;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;

/**
 * The job's benchmark tasks on the public API: {@link WordHistogram} through {@link SkewedAggregation}
 * gives exactly keyBy's histograms, whatever the partitioner; {@link QuantileDigest} gives digests of exactly
 * keyBy's values (size, min and max), with quantiles within the digest's rank error of the exact ones.
 */
class BenchmarkTasksTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = ExampleRuns.cluster();

    private static final int RECORDS = 6_000;
    private static final int KEYS = 200;
    private static final int WORKERS = 4;
    /** Event time of record i: i ms, so 6 000 records span 6 one-second windows. */
    private static final Duration WINDOW = Duration.ofSeconds(1);

    private static final String[] VOCABULARY = {"the", "a", "router", "key", "window", "worker", "merge", "skew"};

    /** Seeded Zipf(1.2) keys, six-word sentences and five uniform values per record. */
    static List<BenchmarkRecord> records() {
        double[] cdf = new double[KEYS];
        double total = 0;
        for (int rank = 0; rank < KEYS; rank++) {
            total += 1.0 / Math.pow(rank + 1, 1.2);
            cdf[rank] = total;
        }
        Random random = new Random(1790);
        List<BenchmarkRecord> records = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            double u = random.nextDouble() * total;
            int rank = 0;
            while (cdf[rank] < u) {
                rank++;
            }
            String[] words = new String[6];
            for (int w = 0; w < words.length; w++) {
                words[w] = VOCABULARY[random.nextInt(VOCABULARY.length)];
            }
            SplittableRandom values = new SplittableRandom(i);
            records.add(new BenchmarkRecord(rank, i, String.join(" ", words),
                    values.doubles(5).toArray()));
        }
        return records;
    }

    private static DataStream<BenchmarkRecord> input(StreamExecutionEnvironment env) {
        return env.fromData(records())
                .assignTimestampsAndWatermarks(WatermarkStrategy.<BenchmarkRecord>forMonotonousTimestamps()
                        .withTimestampAssigner((r, t) -> r.index));
    }

    /** The router's results by (key, window start). */
    static <A> Map<List<Long>, A> routed(AggregateFunction<BenchmarkRecord, A, A> task, String partitioner)
            throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<KeyedWindowResult<Long, A>> results = SkewedAggregation.of(input(env), r -> r.key, task)
                .window(TumblingEventTimeWindows.of(WINDOW))
                .partitioner(partitioner)
                .paramsText("seed: 11\n")
                .parallelism(WORKERS)
                .build();
        Map<List<Long>, A> out = new HashMap<>();
        try (CloseableIterator<KeyedWindowResult<Long, A>> it = results.executeAndCollect(partitioner)) {
            it.forEachRemaining(r -> assertNull(out.put(List.of(r.getKey(), r.getWindowStart()), r.getValue()),
                    "two results for " + r));
        }
        return out;
    }

    /** The plain {@code keyBy().window().aggregate()}'s results by (key, window start). */
    static <A> Map<List<Long>, A> keyBy(AggregateFunction<BenchmarkRecord, A, A> task, TypeInformation<A> type)
            throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<Tuple3<Long, Long, A>> results = input(env)
                .keyBy(r -> r.key, Types.LONG)
                .window(TumblingEventTimeWindows.of(WINDOW))
                .aggregate(task, new WithKeyAndWindow<A>(), type, type, Types.TUPLE(Types.LONG, Types.LONG, type));
        Map<List<Long>, A> out = new HashMap<>();
        try (CloseableIterator<Tuple3<Long, Long, A>> it = results.executeAndCollect("keyBy")) {
            it.forEachRemaining(r -> out.put(List.of(r.f0, r.f1), r.f2));
        }
        return out;
    }

    /** Tags keyBy's result with its key and window start. */
    static final class WithKeyAndWindow<A> extends ProcessWindowFunction<A, Tuple3<Long, Long, A>, Long, TimeWindow> {
        private static final long serialVersionUID = 1L;

        @Override
        public void process(Long key, Context ctx, Iterable<A> results, Collector<Tuple3<Long, Long, A>> out) {
            out.collect(Tuple3.of(key, ctx.window().getStart(), results.iterator().next()));
        }
    }

    private static Map<List<Long>, HashMap<String, Long>> histograms;

    @ParameterizedTest(name = "wordHistogramExact[{0}]")
    @ValueSource(strings = {"hash", "w-choices", "d-choices", "dalton-original"})
    void wordHistogramIsExact(String partitioner) throws Exception {
        TypeInformation<HashMap<String, Long>> type = TypeInformation.of(new TypeHint<HashMap<String, Long>>() {});
        if (histograms == null) {
            histograms = keyBy(new WordHistogram(), type);
        }
        assertTrue(histograms.size() > 300, histograms.size() + " (key, window) results of keyBy");
        assertEquals(histograms, routed(new WordHistogram(), partitioner));
    }

    @ParameterizedTest(name = "quantileDigestHoldsExactlyTheValues[{0}]")
    @ValueSource(strings = {"w-choices", "d-choices"})
    void quantileDigestHoldsExactlyTheValues(String partitioner) throws Exception {
        Map<List<Long>, MergingDigest> expected = keyBy(new QuantileDigest(), TypeInformation.of(MergingDigest.class));
        Map<List<Long>, MergingDigest> routed = routed(new QuantileDigest(), partitioner);
        assertEquals(expected.keySet(), routed.keySet(), "the (key, window) pairs");
        Map<List<Long>, double[]> exact = exactValues();
        for (Map.Entry<List<Long>, MergingDigest> e : routed.entrySet()) {
            MergingDigest digest = e.getValue();
            MergingDigest reference = expected.get(e.getKey());
            assertEquals(reference.size(), digest.size(), "values in the digest of " + e.getKey());
            assertEquals(reference.getMin(), digest.getMin(), "min of " + e.getKey());
            assertEquals(reference.getMax(), digest.getMax(), "max of " + e.getKey());
            double[] sorted = exact.get(e.getKey());
            for (double q : new double[] {0.01, 0.1, 0.5, 0.9, 0.99}) {
                double rank = rankOf(sorted, digest.quantile(q));
                assertTrue(Math.abs(rank - q) <= rankErrorBound(q, sorted.length),
                        "q=" + q + " of " + e.getKey() + ": the estimate has rank " + rank);
            }
        }
    }

    @ParameterizedTest(name = "commandVerifiesAgainstKeyBy[{0}]")
    @ValueSource(strings = {BenchmarkTasks.WORD_HISTOGRAM, BenchmarkTasks.QUANTILE_DIGEST})
    void theCommandsVerifyTheirResultsAgainstKeyBy(String name) throws Exception {
        ExampleArgs args = ExampleArgs.parseGenerated(new String[] {
            "--records", "20000", "--partitioner", "d-choices", "--workers", "4", "--routers", "2", "--verify"});
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        Summary summary = name.equals(BenchmarkTasks.WORD_HISTOGRAM)
                ? BenchmarkTasks.run(env, args, name, new WordHistogram(),
                        TypeInformation.of(new TypeHint<HashMap<String, Long>>() {}), new BenchmarkTasks.Histogram())
                : BenchmarkTasks.run(env, args, name, new QuantileDigest(), TypeInformation.of(MergingDigest.class),
                        new BenchmarkTasks.DigestValues());
        assertEquals(20_000, summary.records, summary.toString());
        // Two seconds of event time: every key has a result per window it occurs in, most keys in both.
        assertTrue(summary.results > summary.distinctKeys && summary.distinctKeys > 500, summary.toString());
        assertTrue(summary.exact(), summary.toString());
    }

    @Test
    void generatedRecordsDependOnTheirIndexOnly() throws Exception {
        GeneratedRecords generator = new GeneratedRecords(BenchmarkTasks.SEED);
        BenchmarkRecord late = generator.map(12_345L);
        generator.map(0L);
        BenchmarkRecord again = new GeneratedRecords(BenchmarkTasks.SEED).map(12_345L);
        assertEquals(late.key, again.key);
        assertEquals(late.sentence, again.sentence);
        assertTrue(Arrays.equals(late.values, again.values));
        assertEquals(GeneratedRecords.WORDS, late.sentence.split(" ").length);
        assertEquals(GeneratedRecords.VALUES, late.values.length);
    }

    @Test
    void emptyWordsAreNotCounted() {
        HashMap<String, Long> histogram = new WordHistogram().add(
                new BenchmarkRecord(1, 0, "", new double[0]), new WordHistogram().createAccumulator());
        assertTrue(histogram.isEmpty(), histogram.toString());
    }

    /** The values of each (key, window start), sorted. */
    private static Map<List<Long>, double[]> exactValues() {
        Map<List<Long>, List<Double>> values = new HashMap<>();
        for (BenchmarkRecord r : records()) {
            List<Double> window = values.computeIfAbsent(List.of(r.key, r.index - r.index % 1000), k -> new ArrayList<>());
            Arrays.stream(r.values).forEach(window::add);
        }
        Map<List<Long>, double[]> sorted = new HashMap<>();
        values.forEach((k, v) -> sorted.put(k, v.stream().mapToDouble(Double::doubleValue).sorted().toArray()));
        return sorted;
    }

    /**
     * The rank error a t-digest may make at quantile {@code q} over {@code n} values, as the job's {@code
     * PipelineExactnessTest} bounds it: {@code q(1-q)(4 ln(n/δ) + 24)/δ} (Dunning and Ertl, 2019) plus two
     * values of slack for small digests.
     */
    private static double rankErrorBound(double q, int n) {
        double delta = QuantileDigest.COMPRESSION;
        return q * (1 - q) * (4 * Math.log(Math.max(1.0, n / delta)) + 24) / delta + 2.0 / n;
    }

    /** Fraction of the sorted values at or below {@code x} (midpoint of ties). */
    private static double rankOf(double[] sorted, double x) {
        int below = Arrays.binarySearch(sorted, x);
        int lo = below >= 0 ? below : -below - 1;
        int hi = lo;
        while (hi < sorted.length && sorted[hi] == x) {
            hi++;
        }
        return (lo + hi) / 2.0 / sorted.length;
    }
}
