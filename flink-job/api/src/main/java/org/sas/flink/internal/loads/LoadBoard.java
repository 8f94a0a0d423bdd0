package org.sas.flink.internal.loads;

import org.apache.flink.runtime.operators.coordination.CoordinatorStore;
import org.apache.flink.util.Preconditions;

import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The job's meeting point of the workers' loads and the routers, on the JobManager: collects each
 * interval's busy ratios per worker (from the {@link WorkerLoadCoordinator}) and, once all P workers have
 * reported an interval, hands the complete vector to every subscriber (the {@link RouterLoadCoordinator})
 * exactly once.
 *
 * <p>Intervals are matched by number ({@code floor(epochMs / I)}, the sampler's), never by arrival. A
 * vector is only ever complete: an interval a worker did not report (it was still starting, or its
 * report was lost) is never published, and is dropped once a later interval completes or when more
 * than {@value #MAX_PENDING} intervals wait. Reports for an interval at or before the last published one
 * are ignored, so nothing is published twice or out of order.
 *
 * <p>One board per job, kept in the job's {@link CoordinatorStore} (shared by every operator coordinator
 * of the job), so both coordinators find it whichever starts first. Its methods may be called from any
 * thread (coordinators run on the JobManager's main thread); subscribers are called outside the lock.
 */
public final class LoadBoard {

    /** Incomplete intervals kept at most; the oldest is dropped beyond it. */
    static final int MAX_PENDING = 8;

    private static final String STORE_KEY = LoadBoard.class.getName();

    private final int workers;
    private final List<Consumer<WorkerLoads>> subscribers = new CopyOnWriteArrayList<>();
    /** Incomplete intervals: busy ratio per worker, NaN where the worker has not reported yet. */
    private final TreeMap<Long, double[]> pending = new TreeMap<>();
    /** The last interval published, or {@code Long.MIN_VALUE}. */
    private long lastPublished = Long.MIN_VALUE;

    LoadBoard(int workers) {
        Preconditions.checkArgument(workers > 0, "workers must be > 0, got %s", workers);
        this.workers = workers;
    }

    /**
     * The board of the job whose coordinators share {@code store}, created by the first caller.
     *
     * @throws IllegalStateException if the job's board was made for another worker count
     */
    public static LoadBoard of(CoordinatorStore store, int workers) {
        LoadBoard board = (LoadBoard) store.compute(STORE_KEY, (key, old) -> old != null ? old : new LoadBoard(workers));
        Preconditions.checkState(board.workers == workers,
                "the job's load board is for %s workers, this operator has %s", board.workers, workers);
        return board;
    }

    /** Calls {@code subscriber} with every vector completed from now on. */
    public void subscribe(Consumer<WorkerLoads> subscriber) {
        subscribers.add(subscriber);
    }

    public void unsubscribe(Consumer<WorkerLoads> subscriber) {
        subscribers.remove(subscriber);
    }

    /**
     * Records worker {@code worker}'s busy ratio over {@code interval}; publishes the interval when it is
     * the last worker missing. A second report of the same worker and interval (a restarted worker)
     * replaces the first. Out-of-range workers, non-finite or negative loads and intervals at or before
     * the last published one are ignored.
     *
     * @return whether the report completed the interval
     */
    public boolean report(int worker, long interval, double busyRatio) {
        WorkerLoads complete;
        synchronized (this) {
            if (worker < 0 || worker >= workers || interval <= lastPublished
                    || !Double.isFinite(busyRatio) || busyRatio < 0) {
                return false;
            }
            double[] loads = pending.computeIfAbsent(interval, i -> {
                double[] fresh = new double[workers];
                Arrays.fill(fresh, Double.NaN);
                return fresh;
            });
            loads[worker] = busyRatio;
            if (Arrays.stream(loads).anyMatch(Double::isNaN)) {
                while (pending.size() > MAX_PENDING) {
                    pending.pollFirstEntry();
                }
                return false;
            }
            // This interval and every older, incomplete one are done with.
            pending.headMap(interval, true).clear();
            lastPublished = interval;
            complete = new WorkerLoads(interval, loads);
        }
        for (Consumer<WorkerLoads> subscriber : subscribers) {
            subscriber.accept(complete);
        }
        return true;
    }

    /** Forgets the incomplete intervals (the job restarts: the workers' samplers start afresh). */
    public synchronized void clearPending() {
        pending.clear();
    }

    /** Incomplete intervals held, for tests. */
    synchronized int pendingIntervals() {
        return pending.size();
    }
}
