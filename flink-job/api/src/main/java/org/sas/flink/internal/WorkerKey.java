package org.sas.flink.internal;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;

import java.util.Map;
import java.util.Objects;

/**
 * The key of the partial aggregate: a record's key on the worker the router chose. Its {@link #hashCode}
 * is a {@link #codeFor code} that Flink's key-group assignment maps to that worker, so {@code keyBy} on it
 * delivers every record where the router sent it, and the window state holds one accumulator per (worker,
 * key, window). Equality is on worker and key; the code follows from them.
 *
 * @param <K> the record's key
 */
public class WorkerKey<K> {

    /** The worker the router chose, {@code 0 <= worker < P}. */
    public int worker;
    /** The hash code: Flink's key group of it is {@link #worker} (see {@link #codeFor}). */
    public int code;
    /** The record's key. */
    public K key;

    /** For Flink's serializer. */
    public WorkerKey() {}

    /** The key of {@code key} on {@code worker}, with the code the router computed for the record. */
    public WorkerKey(int worker, int code, K key) {
        this.worker = worker;
        this.code = code;
        this.key = key;
    }

    /** Flink's type of a worker key whose key has type {@code keyType}. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    public static <K> TypeInformation<WorkerKey<K>> typeInfo(TypeInformation<K> keyType) {
        return (TypeInformation) Types.POJO(WorkerKey.class, Map.of("worker", Types.INT, "code", Types.INT, "key", keyType));
    }

    /**
     * Returns an int whose key group is {@code worker} when {@code maxParallelism == parallelism ==
     * workers}: Flink assigns key group {@code MathUtils.murmurHash(hashCode) % maxParallelism}, and this
     * returns the preimage under that murmur of {@code t = s · workers + worker}, with {@code s} taken from
     * {@code keyHash} so that the keys of one worker get different codes (a constant code per worker would
     * put all of them in one bucket of the heap state backend's hash map).
     *
     * @param worker the router's choice, {@code 0 <= worker < workers}
     * @param keyHash the key's 64-bit hash, as the router saw it
     * @param workers P, at most 32768 (the router's limit)
     */
    public static int codeFor(int worker, long keyHash, int workers) {
        long multiples = Integer.MAX_VALUE / workers;
        long target = ((keyHash >>> 1) % multiples) * workers + worker;
        return murmurPreimage((int) target);
    }

    // MathUtils.murmurHash(code) is murmur3_x86_32's mixing of one block with seed 0, then its finaliser
    // (MathUtils.bitMix), then an absolute value. Every step but the last is a bijection on 32-bit ints; for a
    // target t >= 0 the step functions below undo them in reverse order, so murmurHash(murmurPreimage(t)) == t.
    private static final int INV_C1 = inverse(0xcc9e2d51);
    private static final int INV_C2 = inverse(0x1b873593);
    private static final int INV_5 = inverse(5);
    private static final int INV_MIX1 = inverse(0x85ebca6b);
    private static final int INV_MIX2 = inverse(0xc2b2ae35);

    static int murmurPreimage(int t) {
        int h = t;
        // bitMix, backwards: h ^= h >>> 16; h *= 0xc2b2ae35; h ^= h >>> 13; h *= 0x85ebca6b; h ^= h >>> 16.
        h ^= h >>> 16;
        h *= INV_MIX2;
        h ^= (h >>> 13) ^ (h >>> 26);
        h *= INV_MIX1;
        h ^= h >>> 16;
        // The block mix, backwards: code *= C1; rotl 15; *= C2; rotl 13; * 5 + 0xe6546b64; ^= 4 (the length).
        h ^= 4;
        h = (h - 0xe6546b64) * INV_5;
        h = Integer.rotateRight(h, 13);
        h *= INV_C2;
        h = Integer.rotateRight(h, 15);
        return h * INV_C1;
    }

    /** The multiplicative inverse of an odd {@code a} modulo 2^32 (Newton's iteration, 3 bits to 48). */
    private static int inverse(int a) {
        int x = a;
        for (int i = 0; i < 4; i++) {
            x *= 2 - a * x;
        }
        return x;
    }

    /**
     * Selects the worker key of a routed record: its worker and code from the router, its key from the
     * user's selector (called on the sending and on the receiving side, so it must be deterministic, as for
     * any {@code keyBy}).
     *
     * @param <T> the record
     * @param <K> the key
     */
    public static class Selector<T, K> implements KeySelector<Routed<T>, WorkerKey<K>> {
        private static final long serialVersionUID = 1L;

        private final KeySelector<T, K> keySelector;

        /** Takes the key with {@code keySelector}. */
        public Selector(KeySelector<T, K> keySelector) {
            this.keySelector = keySelector;
        }

        @Override
        public WorkerKey<K> getKey(Routed<T> routed) throws Exception {
            return new WorkerKey<>(routed.worker, routed.code, keySelector.getKey(routed.value));
        }
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof WorkerKey)) {
            return false;
        }
        WorkerKey<?> other = (WorkerKey<?>) o;
        return worker == other.worker && Objects.equals(key, other.key);
    }

    @Override
    public int hashCode() {
        return code;
    }

    @Override
    public String toString() {
        return key + "@worker" + worker;
    }
}
