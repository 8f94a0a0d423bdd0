package org.sas.job.throughput;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.accumulators.Histogram;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import org.sas.flink.internal.Routed;
import org.sas.flink.internal.WorkerKey;
import org.sas.job.Event;

import java.util.Map;
import java.util.TreeMap;

/**
 * The throughput test's probe at a worker, just before its partial aggregate takes a record (after the
 * emulated service of {@code CapacityLimiter}). It counts the records the worker has processed, for the
 * {@link RateController} ({@link WorkerProgress}), and measures end-to-end latency: wall-clock time since
 * the source released the record, for the records that carry an emit time ({@link Event#emitMicros}).
 * Latencies go to the {@value #LATENCY} accumulator in buckets 1 % wide.
 */
public class WorkerMeter extends KeyedProcessFunction<WorkerKey<Long>, Routed<Event>, Routed<Event>> {

    private static final long serialVersionUID = 1L;

    /** Accumulator: latency bucket → records. */
    public static final String LATENCY = "throughput-latency-buckets";

    /** Buckets per factor e of latency: bucket b holds latencies in [e^(b/100), e^((b+1)/100)) µs. */
    private static final double BUCKETS_PER_E = 100;

    private transient Histogram buckets;
    private transient JobID job;
    private transient WorkerProgress progress;
    private transient int worker;
    private transient long processed;

    @Override
    public void open(OpenContext openContext) {
        buckets = new Histogram();
        getRuntimeContext().addAccumulator(LATENCY, buckets);
        TaskInfo task = getRuntimeContext().getTaskInfo();
        job = getRuntimeContext().getJobInfo().getJobId();
        worker = task.getIndexOfThisSubtask();
        progress = WorkerProgress.acquire(job, task.getNumberOfParallelSubtasks(), true);
    }

    @Override
    public void processElement(Routed<Event> r, Context ctx, Collector<Routed<Event>> out) {
        if (r.value.emitMicros > 0) {
            buckets.add(bucket(RateController.wallMicros() - r.value.emitMicros));
        }
        progress.set(worker, ++processed);
        out.collect(r);
    }

    @Override
    public void close() {
        if (progress != null) {
            WorkerProgress.release(job, progress, true);
            progress = null;
        }
    }

    static int bucket(long micros) {
        return (int) Math.floor(Math.log(Math.max(1, micros)) * BUCKETS_PER_E);
    }

    /**
     * The {@code q}-quantile of the bucketed latencies in ms (the bucket's geometric middle), or NaN
     * when there is none.
     */
    static double quantileMs(Map<Integer, Integer> histogram, double q) {
        long total = 0;
        for (int n : histogram.values()) {
            total += n;
        }
        if (total == 0) {
            return Double.NaN;
        }
        long rank = (long) Math.ceil(q * total);
        long seen = 0;
        for (Map.Entry<Integer, Integer> b : new TreeMap<>(histogram).entrySet()) {
            seen += b.getValue();
            if (seen >= Math.max(1, rank)) {
                return Math.exp((b.getKey() + 0.5) / BUCKETS_PER_E) / 1000;
            }
        }
        throw new AssertionError("rank " + rank + " beyond " + total + " records");
    }

    /** Records in the histogram. */
    static long count(Map<Integer, Integer> histogram) {
        long total = 0;
        for (int n : histogram.values()) {
            total += n;
        }
        return total;
    }
}
