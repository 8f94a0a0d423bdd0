package org.sas.job;

/**
 * One record flowing through the pipeline (a Flink POJO).
 *
 * <p>{@code worker} is set by the router; {@code sentence} carries the WordCount payload and {@code
 * values} the TDigest payload.
 */
public class Event {
    /** Position in the generated stream. */
    public long index;
    /** The key, chosen by the workload generator. */
    public long key;
    /** Event time (ms). */
    public long ts;
    /** The worker the router picked, or -1 before routing. */
    public int worker = -1;
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
        return "Event{index=" + index + ", key=" + key + ", ts=" + ts + ", worker=" + worker + "}";
    }
}
