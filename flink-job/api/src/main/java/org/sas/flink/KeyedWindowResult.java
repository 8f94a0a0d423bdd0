package org.sas.flink;

import java.util.Objects;

/**
 * One result of a {@link SkewedAggregation}: the aggregate of one key over one window, as {@code
 * keyBy(key).window(assigner).aggregate(function)} would compute it, with the key and the window beside it.
 *
 * <p>A Flink POJO (public no-argument constructor, getters and setters), so results can be keyed,
 * filtered or written by field name. Two results are equal when key, window and value are.
 *
 * @param <K> the key
 * @param <OUT> the aggregate's result ({@code AggregateFunction.getResult})
 */
public class KeyedWindowResult<K, OUT> {

    private K key;
    private long windowStart;
    private long windowEnd;
    private OUT value;

    /** An empty result, for Flink's serializer. */
    public KeyedWindowResult() {}

    /**
     * A result of {@code key} over the window {@code [windowStart, windowEnd)}.
     *
     * @param key the key, as the key selector returned it
     * @param windowStart the window's first millisecond (inclusive)
     * @param windowEnd the window's end (exclusive)
     * @param value the aggregate's result for the key's records in the window
     */
    public KeyedWindowResult(K key, long windowStart, long windowEnd, OUT value) {
        this.key = key;
        this.windowStart = windowStart;
        this.windowEnd = windowEnd;
        this.value = value;
    }

    /** {@return the key, as the key selector returned it} */
    public K getKey() {
        return key;
    }

    /**
     * Sets the key.
     *
     * @param key the key
     */
    public void setKey(K key) {
        this.key = key;
    }

    /** {@return the window's first millisecond of event time (inclusive)} */
    public long getWindowStart() {
        return windowStart;
    }

    /**
     * Sets the window's start.
     *
     * @param windowStart the first millisecond (inclusive)
     */
    public void setWindowStart(long windowStart) {
        this.windowStart = windowStart;
    }

    /** {@return the window's end in milliseconds of event time (exclusive)} */
    public long getWindowEnd() {
        return windowEnd;
    }

    /**
     * Sets the window's end.
     *
     * @param windowEnd the end (exclusive)
     */
    public void setWindowEnd(long windowEnd) {
        this.windowEnd = windowEnd;
    }

    /** {@return the aggregate's result for the key's records in the window} */
    public OUT getValue() {
        return value;
    }

    /**
     * Sets the aggregate's result.
     *
     * @param value the result
     */
    public void setValue(OUT value) {
        this.value = value;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof KeyedWindowResult)) {
            return false;
        }
        KeyedWindowResult<?, ?> other = (KeyedWindowResult<?, ?>) o;
        return windowStart == other.windowStart
                && windowEnd == other.windowEnd
                && Objects.equals(key, other.key)
                && Objects.equals(value, other.value);
    }

    @Override
    public int hashCode() {
        return Objects.hash(key, windowStart, windowEnd, value);
    }

    /** Returns {@code key@[start, end) = value}. */
    @Override
    public String toString() {
        return key + "@[" + windowStart + ", " + windowEnd + ") = " + value;
    }
}
