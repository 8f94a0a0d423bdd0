package org.sas.job;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.CloseableIterator;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.SkewedAggregation;
import org.sas.nativeloader.NativeRouter;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Entry point: runs the pipeline of a params file ({@link TwoPhasePipeline}) and prints a summary (records in,
 * results out, records per worker, imbalance λ of those counts).
 *
 * <p>With {@code --verify} (task {@code wordcount}) the results come back to this program instead of a
 * discarding sink (exactly once, checkpoints and restarts included) and are compared with
 * {@link WordCountReference}: the summary then says whether they are exact, and the program exits with 1
 * when they are not. The accumulators count the last execution attempt only, so after a failover
 * "records in" counts the records routed since the restore, and "router states restored" the routers that
 * resumed from a checkpoint.
 *
 * <p>Usage: {@code KeyedAggregationJob PARAMS.yaml [--partitioner NAME] [--verify]}.
 */
public final class KeyedAggregationJob {

    private KeyedAggregationJob() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args[0].startsWith("-")) {
            System.err.println("usage: KeyedAggregationJob PARAMS.yaml [--partitioner NAME] [--verify]");
            System.exit(2);
        }
        List<String> overrides = new ArrayList<>();
        boolean verify = false;
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--partitioner") && i + 1 < args.length) {
                overrides.add("partitioner=" + args[++i]);
            } else if (args[i].equals("--verify")) {
                verify = true;
            } else {
                System.err.println("unknown argument: " + args[i]);
                System.exit(2);
            }
        }
        JobParams params = JobParams.load(args[0], overrides.toArray(String[]::new));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (params.checkpointIntervalMs > 0) {
            env.enableCheckpointing(params.checkpointIntervalMs);
        }
        if (verify) {
            if (!params.task.equals("wordcount")) {
                System.err.println("--verify checks task wordcount only, not " + params.task);
                System.exit(2);
            }
            boolean exact = runAndVerify(env, params);
            System.exit(exact ? 0 : 1);
        }
        run(env, params, Task.forName(params.task));
    }

    private static <A> DataStream<KeyedWindowResult<Long, A>> counted(
            StreamExecutionEnvironment env, JobParams params, Task<A> task) {
        DataStream<KeyedWindowResult<Long, A>> results = TwoPhasePipeline.build(env, params, task);
        return results
                .map(new ResultCounter<A>())
                .returns(results.getType())
                .name("count-results")
                .setParallelism(params.workers);
    }

    private static <A> void run(StreamExecutionEnvironment env, JobParams params, Task<A> task) throws Exception {
        counted(env, params, task)
                .sinkTo(new DiscardingSink<>())
                .name("sink")
                .setParallelism(params.workers);
        long start = System.nanoTime();
        JobExecutionResult result = env.execute(params.task + " / " + params.partitioner);
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.print(summary(params, result, seconds));
    }

    /** Runs with the results collected here, prints the summary and whether they are exact. */
    private static boolean runAndVerify(StreamExecutionEnvironment env, JobParams params) throws Exception {
        CloseableIterator<KeyedWindowResult<Long, HashMap<String, Long>>> it =
                counted(env, params, new Task.WordHistogram()).collectAsync();
        long start = System.nanoTime();
        JobClient job = env.executeAsync(params.task + " / " + params.partitioner);
        List<KeyedWindowResult<Long, HashMap<String, Long>>> results = new ArrayList<>();
        try (it) {
            it.forEachRemaining(results::add);
        }
        JobExecutionResult result = job.getJobExecutionResult().get();
        double seconds = (System.nanoTime() - start) / 1e9;
        String difference = WordCountReference.difference(params, results);
        Integer restored = result.getAccumulatorResult(
                SkewedAggregation.routerStatesRestoredAccumulator(TwoPhasePipeline.NAME));
        System.out.print(summary(params, result, seconds));
        System.out.printf("router states restored  %d of %d%n", restored == null ? 0 : restored, params.routers);
        System.out.printf("results exact  %s%n", difference == null
                ? "yes (" + results.size() + " (key, window) results, as the in-memory aggregation)"
                : "NO: " + difference);
        return difference == null;
    }

    /** The summary printed after a run. */
    static String summary(JobParams params, JobExecutionResult result, double seconds) {
        Map<Integer, Integer> perWorker = result.getAccumulatorResult(
                SkewedAggregation.recordsPerWorkerAccumulator(TwoPhasePipeline.NAME));
        Long results = result.getAccumulatorResult(ResultCounter.RESULTS);
        long in = perWorker.values().stream().mapToLong(Integer::longValue).sum();
        long[] counts = new long[params.workers];
        perWorker.forEach((w, c) -> counts[w] = c);
        StringBuilder s = new StringBuilder();
        s.append(String.format("task           %s%n", params.task));
        s.append(String.format("partitioner    %s%n", params.partitioner));
        s.append(String.format("workers        %d%n", params.workers));
        s.append(String.format("records in     %d%n", in));
        s.append(String.format("results out    %d%n", results == null ? 0 : results));
        s.append(String.format("seconds        %.2f (%.0f records/s)%n", seconds, in / seconds));
        s.append(String.format("imbalance λ    %.4f%n", NativeRouter.imbalance(Arrays.stream(counts).asDoubleStream().toArray())));
        s.append("per worker     ");
        for (long c : counts) {
            s.append(c).append(' ');
        }
        s.append(System.lineSeparator());
        Integer taken = result.getAccumulatorResult(
                SkewedAggregation.routerLoadIntervalsAccumulator(TwoPhasePipeline.NAME));
        Integer dropped = result.getAccumulatorResult(
                SkewedAggregation.routerLoadIntervalsDroppedAccumulator(TwoPhasePipeline.NAME));
        s.append(String.format("worker loads   %d intervals taken, %d dropped (all routers)%n",
                taken == null ? 0 : taken, dropped == null ? 0 : dropped));
        return s.toString();
    }
}
