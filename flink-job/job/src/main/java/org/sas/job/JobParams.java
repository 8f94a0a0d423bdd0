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
 * One experiment's parameters: the YAML text of a {@code params/*.yaml} file, validated by the Rust
 * router (one validator for every tool), plus the values the Java side reads from it.
 *
 * <p>The YAML text itself travels with the job graph: every router subtask builds its router from it.
 */
public final class JobParams implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The YAML text: partitioner override applied, defaults filled in, file paths absolute. */
    public final String yaml;

    public final String task;
    public final String partitioner;
    public final int workers;
    public final int routers;
    public final long records;
    public final long sourceRate;
    public final long seed;
    public final long windowMs;
    public final long slideMs;
    public final long checkpointIntervalMs;
    /** Absolute path of the sentence text. */
    public final String payloadText;
    public final int wordsPerSentence;
    public final int valuesPerRecord;
    /** Records per second per worker; 0 or less = unlimited. */
    public final double[] capacity;
    /** The agent's address ({@code agent.address}); empty = no agent, the workers log their loads. */
    public final String agentAddress;
    /** Wall-clock interval of the workers' load samples ({@code agent.interval_ms}), ms. */
    public final long loadIntervalMs;

    private JobParams(String yaml, JsonNode p) {
        this.yaml = yaml;
        this.task = p.get("task").asText();
        this.partitioner = p.get("partitioner").asText();
        this.workers = p.get("workers").asInt();
        this.routers = p.get("routers").asInt();
        this.records = p.get("records").asLong();
        this.sourceRate = p.get("source_rate").asLong();
        this.seed = p.get("seed").asLong();
        this.windowMs = p.get("window_ms").asLong();
        this.slideMs = p.get("slide_ms").asLong();
        this.checkpointIntervalMs = p.get("checkpoint_interval_ms").asLong();
        JsonNode payload = p.get("payload");
        this.payloadText = payload.get("text_path").asText();
        this.wordsPerSentence = payload.get("words_per_sentence").asInt();
        this.valuesPerRecord = payload.get("values_per_record").asInt();
        JsonNode capacityNode = p.get("capacity");
        double base = capacityNode.get("units_per_second").asDouble();
        JsonNode factors = capacityNode.get("factors");
        this.capacity = new double[workers];
        for (int w = 0; w < workers; w++) {
            double factor = factors.size() == workers ? factors.get(w).asDouble() : 1.0;
            capacity[w] = base * factor;
        }
        // No `agent:` section in the normalised params = no agent, and the default interval.
        JsonNode agent = p.path("agent");
        this.agentAddress = agent.path("address").asText("");
        this.loadIntervalMs = agent.path("interval_ms").asLong(1000);
    }

    /**
     * Loads and validates a params file; relative paths inside it are resolved against the repository
     * root (the parent of the file's folder, as for {@code params/*.yaml}).
     *
     * @param partitioner overrides the file's partitioner when not null
     * @throws IllegalArgumentException naming the file and the bad key
     */
    public static JobParams load(String path, String partitioner) throws IOException {
        Path file = Path.of(path).toAbsolutePath();
        String yaml = Files.readString(file, StandardCharsets.UTF_8);
        Path parent = file.getParent() == null ? file : file.getParent();
        Path repoRoot = parent.getParent() == null ? parent : parent.getParent();
        try {
            return parse(yaml, partitioner, repoRoot);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(path + ": " + e.getMessage(), e);
        }
    }

    /** Parses and validates params text; relative paths resolve against {@code baseDir}. */
    public static JobParams parse(String yaml, String partitioner, Path baseDir) {
        NativeRouter.ensureLoaded();
        String text = yaml;
        if (partitioner != null) {
            java.util.regex.Matcher m =
                    java.util.regex.Pattern.compile("(?m)^partitioner:.*$").matcher(yaml);
            text = m.find()
                    ? m.replaceFirst("partitioner: " + java.util.regex.Matcher.quoteReplacement(partitioner))
                    : yaml + "\npartitioner: " + partitioner + "\n";
        }
        String normalized = NativeRouter.normalizeParams(text, baseDir.toAbsolutePath().toString());
        String json = NativeRouter.paramsJson(normalized);
        try {
            return new JobParams(normalized, new ObjectMapper().readTree(json));
        } catch (IOException e) {
            throw new IllegalStateException("the router returned unreadable params JSON: " + json, e);
        }
    }
}
