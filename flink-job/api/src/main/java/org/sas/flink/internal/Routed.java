package org.sas.flink.internal;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;

import java.util.Map;

/**
 * A record with the router's decision: its worker and the {@link WorkerKey#code code} that sends its
 * {@link WorkerKey} there.
 *
 * @param <T> the record
 */
public class Routed<T> {

    /** The worker the router chose. */
    public int worker;
    /** {@link WorkerKey#codeFor} of the worker and the key's hash. */
    public int code;
    /** The record. */
    public T value;

    /** For Flink's serializer. */
    public Routed() {}

    /** {@code value} routed to {@code worker}. */
    public Routed(int worker, int code, T value) {
        this.worker = worker;
        this.code = code;
        this.value = value;
    }

    /** Flink's type of routed records of type {@code valueType}. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    public static <T> TypeInformation<Routed<T>> typeInfo(TypeInformation<T> valueType) {
        return (TypeInformation) Types.POJO(Routed.class, Map.of("worker", Types.INT, "code", Types.INT, "value", valueType));
    }

    @Override
    public String toString() {
        return value + "->worker" + worker;
    }
}
