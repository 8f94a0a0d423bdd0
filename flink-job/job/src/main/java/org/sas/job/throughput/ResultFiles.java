package org.sas.job.throughput;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * Writes a throughput test's results: {@code throughput.json} in the run's folder, a row of a sweep's
 * {@code summary.csv}, and the text printed at the end. Field names are the contract of
 * {@code docs/modes.md} and of {@code sas-agent plot-sweep}.
 */
public final class ResultFiles {

    /** The header of {@code summary.csv}. */
    public static final String SUMMARY_HEADER = "partitioner,max_rate,p50_ms,p99_ms,imbalance,nmad,hot_fragmentation";

    private ResultFiles() {}

    /** Writes {@code outDir/throughput.json} (creating the folder) and returns its path. */
    public static Path writeJson(ThroughputTest.Result r, String paramsFile, Path outDir) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        RateController.Report report = r.report();
        root.put("partitioner", r.params().partitioner);
        root.put("params", paramsFile);
        root.put("task", r.params().task);
        root.put("workers", r.params().workers);
        root.put("max_rate", report.maxRate());
        root.put("total_capacity", r.totalCapacity());
        root.put("capacity_fraction", report.maxRate() / r.totalCapacity());
        number(root, "p50_ms", r.p50Ms());
        number(root, "p99_ms", r.p99Ms());
        root.put("latency_records", WorkerMeter.count(r.latency()));
        root.put("imbalance", report.imbalance());
        root.put("nmad", report.nmad());
        root.put("hot_fragmentation", report.hotFragmentation());
        root.put("peak_partial_states", report.peakPartialStates());
        root.put("hot_keys", r.hotKeys());
        root.put("balance_windows", report.windows());
        root.put("wall_seconds", r.wallSeconds());
        ObjectNode settings = root.putObject("settings");
        r.settings().asMap().forEach((flag, value) -> {
            if (value.matches("-?\\d+")) {
                settings.put(flag, Long.parseLong(value));
            } else {
                settings.put(flag, Double.parseDouble(value));
            }
        });
        ArrayNode stages = root.putArray("stages");
        for (StageResult s : report.stages()) {
            ObjectNode stage = stages.addObject();
            stage.put("phase", s.phase().toString());
            stage.put("target_rate", s.targetRate());
            stage.put("achieved_rate", s.achievedRate());
            stage.put("backpressure", s.backpressure());
            number(stage, "delivered", s.delivered());
            stage.put("sustained", s.sustained());
            stage.put("seconds", s.seconds());
        }
        Files.createDirectories(outDir);
        Path file = outDir.resolve("throughput.json");
        Files.writeString(file, mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n",
                StandardCharsets.UTF_8);
        return file;
    }

    /** Appends the run's row to a sweep's {@code summary.csv}, writing the header first into a new file. */
    public static void appendSummary(ThroughputTest.Result r, Path csv) throws IOException {
        StringBuilder s = new StringBuilder();
        if (!Files.exists(csv) || Files.size(csv) == 0) {
            s.append(SUMMARY_HEADER).append('\n');
        }
        RateController.Report report = r.report();
        s.append(String.join(",",
                r.params().partitioner,
                format("%.0f", report.maxRate()),
                format("%.2f", r.p50Ms()),
                format("%.2f", r.p99Ms()),
                format("%.4f", report.imbalance()),
                format("%.4f", report.nmad()),
                format("%.2f", report.hotFragmentation())));
        s.append('\n');
        if (csv.getParent() != null) {
            Files.createDirectories(csv.getParent());
        }
        Files.writeString(csv, s, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** The summary printed at the end of a run. */
    public static String text(ThroughputTest.Result r) {
        RateController.Report report = r.report();
        return String.format(Locale.ROOT,
                "partitioner        %s%n"
                        + "workers            %d (total capacity %,.0f records/s)%n"
                        + "max sustained rate %,.0f records/s (%.3f of capacity)%n"
                        + "latency at %.0f %%   p50 %.2f ms, p99 %.2f ms (%d records)%n"
                        + "balance            λ %.4f, NMAD %.4f, hot fragmentation %.2f (%d windows)%n"
                        + "partial states     %,d at most in one window%n"
                        + "wall time          %.1f s%n",
                r.params().partitioner, r.params().workers, r.totalCapacity(), report.maxRate(),
                report.maxRate() / r.totalCapacity(), 100 * r.settings().latencyFraction(), r.p50Ms(), r.p99Ms(),
                WorkerMeter.count(r.latency()), report.imbalance(), report.nmad(), report.hotFragmentation(),
                report.windows(), report.peakPartialStates(), r.wallSeconds());
    }

    /** NaN (nothing measured) is written as null. */
    private static void number(ObjectNode node, String field, double value) {
        if (Double.isNaN(value)) {
            node.putNull(field);
        } else {
            node.put(field, value);
        }
    }

    /** A CSV number; NaN (nothing measured) is an empty field. */
    private static String format(String pattern, double value) {
        return Double.isNaN(value) ? "" : String.format(Locale.ROOT, pattern, value);
    }
}
