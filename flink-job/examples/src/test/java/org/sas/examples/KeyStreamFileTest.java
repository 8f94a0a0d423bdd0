package org.sas.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;

import org.sas.flink.KeyedWindowResult;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * {@link KeyStreamFile} on a small key-stream file read by Flink's {@code FileSource}: the router's counts
 * per key and window equal an in-memory count, with flags and with a params file; its {@code --verify} finds
 * them equal to keyBy's, and {@link CompareWithKeyBy} reports every kind of difference.
 */
class KeyStreamFileTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = ExampleRuns.cluster();

    @TempDir
    static Path dir;

    /** The key-stream file. */
    static Path file;
    /** Its keys, in order. */
    static List<String> keys;

    /** Writes 8 000 Zipf keys, one a line, with a blank line and a padded key that must read as plain keys. */
    @BeforeAll
    static void writeKeyStream() throws Exception {
        keys = ExampleRuns.zipfWords(8_000, 500, 1790);
        List<String> lines = new ArrayList<>(keys);
        lines.set(10, "  " + keys.get(10) + "\t");
        lines.add(20, "");
        file = dir.resolve("keys.txt");
        Files.write(file, lines, StandardCharsets.UTF_8);
    }

    private static ExampleArgs args(String... flags) {
        List<String> all = new ArrayList<>(List.of("--path", file.toString(), "--rate", "2000"));
        all.addAll(List.of(flags));
        return ExampleArgs.parse(all.toArray(String[]::new), null);
    }

    @ParameterizedTest(name = "exact[{0}]")
    @ValueSource(strings = {"hash", "w-choices", "d-choices", "saspartitioner"})
    void exact(String partitioner) throws Exception {
        ExampleRuns.Counted run = ExampleRuns.count(KeyStreamFile.NAME, new KeyStreamFile.LineKey(),
                args("--partitioner", partitioner, "--workers", "4"));
        Map<List<Object>, Long> expected = ExampleRuns.reference(keys, 2000, 1000);
        assertTrue(expected.size() > 1_000, expected.size() + " (key, window) counts");
        assertEquals(expected, run.counts);
        assertEquals(keys.size(), run.records(), "records routed");
    }

    @Test
    void verifyWithAParamsFileTwoRoutersAndCheckpoints() throws Exception {
        // params/wordcount-zipf.yaml: w-choices on 4 workers; three workers and theta from the command line.
        Path params = Path.of(System.getProperty("sas.repo.root", "../..")).resolve("params/wordcount-zipf.yaml");
        ExampleArgs args = args("--params", params.toString(), "--workers", "3", "--set", "router.choices.theta=0.02",
                "--routers", "2", "--checkpoint-ms", "100", "--window-ms", "500", "--verify");
        Summary summary = KeyCounts.run(StreamExecutionEnvironment.getExecutionEnvironment(), args,
                KeyStreamFile.NAME, new KeyStreamFile.LineKey());
        Map<List<Object>, Long> expected = ExampleRuns.reference(keys, 2000, 500);
        assertTrue(summary.exact(), summary.toString());
        assertEquals(expected.size(), summary.results, summary.toString());
        assertEquals(keys.size(), summary.records, summary.toString());
        assertEquals(new HashSet<>(keys).size(), summary.distinctKeys, summary.toString());
        assertEquals(3, summary.perWorker.length, summary.toString());
        assertTrue(summary.toString().contains("partitioner    (from " + params.toAbsolutePath().normalize() + ")"),
                summary.toString());
        assertTrue(summary.toString().contains("router states restored  0 of 2"), summary.toString());
    }

    /** A result per (key, window start 0), as the router or keyBy would give it. */
    private static KeyedWindowResult<String, Long> result(String key, long count) {
        return new KeyedWindowResult<>(key, 0, 1000, count);
    }

    @Test
    void compareWithKeyByReportsEveryDifference() throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<KeyedWindowResult<String, Long>> routed = env.fromData(KeyCounts.resultType(),
                result("same", 3), result("differs", 1), result("router-only", 2), result("twice", 1), result("twice", 1));
        DataStream<KeyedWindowResult<String, Long>> keyBy = env.fromData(KeyCounts.resultType(),
                result("same", 3), result("differs", 2), result("key-by-only", 1), result("twice", 2));
        CloseableIterator<String> it = KeyCounts.differences(routed, keyBy, "matched", "test").collectAsync();
        JobClient job = env.executeAsync("compare-test");
        List<String> differences = new ArrayList<>();
        try (it) {
            it.forEachRemaining(differences::add);
        }
        JobExecutionResult result = job.getJobExecutionResult().get();

        assertEquals(1L, (long) result.<Long>getAccumulatorResult("matched"));
        differences.sort(null);
        assertEquals(List.of(
                "key `differs`, window from 0 ms: the router gave 1, keyBy 2",
                "key `key-by-only`, window from 0 ms: the router gave no result, keyBy 1",
                "key `router-only`, window from 0 ms: the router gave 2, keyBy no result",
                "key `twice`, window from 0 ms: the router gave 1, keyBy 2",
                "the router gave two results for key `twice`, window from 0 ms: 1 and 1"), differences);
    }

    @Test
    void badFlagsAreNamed() {
        String missing = assertThrows(IllegalArgumentException.class,
                () -> ExampleArgs.parse(new String[] {"--path", dir.resolve("none.txt").toString()}, null)).getMessage();
        assertTrue(missing.startsWith("--path: no file at ") && missing.endsWith("none.txt"), missing);
        assertEquals("--workers: `0` is not a positive integer",
                assertThrows(IllegalArgumentException.class, () -> args("--workers", "0")).getMessage());
        assertEquals("--set: `theta` is not KEY=VALUE",
                assertThrows(IllegalArgumentException.class, () -> args("--set", "theta")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> args("--wokers", "3")).getMessage()
                .startsWith("--wokers: unknown flag"));
        assertEquals("--path: an input file is required",
                assertThrows(IllegalArgumentException.class, () -> ExampleArgs.parse(new String[0], null)).getMessage());
        ExampleArgs defaults = args();
        assertEquals("w-choices", defaults.partitioner);
        assertEquals(4, defaults.workers);
        assertFalse(defaults.verify);
    }
}
