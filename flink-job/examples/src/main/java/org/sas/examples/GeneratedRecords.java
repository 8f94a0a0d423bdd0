package org.sas.examples;

import org.apache.flink.api.common.functions.MapFunction;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Makes record n of a seeded stream of {@link BenchmarkRecord}s, as the experiment job's workload shapes them:
 * a Zipf({@value #ALPHA}) key over {@value #KEYS} ranks, a sentence of {@value #WORDS} words and {@value
 * #VALUES} values in [0, 1). Each record is a function of its index alone, so a restored source that replays
 * an index replays the same record.
 */
public class GeneratedRecords implements MapFunction<Long, BenchmarkRecord> {

    private static final long serialVersionUID = 1L;

    /** Zipf exponent of the keys: the project's skewed streams'. */
    public static final double ALPHA = 1.5;
    /** Key ranks. */
    public static final int KEYS = 10_000;
    /** Words per sentence. */
    public static final int WORDS = 8;
    /** Values per record. */
    public static final int VALUES = 10;

    private static final String[] VOCABULARY = {
        "the", "of", "and", "to", "a", "in", "that", "it", "was", "her", "not", "be", "she", "he", "his", "as",
        "had", "with", "for", "you", "but", "have", "at", "on", "my", "all", "by", "they", "so", "this", "were", "which"
    };

    private final long seed;
    /** Cumulative Zipf weights of ranks 0..KEYS-1, made on first use in each task. */
    private transient double[] cdf;

    /** The stream of seed {@code seed}. */
    public GeneratedRecords(long seed) {
        this.seed = seed;
    }

    @Override
    public BenchmarkRecord map(Long index) {
        if (cdf == null) {
            cdf = zipfCdf();
        }
        // A generator of its own per record (splitmix64 of seed and index): records do not depend on order.
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
        int found = Arrays.binarySearch(cdf, random.nextDouble() * cdf[KEYS - 1]);
        long key = found >= 0 ? found : -found - 1;
        String[] words = new String[WORDS];
        for (int w = 0; w < WORDS; w++) {
            words[w] = VOCABULARY[random.nextInt(VOCABULARY.length)];
        }
        return new BenchmarkRecord(key, index, String.join(" ", words), random.doubles(VALUES).toArray());
    }

    private static double[] zipfCdf() {
        double[] cdf = new double[KEYS];
        double total = 0;
        for (int rank = 0; rank < KEYS; rank++) {
            total += 1.0 / Math.pow(rank + 1, ALPHA);
            cdf[rank] = total;
        }
        return cdf;
    }
}
