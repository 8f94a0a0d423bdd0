package org.sas.job;

import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;

import com.tdunning.math.stats.MergingDigest;

import java.util.HashMap;

/**
 * What the job aggregates per (key, window), as the {@link AggregateFunction} of its pipeline: the
 * accumulator is the result, so that a worker's partial and the merged value have one type.
 *
 * @param <A> the aggregate; add and merge may update it in place and return it
 */
public abstract class Task<A> implements AggregateFunction<Event, A, A> {

    private static final long serialVersionUID = 1L;

    @Override
    public A getResult(A acc) {
        return acc;
    }

    /** Flink type of the aggregate. */
    public abstract TypeInformation<A> valueType();

    /** The task called {@code name} in params ({@code wordcount}, {@code wordcount-text}, {@code tdigest}). */
    public static Task<?> forName(String name) {
        switch (name) {
            case "wordcount":
                return new WordHistogram();
            case "wordcount-text":
                return new WordCount();
            case "tdigest":
                return new QuantileDigest();
            default:
                throw new IllegalArgumentException("task: unknown task `" + name + "`");
        }
    }

    /** Per-key histogram of the words of the records' sentences (the prototype's WordCount). */
    public static final class WordHistogram extends Task<HashMap<String, Long>> {
        private static final long serialVersionUID = 1L;

        @Override
        public HashMap<String, Long> createAccumulator() {
            return new HashMap<>();
        }

        @Override
        public HashMap<String, Long> add(Event e, HashMap<String, Long> acc) {
            for (String word : e.sentence.split(" ")) {
                acc.merge(word, 1L, Long::sum);
            }
            return acc;
        }

        @Override
        public HashMap<String, Long> merge(HashMap<String, Long> a, HashMap<String, Long> b) {
            b.forEach((w, c) -> a.merge(w, c, Long::sum));
            return a;
        }

        @Override
        public TypeInformation<HashMap<String, Long>> valueType() {
            return TypeInformation.of(new TypeHint<HashMap<String, Long>>() {});
        }

    }

    /** Classic word count: the key is the word, the aggregate its number of occurrences. */
    public static final class WordCount extends Task<Long> {
        private static final long serialVersionUID = 1L;

        @Override
        public Long createAccumulator() {
            return 0L;
        }

        @Override
        public Long add(Event e, Long acc) {
            return acc + 1;
        }

        @Override
        public Long merge(Long a, Long b) {
            return a + b;
        }

        @Override
        public TypeInformation<Long> valueType() {
            return TypeInformation.of(Long.class);
        }

    }

    /** Per-key t-digest (compression 100) of the records' values; partials merge digest into digest. */
    public static final class QuantileDigest extends Task<MergingDigest> {
        private static final long serialVersionUID = 1L;

        /** Compression of every digest. */
        public static final double COMPRESSION = 100;

        @Override
        public MergingDigest createAccumulator() {
            return new MergingDigest(COMPRESSION);
        }

        @Override
        public MergingDigest add(Event e, MergingDigest acc) {
            for (double v : e.values) {
                acc.add(v);
            }
            return acc;
        }

        @Override
        public MergingDigest merge(MergingDigest a, MergingDigest b) {
            a.add(b);
            return a;
        }

        @Override
        public TypeInformation<MergingDigest> valueType() {
            return TypeInformation.of(MergingDigest.class);
        }

    }
}
