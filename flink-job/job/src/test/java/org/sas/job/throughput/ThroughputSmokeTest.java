package org.sas.job.throughput;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.sas.job.JobParams;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** The throughput test end to end on a MiniCluster: 4 workers, three short ramp stages and the latency stage. */
class ThroughputSmokeTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(4)
                    .build());

    /** 4 workers of 500 records/s: C = 2000 records/s. */
    private static final String YAML = String.join("\n",
            "task: wordcount",
            "partitioner: shuffle",
            "workers: 4",
            "records: 1",
            "seed: 3",
            "window_ms: 500",
            "slide_ms: 250",
            "workload:",
            "  kind: zipf",
            "  alpha: 1.5",
            "  keys: 1000",
            "  rate: 1000",
            "payload:",
            "  text_path: data/pg1342.txt",
            "  words_per_sentence: 6",
            "capacity:",
            "  units_per_second: 500",
            "");

    /** A ramp of a few 1.5-second stages from C/2 by 1.6: over in about 10 s. */
    private static final RampSettings SHORT_RAMP = RampSettings.DEFAULTS.with(Map.of(
            "start-fraction", "0.5", "factor", "1.6", "stage-ms", "1500", "warmup-ms", "500",
            "stop-after", "1", "bisect-steps", "0", "latency-ms", "1500", "min-windows", "1",
            "cooldown-ms", "200"));

    private static Path repoRoot() {
        return Path.of(System.getProperty("sas.repo.root", "../..")).toAbsolutePath().normalize();
    }

    @Test
    void rampFindsAMaximumWithinTheEmulatedCapacityAndWritesTheResults(@TempDir Path dir) throws Exception {
        // 1000/s and 1600/s are within C; 2560/s is not, and one failure ends this short ramp.
        RampSettings settings = SHORT_RAMP;
        JobParams params = ThroughputTest.prepare(YAML, List.of(), repoRoot(), settings);
        assertTrue(params.records > 10_000, "records = the ramp's budget, not the placeholder");

        ThroughputTest.Result result =
                ThroughputTest.run(StreamExecutionEnvironment.getExecutionEnvironment(), params, settings);
        Path json = ResultFiles.writeJson(result, "smoke.yaml", dir.resolve("run"));
        ResultFiles.appendSummary(result, dir.resolve("summary.csv"));

        JsonNode root = new ObjectMapper().readTree(json.toFile());
        for (String field : List.of("partitioner", "max_rate", "total_capacity", "capacity_fraction", "p50_ms",
                "p99_ms", "imbalance", "nmad", "hot_fragmentation", "peak_partial_states", "stages")) {
            assertTrue(root.has(field), "throughput.json lacks " + field + ": " + root);
        }
        assertEquals("shuffle", root.get("partitioner").asText());
        assertEquals(2000, root.get("total_capacity").asDouble(), 1e-9);
        double max = root.get("max_rate").asDouble();
        assertTrue(max > 0 && max <= 1.05 * 2000, "max rate " + max + " outside (0, 1.05 C]");
        assertTrue(root.get("p50_ms").asDouble() > 0 && root.get("p99_ms").asDouble() >= root.get("p50_ms").asDouble());
        JsonNode stages = root.get("stages");
        assertTrue(stages.size() >= 2, stages.toString());
        for (JsonNode s : stages) {
            for (String field : List.of("target_rate", "achieved_rate", "backpressure", "delivered", "sustained")) {
                assertTrue(s.has(field), "stage lacks " + field + ": " + s);
            }
        }
        assertEquals("latency", stages.get(stages.size() - 1).get("phase").asText());
        assertFalse(stages.get(stages.size() - 2).get("sustained").asBoolean(), "the ramp ended on a failure");

        List<String> csv = Files.readAllLines(dir.resolve("summary.csv"));
        assertEquals(ResultFiles.SUMMARY_HEADER, csv.get(0));
        assertTrue(csv.get(1).startsWith("shuffle,"), csv.get(1));
    }

    @Test
    void twoRoutersArePacedTogetherByOneController() throws Exception {
        RampSettings settings = SHORT_RAMP;
        JobParams params = ThroughputTest.prepare(YAML + "routers: 2\n", List.of(), repoRoot(), settings);
        assertEquals(2, params.routers);

        ThroughputTest.Result result =
                ThroughputTest.run(StreamExecutionEnvironment.getExecutionEnvironment(), params, settings);
        RateController.Report report = result.report();
        double max = report.maxRate();
        assertTrue(max >= 1000 && max <= 1.05 * 2000, "max rate " + max + " outside [0.5 C, 1.05 C]");
        // (That the two sources stay together in event time: WorkloadGeneratorTest.)
        assertTrue(report.windows() >= 1, "balance over " + report.windows() + " windows");
        assertTrue(report.peakPartialStates() > 0, "no partial state counted");
    }

    @Test
    void paramsTheTestCannotPaceAreRejectedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ThroughputTest.prepare(
                YAML.replace("  units_per_second: 500", "  units_per_second: 0"), List.of(), repoRoot(),
                RampSettings.DEFAULTS));
        assertTrue(e.getMessage().contains("capacity.units_per_second"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ThroughputTest.prepare(
                YAML, List.of("agent.address=http://x:1", "agent.mode=collect"), repoRoot(), RampSettings.DEFAULTS));
        assertTrue(e.getMessage().contains("`agent.mode` = collect"), e.getMessage());
        JobParams withAgent = JobParams.parse(YAML + "agent:\n  address: http://x:1\n", repoRoot());
        e = assertThrows(IllegalArgumentException.class, () -> ThroughputTest.agentOverrides(withAgent, "http://y:2"));
        assertTrue(e.getMessage().contains("`agent.address` = http://x:1"), e.getMessage());
    }

    @Test
    void theAgentFlagAndTheBudgetArriveAsOverrides() {
        // An `agent:` section without an address is no agent: --agent may still name one.
        JobParams noAgent = JobParams.parse(YAML + "agent:\n  interval_ms: 200\n", repoRoot());
        List<String> overrides = ThroughputTest.agentOverrides(noAgent, "http://y:2");
        JobParams params = ThroughputTest.prepare(YAML + "agent:\n  interval_ms: 200\n", overrides, repoRoot(),
                RampSettings.DEFAULTS);
        assertEquals("http://y:2", params.agentAddress);
        assertEquals("serve", params.agentMode);
        assertEquals(200, params.loadIntervalMs);
        long windowRecords = params.workloadRate * params.windowMs / 1000;
        assertEquals(Ramp.recordBudget(RampSettings.DEFAULTS, 2000, windowRecords), params.records);
        assertEquals(JobParams.parse(params.yaml, repoRoot()).records, params.records, "the YAML carries the budget");
    }
}
