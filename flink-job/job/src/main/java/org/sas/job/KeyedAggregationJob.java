package org.sas.job;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

import org.sas.nativeloader.NativeRouter;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Entry point: runs the two-phase pipeline of a params file and prints a summary (records in, results
 * out, records per worker, imbalance λ of those counts).
 *
 * <p>Usage: {@code KeyedAggregationJob PARAMS.yaml [--partitioner NAME]}.
 */
public final class KeyedAggregationJob {

    private KeyedAggregationJob() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args[0].startsWith("-")) {
            System.err.println("usage: KeyedAggregationJob PARAMS.yaml [--partitioner NAME]");
            System.exit(2);
        }
        List<String> overrides = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--partitioner") && i + 1 < args.length) {
                overrides.add("partitioner=" + args[++i]);
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
        run(env, params, Task.forName(params.task));
    }

    private static <A> void run(StreamExecutionEnvironment env, JobParams params, Task<A> task) throws Exception {
        DataStream<Partial<A>> results = TwoPhasePipeline.build(env, params, task);
        results.map(new ResultCounter<A>())
                .returns(task.partialType())
                .name("count-results")
                .setParallelism(params.workers)
                .sinkTo(new DiscardingSink<>())
                .name("sink")
                .setParallelism(params.workers);
        long start = System.nanoTime();
        JobExecutionResult result = env.execute(params.task + " / " + params.partitioner);
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.print(summary(params, result, seconds));
    }

    /** The summary printed after a run. */
    static String summary(JobParams params, JobExecutionResult result, double seconds) {
        Map<Integer, Integer> perWorker = result.getAccumulatorResult(RouterFunction.WORKER_COUNTS);
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
        return s.toString();
    }
}
