package org.sas.job;

import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;

import com.tdunning.math.stats.MergingDigest;

import java.io.Serializable;
import java.util.HashMap;

/**
 * What a pipeline aggregates per (key, window): how to start, add a record and merge two partials.
 *
 * @param <A> the aggregate; add and merge may update it in place and return it
 */
public abstract class Task<A> implements Serializable {

    private static final long serialVersionUID = 1L;

    /** An empty aggregate. */
    public abstract A create();

    /** Adds one record. */
    public abstract A add(A acc, Event e);

    /** Merges two partials of the same key and window. */
    public abstract A merge(A a, A b);

    /** Flink type of the aggregate. */
    public abstract TypeInformation<A> valueType();

    /** Flink type of a partial. */
    public abstract TypeInformation<Partial<A>> partialType();

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
        public HashMap<String, Long> create() {
            return new HashMap<>();
        }

        @Override
        public HashMap<String, Long> add(HashMap<String, Long> acc, Event e) {
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

        @Override
        public TypeInformation<Partial<HashMap<String, Long>>> partialType() {
            return TypeInformation.of(new TypeHint<Partial<HashMap<String, Long>>>() {});
        }
    }

    /** Classic word count: the key is the word, the aggregate its number of occurrences. */
    public static final class WordCount extends Task<Long> {
        private static final long serialVersionUID = 1L;

        @Override
        public Long create() {
            return 0L;
        }

        @Override
        public Long add(Long acc, Event e) {
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

        @Override
        public TypeInformation<Partial<Long>> partialType() {
            return TypeInformation.of(new TypeHint<Partial<Long>>() {});
        }
    }

    /** Per-key t-digest (compression 100) of the records' values; partials merge digest into digest. */
    public static final class QuantileDigest extends Task<MergingDigest> {
        private static final long serialVersionUID = 1L;

        /** Compression of every digest. */
        public static final double COMPRESSION = 100;

        @Override
        public MergingDigest create() {
            return new MergingDigest(COMPRESSION);
        }

        @Override
        public MergingDigest add(MergingDigest acc, Event e) {
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

        @Override
        public TypeInformation<Partial<MergingDigest>> partialType() {
            return TypeInformation.of(new TypeHint<Partial<MergingDigest>>() {});
        }
    }
}
