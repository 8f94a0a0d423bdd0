package org.sas.job.bench;

import org.sas.job.Event;
import org.sas.job.JobParams;
import org.sas.job.Payloads;
import org.sas.job.Task;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Calibrates {@code capacity.partial_cost}: what one merged partial costs in units of one record's add,
 * for each task, on the job's own aggregate functions. One metric window of the equal-capacity scenario
 * ({@code params/scenarios/equal.yaml}: 12 000 records of Zipf(1.5) keys over 10 000 ids, 16 workers) is
 * dealt out round-robin, as {@code local-global} does (every key on as many workers as it has records,
 * up to 16: the most partials a window can have), each worker adds its records into one accumulator per
 * key and window (a record is in two sliding windows, so it is added twice, as the job's window operator
 * does), and then every key's partials of each window are merged into one. The unit cost is the add time per record, the
 * partial cost the merge time per partial; their ratio is printed per task, median of the rounds.
 *
 * <p>Run with {@code bin/bench-task-cost.sh [rounds]}.
 */
public final class TaskCostBench {

    private static final int WORKERS = 16;
    private static final int RECORDS = 12_000;
    private static final int KEYS = 10_000;
    private static final double ALPHA = 1.5;
    /** Window 1000 ms over slide 500 ms in the scenario: each record is in two windows. */
    private static final int WINDOWS_PER_RECORD = 2;

    private TaskCostBench() {}

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        String params = args.length > 1 ? args[1] : "params/scenarios/equal.yaml";
        System.out.printf("%-15s %12s %14s %10s %12s%n", "task", "ns/record", "ns/partial", "partials", "partial_cost");
        for (String task : List.of("wordcount", "wordcount-text", "tdigest")) {
            measure(Task.forName(task), JobParams.load(params, "task=" + task), rounds);
        }
    }

    private static <A> void measure(Task<A> task, JobParams params, int rounds) {
        Payloads payloads = Payloads.of(params);
        List<Event> window = window(payloads);
        double[] perRecord = new double[rounds];
        double[] perPartial = new double[rounds];
        int partials = 0;
        // The first rounds warm the JIT up and are measured like the rest; the median ignores them.
        for (int round = 0; round < rounds; round++) {
            // Each record is in WINDOWS_PER_RECORD sliding windows, and the worker adds it to each one's
            // accumulator: that is the work one record costs.
            List<Map<Long, A>> workers = new ArrayList<>();
            for (int w = 0; w < WORKERS * WINDOWS_PER_RECORD; w++) {
                workers.add(new HashMap<>());
            }
            long start = System.nanoTime();
            for (int i = 0; i < window.size(); i++) {
                Event e = window.get(i);
                for (int copy = 0; copy < WINDOWS_PER_RECORD; copy++) {
                    Map<Long, A> worker = workers.get((i % WORKERS) * WINDOWS_PER_RECORD + copy);
                    A acc = worker.get(e.key);
                    if (acc == null) {
                        acc = task.createAccumulator();
                    }
                    worker.put(e.key, task.add(e, acc));
                }
            }
            long added = System.nanoTime();
            List<Map<Long, A>> merged = new ArrayList<>();
            for (int copy = 0; copy < WINDOWS_PER_RECORD; copy++) {
                merged.add(new HashMap<>());
            }
            partials = 0;
            for (int m = 0; m < workers.size(); m++) {
                Map<Long, A> into = merged.get(m % WINDOWS_PER_RECORD);
                for (Map.Entry<Long, A> partial : workers.get(m).entrySet()) {
                    A current = into.get(partial.getKey());
                    into.put(partial.getKey(), current == null ? partial.getValue() : task.merge(current, partial.getValue()));
                    partials++;
                }
            }
            long done = System.nanoTime();
            perRecord[round] = (added - start) / (double) window.size();
            perPartial[round] = (done - added) / (double) partials;
        }
        double record = median(perRecord);
        double partial = median(perPartial);
        System.out.printf("%-15s %12.1f %14.1f %10d %12.2f%n",
                params.task, record, partial, partials, partial / record);
    }

    /** One window of the scenario: Zipf(1.5) keys by inverse CDF, the job's payloads. */
    private static List<Event> window(Payloads payloads) {
        double[] cdf = new double[KEYS];
        double sum = 0;
        for (int k = 0; k < KEYS; k++) {
            sum += 1 / Math.pow(k + 1, ALPHA);
            cdf[k] = sum;
        }
        SplittableRandom random = new SplittableRandom(7);
        List<Event> events = new ArrayList<>(RECORDS);
        for (int i = 0; i < RECORDS; i++) {
            int k = Arrays.binarySearch(cdf, random.nextDouble() * sum);
            Event e = new Event();
            e.index = i;
            e.key = k < 0 ? -k - 1 : k;
            e.sentence = payloads.sentence(i);
            e.values = payloads.values(i);
            events.add(e);
        }
        return events;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
