package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.internal.Routed;
import org.sas.nativeloader.NativeRouter;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * The routers' state survives a failover (issue #13, item 6): a job that fails mid-run after a completed
 * checkpoint restores each router from it, so that
 * <ul>
 *   <li>the records replayed after the restore (those between the checkpoint and the failure) go to the
 *       very workers they went to before the failure: the restored router is the checkpointed one;</li>
 *   <li>the first intervals after the restore are as balanced as the last ones before it (max/mean load
 *       per worker, that is 1 + λ, within 20 %), where a cold router, given the same records, is not
 *       (D-Choices relearns how many choices its head keys need for thousands of records);</li>
 *   <li>the results stay exact.</li>
 * </ul>
 */
class RouterStateRestoreTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = TestJobs.cluster();

    private static final long RECORDS = 80_000;
    /** Records a router subtask routes before the failure may happen. */
    private static final long WARM = 25_000;
    /**
     * Records a router must have routed at the checkpoint restored: D-Choices needs about 10 000 to learn
     * its number of choices, and balance is compared over the 3 000 before the restore.
     */
    private static final long WARM_AT_RESTORE = 13_000;
    /** Records between the latest completed checkpoint and the failure, at least. */
    private static final long AFTER_CHECKPOINT = 1_000;
    /** Records per interval over which balance is measured, and intervals compared on each side. */
    private static final int INTERVAL = 1_000;
    private static final int INTERVALS = 3;

    static final AtomicBoolean FAILED = new AtomicBoolean();
    /** Per execution attempt (0, 1, more), the worker + 1 each record went to (0: not routed). */
    static final AtomicIntegerArray[] ROUTED = new AtomicIntegerArray[3];

    /** Notes each record's worker per attempt; in attempt 0, fails once, warm and after a checkpoint. */
    static class RecordAndFailOnce extends RichMapFunction<Routed<Event>, Routed<Event>> implements CheckpointListener {
        private static final long serialVersionUID = 1L;
        private transient int attempt;
        private transient long seen;
        /** Records since the latest completed checkpoint; -1 before the first. */
        private transient long sinceCheckpoint;

        @Override
        public void open(OpenContext openContext) {
            attempt = getRuntimeContext().getTaskInfo().getAttemptNumber();
            sinceCheckpoint = -1;
        }

        @Override
        public Routed<Event> map(Routed<Event> r) {
            ROUTED[Math.min(attempt, 2)].set((int) r.value.index, r.worker + 1);
            seen++;
            if (sinceCheckpoint >= 0) {
                sinceCheckpoint++;
            }
            if (attempt == 0 && seen >= WARM && sinceCheckpoint >= AFTER_CHECKPOINT && FAILED.compareAndSet(false, true)) {
                throw new RuntimeException("induced failure at record " + r.value.index);
            }
            return r;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            sinceCheckpoint = 0;
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"d-choices", "saspartitioner"})
    void aRestoredRouterResumesWhereTheCheckpointLeftIt(String partitioner) throws Exception {
        FAILED.set(false);
        for (int a = 0; a < ROUTED.length; a++) {
            ROUTED[a] = new AtomicIntegerArray((int) RECORDS);
        }
        String yaml = TestJobs.yaml("wordcount", partitioner, RECORDS) + "source_rate: 10000\n";
        JobParams params = JobParams.parse(yaml, TestJobs.repoRoot());

        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 1);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        // A checkpoint a second; the failure comes at least 1 000 records after the latest one completed,
        // so at least those are replayed.
        env.enableCheckpointing(1000);
        DataStream<KeyedWindowResult<Long, HashMap<String, Long>>> results = TwoPhasePipeline.build(env, params,
                new Task.WordHistogram(), hooks -> hooks.afterRouter(routed -> routed.map(new RecordAndFailOnce())
                        .name("record-and-fail-once").setParallelism(params.routers)));
        List<KeyedWindowResult<Long, HashMap<String, Long>>> out = new ArrayList<>();
        try (CloseableIterator<KeyedWindowResult<Long, HashMap<String, Long>>> it = results.executeAndCollect()) {
            it.forEachRemaining(out::add);
        }

        assertTrue(FAILED.get(), "the induced failure happened");
        assertEquals(PipelineExactnessTest.wordReference(params), PipelineExactnessTest.byKeyAndWindow(out));
        for (long i = 0; i < RECORDS; i++) {
            assertEquals(0, ROUTED[2].get((int) i), "a second restart routed record " + i);
        }

        long[][] stream = TestJobs.stream(params);
        long perRouter = RECORDS / params.routers;
        long replayedInAll = 0;
        for (int router = 0; router < params.routers; router++) {
            long start = router * perRouter;
            long restoredAt = firstRouted(1, start, start + perRouter);
            long failedAt = lastRouted(0, start, start + perRouter);
            assertTrue(restoredAt >= start + WARM_AT_RESTORE, "router " + router + " restored at record " + restoredAt);

            // The replayed records: routed by both attempts, to the same workers.
            for (long i = restoredAt; i <= failedAt; i++) {
                assertEquals(ROUTED[0].get((int) i), ROUTED[1].get((int) i), "router " + router + ", record " + i);
            }
            long replayed = Math.max(0, failedAt - restoredAt + 1);
            replayedInAll += replayed;

            double before = meanPeakOverMean(workers(0, restoredAt - (long) INTERVAL * INTERVALS, restoredAt));
            double after = meanPeakOverMean(workers(1, restoredAt, restoredAt + (long) INTERVAL * INTERVALS));
            int[] cold = coldWorkers(params, stream, restoredAt, restoredAt + (long) INTERVAL * INTERVALS);
            double coldAfter = meanPeakOverMean(cold);
            System.out.printf("%s router %d: restored at record %d, %d replayed; max/mean before %.3f, after %.3f,"
                    + " cold %.3f%n", partitioner, router, restoredAt, replayed, before, after, coldAfter);
            assertTrue(after <= 1.2 * before, "after the restore " + after + ", before " + before);
            int[] restored = workers(1, restoredAt, restoredAt + (long) INTERVAL * INTERVALS);
            long elsewhere = 0;
            for (int i = 0; i < cold.length; i++) {
                elsewhere += cold[i] != restored[i] ? 1 : 0;
            }
            assertTrue(elsewhere > 0, "a cold router routes as the restored one: the state made no difference");
            if (partitioner.equals("d-choices")) {
                assertTrue(coldAfter > 1.2 * before, "a cold D-Choices router: " + coldAfter + ", before " + before);
            }
        }
        assertTrue(replayedInAll >= AFTER_CHECKPOINT, replayedInAll + " records replayed");
    }

    /** The first record of {@code [from, to)} that attempt {@code attempt} routed. */
    private static long firstRouted(int attempt, long from, long to) {
        for (long i = from; i < to; i++) {
            if (ROUTED[attempt].get((int) i) != 0) {
                return i;
            }
        }
        throw new AssertionError("attempt " + attempt + " routed nothing in [" + from + ", " + to + ")");
    }

    /** The last record of {@code [from, to)} that attempt {@code attempt} routed. */
    private static long lastRouted(int attempt, long from, long to) {
        for (long i = to - 1; i >= from; i--) {
            if (ROUTED[attempt].get((int) i) != 0) {
                return i;
            }
        }
        throw new AssertionError("attempt " + attempt + " routed nothing in [" + from + ", " + to + ")");
    }

    /** The workers attempt {@code attempt} routed records {@code [from, to)} to; each must be routed. */
    private static int[] workers(int attempt, long from, long to) {
        int[] out = new int[(int) (to - from)];
        for (int i = 0; i < out.length; i++) {
            out[i] = ROUTED[attempt].get((int) from + i) - 1;
            assertTrue(out[i] >= 0, "attempt " + attempt + " did not route record " + (from + i));
        }
        return out;
    }

    /** The workers a new router (no state) sends records {@code [from, to)} to. */
    private static int[] coldWorkers(JobParams params, long[][] stream, long from, long to) {
        long router = NativeRouter.create(params.yaml, "");
        try {
            int[] out = new int[(int) (to - from)];
            for (int i = 0; i < out.length; i++) {
                long[] record = stream[(int) from + i];
                out[i] = NativeRouter.route(router, record[0], record[1]);
            }
            return out;
        } finally {
            NativeRouter.close(router);
        }
    }

    /** The mean over consecutive intervals of {@link #INTERVAL} records of max/mean records per worker. */
    private static double meanPeakOverMean(int[] workers) {
        double sum = 0;
        int intervals = workers.length / INTERVAL;
        for (int k = 0; k < intervals; k++) {
            double[] loads = new double[TestJobs.WORKERS];
            for (int i = k * INTERVAL; i < (k + 1) * INTERVAL; i++) {
                loads[workers[i]]++;
            }
            sum += 1 + NativeRouter.imbalance(loads);
        }
        return sum / intervals;
    }

    /** Through the natives alone: a snapshot restored into a new router routes on as the original does. */
    @Test
    void aSnapshotRestoredThroughTheNativesRoutesAsTheOriginal() {
        NativeRouter.ensureLoaded();
        String yaml = TestJobs.yaml("wordcount", "d-choices", 100);
        long original = NativeRouter.create(yaml, "");
        long restored = NativeRouter.create(yaml, "");
        long other = NativeRouter.create(yaml, "pkg");
        try {
            for (long i = 0; i < 20_000; i++) {
                NativeRouter.route(original, i % 7 == 0 ? i : i % 3, i);
            }
            byte[] state = NativeRouter.snapshotState(original);
            NativeRouter.restoreState(restored, state);
            assertArrayEquals(state, NativeRouter.snapshotState(restored));
            for (long i = 0; i < 20_000; i++) {
                long key = i % 5 == 0 ? i : i % 4;
                assertEquals(NativeRouter.route(original, key, i), NativeRouter.route(restored, key, i), "record " + i);
            }

            byte[] pkgState = NativeRouter.snapshotState(other);
            String message = assertThrows(IllegalArgumentException.class,
                    () -> NativeRouter.restoreState(restored, pkgState)).getMessage();
            assertEquals("restoreState: router state was saved by partitioner `pkg`, this router is `d-choices`",
                    message);
            byte[] truncated = java.util.Arrays.copyOf(state, state.length - 1);
            message = assertThrows(IllegalArgumentException.class,
                    () -> NativeRouter.restoreState(restored, truncated)).getMessage();
            assertTrue(message.startsWith("restoreState: router state truncated"), message);
            message = assertThrows(IllegalArgumentException.class,
                    () -> NativeRouter.restoreState(restored, null)).getMessage();
            assertEquals("restoreState: state is null", message);
            // Refused states changed nothing.
            assertArrayEquals(NativeRouter.snapshotState(original), NativeRouter.snapshotState(restored));
        } finally {
            NativeRouter.close(original);
            NativeRouter.close(restored);
            NativeRouter.close(other);
        }
    }
}
