package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;

import com.tdunning.math.stats.MergingDigest;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import org.sas.flink.KeyedWindowResult;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * For every partitioner and task: the pipeline's per-(key, window) results equal a plain in-memory
 * aggregation of the same seeded stream (exactly for word counts; for t-digests the record count is
 * exact and the quantiles are within the digest's rank error of the exact ones).
 */
class PipelineExactnessTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = TestJobs.cluster();

    private static final long RECORDS = 20_000;

    static Stream<Arguments> cases() {
        return TestJobs.partitionerNames().stream()
                .flatMap(p -> Stream.of(Arguments.of(p, "wordcount"), Arguments.of(p, "tdigest")));
    }

    @ParameterizedTest(name = "exact[{0}, {1}]")
    @MethodSource("cases")
    void exact(String partitioner, String task) throws Exception {
        JobParams params = TestJobs.params(task, partitioner, RECORDS);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (task.equals("wordcount")) {
            List<KeyedWindowResult<Long, HashMap<String, Long>>> results =
                    TestJobs.run(env, params, new Task.WordHistogram());
            assertEquals(wordReference(params), byKeyAndWindow(results));
        } else {
            List<KeyedWindowResult<Long, MergingDigest>> results = TestJobs.run(env, params, new Task.QuantileDigest());
            checkDigests(params, byKeyAndWindow(results));
        }
    }

    static <A> Map<List<Long>, A> byKeyAndWindow(List<KeyedWindowResult<Long, A>> results) {
        Map<List<Long>, A> out = new HashMap<>();
        for (KeyedWindowResult<Long, A> r : results) {
            A previous = out.put(List.of(r.getKey(), r.getWindowEnd()), r.getValue());
            assertEquals(null, previous, "two results for key " + r.getKey() + ", window end " + r.getWindowEnd());
        }
        return out;
    }

    /** Word histograms per (key, window end), computed without Flink. */
    static Map<List<Long>, HashMap<String, Long>> wordReference(JobParams params) {
        return WordCountReference.of(params);
    }

    /** Every (key, window) has a digest of exactly its values, with quantiles within the rank error. */
    static void checkDigests(JobParams params, Map<List<Long>, MergingDigest> results) {
        Payloads payloads = Payloads.of(params);
        long[][] stream = TestJobs.stream(params);
        Map<List<Long>, List<Double>> ref = new HashMap<>();
        for (int i = 0; i < stream.length; i++) {
            for (long end : TestJobs.windowEnds(stream[i][1], params.windowMs, params.slideMs)) {
                List<Double> values = ref.computeIfAbsent(List.of(stream[i][0], end), k -> new ArrayList<>());
                for (double v : payloads.values(WorkloadGenerator.interleaved(i, params.records, params.routers))) {
                    values.add(v);
                }
            }
        }
        assertEquals(ref.keySet(), results.keySet(), "the (key, window) pairs");
        for (Map.Entry<List<Long>, List<Double>> e : ref.entrySet()) {
            double[] exact = e.getValue().stream().mapToDouble(Double::doubleValue).sorted().toArray();
            MergingDigest digest = results.get(e.getKey());
            assertEquals(exact.length, digest.size(), "values in the digest of " + e.getKey());
            for (double q : new double[] {0.01, 0.1, 0.5, 0.9, 0.99}) {
                double estimate = digest.quantile(q);
                double rank = rankOf(exact, estimate);
                double tolerance = rankErrorBound(q, exact.length);
                assertTrue(Math.abs(rank - q) <= tolerance,
                        "q=" + q + " of " + e.getKey() + ": estimate " + estimate + " has rank " + rank);
            }
        }
    }

    /**
     * The rank error a t-digest may make at quantile {@code q} over {@code n} values: a centroid of the
     * default K_2 scale function spans at most {@code q(1-q)(4 ln(n/δ) + 24)/δ} of the rank (Dunning and
     * Ertl, "Computing extremely accurate quantiles using t-digests", 2019), and interpolation inside it
     * is off by at most that; two values of slack cover the discreteness of small digests.
     */
    static double rankErrorBound(double q, int n) {
        double delta = Task.QuantileDigest.COMPRESSION;
        return q * (1 - q) * (4 * Math.log(Math.max(1.0, n / delta)) + 24) / delta + 2.0 / n;
    }

    /** Fraction of the sorted values at or below {@code x} (midpoint of ties). */
    static double rankOf(double[] sorted, double x) {
        int below = Arrays.binarySearch(sorted, x);
        int lo = below >= 0 ? below : -below - 1;
        int hi = lo;
        while (hi < sorted.length && sorted[hi] == x) {
            hi++;
        }
        return (lo + hi) / 2.0 / sorted.length;
    }
}
