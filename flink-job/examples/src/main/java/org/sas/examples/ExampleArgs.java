package org.sas.examples;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line of every example: {@code [--path FILE] [--partitioner NAME] [--workers P] [--params
 * FILE] [--set KEY=VALUE]... [--routers N] [--rate R] [--window-ms W] [--checkpoint-ms C] [--verify]}; the
 * examples over generated records take {@code --records N} instead of {@code --path}. Parsed once by {@link
 * #parse} or {@link #parseGenerated}, which name the flag and the value they refuse. Read on the client only:
 * functions of the job capture the values they need, never this object.
 */
public final class ExampleArgs {

    /** The usage line of the flags, after the example's name. */
    public static final String USAGE = "[--path FILE] [--partitioner NAME] [--workers P] [--params FILE] "
            + "[--set KEY=VALUE]... [--routers N] [--rate RECORDS_PER_S] [--window-ms MS] [--checkpoint-ms MS] "
            + "[--verify]";

    /** The usage line of the flags of the examples over generated records, after the example's name. */
    public static final String GENERATED_USAGE = "[--records N] [--partitioner NAME] [--workers P] [--params FILE] "
            + "[--set KEY=VALUE]... [--routers N] [--rate RECORDS_PER_S] [--window-ms MS] [--checkpoint-ms MS] "
            + "[--verify]";

    /** Records of a generated stream without {@code --records}. */
    public static final long DEFAULT_RECORDS = 200_000;

    /** The input file, absolute (resolved against the client's working directory); null for generated records. */
    public Path path;
    /** Records of a generated stream; 0 for an example over a file. */
    public long records;
    /** The partitioner; null leaves it to the params file, or {@code w-choices} without one. */
    public String partitioner;
    /** P, the workers; 0 leaves it to the params file, or 4 without one. */
    public int workers;
    /** A router params file in the {@code params/*.yaml} schema, or null. */
    public Path params;
    /** {@code KEY=VALUE} overrides of the router params, in order. */
    public List<String> overrides = new ArrayList<>();
    /** Router subtasks; 0 chains one router to the single file reader. */
    public int routers;
    /** Records per second of event time: record i is at {@code i * 1000 / rate} ms. */
    public long rate = 10_000;
    /** The tumbling window's size, in ms of event time. */
    public long windowMs = 1_000;
    /** Checkpoint interval in ms; 0 for none. */
    public long checkpointMs;
    /** Whether to check the results against a plain {@code keyBy().window().aggregate()} in the same job. */
    public boolean verify;

    /**
     * Parses {@code args}; {@code defaultPath} is the input without {@code --path}.
     *
     * @throws IllegalArgumentException naming the flag and the value it refuses, or a missing input file
     */
    public static ExampleArgs parse(String[] args, Path defaultPath) {
        ExampleArgs a = new ExampleArgs();
        a.path = defaultPath;
        a.parseFlags(args, false);
        if (a.path == null) {
            throw new IllegalArgumentException("--path: an input file is required");
        }
        a.path = existing("--path", a.path);
        a.defaults();
        return a;
    }

    /**
     * Parses {@code args} of an example over generated records: {@code --records N} (default {@value
     * #DEFAULT_RECORDS}) instead of {@code --path}.
     *
     * @throws IllegalArgumentException naming the flag and the value it refuses
     */
    public static ExampleArgs parseGenerated(String[] args) {
        ExampleArgs a = new ExampleArgs();
        a.records = DEFAULT_RECORDS;
        a.parseFlags(args, true);
        a.defaults();
        return a;
    }

    private void parseFlags(String[] args, boolean generated) {
        String usage = generated ? GENERATED_USAGE : USAGE;
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (flag.equals("--verify")) {
                verify = true;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(
                        flag + ": unknown flag, or a value is missing (usage: " + usage + ")");
            }
            String value = args[++i];
            switch (flag) {
                case "--path":
                    if (generated) {
                        throw new IllegalArgumentException("--path: this example generates its records (usage: "
                                + usage + ")");
                    }
                    path = Path.of(value);
                    break;
                case "--records":
                    if (!generated) {
                        throw new IllegalArgumentException(
                                "--records: this example reads --path (usage: " + usage + ")");
                    }
                    records = positive(flag, value);
                    break;
                case "--partitioner": partitioner = value; break;
                case "--workers": workers = positive(flag, value); break;
                case "--params": params = existing(flag, Path.of(value)); break;
                case "--set": overrides.add(override(value)); break;
                case "--routers": routers = positive(flag, value); break;
                case "--rate": rate = positive(flag, value); break;
                case "--window-ms": windowMs = positive(flag, value); break;
                case "--checkpoint-ms": checkpointMs = positive(flag, value); break;
                default: throw new IllegalArgumentException(flag + ": unknown flag (usage: " + usage + ")");
            }
        }
    }

    /** Without a params file: {@code w-choices} on 4 workers. */
    private void defaults() {
        if (params == null && partitioner == null) {
            partitioner = "w-choices";
        }
        if (params == null && workers == 0) {
            workers = 4;
        }
    }

    private static int positive(String flag, String value) {
        try {
            int n = Integer.parseInt(value);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // Reported below with the flag.
        }
        throw new IllegalArgumentException(flag + ": `" + value + "` is not a positive integer");
    }

    private static Path existing(String flag, Path file) {
        Path absolute = file.toAbsolutePath().normalize();
        if (!Files.isRegularFile(absolute)) {
            throw new IllegalArgumentException(flag + ": no file at " + absolute);
        }
        return absolute;
    }

    private static String override(String value) {
        if (value.indexOf('=') <= 0) {
            throw new IllegalArgumentException("--set: `" + value + "` is not KEY=VALUE");
        }
        return value;
    }
}
