package org.sas.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.SkewedAggregation;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** The examples' test harness: skewed words, the in-memory reference, a run collecting the router's counts. */
final class ExampleRuns {

    private ExampleRuns() {}

    /** Four workers and at most two routers: four slots. */
    static MiniClusterExtension cluster() {
        return new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
                .setNumberTaskManagers(1)
                .setNumberSlotsPerTaskManager(4)
                .build());
    }

    /** {@code n} words drawn from Zipf(1.2) over {@code vocabulary} ranks with seed {@code seed}; some non-ASCII. */
    static List<String> zipfWords(int n, int vocabulary, long seed) {
        double[] cdf = new double[vocabulary];
        double total = 0;
        for (int rank = 0; rank < vocabulary; rank++) {
            total += 1.0 / Math.pow(rank + 1, 1.2);
            cdf[rank] = total;
        }
        Random random = new Random(seed);
        List<String> words = new ArrayList<>();
        while (words.size() < n) {
            double u = random.nextDouble() * total;
            int rank = 0;
            while (cdf[rank] < u) {
                rank++;
            }
            words.add(rank % 7 == 3 ? "mot_é" + rank : "word" + rank);
        }
        return words;
    }

    /**
     * The counts the examples must give for {@code keys}, the stream's keys in order: per (key, window start),
     * the keys n with event time {@code n * 1000 / rate} in the window.
     */
    static Map<List<Object>, Long> reference(List<String> keys, long rate, long windowMs) {
        Map<List<Object>, Long> counts = new HashMap<>();
        for (int n = 0; n < keys.size(); n++) {
            long ts = n * 1000L / rate;
            counts.merge(List.of(keys.get(n), ts - ts % windowMs), 1L, Long::sum);
        }
        return counts;
    }

    /** A run's counts by (key, window start), and its accumulators. */
    static final class Counted {
        private final String name;
        final Map<List<Object>, Long> counts = new HashMap<>();
        JobExecutionResult job;

        Counted(String name) {
            this.name = name;
        }

        /** The records the routers routed, from the records-per-worker accumulator. */
        long records() {
            Map<Integer, Integer> perWorker = job.getAccumulatorResult(SkewedAggregation.recordsPerWorkerAccumulator(name));
            return perWorker.values().stream().mapToLong(Integer::longValue).sum();
        }
    }

    /** Runs example {@code name}'s counting on a MiniCluster and collects the router's counts. */
    static Counted count(String name, FlatMapFunction<String, String> keysOfLine, ExampleArgs args) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<KeyedWindowResult<String, Long>> counts = KeyCounts.counts(env, args, name, keysOfLine);
        CloseableIterator<KeyedWindowResult<String, Long>> it = counts.collectAsync();
        JobClient job = env.executeAsync(name + "-test");
        Counted out = new Counted(name);
        try (it) {
            while (it.hasNext()) {
                KeyedWindowResult<String, Long> r = it.next();
                assertEquals(args.windowMs, r.getWindowEnd() - r.getWindowStart(), "window of " + r);
                assertNull(out.counts.put(List.of(r.getKey(), r.getWindowStart()), r.getValue()), "two results for " + r);
            }
        }
        out.job = job.getJobExecutionResult().get();
        return out;
    }
}
