package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
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
}
