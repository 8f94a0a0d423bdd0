package org.sas.job;

/**
 * One record flowing through the pipeline (a Flink POJO).
 *
 * <p>{@code sentence} carries the WordCount payload and {@code values} the TDigest payload. The router
 * hands each record on with its worker ({@code org.sas.flink.internal.Routed}).
 */
public class Event {
    /**
     * The source's sequence number: each source subtask emits a contiguous range of them, in order. Key,
     * event time and payload are those of stream position {@link WorkloadGenerator#interleaved} of it.
     */
    public long index;
    /** The key, chosen by the workload generator. */
    public long key;
    /** Event time (ms). */
    public long ts;
    /** WordCount payload. */
    public String sentence;
    /** TDigest payload. */
    public double[] values;
    /**
     * Wall-clock time (µs since the epoch) at which the source released the record, set only on the
     * records whose end-to-end latency the throughput test measures; 0 otherwise.
     */
    public long emitMicros;

    public Event() {}

    @Override
    public String toString() {
        return "Event{index=" + index + ", key=" + key + ", ts=" + ts + "}";
    }
}
