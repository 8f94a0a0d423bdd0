package org.sas.flink.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.util.MathUtils;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;

/** Worker keys reach the router's worker through Flink's own key-group assignment. */
class WorkerKeyTest {

    @ParameterizedTest(name = "codesLandOnTheirWorker[P={0}]")
    @ValueSource(ints = {1, 2, 3, 4, 7, 16, 100, 128, 1000, 32768})
    void codesLandOnTheirWorker(int workers) {
        Random random = new Random(workers);
        for (int i = 0; i < 20_000; i++) {
            int worker = random.nextInt(workers);
            long keyHash = random.nextLong();
            WorkerKey<String> key = new WorkerKey<>(worker, WorkerKey.codeFor(worker, keyHash, workers), "k" + i);
            assertEquals(worker, KeyGroupRangeAssignment.assignKeyToParallelOperator(key, workers, workers),
                    "worker key " + key + " with hash " + keyHash);
        }
    }

    @Test
    void preimageInvertsFlinksMurmur() {
        Random random = new Random(1);
        for (int t : new int[] {0, 1, 4, Integer.MAX_VALUE}) {
            assertEquals(t, MathUtils.murmurHash(WorkerKey.murmurPreimage(t)));
        }
        for (int i = 0; i < 100_000; i++) {
            int t = random.nextInt() & Integer.MAX_VALUE;
            assertEquals(t, MathUtils.murmurHash(WorkerKey.murmurPreimage(t)), "t = " + t);
        }
    }

    @Test
    void keysOfOneWorkerGetDifferentCodes() {
        // A constant code per worker would put all of a worker's keys in one bucket of the heap state map.
        Random random = new Random(2);
        Set<Integer> codes = new HashSet<>();
        for (int i = 0; i < 10_000; i++) {
            codes.add(WorkerKey.codeFor(3, random.nextLong(), 16));
        }
        assertTrue(codes.size() > 9_900, codes.size() + " distinct codes of 10 000 keys");
    }

    @Test
    void equalityIsWorkerAndKey() {
        int code = WorkerKey.codeFor(1, 42L, 4);
        assertEquals(new WorkerKey<>(1, code, "a"), new WorkerKey<>(1, code, "a"));
        assertTrue(!new WorkerKey<>(1, code, "a").equals(new WorkerKey<>(2, code, "a")));
        assertTrue(!new WorkerKey<>(1, code, "a").equals(new WorkerKey<>(1, code, "b")));
    }
}
