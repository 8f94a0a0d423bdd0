package org.sas.job.throughput;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

/** The balance and latency figures of the throughput test, on records with known answers. */
class MetersTest {

    @Test
    void balanceFollowsTheEvaluatorsDefinitions() {
        // 4 workers, windows of 1000 ms. Window 0 and window 3 are the cut edges and are left out.
        BalanceMeter m = new BalanceMeter(4, 1000, 1);
        m.add(99, 0, 500); // edge window 0: wildly unbalanced, must not count
        // Window 1: counts 800/400/400/400 (λ 0.6, NMAD 0.3, the prototype's example).
        // Key 7 is the hot key: on workers 0 and 1.
        addMany(m, 7, 0, 1000, 800);
        addMany(m, 7, 1, 1100, 1);
        addMany(m, 8, 1, 1200, 399);
        addMany(m, 9, 2, 1300, 400);
        addMany(m, 10, 3, 1400, 400);
        // Window 2: counts 1000/200/200/200 (λ 1.5, NMAD 0.75); key 7 on worker 0 only.
        addMany(m, 7, 0, 2000, 1000);
        addMany(m, 8, 1, 2100, 200);
        addMany(m, 9, 2, 2200, 200);
        addMany(m, 10, 3, 2300, 200);
        m.add(99, 0, 3000); // edge window 3
        assertEquals(2, m.wholeWindows());

        BalanceMeter.Balance b = m.result();
        assertEquals(2, b.windows());
        assertEquals((0.6 + 1.5) / 2, b.imbalance(), 1e-12);
        assertEquals((0.3 + 0.75) / 2, b.nmad(), 1e-12);
        assertEquals((2 + 1) / 2.0, b.hotFragmentation(), 1e-12, "key 7: 2 workers, then 1");
    }

    @Test
    void hotKeysAreTheMostFrequentSmallerKeyFirst() {
        BalanceMeter m = new BalanceMeter(2, 1000, 1);
        // Keys 5 and 3 tie; 3 is the hot key: on both workers. Key 5 sits on worker 0.
        addMany(m, 5, 0, 0, 10);
        addMany(m, 3, 0, 0, 5);
        addMany(m, 3, 1, 0, 5);
        assertEquals(2.0, m.result().hotFragmentation(), 1e-12);
    }

    @Test
    void quantilesOfBucketedLatenciesAreWithinOnePercent() {
        Map<Integer, Integer> histogram = new HashMap<>();
        for (int i = 1; i <= 1000; i++) {
            histogram.merge(WorkerMeter.bucket(i * 100L), 1, Integer::sum); // 0.1 ms .. 100 ms
        }
        assertEquals(1000, WorkerMeter.count(histogram));
        double p50 = WorkerMeter.quantileMs(histogram, 0.5);
        double p99 = WorkerMeter.quantileMs(histogram, 0.99);
        assertTrue(Math.abs(p50 - 50.0) / 50.0 < 0.01, "p50 " + p50);
        assertTrue(Math.abs(p99 - 99.0) / 99.0 < 0.01, "p99 " + p99);
        assertTrue(Double.isNaN(WorkerMeter.quantileMs(Map.of(), 0.5)));
    }

    private static void addMany(BalanceMeter m, long key, int worker, long ts, int n) {
        for (int i = 0; i < n; i++) {
            m.add(key, worker, ts);
        }
    }
}
