package org.sas.examples;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Function;

/**
 * The example jar's entry point: {@code Examples EXAMPLE [FLAGS]}, with EXAMPLE {@value WordCountText#NAME},
 * {@value KeyStreamFile#NAME}, {@value BenchmarkTasks#WORD_HISTOGRAM} or {@value BenchmarkTasks#QUANTILE_DIGEST}
 * and the flags of {@link ExampleArgs}. Under {@code flink run} the job goes to that cluster; started with
 * {@code java}, to a MiniCluster in this JVM. Prints the run's {@link Summary}; exits with 1 when {@code
 * --verify} found a difference, 2 on a bad command line.
 */
public final class Examples {

    private static final String NAMES = String.join("|", WordCountText.NAME, KeyStreamFile.NAME,
            BenchmarkTasks.WORD_HISTOGRAM, BenchmarkTasks.QUANTILE_DIGEST);

    private Examples() {}

    public static void main(String[] args) {
        String example = args.length > 0 ? args[0] : "";
        String[] flags = args.length > 0 ? Arrays.copyOfRange(args, 1, args.length) : args;
        switch (example) {
            case WordCountText.NAME: WordCountText.main(flags); break;
            case KeyStreamFile.NAME: KeyStreamFile.main(flags); break;
            case BenchmarkTasks.WORD_HISTOGRAM: BenchmarkTasks.wordHistogram(flags); break;
            case BenchmarkTasks.QUANTILE_DIGEST: BenchmarkTasks.quantileDigest(flags); break;
            default:
                System.err.println("error: unknown example `" + example + "`; usage: Examples " + NAMES + " FLAGS"
                        + "\n  " + WordCountText.NAME + ", " + KeyStreamFile.NAME + ": " + ExampleArgs.USAGE
                        + "\n  " + BenchmarkTasks.WORD_HISTOGRAM + ", " + BenchmarkTasks.QUANTILE_DIGEST + ": "
                        + ExampleArgs.GENERATED_USAGE);
                System.exit(2);
        }
    }

    /** One example's job, given its parsed flags. */
    @FunctionalInterface
    interface Job {
        Summary run(StreamExecutionEnvironment env, ExampleArgs args) throws Exception;
    }

    /** Runs the example {@code name} over the keys of a file (by default {@code defaultPath}). */
    static void run(String name, Path defaultPath, FlatMapFunction<String, String> keysOfLine, String[] flags) {
        run(name, flags, f -> ExampleArgs.parse(f, defaultPath),
                (env, args) -> KeyCounts.run(env, args, name, keysOfLine));
    }

    /** Parses the flags, runs example {@code name}, prints its summary and exits on a difference or bad flags. */
    static void run(String name, String[] flags, Function<String[], ExampleArgs> parse, Job job) {
        ExampleArgs args;
        try {
            args = parse.apply(flags);
        } catch (IllegalArgumentException e) {
            System.err.println("error: " + name + ": " + e.getMessage());
            System.exit(2);
            return;
        }
        Summary summary;
        try {
            summary = job.run(StreamExecutionEnvironment.getExecutionEnvironment(), args);
        } catch (IllegalArgumentException e) {
            // SkewedAggregation.build refused the params: a bad partitioner, key or value, named in the message.
            System.err.println("error: " + name + ": " + e.getMessage());
            System.exit(2);
            return;
        } catch (Exception e) {
            throw new IllegalStateException(name + ": the job failed", e);
        }
        System.out.print(summary);
        if (args.verify && !summary.exact()) {
            System.exit(1);
        }
    }
}
