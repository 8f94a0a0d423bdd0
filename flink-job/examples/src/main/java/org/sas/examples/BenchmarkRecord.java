package org.sas.examples;

/**
 * One record of the benchmark tasks, as the experiment job's workload makes them: a numeric key, the
 * record's index (from which event time comes), and its payload, a sentence for {@link WordHistogram} or
 * values for {@link QuantileDigest}.
 */
public class BenchmarkRecord {

    /** The key: a rank of the key distribution. */
    public long key;
    /** The record's position in the stream, from 0. */
    public long index;
    /** Words separated by single spaces ({@link WordHistogram}); empty when the task needs none. */
    public String sentence = "";
    /** Values in [0, 1) ({@link QuantileDigest}); empty when the task needs none. */
    public double[] values = new double[0];

    /** For Flink's POJO serializer. */
    public BenchmarkRecord() {}

    /** Record {@code index} with key {@code key} and its payload. */
    public BenchmarkRecord(long key, long index, String sentence, double[] values) {
        this.key = key;
        this.index = index;
        this.sentence = sentence;
        this.values = values;
    }

    @Override
    public String toString() {
        return "record " + index + " of key " + key;
    }
}
