/**
 * The implementation of {@link org.sas.flink.SkewedAggregation}: the graph ({@link
 * org.sas.flink.internal.Pipeline}, which the experiment job builds too, with its hooks), the router function,
 * the worker keys that deliver records where the router sent them, the partial and merge aggregates and their
 * windows. Not part of the API: classes here are public only because Flink instantiates and serializes them,
 * or because the experiment job shares them, and they may change without notice.
 */
package org.sas.flink.internal;
