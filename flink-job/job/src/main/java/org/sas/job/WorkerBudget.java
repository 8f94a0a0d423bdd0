package org.sas.job;

import java.io.Serializable;
import java.util.HashMap;
import java.util.Map;

/**
 * One emulated worker's time, shared by every stage that runs on it: its partial aggregate and, with slot
 * sharing, the merge subtask of the same index. Each stage reserves the time its work takes, after
 * whatever the worker already took on, so the two stages spend one budget as two threads on one slow
 * machine would. The capacity may change during the run ({@code capacity.changes}): from a change's
 * time after the worker's first reservation on, its rate applies.
 *
 * <p>Budgets live in the JVM, one per (job, worker): on the MiniCluster and on a task manager that holds
 * both stages of a worker, both find the same one.
 */
public final class WorkerBudget {

    /** The capacity schedule of every worker, from the params. */
    public static final class Schedule implements Serializable {
        private static final long serialVersionUID = 1L;

        private final double[] capacity;
        private final long[] changesAfterMs;
        private final double[][] changes;

        public Schedule(JobParams params) {
            this(params.capacity, params.capacityChangesAfterMs, params.capacityChanges);
        }

        Schedule(double[] capacity, long[] changesAfterMs, double[][] changes) {
            this.capacity = capacity;
            this.changesAfterMs = changesAfterMs;
            this.changes = changes;
        }

        /** Units per second of worker {@code w} at {@code elapsedMs} after its first record; 0 = unlimited. */
        public double rate(int w, long elapsedMs) {
            double rate = capacity[w];
            for (int c = 0; c < changesAfterMs.length && changesAfterMs[c] <= elapsedMs; c++) {
                rate = changes[c][w];
            }
            return rate;
        }

        /**
         * The workers' total rate averaged over the first {@code ms} of the run (units per second), each
         * change counted from the run's start.
         */
        public double meanTotal(long ms) {
            long[] bounds = new long[changesAfterMs.length + 2];
            bounds[0] = 0;
            for (int c = 0; c < changesAfterMs.length; c++) {
                bounds[c + 1] = Math.min(changesAfterMs[c], ms);
            }
            bounds[bounds.length - 1] = ms;
            double sum = 0;
            for (int i = 0; i + 1 < bounds.length; i++) {
                long span = bounds[i + 1] - bounds[i];
                if (span > 0) {
                    double total = 0;
                    for (int w = 0; w < capacity.length; w++) {
                        total += rate(w, bounds[i]);
                    }
                    sum += total * span;
                }
            }
            return ms > 0 ? sum / ms : 0;
        }

        /** Whether any worker is limited at any time. */
        boolean limits() {
            for (double c : capacity) {
                if (c > 0) {
                    return true;
                }
            }
            for (double[] change : changes) {
                for (double c : change) {
                    if (c > 0) {
                        return true;
                    }
                }
            }
            return false;
        }
    }

    private static final Map<String, WorkerBudget> BUDGETS = new HashMap<>();

    private final Schedule schedule;
    private final int worker;
    private int users;
    /** When the worker's first reservation came (nanoTime), or 0. */
    private long start;
    /** When the worker finishes what it has taken on so far (nanoTime). */
    private long nextFree;

    private WorkerBudget(Schedule schedule, int worker) {
        this.schedule = schedule;
        this.worker = worker;
    }

    /** The budget of worker {@code worker} of job {@code job}; {@link #release} it when done. */
    static WorkerBudget acquire(String job, int worker, Schedule schedule) {
        synchronized (BUDGETS) {
            WorkerBudget budget = BUDGETS.computeIfAbsent(job + "/" + worker, k -> new WorkerBudget(schedule, worker));
            budget.users++;
            return budget;
        }
    }

    /** Gives the budget back; the last user removes it. */
    static void release(String job, WorkerBudget budget) {
        synchronized (BUDGETS) {
            if (--budget.users == 0) {
                BUDGETS.remove(job + "/" + budget.worker);
            }
        }
    }

    /**
     * Takes {@code units} of the worker's time, after what it already took on.
     *
     * @return when (nanoTime) the work is done; {@code now} if the worker is unlimited now
     */
    synchronized long reserve(double units, long now) {
        if (start == 0) {
            start = now;
            nextFree = now;
        }
        double rate = schedule.rate(worker, (now - start) / 1_000_000);
        if (rate <= 0) {
            return now;
        }
        nextFree = Math.max(nextFree, now) + (long) (units * 1e9 / rate);
        return nextFree;
    }
}
