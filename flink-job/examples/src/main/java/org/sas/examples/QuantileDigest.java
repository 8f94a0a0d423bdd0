package org.sas.examples;

import org.apache.flink.api.common.functions.AggregateFunction;

import com.tdunning.math.stats.MergingDigest;

/**
 * A t-digest of the records' values per key: the experiment job's {@code tdigest} benchmark task, as an
 * aggregate for {@code SkewedAggregation} or {@code keyBy().window()}. Merging adds one digest into the
 * other: the merged digest holds exactly the values of both (its {@code size()}, {@code getMin()} and {@code
 * getMax()} are those of one digest of all of them), and its quantiles are within the digest's rank error
 * ({@value #COMPRESSION} compression), though not bit-equal to one digest's, of the exact ones.
 */
public class QuantileDigest implements AggregateFunction<BenchmarkRecord, MergingDigest, MergingDigest> {

    private static final long serialVersionUID = 1L;

    /** Compression of every digest, the job's. */
    public static final double COMPRESSION = 100;

    @Override
    public MergingDigest createAccumulator() {
        return new MergingDigest(COMPRESSION);
    }

    @Override
    public MergingDigest add(BenchmarkRecord record, MergingDigest digest) {
        for (double v : record.values) {
            digest.add(v);
        }
        return digest;
    }

    @Override
    public MergingDigest getResult(MergingDigest digest) {
        return digest;
    }

    @Override
    public MergingDigest merge(MergingDigest a, MergingDigest b) {
        a.add(b);
        return a;
    }
}
