package org.sas.job.throughput;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

import org.sas.flink.KeyedWindowResult;
import org.sas.job.JobParams;
import org.sas.job.KeyCost;
import org.sas.job.Task;
import org.sas.job.TwoPhasePipeline;
import org.sas.job.WorkerBudget;
import org.sas.nativeloader.NativeRouter;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Entry point of the throughput test: runs the job's pipeline ({@link TwoPhasePipeline}) of a params file once,
 * with the source paced by a {@link RateController} (the ramp of {@link Ramp}) and latency measured by a
 * {@link WorkerMeter} at every worker, then writes {@code throughput.json} (see {@link ResultFiles}).
 *
 * <p>Usage: {@code ThroughputTest PARAMS.yaml [--partitioner NAME] [--out DIR] [--summary CSV]
 * [--agent URI] [--preset default|fast] [--<ramp setting> VALUE ...]}; the ramp settings are the fields of
 * {@link RampSettings}, each replacing the preset's ({@link RampSettings#preset}).
 * {@code ThroughputTest --list-partitioners} prints the partitioner names.
 */
public final class ThroughputTest {

    private static final String USAGE = "usage: ThroughputTest PARAMS.yaml [--partitioner NAME] [--out DIR]"
            + " [--summary CSV] [--agent URI] [--preset default|fast] [--<ramp setting> VALUE ...]\n"
            + "  ramp settings (each replaces the preset's): --"
            + String.join(", --", RampSettings.DEFAULTS.asMap().keySet());

    /** How long a partly filled network buffer waits before it is sent (Flink's default is 100 ms). */
    static final long BUFFER_TIMEOUT_MS = 10;

    private ThroughputTest() {}

    /**
     * What one run measured.
     *
     * @param params the params as run (partitioner override, record budget and agent applied)
     * @param totalCapacity C, the physical capacity Σ Cᵢ in records/s: the workers' units per second,
     *     averaged over the run where the capacity changes, over the stream's mean units per record
     * @param hotKeys K of the hot-key fragmentation
     * @param latency latency bucket → records, from {@link WorkerMeter}
     * @param wallSeconds the job's wall time
     */
    public record Result(
            JobParams params,
            RampSettings settings,
            double totalCapacity,
            int hotKeys,
            RateController.Report report,
            Map<Integer, Integer> latency,
            double wallSeconds) {

        public double p50Ms() {
            return WorkerMeter.quantileMs(latency, 0.5);
        }

        public double p99Ms() {
            return WorkerMeter.quantileMs(latency, 0.99);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("--list-partitioners")) {
            // For bin/sweep-baselines.sh: the router's own list, one name a line.
            NativeRouter.ensureLoaded();
            System.out.println(NativeRouter.partitionerNames().replace(',', '\n'));
            return;
        }
        if (args.length < 1 || args[0].startsWith("-")) {
            fail(USAGE);
        }
        Path paramsFile = Path.of(args[0]).toAbsolutePath();
        List<String> overrides = new ArrayList<>();
        String out = null;
        String summary = null;
        String agent = null;
        String preset = "default";
        Map<String, String> rampFlags = new LinkedHashMap<>();
        for (int i = 1; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                fail("unexpected argument `" + args[i] + "` (flags take a value)\n" + USAGE);
            }
            String flag = args[i].substring(2);
            String value = args[++i];
            switch (flag) {
                case "partitioner" -> overrides.add("partitioner=" + value);
                case "out" -> out = value;
                case "summary" -> summary = value;
                case "agent" -> agent = value;
                case "preset" -> preset = value;
                default -> rampFlags.put(flag, value);
            }
        }
        RampSettings settings = null;
        try {
            settings = RampSettings.preset(preset).with(rampFlags);
        } catch (IllegalArgumentException e) {
            fail(e.getMessage() + "\n" + USAGE);
        }
        String text = Files.readString(paramsFile, StandardCharsets.UTF_8);
        // As JobParams.load: relative paths in params/*.yaml are relative to the repository root.
        Path repoRoot = paramsFile.getParent().getParent() == null ? paramsFile.getParent()
                : paramsFile.getParent().getParent();
        JobParams params;
        try {
            if (agent != null) {
                JobParams asGiven = JobParams.parse(text, repoRoot, overrides.toArray(String[]::new));
                overrides.addAll(agentOverrides(asGiven, agent));
            }
            params = prepare(text, overrides, repoRoot, settings);
        } catch (IllegalArgumentException e) {
            fail(paramsFile + ": " + e.getMessage());
            return;
        }
        String stem = paramsFile.getFileName().toString().replaceFirst("\\.ya?ml$", "");
        Path outDir = out != null ? Path.of(out) : repoRoot.resolve("results").resolve(stem + "-" + params.partitioner
                + "-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Result result = run(StreamExecutionEnvironment.getExecutionEnvironment(), params, settings);
        if (!result.report().complete()) {
            fail("the source ran out of records before the test was over (stages so far: "
                    + result.report().stages() + ")");
        }
        Path json = ResultFiles.writeJson(result, paramsFile.toString(), outDir);
        if (summary != null) {
            ResultFiles.appendSummary(result, Path.of(summary));
        }
        System.out.print(ResultFiles.text(result));
        System.out.println("wrote " + json);
    }

    /**
     * The overrides that put params without an agent under the agent at {@code address}, serving its
     * deterministic policy.
     *
     * @throws IllegalArgumentException when {@code params} already name an agent
     */
    static List<String> agentOverrides(JobParams params, String address) {
        if (!params.agentAddress.isEmpty()) {
            throw new IllegalArgumentException("--agent: the params already have an agent (`agent.address` = "
                    + params.agentAddress + "); set its address there");
        }
        return List.of("agent.address=" + address, "agent.mode=serve");
    }

    /**
     * Validates params text with {@code KEY=VALUE} overrides applied for the throughput test and sets its
     * record count to the ramp's budget.
     *
     * @throws IllegalArgumentException naming what the test cannot run with
     */
    public static JobParams prepare(String text, List<String> overrides, Path baseDir, RampSettings settings) {
        JobParams params = JobParams.parse(text, baseDir, overrides.toArray(String[]::new));
        if (params.sourceRate != 0) {
            throw new IllegalArgumentException("`source_rate` = " + params.sourceRate
                    + ": the throughput test paces the source itself, set source_rate: 0");
        }
        for (int w = 0; w < params.workers; w++) {
            if (!(params.capacity[w] > 0)) {
                throw new IllegalArgumentException("worker " + w + " has no emulated capacity:"
                        + " the throughput test needs capacity.units_per_second > 0 (and factors > 0)");
            }
        }
        if (!params.agentAddress.isEmpty() && !params.agentMode.equals("serve")) {
            throw new IllegalArgumentException("`agent.mode` = " + params.agentMode
                    + ": the throughput test measures a deterministic policy, set agent.mode: serve");
        }
        long windowRecords = params.workloadRate * params.windowMs / 1000;
        long budget = Ramp.recordBudget(settings, totalCapacity(params, meanUnitsPerRecord(params)), windowRecords);
        return JobParams.parse(params.yaml, baseDir, "records=" + budget);
    }

    /** Runs the test on {@code env} (the caller's MiniCluster, or the cluster {@code flink run} provides). */
    public static Result run(StreamExecutionEnvironment env, JobParams params, RampSettings settings)
            throws Exception {
        return run(env, params, settings, Task.forName(params.task));
    }

    private static <A> Result run(StreamExecutionEnvironment env, JobParams params, RampSettings settings, Task<A> task)
            throws Exception {
        double unitsPerRecord = meanUnitsPerRecord(params);
        double capacity = totalCapacity(params, unitsPerRecord);
        int hotKeys = params.hotKeys;
        // Flink's default of 100 ms would put a 50 ms floor under every latency and hide the queues.
        env.setBufferTimeout(BUFFER_TIMEOUT_MS);
        RateController controller = new RateController(settings, capacity, params.workers, params.windowMs, hotKeys);
        DataStream<KeyedWindowResult<Long, A>> results = TwoPhasePipeline.build(env, params, task, hooks -> hooks
                .afterRouter(routed -> routed.process(controller, routed.getType())
                        .name("rate-controller")
                        .setParallelism(1))
                .atWorkers(workers -> workers.process(new WorkerMeter(), workers.getType()).name("latency")));
        results.sinkTo(new DiscardingSink<>()).name("sink").setParallelism(params.workers);
        long start = System.nanoTime();
        JobExecutionResult job = env.execute("throughput / " + params.task + " / " + params.partitioner);
        double wallSeconds = (System.nanoTime() - start) / 1e9;
        List<RateController.Report> reports = job.getAccumulatorResult(RateController.REPORT);
        Map<Integer, Integer> latency = job.getAccumulatorResult(WorkerMeter.LATENCY);
        if (reports == null || reports.size() != 1) {
            throw new IllegalStateException("expected one ramp report from the rate controller, got " + reports);
        }
        double physical = new WorkerBudget.Schedule(params).meanTotal((long) (wallSeconds * 1000))
                / unitsPerRecord;
        return new Result(params, settings, physical, hotKeys, reports.get(0),
                latency == null ? Map.of() : latency, wallSeconds);
    }

    /**
     * C for the ramp: the workers' units per second at the start, over the stream's mean units per record
     * ({@link #meanUnitsPerRecord}): the physical capacity in records/s while nothing changes.
     */
    static double totalCapacity(JobParams params, double unitsPerRecord) {
        double sum = 0;
        for (double c : params.capacity) {
            sum += c;
        }
        return sum / unitsPerRecord;
    }

    /** Records the stream's mean units per record is measured over. */
    private static final int UNIT_SAMPLE = 200_000;

    /** The stream's mean units per record ({@code capacity.key_cost}), over its first records; 1 without. */
    static double meanUnitsPerRecord(JobParams params) {
        if (!(params.keyCostShare > 0) || params.keyCostFactor == 1) {
            return 1;
        }
        KeyCost keyCost = new KeyCost(params);
        long workload = NativeRouter.createWorkload(params.yaml);
        try {
            double sum = 0;
            for (int i = 0; i < UNIT_SAMPLE; i++) {
                sum += keyCost.units(NativeRouter.keyAt(workload, i));
            }
            return sum / UNIT_SAMPLE;
        } finally {
            NativeRouter.closeWorkload(workload);
        }
    }

    private static void fail(String message) {
        System.err.println("throughput-test: " + message);
        System.exit(2);
    }
}
