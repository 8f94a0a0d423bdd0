package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.scope.ScopeFormat;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.internal.Routed;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import java.util.function.LongPredicate;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Failure behaviour with the real agent ({@code docs/agent-link.md}), on a MiniCluster and a {@code sas-agent serve}
 * child process: the agent killed mid-run (routers keep the last table, fall back, reconnect to a new agent
 * on the same port, results stay exact), and a task failure with the agent up (Flink restores from its
 * checkpoint, the restored routers rejoin the agent's open session, results stay exact).
 *
 * <p>The routers' link counters are read from their {@code sasAgent.*} gauges through an in-memory metric
 * reporter: live values, per subtask and execution attempt (the REST metric store lags by its fetch
 * interval and keeps a failed attempt's last values until the new attempt's overwrite them).
 */
class AgentFailureTest {

    /** Sees every metric the MiniCluster registers; must exist before the cluster starts. */
    static final InMemoryReporter METRICS = InMemoryReporter.create();

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setConfiguration(METRICS.addToConfiguration(new Configuration()))
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(TestJobs.WORKERS)
            .build());

    @RegisterExtension
    final AgentProcesses agents = new AgentProcesses();

    static final int ROUTERS = 2;
    static final long INTERVAL_MS = 200;
    static final long FALLBACK_AFTER_MS = 1500;
    /** How long the agent stays away in the first test: well past the fallback timeout. */
    static final long OUTAGE_MS = 3000;
    /** Records per split the gate holds at the end of each router's range until the test releases it. */
    static final long TAIL = 1000;
    /** The longest the gate holds a record: a test that failed or forgot to release cannot hang a job. */
    static final long HOLD_LIMIT_MS = 40_000;
    /** The longest any one phase may take (deployment included). */
    static final Duration PHASE = Duration.ofSeconds(30);

    /** The choreography's switches; the MiniCluster's tasks run in this JVM. */
    static final AtomicBoolean RELEASED = new AtomicBoolean();
    static final AtomicBoolean FAILURE_ARMED = new AtomicBoolean();
    static final AtomicBoolean CHECKPOINTED = new AtomicBoolean();
    static final AtomicBoolean FAILED = new AtomicBoolean();

    @BeforeEach
    void resetSwitches() {
        RELEASED.set(false);
        FAILURE_ARMED.set(false);
        CHECKPOINTED.set(false);
        FAILED.set(false);
    }

    /**
     * Runs between the routers and the workers (a task of its own): fails once when the test armed it and a
     * checkpoint completed, and holds the last {@link #TAIL} records of each router's range until the test
     * released them, so the job cannot end before the test has seen what it waits for. {@code
     * DataGeneratorSource} gives each of the R readers one contiguous range of {@code records / R} indices.
     */
    static final class Choreography implements MapFunction<Routed<Event>, Routed<Event>>, CheckpointListener {
        private static final long serialVersionUID = 1L;
        private final long split;

        Choreography(long records) {
            this.split = records / ROUTERS;
        }

        @Override
        public Routed<Event> map(Routed<Event> r) throws InterruptedException {
            Event e = r.value;
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(HOLD_LIMIT_MS);
            while (true) {
                if (FAILURE_ARMED.get() && CHECKPOINTED.get() && FAILED.compareAndSet(false, true)) {
                    throw new RuntimeException("induced failure at record " + e.index);
                }
                boolean tail = e.index % split >= split - TAIL;
                if (!tail || RELEASED.get() || System.nanoTime() > deadline) {
                    return r;
                }
                Thread.sleep(10);
            }
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            CHECKPOINTED.set(true);
        }
    }

    @Test
    void agentKilledMidRunJobKeepsRoutingReconnectsAndStaysExact() throws Exception {
        long records = 24_000;
        int port = freePort();
        Agent first = agents.start(port, freePort(), "agent-1");
        JobParams params = params(records, 2000, first.uri());

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        var results = TwoPhasePipeline.build(env, params, new Task.WordHistogram(), hooks -> hooks
                        .afterRouter(routed -> routed.map(new Choreography(records)).name("choreography")))
                .collectAsync();
        JobClient job = env.executeAsync("agent killed mid-run");
        CompletableFuture<List<KeyedWindowResult<Long, HashMap<String, Long>>>> collected = drain(results);
        Timeline t = new Timeline();

        // Tables flow: every router is connected and has applied tables of closed steps.
        List<RouterGauges> before = awaitRouters(job.getJobID(), "routers connected, steps closing",
                all(g -> g.get("connected") == 1 && g.get("lastTableStep") >= 1 && g.get("tablesApplied") >= 2));
        t.mark("routers connected, tables of closed steps applied");

        first.kill();
        long killed = System.nanoTime();
        t.mark("agent killed (SIGKILL)");
        List<RouterGauges> down = awaitRouters(job.getJobID(), "link down", all(g -> g.get("connected") == 0));
        long downMs = msSince(killed);
        t.mark("every router sees the link down");
        // A killed agent's connections reset at once: the routers see it well within fallback_after_ms, so
        // the gauges above were read before any router may fall back.
        assertTrue(downMs < FALLBACK_AFTER_MS, "the link was seen down only " + downMs + " ms after the kill");
        assertTrue(down.stream().allMatch(g -> g.get("fallbackActive") == 0),
                "fell back before fallback_after_ms: " + down);
        List<RouterGauges> fallen = awaitRouters(job.getJobID(), "fallback", all(g -> g.get("fallbackActive") == 1));
        long fallbackMs = msSince(killed);
        t.mark("every router routes with the fallback");
        assertTrue(fallbackMs >= FALLBACK_AFTER_MS, "fell back " + fallbackMs + " ms after the kill");
        long receivedAtKill = max(before, "tablesReceived");
        assertEquals(receivedAtKill, max(fallen, "tablesReceived"), "tables while the agent was away: " + fallen);

        Thread.sleep(Math.max(0, OUTAGE_MS - msSince(killed)));
        Agent second = agents.start(port, freePort(), "agent-2");
        long outageMs = msSince(killed);
        t.mark("new agent serving on the same port");
        List<RouterGauges> back = awaitRouters(job.getJobID(), "reconnected, tables again", all(g ->
                g.get("connected") == 1 && g.get("reconnects") >= 1 && g.get("fallbackActive") == 0
                        && g.get("tablesReceived") > receivedAtKill && g.get("lastTableStep") >= 1));
        t.mark("every router reconnected, a step closed, back on the agent's tables");
        for (RouterGauges g : back) {
            RouterGauges old = before.stream().filter(b -> b.subtask() == g.subtask()).findFirst().orElseThrow();
            assertTrue(g.get("tablesApplied") > old.get("tablesApplied"), "no table applied after: " + g);
            assertTrue(g.get("reportsSent") > old.get("reportsSent"), "no report sent after: " + g);
        }
        long steps = awaitAgentMetric(second, "sas_agent_steps_total", v -> v > 0);
        RELEASED.set(true);

        List<KeyedWindowResult<Long, HashMap<String, Long>>> out =
                collected.get(PHASE.toSeconds() * 2, TimeUnit.SECONDS);
        t.mark("job finished");
        assertEquals(PipelineExactnessTest.wordReference(params), PipelineExactnessTest.byKeyAndWindow(out));
        assertEquals(1, agentMetric(second, "sas_agent_sessions"), "routers and workers share one session");
        System.out.printf("agent killed: link down after %d ms, fallback after %d ms, outage %d ms, "
                        + "reconnects %d, tables received %d (%d at the kill), new agent's steps %d "
                        + "(imputed worker reports %d)%n",
                downMs, fallbackMs, outageMs, max(back, "reconnects"), max(back, "tablesReceived"),
                receivedAtKill, steps, agentMetric(second, "sas_agent_imputed_reports_total"));
        t.print();
    }

    @Test
    void taskFailureWithTheAgentUpRestoresAndRejoinsTheSession() throws Exception {
        long records = 12_000;
        Agent agent = agents.start(freePort(), freePort(), "agent");
        JobParams params = params(records, 2000, agent.uri());

        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 2);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.enableCheckpointing(200);
        var results = TwoPhasePipeline.build(env, params, new Task.WordHistogram(), hooks -> hooks
                        .afterRouter(routed -> routed.map(new Choreography(records)).name("choreography")))
                .collectAsync();
        JobClient job = env.executeAsync("task failure with the agent up");
        CompletableFuture<List<KeyedWindowResult<Long, HashMap<String, Long>>>> collected = drain(results);
        Timeline t = new Timeline();

        awaitRouters(job.getJobID(), "routers connected", all(g -> g.get("connected") == 1
                && g.get("tablesReceived") >= 1 && g.get("lastTableStep") >= 1));
        t.mark("routers connected, steps closing");
        await("a completed checkpoint", CHECKPOINTED::get);
        FAILURE_ARMED.set(true);
        await("the induced failure", FAILED::get);
        long failed = System.nanoTime();
        t.mark("induced failure");

        List<RouterGauges> restored = awaitRouters(job.getJobID(), "restored routers connected",
                gauges -> gauges.stream().filter(g -> g.attempt() >= 1).count() == ROUTERS
                        && gauges.stream().allMatch(g -> g.attempt() >= 1
                                && g.get("connected") == 1 && g.get("tablesReceived") >= 1));
        long rejoinMs = msSince(failed);
        t.mark("restored routers connected, table received");
        // The session's current table, not a fresh session's initial one (step 0).
        assertTrue(restored.stream().allMatch(g -> g.get("lastTableStep") >= 1), restored.toString());
        List<RouterGauges> applied = awaitRouters(job.getJobID(), "restored routers applied a table",
                all(g -> g.attempt() >= 1 && g.get("tablesApplied") >= 1));
        t.mark("restored routers route by the agent's table");
        RELEASED.set(true);

        List<KeyedWindowResult<Long, HashMap<String, Long>>> out =
                collected.get(PHASE.toSeconds() * 2, TimeUnit.SECONDS);
        t.mark("job finished");
        assertEquals(PipelineExactnessTest.wordReference(params), PipelineExactnessTest.byKeyAndWindow(out));
        JsonNode restoredFrom = rest("/jobs/" + job.getJobID() + "/checkpoints").path("latest").path("restored");
        assertTrue(restoredFrom.has("id"), "restored from a checkpoint: " + restoredFrom);
        assertEquals(1, agentMetric(agent, "sas_agent_sessions"), "the restored job rejoined its session");
        assertTrue(agentMetric(agent, "sas_agent_steps_total") > 0);
        System.out.printf("task failure: restored from checkpoint %s, restored routers connected with a table "
                        + "%d ms after the failure: %s; then %s%n",
                restoredFrom.get("id"), rejoinMs, restored, applied);
        t.print();
    }

    // ---- the job -------------------------------------------------------------------------------------

    /** Small Zipf(1.5) WordCount routed by {@code saspartitioner} under the agent at {@code address}. */
    static JobParams params(long records, long sourceRate, String address) {
        String yaml = TestJobs.yaml("wordcount", "saspartitioner", records)
                + "source_rate: " + sourceRate + "\n"
                + "agent:\n"
                + "  address: " + address + "\n"
                + "  mode: serve\n"
                + "  interval_ms: " + INTERVAL_MS + "\n"
                + "  fallback_after_ms: " + FALLBACK_AFTER_MS + "\n"
                // The default back-off grows to 10 s; 1 s keeps the reconnection within the test's time.
                + "  reconnect_backoff_ms: {min: 100, max: 1000}\n";
        return JobParams.parse(yaml, TestJobs.repoRoot());
    }

    /** Collects the results on a thread of its own: the collect sink waits for its client when full. */
    static <T> CompletableFuture<List<T>> drain(CloseableIterator<T> results) {
        CompletableFuture<List<T>> done = new CompletableFuture<>();
        Thread thread = new Thread(() -> {
            List<T> out = new ArrayList<>();
            try (results) {
                results.forEachRemaining(out::add);
                done.complete(out);
            } catch (Throwable e) {
                done.completeExceptionally(e);
            }
        }, "collect-results");
        thread.setDaemon(true);
        thread.start();
        return done;
    }

    // ---- the routers' gauges -------------------------------------------------------------------------

    /** The gauges {@code KeyRouter} registers under {@code sasAgent} (docs/agent-link.md). */
    static final List<String> GAUGES = List.of("connected", "tablesReceived", "modelVersion", "lastTableStep",
            "reportsSent", "reportsDropped", "reconnects", "fallbackActive", "tablesApplied");

    /** One router subtask's {@code sasAgent.*} gauges, read at one moment. */
    record RouterGauges(int subtask, int attempt, Map<String, Long> values) {
        long get(String name) {
            return values.get(name);
        }

        @Override
        public String toString() {
            return "router " + subtask + " (attempt " + attempt + ") " + values;
        }
    }

    /**
     * The {@code sasAgent} gauges of every router subtask of {@code job} that has registered all of them
     * (a subtask being opened registers them one by one).
     */
    static List<RouterGauges> routerGauges(JobID job) {
        List<RouterGauges> out = new ArrayList<>();
        for (Map.Entry<MetricGroup, Map<String, Metric>> e : METRICS.getMetricsByGroup().entrySet()) {
            MetricGroup group = e.getKey();
            Map<String, String> vars = group.getAllVariables();
            String[] scope = group.getScopeComponents();
            if (!job.toString().equals(vars.get(ScopeFormat.SCOPE_JOB_ID))
                    || !(TwoPhasePipeline.NAME + "/router").equals(vars.get(ScopeFormat.SCOPE_OPERATOR_NAME))
                    || !"sasAgent".equals(scope[scope.length - 1])) {
                continue;
            }
            Map<String, Long> values = new TreeMap<>();
            for (Map.Entry<String, Metric> m : e.getValue().entrySet()) {
                values.put(m.getKey(), ((Number) ((Gauge<?>) m.getValue()).getValue()).longValue());
            }
            if (!values.keySet().containsAll(GAUGES)) {
                continue;
            }
            out.add(new RouterGauges(
                    Integer.parseInt(vars.get(ScopeFormat.SCOPE_TASK_SUBTASK_INDEX)),
                    Integer.parseInt(vars.get(ScopeFormat.SCOPE_TASK_ATTEMPT_NUM)),
                    values));
        }
        out.sort((a, b) -> a.subtask() != b.subtask() ? a.subtask() - b.subtask() : a.attempt() - b.attempt());
        return out;
    }

    /** Holds when every router subtask is registered and satisfies {@code each}. */
    static Predicate<List<RouterGauges>> all(Predicate<RouterGauges> each) {
        return gauges -> gauges.size() == ROUTERS && gauges.stream().allMatch(each);
    }

    /** Polls the routers' gauges until {@code done} holds; fails after {@link #PHASE} with the last values. */
    static List<RouterGauges> awaitRouters(JobID job, String what, Predicate<List<RouterGauges>> done)
            throws InterruptedException {
        long deadline = System.nanoTime() + PHASE.toNanos();
        List<RouterGauges> gauges = routerGauges(job);
        while (!done.test(gauges)) {
            if (System.nanoTime() > deadline) {
                fail("waited " + PHASE.toSeconds() + " s for " + what + "; the routers: " + gauges);
            }
            Thread.sleep(50);
            gauges = routerGauges(job);
        }
        return gauges;
    }

    /** Polls {@code done} until it holds; fails after {@link #PHASE}. */
    static void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + PHASE.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("waited " + PHASE.toSeconds() + " s for " + what);
            }
            Thread.sleep(20);
        }
    }

    static long max(List<RouterGauges> gauges, String name) {
        return gauges.stream().mapToLong(g -> g.get(name)).max().orElse(-1);
    }

    static long msSince(long nanos) {
        return (System.nanoTime() - nanos) / 1_000_000;
    }

    /** Wall-clock marks of one test, printed at its end. */
    static final class Timeline {
        private final long start = System.nanoTime();
        private final List<String> marks = new ArrayList<>();

        void mark(String what) {
            marks.add(String.format("  +%6d ms  %s", msSince(start), what));
        }

        void print() {
            marks.forEach(System.out::println);
        }
    }

    // ---- the agent -----------------------------------------------------------------------------------

    /** One {@code sas-agent serve} child process. */
    record Agent(Process process, int port, int metricsPort, Path log) {
        String uri() {
            return "http://127.0.0.1:" + port;
        }

        void kill() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** The agents a test started: killed after it, their logs printed when it failed. */
    static final class AgentProcesses implements AfterEachCallback {
        private final List<Agent> started = new ArrayList<>();
        private Path dir;

        /** Starts {@code sas-agent serve} on the given ports and waits until it reports serving. */
        Agent start(int port, int metricsPort, String name) throws IOException, InterruptedException {
            Path binary = TestJobs.repoRoot().resolve("target/release/sas-agent");
            assertTrue(Files.isExecutable(binary),
                    binary + " is missing: build it with `cargo build --release -p sas-agent`");
            if (dir == null) {
                dir = Files.createTempDirectory("agent-failure-test");
            }
            Path config = dir.resolve(name + ".yaml");
            Files.writeString(config, "bind: 127.0.0.1:" + port + "\nmetrics_bind: 127.0.0.1:" + metricsPort + "\n");
            Path log = dir.resolve(name + ".log");
            Process process = new ProcessBuilder(binary.toString(), "serve", "--config", config.toString())
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .start();
            Agent agent = new Agent(process, port, metricsPort, log);
            started.add(agent);
            long deadline = System.nanoTime() + PHASE.toNanos();
            while (!healthy(binary, agent)) {
                assertTrue(process.isAlive(), name + " exited at start, code " + exitCode(process));
                assertTrue(System.nanoTime() < deadline, name + " not serving after " + PHASE.toSeconds() + " s");
                Thread.sleep(100);
            }
            return agent;
        }

        private static boolean healthy(Path binary, Agent agent) throws IOException, InterruptedException {
            Process health = new ProcessBuilder(binary.toString(), "health", "--addr", agent.uri())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            if (!health.waitFor(10, TimeUnit.SECONDS)) {
                health.destroyForcibly();
                return false;
            }
            return health.exitValue() == 0;
        }

        private static String exitCode(Process p) {
            return p.isAlive() ? "none (running)" : String.valueOf(p.exitValue());
        }

        @Override
        public void afterEach(ExtensionContext context) throws Exception {
            for (Agent agent : started) {
                agent.kill();
            }
            if (context.getExecutionException().isPresent()) {
                for (Agent agent : started) {
                    System.out.println("---- " + agent.log() + " ----");
                    System.out.println(Files.readString(agent.log(), StandardCharsets.UTF_8));
                }
            }
            started.clear();
            if (dir != null) {
                try (var files = Files.list(dir)) {
                    for (Path f : files.toList()) {
                        Files.deleteIfExists(f);
                    }
                }
                Files.deleteIfExists(dir);
                dir = null;
            }
            // A failed test may have left its job holding records: let it drain.
            RELEASED.set(true);
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** A value of the agent's Prometheus {@code /metrics} (sum over label sets). */
    static long agentMetric(Agent agent, String name) throws IOException, InterruptedException {
        URI uri = URI.create("http://127.0.0.1:" + agent.metricsPort() + "/metrics");
        String body = HttpClient.newHttpClient()
                .send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
        Matcher m = Pattern.compile("(?m)^" + name + "(\\{[^}]*\\})?\\s+(\\S+)$").matcher(body);
        double sum = 0;
        boolean found = false;
        while (m.find()) {
            sum += Double.parseDouble(m.group(2));
            found = true;
        }
        assertTrue(found, "no " + name + " in " + uri + ":\n" + body);
        return Math.round(sum);
    }

    /** Polls the agent's metric {@code name} until {@code done} holds; fails after {@link #PHASE}. */
    static long awaitAgentMetric(Agent agent, String name, LongPredicate done)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + PHASE.toNanos();
        long value = agentMetric(agent, name);
        while (!done.test(value)) {
            if (System.nanoTime() > deadline) {
                fail("waited " + PHASE.toSeconds() + " s for " + name + ", stuck at " + value);
            }
            Thread.sleep(100);
            value = agentMetric(agent, name);
        }
        return value;
    }

    /** A GET on the MiniCluster's REST API. */
    static JsonNode rest(String path) throws IOException, InterruptedException {
        Configuration conf = CLUSTER.getClientConfiguration();
        URI uri = URI.create("http://" + conf.get(RestOptions.ADDRESS) + ":" + conf.get(RestOptions.PORT) + path);
        HttpResponse<String> response = HttpClient.newHttpClient()
                .send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), uri + ": " + response.body());
        return new ObjectMapper().readTree(response.body());
    }
}
