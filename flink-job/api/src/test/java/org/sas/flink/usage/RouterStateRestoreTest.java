package org.sas.flink.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.SkewedAggregation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The routers of a {@link SkewedAggregation} resume from a checkpoint (docs/flink-api.md, "Checkpoints"): a
 * job that fails once, after a checkpoint completed while its routers had routed thousands of records,
 * restarts with every router restored from its entry of the {@code router-state} operator state (counted in
 * {@link SkewedAggregation#routerStatesRestoredAccumulator}), and its results are still exactly one per key
 * and window with the right count.
 */
class RouterStateRestoreTest {

    private static final int WORKERS = 4;
    private static final int ROUTERS = 2;
    private static final int RECORDS = 20_000;
    /** 5 000 records a second in all: 4 s per run, time for several checkpoints before the failure. */
    private static final int RECORDS_PER_SECOND = 5_000;
    /** Event time of record i: i · 5 ms, so 20 000 records span 100 one-second windows. */
    private static final long MS_PER_RECORD = 5;
    /** A checkpoint taken once a source subtask had read this many records makes the failure possible. */
    private static final long WARM_AT_CHECKPOINT = 2_000;
    /** The failure comes at this record of a source subtask, at the earliest. */
    private static final long FAIL_AFTER = 5_000;

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(WORKERS)
            .build());

    static final AtomicBoolean FAILED = new AtomicBoolean();

    /** Record i: a Zipf(1.2) word over 100, fixed by i alone, so a replayed record is the same record. */
    public static class Word {
        public long id;
        public String word;

        public Word() {}

        Word(long id) {
            this.id = id;
            this.word = "w" + zipfRank(id);
        }

        @Override
        public String toString() {
            return "record " + id + " `" + word + "`";
        }
    }

    private static final double[] CDF = zipfCdf(100, 1.2);

    private static double[] zipfCdf(int ranks, double exponent) {
        double[] cdf = new double[ranks];
        double total = 0;
        for (int rank = 0; rank < ranks; rank++) {
            total += 1.0 / Math.pow(rank + 1, exponent);
            cdf[rank] = total;
        }
        for (int rank = 0; rank < ranks; rank++) {
            cdf[rank] /= total;
        }
        return cdf;
    }

    private static int zipfRank(long id) {
        double u = new Random(id * 0x9E3779B97F4A7C15L).nextDouble();
        int rank = 0;
        while (rank < CDF.length - 1 && CDF[rank] < u) {
            rank++;
        }
        return rank;
    }

    /** Count and sum of record ids per key and window: a lost or doubled record shows in one of them. */
    public static class CountAndIdSum implements AggregateFunction<Word, long[], Tuple2<Long, Long>> {
        @Override
        public long[] createAccumulator() {
            return new long[2];
        }

        @Override
        public long[] add(Word w, long[] acc) {
            acc[0]++;
            acc[1] += w.id;
            return acc;
        }

        @Override
        public Tuple2<Long, Long> getResult(long[] acc) {
            return Tuple2.of(acc[0], acc[1]);
        }

        @Override
        public long[] merge(long[] a, long[] b) {
            a[0] += b[0];
            a[1] += b[1];
            return a;
        }
    }

    /**
     * Fails once, in the first execution attempt, on a source subtask's {@value #FAIL_AFTER}th record or
     * later, once a checkpoint completed while that subtask had read at least {@value #WARM_AT_CHECKPOINT}.
     * Chained to the source and the router: the whole job restarts from that checkpoint.
     */
    static class FailOnceAfterCheckpoint implements MapFunction<Word, Word>, CheckpointListener {
        private static final long serialVersionUID = 1L;
        private transient long seen;
        private transient boolean warmCheckpoint;

        @Override
        public Word map(Word w) {
            seen++;
            if (warmCheckpoint && seen >= FAIL_AFTER && FAILED.compareAndSet(false, true)) {
                throw new RuntimeException("induced failure at " + w);
            }
            return w;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            warmCheckpoint |= seen >= WARM_AT_CHECKPOINT;
        }
    }

    @ParameterizedTest(name = "resumesAfterFailover[{0}]")
    @ValueSource(strings = {"d-choices", "saspartitioner", "hash"})
    void resumesAfterFailover(String partitioner) throws Exception {
        FAILED.set(false);
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 1);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.enableCheckpointing(200);
        DataStream<Word> words = words(env, RateLimiterStrategy.perSecond(RECORDS_PER_SECOND))
                .map(new FailOnceAfterCheckpoint()).name("fail-once").setParallelism(ROUTERS);

        Run run = run(env, words, partitioner);

        assertTrue(FAILED.get(), "the induced failure happened");
        assertEquals(ROUTERS, run.statesRestored(),
                "routers that resumed from the checkpoint (the accumulator counts the last attempt)");
        assertEquals(expected(), run.results);
    }

    @Test
    void withoutFailoverNoRouterIsRestored() throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(200);
        Run run = run(env, words(env, RateLimiterStrategy.noOp()), "d-choices");
        assertEquals(0, run.statesRestored());
        assertEquals(expected(), run.results);
    }

    // --- the harness ---------------------------------------------------------------------------------

    /** Records 0..RECORDS-1 from {@value #ROUTERS} source subtasks, record i at event time i · 5 ms. */
    private static DataStream<Word> words(StreamExecutionEnvironment env, RateLimiterStrategy rate) {
        DataGeneratorSource<Word> source =
                new DataGeneratorSource<>(Word::new, RECORDS, rate, TypeInformation.of(Word.class));
        return env.fromSource(source,
                        WatermarkStrategy.<Word>forMonotonousTimestamps().withTimestampAssigner((w, t) -> w.id * MS_PER_RECORD),
                        "words")
                .setParallelism(ROUTERS);
    }

    /** The results every run must give: per (word, window start), the count and id sum of its records. */
    private static Map<List<Object>, Tuple2<Long, Long>> expected() {
        Map<List<Object>, long[]> acc = new HashMap<>();
        for (long i = 0; i < RECORDS; i++) {
            Word w = new Word(i);
            long start = i * MS_PER_RECORD / 1000 * 1000;
            long[] a = acc.computeIfAbsent(List.of(w.word, start), k -> new long[2]);
            a[0]++;
            a[1] += i;
        }
        Map<List<Object>, Tuple2<Long, Long>> out = new HashMap<>();
        acc.forEach((k, a) -> out.put(k, Tuple2.of(a[0], a[1])));
        return out;
    }

    /** A finished run: results by (key, window start), and the accumulators. */
    private static final class Run {
        final Map<List<Object>, Tuple2<Long, Long>> results = new HashMap<>();
        JobExecutionResult job;

        int statesRestored() {
            Integer restored = job.getAccumulatorResult(
                    SkewedAggregation.routerStatesRestoredAccumulator(SkewedAggregation.DEFAULT_NAME));
            return restored == null ? -1 : restored;
        }
    }

    /** Counts per word and one-second window through the router, collected exactly once across failovers. */
    private static Run run(StreamExecutionEnvironment env, DataStream<Word> words, String partitioner) throws Exception {
        DataStream<KeyedWindowResult<String, Tuple2<Long, Long>>> results = SkewedAggregation
                .of(words, w -> w.word, new CountAndIdSum())
                .window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
                .partitioner(partitioner)
                .parallelism(WORKERS)
                .uid("words")
                .build();
        CloseableIterator<KeyedWindowResult<String, Tuple2<Long, Long>>> it = results.collectAsync();
        JobClient job = env.executeAsync("router-state-restore-test / " + partitioner);
        Run run = new Run();
        List<KeyedWindowResult<String, Tuple2<Long, Long>>> out = new ArrayList<>();
        try (it) {
            it.forEachRemaining(out::add);
        }
        run.job = job.getJobExecutionResult().get();
        for (KeyedWindowResult<String, Tuple2<Long, Long>> r : out) {
            assertEquals(1000, r.getWindowEnd() - r.getWindowStart(), "window of " + r);
            assertNull(run.results.put(List.of(r.getKey(), r.getWindowStart()), r.getValue()), "two results for " + r);
        }
        return run;
    }
}
