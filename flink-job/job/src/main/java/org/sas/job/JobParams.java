package org.sas.job;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import org.sas.nativeloader.NativeRouter;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One experiment's parameters: the YAML text of a {@code params/*.yaml} file with {@code KEY=VALUE}
 * overrides applied and validated by the Rust router (one validator for every tool), plus the values the
 * Java side reads, taken as they are from the router's job view ({@code
 * partitioner-jni/core/src/params/job_view.rs}): no defaults or derived values are computed here.
 *
 * <p>The YAML text itself travels with the job graph: every router subtask builds its router from it.
 */
public final class JobParams implements Serializable {

    private static final long serialVersionUID = 3L;

    /** The YAML text: overrides applied, defaults filled in, file paths absolute. */
    public final String yaml;

    /** What the pipeline computes: {@code wordcount}, {@code wordcount-text} or {@code tdigest}. */
    public final String task;
    /** The partitioner the routers run. */
    public final String partitioner;
    /** Number of workers P. */
    public final int workers;
    /** Parallelism of source and router. */
    public final int routers;
    /** Records the source emits. */
    public final long records;
    /** Records per second the source emits; 0 = as fast as the job takes them. */
    public final long sourceRate;
    /** Seed of the workload and the routers. */
    public final long seed;
    /** Aggregation window length, ms of event time. */
    public final long windowMs;
    /** Aggregation window slide, ms. */
    public final long slideMs;
    /** Checkpoint interval, ms; 0 = no checkpoints. */
    public final long checkpointIntervalMs;
    /** Absolute path of the sentence text. */
    public final String payloadText;
    /** Words per sentence payload. */
    public final int wordsPerSentence;
    /** Values per TDigest payload. */
    public final int valuesPerRecord;
    /** Records per second per worker (length P); 0 = unlimited. */
    public final double[] capacity;
    /** When the capacity changes ({@code capacity.changes}): wall-clock ms after a worker's first record. */
    public final long[] capacityChangesAfterMs;
    /** Each change's records per second per worker (length P each), as {@link #capacity}. */
    public final double[][] capacityChanges;
    /** Share of the key space whose records cost {@link #keyCostFactor} units ({@code capacity.key_cost}). */
    public final double keyCostShare;
    /** Units per record of those keys. */
    public final double keyCostFactor;
    /** Units one partial costs the worker that merges it ({@code capacity.partial_cost}, or the task's). */
    public final double partialCost;
    /** The agent's address ({@code agent.address}); empty = no agent, the workers log their loads. */
    public final String agentAddress;
    /** What the agent does with the session ({@code agent.mode}: serve, train, collect). */
    public final String agentMode;
    /** Wall-clock interval of the workers' load samples ({@code agent.interval_ms}), ms. */
    public final long loadIntervalMs;
    /** Number of hot keys K ({@code router.hot_keys.count}). */
    public final int hotKeys;
    /** Records per second of event time of the key stream ({@code workload.rate}). */
    public final long workloadRate;

    private JobParams(String yaml, JsonNode view) {
        this.yaml = yaml;
        this.task = field(view, "task").asText();
        this.partitioner = field(view, "partitioner").asText();
        this.workers = field(view, "workers").asInt();
        this.routers = field(view, "routers").asInt();
        this.records = field(view, "records").asLong();
        this.sourceRate = field(view, "source_rate").asLong();
        this.seed = field(view, "seed").asLong();
        this.windowMs = field(view, "window_ms").asLong();
        this.slideMs = field(view, "slide_ms").asLong();
        this.checkpointIntervalMs = field(view, "checkpoint_interval_ms").asLong();
        this.payloadText = field(view, "payload_text").asText();
        this.wordsPerSentence = field(view, "words_per_sentence").asInt();
        this.valuesPerRecord = field(view, "values_per_record").asInt();
        JsonNode capacityNode = field(view, "capacity");
        this.capacity = new double[capacityNode.size()];
        for (int w = 0; w < capacity.length; w++) {
            capacity[w] = capacityNode.get(w).asDouble();
        }
        JsonNode after = field(view, "capacity_changes_after_ms");
        JsonNode changes = field(view, "capacity_changes");
        this.capacityChangesAfterMs = new long[after.size()];
        this.capacityChanges = new double[changes.size()][];
        for (int c = 0; c < capacityChanges.length; c++) {
            capacityChangesAfterMs[c] = after.get(c).asLong();
            capacityChanges[c] = new double[changes.get(c).size()];
            for (int w = 0; w < capacityChanges[c].length; w++) {
                capacityChanges[c][w] = changes.get(c).get(w).asDouble();
            }
        }
        this.keyCostShare = field(view, "key_cost_share").asDouble();
        this.keyCostFactor = field(view, "key_cost_factor").asDouble();
        this.partialCost = field(view, "partial_cost").asDouble();
        this.agentAddress = field(view, "agent_address").asText();
        this.agentMode = field(view, "agent_mode").asText();
        this.loadIntervalMs = field(view, "load_interval_ms").asLong();
        this.hotKeys = field(view, "hot_keys").asInt();
        this.workloadRate = field(view, "workload_rate").asLong();
    }

    /** A field of the job view; its absence is a mismatch between this class and the router. */
    private static JsonNode field(JsonNode view, String name) {
        JsonNode value = view.get(name);
        if (value == null || value.isNull()) {
            throw new IllegalStateException("the router's job view has no `" + name + "`: " + view);
        }
        return value;
    }

    /**
     * Loads and validates a params file with {@code KEY=VALUE} overrides applied; relative paths inside
     * it are resolved against the repository root (the parent of the file's folder, as for {@code
     * params/*.yaml}).
     *
     * @param overrides such as {@code partitioner=cam} or {@code agent.mode=collect}
     * @throws IllegalArgumentException naming the file and the bad key or override
     */
    public static JobParams load(String path, String... overrides) throws IOException {
        Path file = Path.of(path).toAbsolutePath();
        String yaml = Files.readString(file, StandardCharsets.UTF_8);
        Path parent = file.getParent() == null ? file : file.getParent();
        Path repoRoot = parent.getParent() == null ? parent : parent.getParent();
        try {
            return parse(yaml, repoRoot, overrides);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(path + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses and validates params text with {@code KEY=VALUE} overrides applied (the router applies them
     * to the parsed YAML, so they are validated like values written in the text); relative paths resolve
     * against {@code baseDir}.
     *
     * @throws IllegalArgumentException naming the bad key or override
     */
    public static JobParams parse(String yaml, Path baseDir, String... overrides) {
        NativeRouter.ensureLoaded();
        String normalized = NativeRouter.normalizeParams(yaml, baseDir.toAbsolutePath().toString(), overrides);
        String json = NativeRouter.jobView(normalized);
        try {
            return new JobParams(normalized, new ObjectMapper().readTree(json));
        } catch (IOException e) {
            throw new IllegalStateException("the router returned an unreadable job view: " + json, e);
        }
    }
}
