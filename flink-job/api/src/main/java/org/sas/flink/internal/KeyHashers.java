package org.sas.flink.internal;

import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.CompositeType;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.flink.api.java.typeutils.TupleTypeInfoBase;
import org.apache.flink.core.memory.DataOutputSerializer;

import org.sas.flink.KeyHasher;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Set;

/** The built-in {@link KeyHasher}s and the rule that picks one for a key type. Not part of the API. */
public final class KeyHashers {

    private KeyHashers() {}

    /** {@link KeyHasher#utf8}. */
    public static final KeyHasher<String> UTF8 = new Utf8();

    private static final Set<Class<?>> INTEGRAL = Set.of(Long.class, Integer.class, Short.class, Byte.class);

    /** {@link KeyHasher#integral}. */
    @SuppressWarnings("unchecked")
    public static <N extends Number> KeyHasher<N> integral() {
        return (KeyHasher<N>) Integral.INSTANCE;
    }

    /** {@link KeyHasher#serialized}. */
    public static <K> KeyHasher<K> serialized(TypeSerializer<K> serializer) {
        return new Serialized<>(serializer);
    }

    /** {@link KeyHasher#forType}. */
    @SuppressWarnings("unchecked")
    public static <K> KeyHasher<K> forType(TypeInformation<K> type, SerializerConfig config) {
        Class<K> cls = type.getTypeClass();
        if (cls == String.class) {
            return (KeyHasher<K>) UTF8;
        }
        if (INTEGRAL.contains(cls)) {
            return (KeyHasher<K>) Integral.INSTANCE;
        }
        TypeInformation<?> unstable = firstUnstable(type);
        if (unstable != null) {
            throw new IllegalArgumentException("SkewedAggregation: no stable default hash for keys of type " + type
                    + ": its part " + unstable + " is serialized by Kryo, which may write equal keys as different "
                    + "bytes; pass keyHasher(...) with a hash of the key's value, or make the key a POJO or tuple "
                    + "of basic types");
        }
        return new Serialized<>(type.createSerializer(config));
    }

    /** The first part of {@code type} that is not a basic type, tuple, row or POJO; null if none. */
    private static TypeInformation<?> firstUnstable(TypeInformation<?> type) {
        if (type instanceof BasicTypeInfo) {
            return null;
        }
        if (type instanceof PojoTypeInfo || type instanceof TupleTypeInfoBase) {
            CompositeType<?> composite = (CompositeType<?>) type;
            for (int i = 0; i < composite.getArity(); i++) {
                TypeInformation<?> part = firstUnstable(composite.getTypeAt(i));
                if (part != null) {
                    return part;
                }
            }
            return null;
        }
        return type;
    }

    /**
     * FNV-1a (64 bits) over {@code data[0..length)}, then the splitmix64 finaliser with seed 0: the Rust
     * router's {@code word_key} ({@code partitioner-jni/core/src/hashing.rs}) over the same bytes.
     */
    public static long bytes(byte[] data, int length) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < length; i++) {
            h ^= data[i] & 0xff;
            h *= 0x00000100000001b3L;
        }
        long z = h ^ 0x632be59bd9b4e019L;
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static final class Utf8 implements KeyHasher<String> {
        private static final long serialVersionUID = 1L;

        @Override
        public long hash(String key) {
            byte[] utf8 = key.getBytes(StandardCharsets.UTF_8);
            return bytes(utf8, utf8.length);
        }

        /** The one instance, also after deserialization. */
        private Object readResolve() {
            return UTF8;
        }

        @Override
        public String toString() {
            return "UTF8";
        }
    }

    private static final class Integral implements KeyHasher<Number> {
        private static final long serialVersionUID = 1L;
        static final Integral INSTANCE = new Integral();

        @Override
        public long hash(Number key) {
            return key.longValue();
        }

        private Object readResolve() {
            return INSTANCE;
        }

        @Override
        public String toString() {
            return "INTEGRAL";
        }
    }

    private static final class Serialized<K> implements KeyHasher<K> {
        private static final long serialVersionUID = 1L;

        private final TypeSerializer<K> serializer;
        /** This copy's serializer and buffer: serializers are not thread-safe, and a key is small. */
        private transient TypeSerializer<K> own;
        private transient DataOutputSerializer buffer;

        Serialized(TypeSerializer<K> serializer) {
            this.serializer = serializer;
        }

        @Override
        public long hash(K key) {
            if (buffer == null) {
                own = serializer.duplicate();
                buffer = new DataOutputSerializer(64);
            }
            buffer.clear();
            try {
                own.serialize(key, buffer);
            } catch (IOException e) {
                throw new UncheckedIOException("SkewedAggregation: cannot serialize the key " + key + " to hash it", e);
            }
            return bytes(buffer.getSharedBuffer(), buffer.length());
        }

        @Override
        public String toString() {
            return "SERIALIZED(" + serializer.getClass().getSimpleName() + ")";
        }
    }
}
