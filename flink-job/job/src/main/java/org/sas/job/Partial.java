package org.sas.job;

/**
 * The aggregate of one key over one window: a worker's partial, or (after the merge) the final result.
 *
 * @param <A> the aggregate
 */
public class Partial<A> {
    public long key;
    /** End of the window (exclusive, ms of event time). */
    public long windowEnd;
    public A value;

    public Partial() {}

    public Partial(long key, long windowEnd, A value) {
        this.key = key;
        this.windowEnd = windowEnd;
        this.value = value;
    }

    @Override
    public String toString() {
        return "Partial{key=" + key + ", windowEnd=" + windowEnd + ", value=" + value + "}";
    }
}
