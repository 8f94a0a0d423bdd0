package org.sas.flink.internal;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;

import java.util.Map;

/**
 * One worker's accumulator of one key over one window, on its way to the merge.
 *
 * @param <K> the key
 * @param <ACC> the aggregate's accumulator
 */
public class Partial<K, ACC> {

    /** The key. */
    public K key;
    /** The window's start, ms (inclusive). */
    public long windowStart;
    /** The window's end, ms (exclusive). */
    public long windowEnd;
    /** The worker's accumulator of the key's records in the window. */
    public ACC accumulator;

    /** For Flink's serializer. */
    public Partial() {}

    /** The accumulator of {@code key} over {@code [windowStart, windowEnd)}. */
    public Partial(K key, long windowStart, long windowEnd, ACC accumulator) {
        this.key = key;
        this.windowStart = windowStart;
        this.windowEnd = windowEnd;
        this.accumulator = accumulator;
    }

    /** Flink's type of partials with these key and accumulator types. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    public static <K, ACC> TypeInformation<Partial<K, ACC>> typeInfo(
            TypeInformation<K> keyType, TypeInformation<ACC> accumulatorType) {
        return (TypeInformation) Types.POJO(Partial.class, Map.of(
                "key", keyType, "windowStart", Types.LONG, "windowEnd", Types.LONG, "accumulator", accumulatorType));
    }

    /**
     * Selects a partial's key: the merge is keyed by the real key, never by its hash.
     *
     * @param <K> the key
     * @param <ACC> the accumulator
     */
    public static class ByKey<K, ACC> implements KeySelector<Partial<K, ACC>, K> {
        private static final long serialVersionUID = 1L;

        @Override
        public K getKey(Partial<K, ACC> partial) {
            return partial.key;
        }
    }

    @Override
    public String toString() {
        return key + "@[" + windowStart + ", " + windowEnd + ") partial " + accumulator;
    }
}
