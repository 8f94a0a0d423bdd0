package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.sas.flink.internal.metrics.AgentLoadSink;
import org.sas.flink.internal.metrics.LogLoadSink;
import org.sas.flink.internal.metrics.WorkerLoadSink;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The workers' load samples on a real job: busy ratios follow the emulated capacity, and each worker's
 * samples add up to what Flink's REST API reports for its task at the end (see docs/metrics.md).
 */
class WorkerLoadMetricsTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = TestJobs.cluster();

    /** One sample, as the sink received it, and when. */
    record Sample(long interval, int worker, double busyMs, double backPressuredMs, double intervalMs,
                  long recordsIn, long atMs) {}

    /** Samples per run; the MiniCluster's tasks run in this JVM. */
    static final Map<String, Queue<Sample>> SAMPLES = new ConcurrentHashMap<>();

    /** Collects samples under a run id. */
    static final class CollectingSink implements WorkerLoadSink.Factory {
        private static final long serialVersionUID = 1L;
        private final String run;

        CollectingSink(String run) {
            this.run = run;
        }

        @Override
        public WorkerLoadSink open(int worker) {
            Queue<Sample> samples = SAMPLES.computeIfAbsent(run, r -> new ConcurrentLinkedQueue<>());
            return (interval, w, busy, backPressured, wall, records) -> samples.add(
                    new Sample(interval, w, busy, backPressured, wall, records, System.currentTimeMillis()));
        }
    }

    static final long INTERVAL_MS = 200;
    /** Source rate, records/s: 100 per worker under uniform random routing. */
    static final long RATE = 400;
    /** Worker capacities, records/s: worker 0 is fed 1.25× its capacity, the others 1/2, 1/4, 1/8. */
    static final double[] CAPACITY = {80, 200, 400, 800};
    /**
     * The emulated worker forgives up to 10 ms of cost after each idle gap (CapacityLimiter's credit),
     * so a worker fed record by record would show almost no busy time. Flushing the router's buffers
     * every 500 ms feeds the workers in bursts of 125 to 500 ms of cost, where that is ≤ 0.02 of the time.
     */
    static final long BUFFER_TIMEOUT_MS = 500;
    /** Allowed busy ratio below the emulated cost: the credit above plus routing noise. */
    static final double BELOW_COST = 0.05;
    /**
     * Allowed busy ratio above the emulated cost: busy is wall-clock time, so the worker's real work
     * (deserialising, splitting sentences, firing windows) and, on a shared 2-core machine, time spent
     * runnable but not scheduled add to it (+0.00 to +0.11 seen).
     */
    static final double ABOVE_COST = 0.20;
    /**
     * Timer totals may differ from Flink's by its millisecond rounding of each idle or back-pressure
     * period (Flink reads a millisecond clock at both ends, the sampler nanoTime).
     */
    static final double TIMER_TOLERANCE_MS = 20;

    @Test
    void busyFollowsCapacityAndSamplesAddUpToFlinksCounters() throws Exception {
        String yaml = TestJobs.yaml("wordcount", "shuffle", 4 * RATE)
                .replace("rate: 20000", "rate: " + RATE)
                + "source_rate: " + RATE + "\n"
                // Free merges: the busy time compared here is that of the records alone.
                + "capacity:\n  units_per_second: " + CAPACITY[0] + "\n  factors: [1, 2.5, 5, 10]\n"
                + "  partial_cost: 0\n"
                + "agent:\n  interval_ms: " + INTERVAL_MS + "\n";
        JobParams params = JobParams.parse(yaml, TestJobs.repoRoot());
        for (int w = 0; w < TestJobs.WORKERS; w++) {
            assertEquals(CAPACITY[w], params.capacity[w], 1e-9);
        }
        String run = UUID.randomUUID().toString();
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setBufferTimeout(BUFFER_TIMEOUT_MS);
        TwoPhasePipeline.build(env, params, new Task.WordHistogram(), hooks -> hooks.loadSink(new CollectingSink(run)))
                .sinkTo(new DiscardingSink<>());
        JobClient job = env.executeAsync("worker load metrics");
        job.getJobExecutionResult().get();

        List<Sample> all = new ArrayList<>(SAMPLES.remove(run));
        JsonNode[] rest = workerSubtasks(job.getJobID());
        double[] busyRatio = new double[TestJobs.WORKERS];
        for (int w = 0; w < TestJobs.WORKERS; w++) {
            int worker = w;
            List<Sample> samples = all.stream().filter(s -> s.worker() == worker).toList();
            for (int i = 0; i < samples.size(); i++) {
                Sample s = samples.get(i);
                assertTrue(s.busyMs() >= -1e-3 && s.backPressuredMs() >= 0, s.toString());
                assertTrue(s.busyMs() + s.backPressuredMs() <= s.intervalMs() + 1e-3, s.toString());
                assertTrue(i == 0 || s.interval() > samples.get(i - 1).interval(), samples.toString());
            }
            busyRatio[w] = checkAgainstCapacity(w, samples);
            checkAgainstRest(w, samples, rest[w]);
        }
        for (int w = 1; w < TestJobs.WORKERS; w++) {
            assertTrue(busyRatio[w] < busyRatio[w - 1], "busier than a slower worker: " + List.of(busyRatio));
        }
    }

    @Test
    void paramsWithAnAgentReportThroughTheNativeLink() {
        JobParams none = TestJobs.params("wordcount", "hash", 10);
        assertEquals("", none.agentAddress);
        assertEquals(1000, none.loadIntervalMs);
        assertTrue(TwoPhasePipeline.loadSink(none) instanceof LogLoadSink.Factory);

        // Nothing listens on port 9: the link retries in the background, reports are queued or dropped.
        String yaml = TestJobs.yaml("wordcount", "hash", 10)
                + "agent:\n  address: http://127.0.0.1:9\n  interval_ms: 250\n  connect_timeout_ms: 100\n";
        JobParams params = JobParams.parse(yaml, TestJobs.repoRoot());
        assertEquals("http://127.0.0.1:9", params.agentAddress);
        WorkerLoadSink.Factory factory = TwoPhasePipeline.loadSink(params);
        assertEquals(250, params.loadIntervalMs);
        assertTrue(factory instanceof AgentLoadSink.Factory, factory.toString());
        try (WorkerLoadSink sink = factory.open(TestJobs.WORKERS - 1)) {
            sink.accept(System.currentTimeMillis() / 250, TestJobs.WORKERS - 1, 120.5, 3.0, 250.0, 1000);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> factory.open(TestJobs.WORKERS));
        assertTrue(e.getMessage().contains("worker"), e.getMessage());
    }

    /**
     * Over the samples from the first to the last one with records in (both left out, they are cut by
     * the job's start and end), the busy ratio is within tolerance of the emulated cost of the records
     * the worker took in, {@code records / capacity}. Returns the busy ratio.
     */
    private static double checkAgainstCapacity(int worker, List<Sample> samples) {
        int first = -1;
        int last = -1;
        for (int i = 0; i < samples.size(); i++) {
            if (samples.get(i).recordsIn() > 0) {
                first = first < 0 ? i : first;
                last = i;
            }
        }
        assertTrue(last - first >= 8, "worker " + worker + " took in records in too few intervals: " + samples);
        double wall = 0;
        double busy = 0;
        double cost = 0;
        for (Sample s : samples.subList(first + 1, last)) {
            wall += s.intervalMs();
            busy += s.busyMs();
            cost += s.recordsIn() * 1000 / CAPACITY[worker];
        }
        double busyRatio = busy / wall;
        double costRatio = Math.min(1, cost / wall);
        System.out.printf("worker %d: busy %.3f of the time, emulated cost of its records %.3f%n",
                worker, busyRatio, costRatio);
        assertTrue(busyRatio >= costRatio - BELOW_COST && busyRatio <= costRatio + ABOVE_COST,
                String.format("worker %d: busy %.3f, emulated cost %.3f", worker, busyRatio, costRatio));
        return busyRatio;
    }

    /**
     * Each worker's samples add up to the final values Flink reports for its task: records in exactly,
     * idle and back-pressured time within the timers' rounding. Busy time is the rest of the running
     * time, and Flink's busy clock keeps running after the sampler's last sample (taken when the
     * operator closes) until the task's final metrics are taken, before the job manager records the
     * task's end: so Flink's busy exceeds the samples' by at most end-time minus the last sample.
     */
    private static void checkAgainstRest(int worker, List<Sample> samples, JsonNode subtask) {
        JsonNode flink = subtask.get("metrics");
        double wall = samples.stream().mapToDouble(Sample::intervalMs).sum();
        double busy = samples.stream().mapToDouble(Sample::busyMs).sum();
        double backPressured = samples.stream().mapToDouble(Sample::backPressuredMs).sum();
        long records = samples.stream().mapToLong(Sample::recordsIn).sum();
        long tail = subtask.get("end-time").asLong() - samples.get(samples.size() - 1).atMs();
        double flinkBusy = flink.get("accumulated-busy-time").asDouble();
        System.out.printf("worker %d: busy %.1f ms (Flink %.0f, last sample %d ms before the task's end), "
                        + "back-pressured %.1f (Flink %d), idle %.1f (Flink %d), records in %d (Flink %d)%n",
                worker, busy, flinkBusy, tail, backPressured, flink.get("accumulated-backpressured-time").asLong(),
                wall - busy - backPressured, flink.get("accumulated-idle-time").asLong(),
                records, flink.get("read-records").asLong());
        assertEquals(flink.get("read-records").asLong(), records, "worker " + worker + " records in");
        assertEquals(flink.get("accumulated-idle-time").asDouble(), wall - busy - backPressured, TIMER_TOLERANCE_MS,
                "worker " + worker + " idle ms");
        assertEquals(flink.get("accumulated-backpressured-time").asDouble(), backPressured, TIMER_TOLERANCE_MS,
                "worker " + worker + " back-pressured ms");
        assertTrue(flinkBusy - busy >= -TIMER_TOLERANCE_MS && flinkBusy - busy <= tail + TIMER_TOLERANCE_MS,
                String.format("worker %d: busy %.1f ms, Flink %.0f ms, last sample %d ms before the end",
                        worker, busy, flinkBusy, tail));
    }

    /** The REST details of each worker subtask (the vertex holding the worker-load operator), by subtask index. */
    private static JsonNode[] workerSubtasks(JobID id) throws Exception {
        String vertex = null;
        for (JsonNode v : get("/jobs/" + id).get("vertices")) {
            if (v.get("name").asText().contains(TwoPhasePipeline.NAME + "/worker-load")) {
                vertex = v.get("id").asText();
            }
        }
        JsonNode[] subtasks = new JsonNode[TestJobs.WORKERS];
        for (JsonNode s : get("/jobs/" + id + "/vertices/" + vertex).get("subtasks")) {
            subtasks[s.get("subtask").asInt()] = s;
        }
        return subtasks;
    }

    private static JsonNode get(String path) throws Exception {
        Configuration conf = CLUSTER.getClientConfiguration();
        URI uri = URI.create("http://" + conf.get(RestOptions.ADDRESS) + ":" + conf.get(RestOptions.PORT) + path);
        HttpResponse<String> response = HttpClient.newHttpClient()
                .send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), uri + ": " + response.body());
        return new ObjectMapper().readTree(response.body());
    }
}
