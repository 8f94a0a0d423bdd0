package org.sas.job.throughput;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.accumulators.ListAccumulator;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.groups.InternalOperatorMetricGroup;
import org.apache.flink.runtime.metrics.groups.TaskIOMetricGroup;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.Preconditions;

import org.sas.flink.internal.Routed;
import org.sas.job.Event;
import org.sas.job.throughput.StageResult.Phase;

import java.io.Serializable;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * The throughput test's rate schedule: paces the source stage by stage as {@link Ramp} decides, measures
 * each stage, and measures latency and balance in the last one. It runs in one subtask after the
 * routers: with one router it is chained to the source and the router, so holding a record back holds
 * the source back; with several ({@code routers}: p), it is its own task that all p routers send to, and
 * holding a record back holds them all back through the network's back-pressure. Either way its task's
 * back-pressure timers measure whether the workers take what it emits.
 *
 * <p>Each stage is measured over its measured part (after {@link RampSettings#warmupMs}) by a
 * {@link StageMeter}: achieved rate, back-pressure from the task's accumulated soft and hard
 * back-pressured time ({@code TaskIOMetricGroup#getAccumulatedBackPressuredTimeMs}), and the share of
 * its records each worker processed ({@link WorkerProgress}). The latency stage stamps its measured
 * records with their emit time ({@link Event#emitMicros}) for {@link WorkerMeter} and counts them per
 * worker in a {@link BalanceMeter}.
 *
 * <p>When the test is over the ramp's {@link Report} goes to the {@value #REPORT} accumulator and every
 * further record is dropped: the source was given a finite count ({@link Ramp#recordBudget}) because a
 * downstream operator cannot end a bounded source.
 */
public class RateController extends ProcessFunction<Routed<Event>, Routed<Event>> {

    private static final long serialVersionUID = 1L;

    /** Accumulator: one {@link Report}. */
    public static final String REPORT = "throughput-report";

    /** The pacer parks only once it is this far ahead of schedule: records leave in bursts of about 1 ms. */
    private static final long PARK_AFTER_NANOS = 1_000_000L;

    /**
     * A lag behind schedule up to this much is made up by emitting faster (a late wake-up on a busy
     * machine); beyond it the time is lost, as when the source is back-pressured.
     */
    private static final long MAX_LAG_NANOS = 50_000_000L;

    /** Longest wait for the workers to drain their queues before a stage. */
    private static final long MAX_DRAIN_NANOS = 60_000_000_000L;

    /**
     * What the test measured: its stages, the maximum sustained rate and the latency stage's balance.
     *
     * @param complete false if the source ran out of records before the test was over
     */
    public record Report(
            List<StageResult> stages,
            double maxRate,
            double imbalance,
            double nmad,
            double hotFragmentation,
            long peakPartialStates,
            int windows,
            boolean complete)
            implements Serializable {}

    private final RampSettings settings;
    private final double capacity;
    private final int workers;
    private final long windowMs;
    private final int hotKeys;

    private transient Ramp ramp;
    private transient TaskIOMetricGroup io;
    private transient JobID job;
    private transient WorkerProgress progress;
    /** Records let through to each worker since the start. */
    private transient long[] routed;
    /** Scratch: records each worker has processed, as last read. */
    private transient long[] processed;
    private transient StageMeter meter;
    private transient ListAccumulator<Report> report;
    private transient boolean finished;

    // The stage under way (times from System.nanoTime()).
    private transient Ramp.Stage stage;
    private transient int stageNumber;
    private transient long measureFrom;
    private transient long stageEnd;
    private transient boolean measuring;
    private transient long costNanos;
    private transient long nextNanos;
    private transient BalanceMeter balance;

    /**
     * @param capacity the total emulated capacity C (records/s)
     * @param windowMs metric window of the balance figures (the params' {@code window_ms})
     * @param hotKeys K, the keys whose fragmentation is averaged
     */
    public RateController(RampSettings settings, double capacity, int workers, long windowMs, int hotKeys) {
        Preconditions.checkArgument(capacity > 0, "total capacity must be > 0, got %s", capacity);
        this.settings = settings;
        this.capacity = capacity;
        this.workers = workers;
        this.windowMs = windowMs;
        this.hotKeys = hotKeys;
    }

    /** Wall-clock time in µs since the epoch (comparable between the task managers of one machine). */
    static long wallMicros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }

    @Override
    public void open(OpenContext openContext) {
        Preconditions.checkState(getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks() == 1,
                "the rate controller runs in a single subtask");
        MetricGroup group = getRuntimeContext().getMetricGroup();
        Preconditions.checkState(group instanceof InternalOperatorMetricGroup,
                "the rate controller needs a Flink task's metrics, got %s", group.getClass().getName());
        io = ((InternalOperatorMetricGroup) group).getTaskIOMetricGroup();
        ramp = new Ramp(settings, capacity);
        job = getRuntimeContext().getJobInfo().getJobId();
        progress = WorkerProgress.acquire(job, workers, false);
        routed = new long[workers];
        processed = new long[workers];
        meter = new StageMeter(workers);
        report = new ListAccumulator<>();
        getRuntimeContext().addAccumulator(REPORT, report);
        System.out.printf("throughput: total capacity %,.0f records/s over %d workers%n", capacity, workers);
    }

    @Override
    public void processElement(Routed<Event> r, Context ctx, Collector<Routed<Event>> out) {
        if (finished) {
            return;
        }
        long now = System.nanoTime();
        if (stage == null || stageOver(now)) {
            now = nextStage(now);
            if (finished) {
                return;
            }
        }
        now = pace(now);
        if (!measuring && now >= measureFrom) {
            measuring = true;
            meter.start(now, io.getAccumulatedBackPressuredTimeMs(), routed, processed());
        }
        if (measuring) {
            meter.count();
            if (stage.phase() == Phase.LATENCY) {
                r.value.emitMicros = wallMicros();
                balance.add(r.value.key, r.worker, r.value.ts);
            }
        }
        routed[r.worker]++;
        out.collect(r);
    }

    /** The latency stage also waits for enough whole metric windows, for at most 4 × its length. */
    private boolean stageOver(long now) {
        if (now < stageEnd) {
            return false;
        }
        return stage.phase() != Phase.LATENCY
                || balance.wholeWindows() >= settings.minWindows()
                || now >= measureFrom + 4 * settings.latencyMs() * 1_000_000L;
    }

    /** Ends the stage under way (if any) and starts the next; returns the time after any pause. */
    private long nextStage(long now) {
        if (stage != null) {
            endStage(now);
        }
        stage = ramp.next();
        if (stage == null) {
            finish(true);
            return now;
        }
        stageNumber++;
        if (stage.pauseFirst()) {
            now = workerSignal() ? drain(now) : pause(now, settings.cooldownMs() * 1_000_000L);
        }
        if (stage.phase() == Phase.LATENCY) {
            balance = new BalanceMeter(workers, windowMs, hotKeys);
        }
        long length = stage.phase() == Phase.LATENCY
                ? settings.warmupMs() + settings.latencyMs()
                : settings.stageMs();
        measureFrom = now + settings.warmupMs() * 1_000_000L;
        stageEnd = now + length * 1_000_000L;
        measuring = false;
        costNanos = (long) (1e9 / stage.targetRate());
        nextNanos = now;
        return now;
    }

    private void endStage(long now) {
        // No record got through the whole measured part when not measuring: the source was stuck.
        StageMeter.Averages a = measuring
                ? meter.end(now, io.getAccumulatedBackPressuredTimeMs(), routed, workerSignal() ? processed() : null)
                : new StageMeter.Averages(0, 1, Double.NaN, (now - measureFrom) / 1e9);
        StageResult r = ramp.record(a.achieved(), a.backpressure(), a.delivered(), a.seconds());
        System.out.printf("throughput: stage %2d %-7s target %,9.0f/s  achieved %,9.0f/s  back-pressure %4.2f"
                        + "  delivered %5.3f  %s%n",
                stageNumber, r.phase(), r.targetRate(), r.achievedRate(), r.backpressure(), r.delivered(),
                r.sustained() ? "sustained" : "NOT sustained");
    }

    /** Whether every worker reports its progress in this JVM ({@link WorkerProgress}). */
    private boolean workerSignal() {
        return progress.workersRegistered() == workers;
    }

    /** Records each worker has processed so far (a scratch array, overwritten by the next call). */
    private long[] processed() {
        for (int w = 0; w < workers; w++) {
            processed[w] = progress.get(w);
        }
        return processed;
    }

    /** Pauses until every worker has processed what it was sent (but for records in flight). */
    private long drain(long now) {
        long until = now + MAX_DRAIN_NANOS;
        while (now < until && backlog() > StageMeter.IN_FLIGHT) {
            LockSupport.parkNanos(10_000_000L);
            now = System.nanoTime();
        }
        return now;
    }

    /** The largest number of records a worker has been sent and not processed yet. */
    private long backlog() {
        long max = 0;
        for (int w = 0; w < workers; w++) {
            max = Math.max(max, routed[w] - progress.get(w));
        }
        return max;
    }

    /** Holds the record until the schedule allows it; returns the time after. */
    private long pace(long now) {
        nextNanos = Math.max(nextNanos, now - MAX_LAG_NANOS) + costNanos;
        long ahead = nextNanos - now;
        if (ahead > PARK_AFTER_NANOS) {
            LockSupport.parkNanos(ahead);
            return System.nanoTime();
        }
        return now;
    }

    private static long pause(long now, long nanos) {
        long until = now + nanos;
        while (now < until) {
            LockSupport.parkNanos(until - now);
            now = System.nanoTime();
        }
        return now;
    }

    private void finish(boolean complete) {
        finished = true;
        BalanceMeter.Balance b = balance == null ? new BalanceMeter.Balance(0, 0, 0, 0, 0) : balance.result();
        report.add(new Report(new ArrayList<>(ramp.results()), ramp.maxRate(), b.imbalance(), b.nmad(),
                b.hotFragmentation(), b.peakPartialStates(), b.windows(), complete));
        System.out.printf("throughput: max sustained rate %,.0f records/s (%.3f of capacity)%s%n",
                ramp.maxRate(), ramp.maxRate() / capacity, complete ? "" : " — the source ran out of records");
    }

    @Override
    public void close() {
        if (ramp != null && !finished) {
            finish(false);
        }
        if (progress != null) {
            WorkerProgress.release(job, progress, false);
            progress = null;
        }
    }

    @Override
    public String toString() {
        return "RATE_CONTROLLER";
    }
}
