package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.sas.flink.KeyedWindowResult;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Classic word count on real text, and the emulated worker capacity. */
class WordCountTextAndCapacityTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = TestJobs.cluster();

    private static String textYaml(String partitioner, long records) {
        return TestJobs.yaml("wordcount-text", partitioner, records)
                .replace("  kind: zipf", "  kind: text\n  text_path: data/pg1342.txt");
    }

    @Test
    void wordCountOnTextIsExact() throws Exception {
        JobParams params = JobParams.parse(textYaml("d-choices", 30_000), TestJobs.repoRoot());
        List<KeyedWindowResult<Long, Long>> results =
                TestJobs.run(StreamExecutionEnvironment.getExecutionEnvironment(), params, new Task.WordCount());
        Map<List<Long>, Long> expected = new HashMap<>();
        for (long[] r : TestJobs.stream(params)) {
            for (long end : TestJobs.windowEnds(r[1], params.windowMs, params.slideMs)) {
                expected.merge(List.of(r[0], end), 1L, Long::sum);
            }
        }
        assertEquals(expected, PipelineExactnessTest.byKeyAndWindow(results));
    }

    @Test
    void capacityLimitsWorkerThroughput() throws Exception {
        // 4 workers at 1000 records/s each cannot serve 4000 hashed records in less than about a second
        // (the busiest worker gets at least a quarter of them); unlimited they take far less.
        String yaml = TestJobs.yaml("wordcount", "shuffle", 4000) + "capacity:\n  units_per_second: 1000\n";
        JobParams params = JobParams.parse(yaml, TestJobs.repoRoot());
        long start = System.nanoTime();
        List<KeyedWindowResult<Long, HashMap<String, Long>>> results =
                TestJobs.run(StreamExecutionEnvironment.getExecutionEnvironment(), params, new Task.WordHistogram());
        double seconds = (System.nanoTime() - start) / 1e9;
        assertTrue(seconds >= 0.9, "4000 records on 4 workers of 1000/s took only " + seconds + " s");
        assertEquals(PipelineExactnessTest.wordReference(params), PipelineExactnessTest.byKeyAndWindow(results));
    }

    /**
     * The merge pays for its partials from the workers' budget: with {@code local-global} (every key on
     * every worker it has records for) each partial the merge takes is charged {@code partial_cost} units,
     * and each record its key's units; {@code hash} has no merge and charges no partial.
     */
    @Test
    void theMergeIsChargedPerPartialAndEachRecordItsKeysUnits() throws Exception {
        String capacity = "capacity:\n  units_per_second: 1000000\n  partial_cost: 2.5\n"
                + "  key_cost:\n    share: 0.25\n    factor: 3\n";
        JobParams params = JobParams.parse(TestJobs.yaml("wordcount", "local-global", 20_000) + capacity,
                TestJobs.repoRoot());
        JobExecutionResult run = runCounting(params);
        long results = run.<Long>getAccumulatorResult(ResultCounter.RESULTS);
        double partialUnits = run.<Double>getAccumulatorResult(
                CapacityLimiter.unitsAccumulator(TwoPhasePipeline.PARTIALS_STAGE));
        long partials = Math.round(partialUnits / 2.5);
        assertEquals(partials * 2.5, partialUnits, 1e-6, "a whole number of partials at 2.5 units");
        assertTrue(partials > results && partials <= TestJobs.WORKERS * results,
                partials + " partials for " + results + " results on " + TestJobs.WORKERS + " workers");

        KeyCost keyCost = new KeyCost(0.25, 3);
        double expected = 0;
        for (long[] r : TestJobs.stream(params)) {
            expected += keyCost.units(r[0]);
        }
        assertTrue(expected > params.records, "some keys of the stream cost more");
        assertEquals(expected, run.<Double>getAccumulatorResult(
                CapacityLimiter.unitsAccumulator(TwoPhasePipeline.RECORDS_STAGE)), 1e-6);

        JobParams hash = JobParams.parse(TestJobs.yaml("wordcount", "hash", 20_000) + capacity, TestJobs.repoRoot());
        assertNull(runCounting(hash).getAccumulatorResult(
                CapacityLimiter.unitsAccumulator(TwoPhasePipeline.PARTIALS_STAGE)), "hash has no merge");
    }

    @Test
    void keyCostDrawsAreTheRouterCores() {
        // partitioner-jni/core/src/params/mod.rs, key_cost_draws_are_uniform_and_fixed.
        assertEquals(0.54932918898801253, KeyCost.draw(0), 0.0);
        assertEquals(0.51263766293163404, KeyCost.draw(1), 0.0);
        assertEquals(0.28488491803796412, KeyCost.draw(42), 0.0);
        assertEquals(0.22655541658403677, KeyCost.draw(-1L), 0.0);
    }

    private static JobExecutionResult runCounting(JobParams params) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        TwoPhasePipeline.build(env, params, new Task.WordHistogram())
                .map(new ResultCounter<>())
                .sinkTo(new DiscardingSink<>());
        return env.execute("capacity-costs");
    }
}
