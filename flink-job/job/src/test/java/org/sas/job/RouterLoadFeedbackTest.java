package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.sas.flink.SkewedAggregation;
import org.sas.flink.internal.Routed;
import org.sas.job.WorkerLoadMetricsTest.CollectingSink;
import org.sas.job.WorkerLoadMetricsTest.Sample;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * The workers' loads reach the routers on a real job (issue #14, item 5): every load interval each router
 * closes its interval with the workers' busy ratios, and with them {@code dalton-metrics} moves load off
 * the workers of half capacity, which {@code dalton-original} cannot see.
 */
class RouterLoadFeedbackTest {

    /** Capacity factors of the heterogeneous job: the last quarter at half speed, as in the hetero params. */
    static final double[] FACTORS = {1, 1, 1, 1, 1, 1, 0.5, 0.5};

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(FACTORS.length)
                    .build());

    static final long INTERVAL_MS = 250;

    /** The job's accumulators of load vectors the routers took and dropped. */
    static final String LOAD_INTERVALS = SkewedAggregation.routerLoadIntervalsAccumulator(TwoPhasePipeline.NAME);
    static final String LOAD_INTERVALS_DROPPED =
            SkewedAggregation.routerLoadIntervalsDroppedAccumulator(TwoPhasePipeline.NAME);

    @Test
    void routersCloseTheirIntervalsWithTheWorkersLoads() throws Exception {
        // 4 workers, 2 routers, 2 000 records/s for 4 s: the workers keep up (capacity 1 000/s each), so
        // the routers run about as long as the workers and see nearly every interval.
        long rate = 2000;
        String yaml = TestJobs.yaml("wordcount", "dalton-metrics", 4 * rate)
                + "source_rate: " + rate + "\n"
                + "capacity:\n  units_per_second: 1000\n"
                + "agent:\n  interval_ms: " + INTERVAL_MS + "\n";
        JobParams params = JobParams.parse(yaml, TestJobs.repoRoot());
        assertEquals(INTERVAL_MS, params.loadIntervalMs);
        String run = UUID.randomUUID().toString();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        TwoPhasePipeline.build(env, params, new Task.WordHistogram(),
                        hooks -> hooks.loadSink(new CollectingSink(run)))
                .sinkTo(new DiscardingSink<>());
        JobExecutionResult result = env.execute("router load feedback");

        List<Sample> samples = new ArrayList<>(WorkerLoadMetricsTest.SAMPLES.remove(run));
        Map<Long, Long> workersPerInterval = samples.stream()
                .collect(Collectors.groupingBy(Sample::interval, TreeMap::new, Collectors.counting()));
        long complete = workersPerInterval.values().stream().filter(n -> n == TestJobs.WORKERS).count();
        int taken = result.<Integer>getAccumulatorResult(LOAD_INTERVALS);
        int dropped = result.<Integer>getAccumulatorResult(LOAD_INTERVALS_DROPPED);
        System.out.printf("%d intervals sampled by every worker; the %d routers took %d vectors, dropped %d%n",
                complete, params.routers, taken, dropped);
        assertTrue(complete >= 8, "too few complete intervals: " + workersPerInterval);
        // Only complete intervals are sent, each once to each router.
        assertTrue(taken + dropped <= params.routers * complete,
                taken + " taken + " + dropped + " dropped vectors for " + complete + " complete intervals");
        // The routers end with the source, a little before the workers: most intervals reach both.
        assertTrue(taken >= params.routers * complete / 2,
                "the routers took " + taken + " vectors of " + complete + " complete intervals");
    }

    /** Set once a checkpoint has completed, and once the induced failure has happened. */
    static final AtomicBoolean CHECKPOINTED = new AtomicBoolean();
    static final AtomicBoolean FAILED = new AtomicBoolean();

    /** Throws once, on the first record after the first completed checkpoint. */
    static final class FailOnce implements MapFunction<Routed<Event>, Routed<Event>>, CheckpointListener {
        private static final long serialVersionUID = 1L;

        @Override
        public Routed<Event> map(Routed<Event> r) {
            if (CHECKPOINTED.get() && FAILED.compareAndSet(false, true)) {
                throw new RuntimeException("induced failure at record " + r.value.index);
            }
            return r;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            CHECKPOINTED.set(true);
        }
    }

    @Test
    void afterAFailoverTheRestoredRoutersTakeLoadsAgain() throws Exception {
        // 6 s of records; the failure comes about a second in, after the first checkpoint (every 200 ms).
        // A job's accumulators are those of its tasks' last attempts: what it counts, the restored
        // routers took, from the coordinator that saw their new attempts.
        long rate = 2000;
        String yaml = TestJobs.yaml("wordcount", "dalton-metrics", 6 * rate)
                + "source_rate: " + rate + "\n"
                + "agent:\n  interval_ms: " + INTERVAL_MS + "\n";
        JobParams params = JobParams.parse(yaml, TestJobs.repoRoot());
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 2);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.enableCheckpointing(200);
        TwoPhasePipeline.build(env, params, new Task.WordHistogram(),
                        hooks -> hooks.afterRouter(routed -> routed.map(new FailOnce()).name("fail-once")))
                .sinkTo(new DiscardingSink<>());
        JobExecutionResult result = env.execute("router load feedback across a failover");
        assertTrue(FAILED.get(), "the induced failure happened");
        int taken = result.<Integer>getAccumulatorResult(LOAD_INTERVALS);
        System.out.printf("after the failover the %d routers took %d vectors%n", params.routers, taken);
        // Several seconds of intervals remain after the restore (about 16 per router): at least 4 each.
        assertTrue(taken >= 8, "the restored routers took only " + taken + " vectors");
    }

    /**
     * Eight workers, the last two at half capacity (200 and 100 records/s), a source at 600 records/s (43 %
     * of the total capacity) with event time at the same pace, so Dalton's slides follow the clock as in a
     * live job. {@code dalton-original} balances record counts and so gives the slow quarter 43 % more than
     * its share of the capacity (a fixed figure: its routing ignores time); {@code dalton-metrics} learns
     * their cost per record from the busy ratios and gives them less than their share.
     *
     * <p>Two measures, both relative to capacity: the slow quarter's records per unit of capacity over the
     * job's (from the routers' counts), and the slow workers' mean busy ratio over the fast workers' (from
     * the workers' own samples, the figures the routers receive). The busiest worker overall is worker 0
     * under both strategies (it is the hottest key's first choice), so max/mean would not show the
     * difference; the job's completion time is printed, not asserted (worker 0 sets it).
     */
    @Test
    void daltonMetricsMovesLoadOffSlowWorkers() throws Exception {
        Hetero original = Hetero.run("dalton-original");
        Hetero metrics = Hetero.run("dalton-metrics");
        System.out.println(original);
        System.out.println(metrics);
        assertTrue(original.slowRelativeLoad() >= 1.2,
                "dalton-original should overload the slow workers here: " + original);
        assertTrue(metrics.loadIntervals() >= 10, "dalton-metrics took too few load vectors: " + metrics);
        assertTrue(metrics.slowRelativeLoad() <= 0.8 * original.slowRelativeLoad(),
                "records per capacity on the slow workers: " + metrics + " vs " + original);
        assertTrue(metrics.slowOverFastBusy() <= 0.8 * original.slowOverFastBusy(),
                "busy ratio, slow workers over fast: " + metrics + " vs " + original);
    }

    /**
     * One run of the heterogeneous job.
     *
     * @param share each worker's share of the records (routers' counts)
     * @param busy each worker's busy ratio over the run (its samples)
     * @param loadIntervals load vectors the router took
     */
    record Hetero(String partitioner, double seconds, double[] share, double[] busy, int loadIntervals) {

        static final long RATE = 600;
        static final long RECORDS = 8 * RATE;

        static Hetero run(String partitioner) throws Exception {
            String yaml = String.join("\n",
                    "task: wordcount",
                    "partitioner: " + partitioner,
                    "workers: " + FACTORS.length,
                    "routers: 1",
                    "records: " + RECORDS,
                    "source_rate: " + RATE,
                    "seed: 7",
                    "window_ms: 1000",
                    "slide_ms: 500",
                    "workload:",
                    "  kind: zipf",
                    "  alpha: 1.5",
                    "  keys: 10000",
                    "  rate: " + RATE,
                    "payload:",
                    "  text_path: data/pg1342.txt",
                    "  words_per_sentence: 8",
                    "capacity:",
                    "  units_per_second: 200",
                    "  factors: " + Arrays.toString(FACTORS),
                    // Free merges: the test compares records per unit of capacity, which the routers steer.
                    "  partial_cost: 0",
                    "agent:",
                    "  interval_ms: " + INTERVAL_MS,
                    "");
            JobParams params = JobParams.parse(yaml, TestJobs.repoRoot());
            String run = UUID.randomUUID().toString();
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
            // Records reach the workers within 10 ms, so a worker's busy time follows what it was sent.
            env.setBufferTimeout(10);
            TwoPhasePipeline.build(env, params, new Task.WordHistogram(),
                            hooks -> hooks.loadSink(new CollectingSink(run)))
                    .sinkTo(new DiscardingSink<>());
            long start = System.nanoTime();
            JobExecutionResult result = env.execute("heterogeneous workers, " + partitioner);
            double seconds = (System.nanoTime() - start) / 1e9;

            Map<Integer, Integer> counts = result.getAccumulatorResult(
                    SkewedAggregation.recordsPerWorkerAccumulator(TwoPhasePipeline.NAME));
            double[] share = new double[FACTORS.length];
            double[] busyMs = new double[FACTORS.length];
            double[] wallMs = new double[FACTORS.length];
            for (int w = 0; w < FACTORS.length; w++) {
                share[w] = counts.getOrDefault(w, 0) / (double) RECORDS;
            }
            for (Sample s : WorkerLoadMetricsTest.SAMPLES.remove(run)) {
                busyMs[s.worker()] += s.busyMs();
                wallMs[s.worker()] += s.intervalMs();
            }
            double[] busy = new double[FACTORS.length];
            for (int w = 0; w < FACTORS.length; w++) {
                busy[w] = busyMs[w] / wallMs[w];
            }
            return new Hetero(partitioner, seconds, share, busy,
                    result.<Integer>getAccumulatorResult(LOAD_INTERVALS));
        }

        /** Mean over the slow workers of (records / capacity) over (all records / total capacity). */
        double slowRelativeLoad() {
            double total = Arrays.stream(FACTORS).sum();
            return slow().mapToDouble(w -> share[w] * total / FACTORS[w]).average().orElseThrow();
        }

        /** Mean busy ratio of the slow workers over that of the fast ones. */
        double slowOverFastBusy() {
            double slow = slow().mapToDouble(w -> busy[w]).average().orElseThrow();
            double fast = IntStream.range(0, FACTORS.length).filter(w -> FACTORS[w] == 1)
                    .mapToDouble(w -> busy[w]).average().orElseThrow();
            return slow / fast;
        }

        private IntStream slow() {
            return IntStream.range(0, FACTORS.length).filter(w -> FACTORS[w] < 1);
        }

        @Override
        public String toString() {
            return String.format("%s: slow workers' records per capacity %.2f of the job's, their busy ratio"
                            + " %.2f of the fast workers'; %d load vectors taken; %.1f s%n  share of records %s%n"
                            + "  busy ratio       %s",
                    partitioner, slowRelativeLoad(), slowOverFastBusy(), loadIntervals, seconds,
                    format(share), format(busy));
        }

        private static String format(double[] values) {
            return Arrays.stream(values).mapToObj(v -> String.format("%.3f", v)).collect(Collectors.joining(" "));
        }
    }
}
