package org.sas.job.throughput;

import org.apache.flink.api.common.JobID;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Records each worker has processed so far, shared inside one JVM between a job's {@link WorkerMeter}s
 * (one per worker, the writers) and its {@link RateController} (the reader).
 *
 * <p>Why a JVM-wide table rather than Flink's back-pressure alone: a worker that cannot keep up first
 * fills its input queue (Flink's default buffers hold thousands of records per channel, seconds of an
 * emulated worker's service) and only then back-pressures the source, so a stage slightly above the
 * maximum would look sustained. Comparing what the controller routed to each worker with what the worker
 * processed shows the queue growing at once. It needs the workers in the controller's JVM: true on the
 * embedded MiniCluster and on bin/flink-cluster.sh's single task manager. Elsewhere fewer than P workers
 * register and the controller goes by back-pressure and achieved rate only.
 */
final class WorkerProgress {

    private static final Map<JobID, WorkerProgress> JOBS = new HashMap<>();

    private final AtomicLongArray processed;
    /** Guarded by {@code JOBS}. */
    private int users;
    /** Guarded by {@code JOBS}. */
    private int workers;

    private WorkerProgress(int workers) {
        this.processed = new AtomicLongArray(workers);
    }

    /**
     * The table of {@code job}, created by the first user; every {@code acquire} needs a {@link #release}.
     *
     * @param isWorker whether the caller is one of the workers (counted by {@link #workersRegistered})
     */
    static WorkerProgress acquire(JobID job, int workers, boolean isWorker) {
        synchronized (JOBS) {
            WorkerProgress p = JOBS.computeIfAbsent(job, j -> new WorkerProgress(workers));
            p.users++;
            if (isWorker) {
                p.workers++;
            }
            return p;
        }
    }

    /** Drops a user's reference; the table goes away with the last one. */
    static void release(JobID job, WorkerProgress p, boolean isWorker) {
        synchronized (JOBS) {
            if (isWorker) {
                p.workers--;
            }
            if (--p.users == 0) {
                JOBS.remove(job, p);
            }
        }
    }

    /** Workers of the job running in this JVM. */
    int workersRegistered() {
        synchronized (JOBS) {
            return workers;
        }
    }

    /** Publishes worker {@code w}'s count (only that worker's task writes it). */
    void set(int w, long records) {
        processed.lazySet(w, records);
    }

    /** Records worker {@code w} has processed so far. */
    long get(int w) {
        return processed.get(w);
    }
}
