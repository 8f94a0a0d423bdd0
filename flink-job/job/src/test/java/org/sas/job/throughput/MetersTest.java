package org.sas.job.throughput;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

/** The stage, balance and latency figures of the throughput test, on inputs with known answers. */
class MetersTest {

    @Test
    void stageFiguresAreAveragesOverTheMeasuredPart() {
        StageMeter m = new StageMeter(3);
        m.start(1_000_000_000L, 500, new long[] {100, 100, 0}, new long[] {90, 100, 0});
        for (int i = 0; i < 4000; i++) {
            m.count();
        }
        // 2 s later: 4000 records, 200 ms more back-pressure; worker 0 processed 950 of the 1000 it was
        // sent, worker 1 all, worker 2 none of 10 (within the 20 in flight).
        StageMeter.Averages a = m.end(3_000_000_000L, 700, new long[] {1100, 2100, 10}, new long[] {1040, 2100, 0});
        assertEquals(2.0, a.seconds(), 1e-12);
        assertEquals(2000.0, a.achieved(), 1e-9);
        assertEquals(0.1, a.backpressure(), 1e-12);
        assertEquals((950.0 + 20) / 1000, a.delivered(), 1e-12);
        assertTrue(Double.isNaN(m.end(3_000_000_000L, 700, new long[3], null).delivered()), "no worker counts");
    }

    @Test
    void deliveredSkipsIdleWorkersAndNeverExceedsOne() {
        assertEquals(1.0, StageMeter.delivered(new long[] {0, 50}, new long[] {0, 60}), 1e-12);
        assertEquals(0.5, StageMeter.delivered(new long[] {0, 1000}, new long[] {0, 480}), 1e-12);
    }

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
        // Window 1: key 7 on 2 workers, keys 8, 9, 10 on one each; window 2: 4 keys on one worker each.
        assertEquals(5, b.peakPartialStates());
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
