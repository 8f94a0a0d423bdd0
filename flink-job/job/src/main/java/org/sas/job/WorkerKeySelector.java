package org.sas.job;

import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;

/**
 * Keys a routed record by an integer that Flink's key-group assignment maps to the record's worker,
 * when {@code maxParallelism == parallelism == P}: the "inverse key" of each worker.
 */
public class WorkerKeySelector implements KeySelector<Event, Integer> {

    private static final long serialVersionUID = 1L;

    private final int[] keyOfWorker;

    public WorkerKeySelector(int workers) {
        this.keyOfWorker = inverseKeys(workers);
    }

    /** For each worker, the smallest non-negative int key Flink assigns to it. */
    public static int[] inverseKeys(int workers) {
        int[] keys = new int[workers];
        java.util.Arrays.fill(keys, -1);
        int missing = workers;
        for (int k = 0; missing > 0; k++) {
            int w = KeyGroupRangeAssignment.assignKeyToParallelOperator(k, workers, workers);
            if (keys[w] < 0) {
                keys[w] = k;
                missing--;
            }
        }
        return keys;
    }

    @Override
    public Integer getKey(Event e) {
        return keyOfWorker[e.worker];
    }
}
