package org.sas.examples;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;

import org.sas.flink.SkewedAggregation;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What a run of an example found: records, distinct keys, results, records per worker, and with {@code
 * --verify} whether the results equal keyBy's. Accumulators count the job's last execution attempt, so after a
 * failover the records are those routed since the restore.
 */
public final class Summary {

    /** How many differences the printed summary lists. */
    private static final int DIFFERENCES_SHOWN = 5;

    /** The example. */
    public final String name;
    /** The input file, or how many records were generated. */
    public final String input;
    /** The partitioner, or where it came from. */
    public final String partitioner;
    /** P. */
    public final int workers;
    /** Router subtasks. */
    public final int routers;
    /** Window size, ms. */
    public final long windowMs;
    /** Records routed (the sum of {@link #perWorker}). */
    public final long records;
    /** Keys with at least one result. */
    public final long distinctKeys;
    /** Results: one per key and window. */
    public final long results;
    /** Records routed to each worker. */
    public final long[] perWorker;
    /** Router subtasks that resumed from a checkpointed state. */
    public final int statesRestored;
    /** Whether checkpoints were on (then {@link #statesRestored} is printed). */
    public final boolean checkpointing;
    /** Wall-clock seconds from submission to the job's end. */
    public final double seconds;
    /** Results equal to keyBy's, with {@code --verify}; else −1. */
    public final long matched;
    /** With {@code --verify}, every difference from keyBy (none when exact); else null. */
    public final List<String> differences;

    /**
     * Runs the example {@code name}'s job on {@code env} and returns what it found. With {@code --verify},
     * {@code differences} adds the comparison with keyBy to the job's graph, and its output is collected
     * while the job runs.
     */
    static Summary execute(StreamExecutionEnvironment env, ExampleArgs args, String name, int workers,
            Supplier<DataStream<String>> differences) throws Exception {
        String job = name + " / " + (args.partitioner != null ? args.partitioner : args.params.getFileName());
        long start = System.nanoTime();
        List<String> found = null;
        JobExecutionResult result;
        if (args.verify) {
            CloseableIterator<String> it = differences.get().collectAsync();
            JobClient client = env.executeAsync(job);
            found = new ArrayList<>();
            try (it) {
                it.forEachRemaining(found::add);
            }
            result = client.getJobExecutionResult().get();
        } else {
            result = env.execute(job);
        }
        return new Summary(name, args, workers, result, (System.nanoTime() - start) / 1e9, found);
    }

    Summary(String name, ExampleArgs args, int workers, JobExecutionResult job, double seconds, List<String> differences) {
        this.name = name;
        this.input = args.path != null ? args.path.toString() : args.records + " generated records";
        this.partitioner = args.partitioner != null ? args.partitioner : "(from " + args.params + ")";
        this.workers = workers;
        this.routers = args.routers > 0 ? args.routers : 1;
        this.windowMs = args.windowMs;
        this.perWorker = new long[workers];
        Map<Integer, Integer> histogram = job.getAccumulatorResult(SkewedAggregation.recordsPerWorkerAccumulator(name));
        long sum = 0;
        if (histogram != null) {
            for (Map.Entry<Integer, Integer> e : histogram.entrySet()) {
                perWorker[e.getKey()] = e.getValue();
                sum += e.getValue();
            }
        }
        this.records = sum;
        this.distinctKeys = orZero(job.getAccumulatorResult(KeyCounts.keysAccumulator(name)));
        this.results = orZero(job.getAccumulatorResult(KeyCounts.resultsAccumulator(name)));
        Integer restored = job.getAccumulatorResult(SkewedAggregation.routerStatesRestoredAccumulator(name));
        this.statesRestored = restored == null ? 0 : restored;
        this.checkpointing = args.checkpointMs > 0;
        this.seconds = seconds;
        this.differences = differences;
        this.matched = differences == null ? -1 : orZero(job.getAccumulatorResult(KeyCounts.matchedAccumulator(name)));
    }

    private static long orZero(Long value) {
        return value == null ? 0 : value;
    }

    /** Whether the run was verified and every result equals keyBy's. */
    public boolean exact() {
        return differences != null && differences.isEmpty() && matched == results;
    }

    /** λ: the busiest worker's records over the mean, minus 1 (0 when perfectly balanced). */
    public double imbalance() {
        long max = 0;
        for (long c : perWorker) {
            max = Math.max(max, c);
        }
        return records == 0 ? 0 : max * (double) perWorker.length / records - 1;
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder();
        s.append(String.format("example        %s%n", name));
        s.append(String.format("input          %s%n", input));
        s.append(String.format("partitioner    %s%n", partitioner));
        s.append(String.format("workers        %d (routers %d)%n", workers, routers));
        s.append(String.format("records        %d%n", records));
        s.append(String.format("distinct keys  %d%n", distinctKeys));
        s.append(String.format("results        %d, one per (key, window), windows of %d ms%n", results, windowMs));
        s.append(String.format("seconds        %.2f (%.0f records/s)%n", seconds, records / seconds));
        s.append(String.format("imbalance λ    %.4f (busiest worker / mean − 1)%n", imbalance()));
        s.append("per worker    ");
        for (long c : perWorker) {
            s.append(' ').append(c);
        }
        s.append(System.lineSeparator());
        if (checkpointing) {
            s.append(String.format("router states restored  %d of %d%n", statesRestored, routers));
        }
        if (differences != null) {
            if (exact()) {
                s.append(String.format("results exact  yes: all %d equal keyBy().window().aggregate()'s%n", matched));
            } else {
                s.append(String.format("results exact  NO: %d equal keyBy's, %d differ%n", matched, differences.size()));
                differences.stream().limit(DIFFERENCES_SHOWN).forEach(d -> s.append("  ").append(d).append(System.lineSeparator()));
            }
        }
        return s.toString();
    }
}
