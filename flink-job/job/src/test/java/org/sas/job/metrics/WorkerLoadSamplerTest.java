package org.sas.job.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.runtime.metrics.TimerGauge;
import org.apache.flink.runtime.metrics.groups.TaskIOMetricGroup;
import org.apache.flink.runtime.metrics.groups.UnregisteredMetricGroups;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** The sampler on a task's metrics driven by hand: alignment, the period under way, the start. */
class WorkerLoadSamplerTest {

    /** One sample and when it arrived. */
    record Sample(long interval, double busyMs, double backPressuredMs, double intervalMs, long recordsIn,
                  long atMs, long atNanos) {}

    static final long INTERVAL_MS = 100;

    @Test
    void timerTotalCountsThePeriodUnderWay() throws Exception {
        TimerGauge gauge = new TimerGauge();
        TimerTotal total = TimerTotal.register(gauge);
        gauge.markStart();
        Thread.sleep(60);
        // Flink's own count waits for the period's end (or the registry's 5-second update).
        assertEquals(0, gauge.getAccumulatedCount());
        assertTrue(total.nanos() >= 60_000_000L, total.nanos() + " ns");
        gauge.markEnd();
        assertEquals(gauge.getAccumulatedCount(), total.nanos() / 1e6, 2.0);
    }

    @Test
    void samplesAreAlignedPartitionTheRunningTimeAndCountIdleUnderWay() throws Exception {
        TaskIOMetricGroup io = UnregisteredMetricGroups.createUnregisteredTaskMetricGroup().getIOMetricGroup();
        List<Sample> samples = new CopyOnWriteArrayList<>();
        WorkerLoadSink.Factory sink = worker -> (interval, w, busy, backPressured, wall, records) -> samples.add(
                new Sample(interval, busy, backPressured, wall, records, System.currentTimeMillis(), System.nanoTime()));
        io.markTaskInitializationStarted();
        WorkerLoadSampler sampler =
                WorkerLoadSampler.start(io, 3, new WorkerLoadSampler.Config(INTERVAL_MS, sink), "test task");

        Thread.sleep(250); // initialising: nothing to report
        assertTrue(samples.isEmpty(), samples.toString());
        io.markTaskStart();
        long startNanos = System.nanoTime();
        Thread.sleep(50); // busy
        long idleStart = System.nanoTime();
        io.getIdleTimeMsPerSecond().markStart();
        Thread.sleep(350); // idle across several boundaries
        io.getIdleTimeMsPerSecond().markEnd();
        long idleEnd = System.nanoTime();
        io.getNumRecordsInCounter().inc(42);
        io.getHardBackPressuredTimePerSecond().markStart();
        Thread.sleep(120);
        io.getHardBackPressuredTimePerSecond().markEnd();
        io.getSoftBackPressuredTimePerSecond().markStart();
        Thread.sleep(80);
        io.getSoftBackPressuredTimePerSecond().markEnd();
        sampler.close();
        long endNanos = samples.get(samples.size() - 1).atNanos();

        double wall = 0;
        double busy = 0;
        double backPressured = 0;
        long records = 0;
        for (int i = 0; i < samples.size(); i++) {
            Sample s = samples.get(i);
            wall += s.intervalMs();
            busy += s.busyMs();
            backPressured += s.backPressuredMs();
            records += s.recordsIn();
            assertTrue(s.busyMs() >= -1e-3 && s.backPressuredMs() >= 0, s.toString());
            assertTrue(s.busyMs() + s.backPressuredMs() <= s.intervalMs() + 1e-3, s.toString());
            if (i > 0) {
                assertTrue(s.interval() > samples.get(i - 1).interval(), samples.toString());
            }
            if (i < samples.size() - 1) {
                // Taken just after the end of its interval, the boundary (interval + 1)·I.
                long late = s.atMs() - (s.interval() + 1) * INTERVAL_MS;
                assertTrue(late >= 0 && late < INTERVAL_MS, s + " taken " + late + " ms after its boundary");
            }
            if (s.atNanos() - s.intervalMs() * 1e6 >= idleStart && s.atNanos() <= idleEnd) {
                // Wholly inside the idle stretch: Flink's own idle count has not seen any of it yet.
                assertTrue(s.busyMs() < 2, "idle interval read as busy: " + s);
            }
        }
        double running = (endNanos - startNanos) / 1e6;
        assertEquals(running, wall, 3.0, "the samples cover the running time, not the initialisation");
        assertEquals(200, backPressured, 5.0);
        assertEquals(running - 350 - 200, busy, 6.0);
        assertEquals(42, records);
    }
}
