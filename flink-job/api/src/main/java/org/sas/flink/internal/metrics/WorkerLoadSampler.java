package org.sas.flink.internal.metrics;

import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.groups.InternalOperatorMetricGroup;
import org.apache.flink.runtime.metrics.groups.TaskIOMetricGroup;
import org.apache.flink.util.Preconditions;
import org.apache.flink.util.clock.Clock;
import org.apache.flink.util.clock.SystemClock;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Serializable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Samples a worker task's busy, back-pressured and idle time and its records in, per wall-clock
 * interval of I ms, and hands each interval to a {@link WorkerLoadSink}. See {@code docs/metrics.md}.
 *
 * <p>Interval {@code n} is {@code [n·I, (n+1)·I)} in epoch ms, so every worker's interval {@code n}
 * covers the same wall time. A daemon thread wakes at each boundary and reads the task's counters; the
 * record path is not touched. Idle and back-pressured time come from the task's own timers (the ones
 * behind Flink's {@code accumulateIdleTimeMs} and {@code accumulateBackPressuredTimeMs}), busy time is
 * the rest of the time the task has been running, as Flink defines {@code accumulateBusyTimeMs}: the
 * samples of a task add up to Flink's counters. Nothing is reported while the task initialises.
 *
 * <p>Every time is read from one {@link Clock} (the system clock, as Flink's task metrics use): its
 * {@code absoluteTimeMillis} numbers the intervals, its {@code relativeTimeNanos} measures them. A test
 * hands the sampler and the task metrics the same manual clock and calls {@link #poll} itself.
 */
public final class WorkerLoadSampler implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(WorkerLoadSampler.class);

    /** Shortest interval: below it the sampler's own wake-ups and the sink calls start to cost. */
    public static final long MIN_INTERVAL_MS = 100;

    /**
     * What to sample and where to send it; travels with the job graph.
     *
     * @param intervalMs I, at least {@value #MIN_INTERVAL_MS} ms
     * @param sink opens each worker's sink
     */
    public record Config(long intervalMs, WorkerLoadSink.Factory sink) implements Serializable {
        public Config {
            Preconditions.checkArgument(intervalMs >= MIN_INTERVAL_MS,
                    "load interval must be at least %s ms, got %s", MIN_INTERVAL_MS, intervalMs);
            Preconditions.checkNotNull(sink, "load sink");
        }
    }

    private final int worker;
    private final long intervalMs;
    private final Clock clock;
    private final WorkerLoadSink sink;
    private final TaskIOMetricGroup io;
    private final Counter recordsIn;
    private final TimerTotal idle;
    private final TimerTotal softBackPressure;
    private final TimerTotal hardBackPressure;
    /** When Flink began initialising the task, epoch ms. */
    private final long initMs;
    /** Construction, in epoch ms and in relative nanos: maps the start of the task to the latter. */
    private final long openMs;
    private final long openNanos;
    private final CountDownLatch stop = new CountDownLatch(1);
    /** Calls {@link #poll} at each boundary; null when the caller polls (tests). */
    private Thread thread;

    // Owned by the sampler thread, then by close() once that thread has ended.
    /** When the task started running (relative nanos), or -1 while it initialises. */
    private long startNanos = -1;
    private long lastNanos;
    private long lastBusyNanos;
    private long lastBackPressureNanos;
    private long lastRecordsIn;
    /** The last interval reported. */
    private long lastInterval = Long.MIN_VALUE / 2;
    /** The last interval whose end {@link #poll} has seen (reported or, while initialising, skipped). */
    private long lastEnded;

    /**
     * A sampler of {@code io} on {@code clock}, which must be the clock of {@code io}'s timers. No thread
     * runs: the caller calls {@link #poll} (the {@code start} factories start a thread that does).
     */
    WorkerLoadSampler(TaskIOMetricGroup io, int worker, Config config, Clock clock) {
        this.worker = worker;
        this.intervalMs = config.intervalMs();
        this.clock = clock;
        this.io = io;
        this.recordsIn = io.getNumRecordsInCounter();
        this.idle = TimerTotal.register(io.getIdleTimeMsPerSecond(), clock);
        this.softBackPressure = TimerTotal.register(io.getSoftBackPressuredTimePerSecond(), clock);
        this.hardBackPressure = TimerTotal.register(io.getHardBackPressuredTimePerSecond(), clock);
        this.openMs = clock.absoluteTimeMillis();
        this.openNanos = clock.relativeTimeNanos();
        this.initMs = openMs - io.getTaskInitializationDuration();
        this.lastRecordsIn = recordsIn.getCount();
        // The interval under way is the first one reported.
        this.lastEnded = Math.floorDiv(openMs, intervalMs) - 1;
        this.sink = config.sink().open(worker);
    }

    /**
     * Starts sampling the task of a worker operator; call from the operator's {@code open()}.
     *
     * <p>The worker is the subtask index, the router's worker index when the operator's max
     * parallelism equals its parallelism (the pipeline's {@code WorkerKey} relies on the same).
     *
     * @throws IllegalStateException when the operator is not on a Flink task (no task metrics)
     */
    public static WorkerLoadSampler start(RuntimeContext ctx, Config config) {
        TaskInfo task = ctx.getTaskInfo();
        Preconditions.checkState(task.getMaxNumberOfParallelSubtasks() == task.getNumberOfParallelSubtasks(),
                "the subtask index of %s is its worker index only when max parallelism (%s) = parallelism (%s)",
                task.getTaskName(), task.getMaxNumberOfParallelSubtasks(), task.getNumberOfParallelSubtasks());
        MetricGroup group = ctx.getMetricGroup();
        if (!(group instanceof InternalOperatorMetricGroup)) {
            throw new IllegalStateException("load sampling needs a Flink task's operator metrics, got "
                    + group.getClass().getName());
        }
        TaskIOMetricGroup io = ((InternalOperatorMetricGroup) group).getTaskIOMetricGroup();
        return start(io, task.getIndexOfThisSubtask(), config, task.getTaskNameWithSubtasks());
    }

    /** Starts sampling {@code io}, the metrics of a task in its initialisation, on the system clock. */
    static WorkerLoadSampler start(TaskIOMetricGroup io, int worker, Config config, String taskName) {
        WorkerLoadSampler sampler = new WorkerLoadSampler(io, worker, config, SystemClock.getInstance());
        sampler.startThread(taskName);
        return sampler;
    }

    /** Starts the daemon thread that polls just after each boundary. */
    private void startThread(String taskName) {
        thread = new Thread(this::run, "load sampler of " + taskName);
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        try {
            long waitMs = poll();
            // +1: the millisecond clock truncates, so waking at boundary - now could land just before it.
            while (!stop.await(waitMs + 1, TimeUnit.MILLISECONDS)) {
                waitMs = poll();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Reports interval {@code n} once its end {@code (n+1)·I} has passed; a poll late past several
     * boundaries reports once, for the last of them, with the longer wall time it covers.
     *
     * @return ms until the next boundary, at least 1
     */
    long poll() {
        long now = clock.absoluteTimeMillis();
        long underWay = Math.floorDiv(now, intervalMs);
        if (underWay - 1 > lastEnded) {
            lastEnded = underWay - 1;
            sample(lastEnded);
        }
        return (underWay + 1) * intervalMs - now;
    }

    /** Reports the time since the previous sample as {@code interval}; nothing before the task runs. */
    private void sample(long interval) {
        if (startNanos < 0 && !taskStarted()) {
            return;
        }
        long idleNanos = idle.nanos();
        long backPressureNanos = softBackPressure.nanos() + hardBackPressure.nanos();
        long records = recordsIn.getCount();
        long now = clock.relativeTimeNanos();
        if (now == lastNanos) {
            return; // closed at the instant of the last sample: nothing more to report
        }
        // Flink's accumulateBusyTimeMs: running time less idle and back-pressured time. The timers were
        // read a few microseconds before now, so an idle period under way could make it dip: never down.
        long busyNanos = Math.max(lastBusyNanos, now - startNanos - idleNanos - backPressureNanos);
        try {
            sink.accept(interval, worker, (busyNanos - lastBusyNanos) / 1e6,
                    (backPressureNanos - lastBackPressureNanos) / 1e6, (now - lastNanos) / 1e6, records - lastRecordsIn);
        } catch (RuntimeException e) {
            LOG.warn("worker {}: the load of interval {} was not delivered", worker, interval, e);
        }
        lastNanos = now;
        lastBusyNanos = busyNanos;
        lastBackPressureNanos = backPressureNanos;
        lastRecordsIn = records;
        lastInterval = interval;
    }

    /**
     * Whether the task has started running, the point from which Flink counts busy time (its private
     * {@code taskStartTime}); sets {@link #startNanos}. The public initialisation duration grows with
     * the clock until the task starts, then stays at start minus init.
     */
    private boolean taskStarted() {
        long nowMs = clock.absoluteTimeMillis();
        long startMs = initMs + io.getTaskInitializationDuration();
        // initMs may be 1 ms early (millisecond clock), so a task still initialising can read as
        // started 1 ms ago: a start younger than 2 ms is taken up at the next sample.
        if (startMs > nowMs - 2) {
            return false;
        }
        startNanos = openNanos + (Math.max(startMs, openMs) - openMs) * 1_000_000;
        lastNanos = startNanos;
        return true;
    }

    /** Stops the thread, reports the interval under way up to now and closes the sink. */
    @Override
    public void close() throws InterruptedException {
        stop.countDown();
        if (thread != null) {
            thread.join();
        }
        try {
            sample(Math.max(Math.floorDiv(clock.absoluteTimeMillis(), intervalMs), lastInterval + 1));
        } finally {
            idle.unregister();
            softBackPressure.unregister();
            hardBackPressure.unregister();
            sink.close();
        }
    }
}
