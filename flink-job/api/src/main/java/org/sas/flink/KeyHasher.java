package org.sas.flink;

import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;

import org.sas.flink.internal.KeyHashers;

import java.io.Serializable;

/**
 * Turns a key into the 64-bit number the router sees. The router decides a record's worker from this
 * number alone (hot-key detection, hash choices), so a hasher must be <em>stable</em>: equal keys give equal
 * numbers in every JVM of the job and across restarts. Two different keys may share a number: that costs
 * balance only, never correctness, because results are keyed by the real key, not by its hash.
 *
 * <p>{@code Object.hashCode()} is stable only where the type specifies it ({@code String}, {@code Long},
 * {@code Integer}, ...); for any other type it may differ between JVMs and is never used. {@link
 * SkewedAggregation} picks {@link #forType} unless given a hasher of its own.
 *
 * <p>Each router subtask deserializes its own copy, so an implementation need not be thread-safe.
 *
 * @param <K> the key
 */
@FunctionalInterface
public interface KeyHasher<K> extends Serializable {

    /**
     * Returns the router's number for {@code key}, a function of the key's value only.
     *
     * @param key a key the key selector returned; never null
     * @return the key's 64-bit number
     */
    long hash(K key);

    /**
     * Returns the hasher of {@code String} keys: FNV-1a (64 bits) over the key's UTF-8 bytes, then the
     * splitmix64 finaliser. The same number as the Rust router's {@code sas_router::hashing::word_key}, the
     * key of a word in the {@code text} and {@code file} workloads.
     *
     * @return the UTF-8 hasher
     */
    static KeyHasher<String> utf8() {
        return KeyHashers.UTF8;
    }

    /**
     * Returns the hasher of integral keys ({@code Long}, {@code Integer}, {@code Short}, {@code Byte}): the
     * key's value, sign-extended to 64 bits, as the project's experiments number their keys.
     *
     * @param <N> the key's integral type
     * @return the identity on the key's value
     */
    static <N extends Number> KeyHasher<N> integral() {
        return KeyHashers.integral();
    }

    /**
     * Returns a hasher of the key's bytes as {@code serializer} writes them, hashed as {@link #utf8} hashes
     * a string's. Stable when the serializer writes equal keys as equal bytes, which Flink's serializers of
     * basic types, tuples, rows and POJOs of them do and Kryo's do not promise.
     *
     * @param serializer the key type's serializer; each copy of the hasher uses its own duplicate
     * @param <K> the key
     * @return the hasher of the serialized key
     */
    static <K> KeyHasher<K> serialized(TypeSerializer<K> serializer) {
        return KeyHashers.serialized(serializer);
    }

    /**
     * Returns the default hasher of keys of {@code type}: {@link #utf8} for {@code String}, {@link #integral}
     * for {@code Long}, {@code Integer}, {@code Short} and {@code Byte}, and {@link #serialized} for other
     * basic types and for tuples, rows and POJOs made of them.
     *
     * @param type the key's Flink type
     * @param config the serializer settings of the job ({@code env.getConfig().getSerializerConfig()})
     * @param <K> the key
     * @return the type's default hasher
     * @throws IllegalArgumentException for a type that holds a generic (Kryo) type anywhere, naming it:
     *     pass a hasher of your own to {@link SkewedAggregation#keyHasher}
     */
    static <K> KeyHasher<K> forType(TypeInformation<K> type, SerializerConfig config) {
        return KeyHashers.forType(type, config);
    }
}
