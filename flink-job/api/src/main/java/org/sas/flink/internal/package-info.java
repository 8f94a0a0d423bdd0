/**
 * The implementation of {@link org.sas.flink.SkewedAggregation}: the router function, the worker keys that
 * deliver records where the router sent them, the partial and merge aggregates and their windows. Not part
 * of the API: classes here are public only because Flink instantiates and serializes them, and they may
 * change without notice.
 */
package org.sas.flink.internal;
