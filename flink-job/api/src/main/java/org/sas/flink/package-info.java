/**
 * The SaS partitioner as a Flink API: {@link org.sas.flink.SkewedAggregation} replaces a skewed {@code
 * keyBy(key).window(assigner).aggregate(function)} with a routed aggregation of the same results, and
 * {@link org.sas.flink.KeyedWindowResult} carries each result with its key and window. {@link
 * org.sas.flink.KeyHasher} says how a key becomes the number the router sees.
 *
 * <p>Everything under {@code org.sas.flink.internal} is implementation and may change without notice.
 * {@code docs/flink-api.md} shows how to add the API to a job and run it.
 */
package org.sas.flink;
