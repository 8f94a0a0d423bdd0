package org.sas.flink.internal.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.apache.flink.runtime.metrics.TimerGauge;
import org.apache.flink.runtime.metrics.groups.TaskIOMetricGroup;
import org.apache.flink.runtime.metrics.groups.UnregisteredMetricGroups;
import org.apache.flink.util.clock.ManualClock;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The sampler on a task's metrics, both on one manual clock that the test moves: alignment, the period
 * under way, the start, late polls. Every figure is exact.
 */
class WorkerLoadSamplerTest {

    /** One sample and when it arrived (epoch ms of the manual clock). */
    record Sample(long interval, double busyMs, double backPressuredMs, double intervalMs, long recordsIn, long atMs) {}

    static final long INTERVAL_MS = 100;
    /** An interval boundary, in epoch ms; interval {@code N0} starts here. */
    static final long BASE_MS = 1_700_000_000_000L;
    static final long N0 = BASE_MS / INTERVAL_MS;

    /** The manual clock at {@code BASE_MS + offsetMs}. */
    static ManualClock clockAt(long offsetMs) {
        return new ManualClock(TimeUnit.MILLISECONDS.toNanos(BASE_MS + offsetMs));
    }

    /** A sampler of {@code io} whose samples go to {@code samples}, stamped by {@code clock}. */
    static WorkerLoadSampler sampler(TaskIOMetricGroup io, ManualClock clock, List<Sample> samples) {
        WorkerLoadSink.Factory sink = worker -> (interval, w, busy, backPressured, wall, records) -> samples.add(
                new Sample(interval, busy, backPressured, wall, records, clock.absoluteTimeMillis()));
        return new WorkerLoadSampler(io, 3, new WorkerLoadSampler.Config(INTERVAL_MS, sink), clock);
    }

    /** Moves the clock {@code ms} forward one millisecond at a time, polling as the sampler's thread would. */
    static void run(ManualClock clock, WorkerLoadSampler sampler, long ms) {
        for (long i = 0; i < ms; i++) {
            clock.advanceTime(1, TimeUnit.MILLISECONDS);
            sampler.poll();
        }
    }

    @Test
    void timerTotalCountsThePeriodUnderWay() {
        ManualClock clock = clockAt(0);
        TimerGauge gauge = new TimerGauge(clock);
        TimerTotal total = TimerTotal.register(gauge, clock);
        gauge.markStart();
        clock.advanceTime(60, TimeUnit.MILLISECONDS);
        // Flink's own count waits for the period's end (or the registry's 5-second update).
        assertEquals(0, gauge.getAccumulatedCount());
        assertEquals(60_000_000L, total.nanos());
        gauge.markEnd();
        assertEquals(60, gauge.getAccumulatedCount());
        assertEquals(60_000_000L, total.nanos());
        clock.advanceTime(10, TimeUnit.MILLISECONDS);
        assertEquals(60_000_000L, total.nanos(), "nothing counts between periods");
    }

    @Test
    void samplesAreAlignedPartitionTheRunningTimeAndCountIdleUnderWay() throws Exception {
        ManualClock clock = clockAt(30);
        TaskIOMetricGroup io = new TaskIOMetricGroup(UnregisteredMetricGroups.createUnregisteredTaskMetricGroup(), clock);
        List<Sample> samples = new ArrayList<>();
        io.markTaskInitializationStarted();
        WorkerLoadSampler sampler = sampler(io, clock, samples);

        run(clock, sampler, 250); // initialising: nothing to report
        assertEquals(List.of(), samples);
        io.markTaskStart(); // at +280
        run(clock, sampler, 50); // busy
        io.getIdleTimeMsPerSecond().markStart(); // +330
        run(clock, sampler, 350); // idle across several boundaries
        io.getIdleTimeMsPerSecond().markEnd(); // +680
        io.getNumRecordsInCounter().inc(42);
        io.getHardBackPressuredTimePerSecond().markStart();
        run(clock, sampler, 120);
        io.getHardBackPressuredTimePerSecond().markEnd(); // +800
        io.getSoftBackPressuredTimePerSecond().markStart();
        run(clock, sampler, 80);
        io.getSoftBackPressuredTimePerSecond().markEnd(); // +880
        run(clock, sampler, 15); // busy
        sampler.close(); // +895: the interval under way, up to now

        // Each sample is taken at its interval's end, (interval + 1)·I, and covers the running time since
        // the previous one: the first starts at the task's start, not at its initialisation.
        assertEquals(List.of(
                new Sample(N0 + 2, 20, 0, 20, 0, BASE_MS + 300),
                new Sample(N0 + 3, 30, 0, 100, 0, BASE_MS + 400), // idle from +330, under way at +400
                new Sample(N0 + 4, 0, 0, 100, 0, BASE_MS + 500),
                new Sample(N0 + 5, 0, 0, 100, 0, BASE_MS + 600),
                new Sample(N0 + 6, 0, 20, 100, 42, BASE_MS + 700), // idle to +680, then back-pressured
                new Sample(N0 + 7, 0, 100, 100, 0, BASE_MS + 800),
                new Sample(N0 + 8, 15, 80, 95, 0, BASE_MS + 895)), // closed mid-interval
                samples);
    }

    @Test
    void aLatePollReportsOnceForTheLastBoundaryOverTheWholeTime() throws Exception {
        ManualClock clock = clockAt(0);
        TaskIOMetricGroup io = new TaskIOMetricGroup(UnregisteredMetricGroups.createUnregisteredTaskMetricGroup(), clock);
        List<Sample> samples = new ArrayList<>();
        io.markTaskInitializationStarted();
        WorkerLoadSampler sampler = sampler(io, clock, samples);
        io.markTaskStart();

        assertEquals(INTERVAL_MS, sampler.poll(), "a whole interval to the next boundary");
        clock.advanceTime(340, TimeUnit.MILLISECONDS); // the thread woke 240 ms late
        assertEquals(60, sampler.poll(), "ms to the next boundary");
        assertEquals(60, sampler.poll(), "a second poll reports nothing more");
        sampler.close(); // at the instant of the last sample: nothing more to report

        assertEquals(List.of(new Sample(N0 + 2, 340, 0, 340, 0, BASE_MS + 340)), samples);
    }
}
