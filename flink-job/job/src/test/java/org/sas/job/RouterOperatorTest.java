package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.accumulators.Accumulator;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;

import org.junit.jupiter.api.Test;

import org.sas.flink.KeyHasher;
import org.sas.flink.SkewedAggregation;
import org.sas.flink.internal.KeyRouter;
import org.sas.flink.internal.Routed;
import org.sas.flink.internal.RouterParams;
import org.sas.flink.internal.loads.LoadFeedback;
import org.sas.flink.internal.loads.RouterOperator;
import org.sas.flink.internal.loads.WorkerLoads;
import org.sas.nativeloader.NativeRouter;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * The router operator hands the workers' loads to its Rust router between records: a fresh interval
 * reaches {@code Partitioner::end_interval} exactly as given, a stale or repeated one does not.
 */
class RouterOperatorTest {

    /** A long load interval, so the test never straddles more than one boundary. */
    static final long INTERVAL_MS = 60_000;
    /** Records routed: 0.6 s of event time, two slides of hot keys before the loads arrive. */
    static final int RECORDS = 12_000;
    /** The record before which the loads arrive. */
    static final int HALF = 6_000;
    /** Worker 3 costs far more per record than the others. */
    static final double[] LOADS = {0.1, 0.1, 0.1, 1.0};

    @Test
    void freshLoadsAreTakenOnceAndInOrder() {
        long i = 1000;
        long start = i * INTERVAL_MS;
        // Interval i's loads arrive while i + 1 is under way: taken.
        assertTrue(LoadFeedback.takesLoads(i, Long.MIN_VALUE, start + INTERVAL_MS + 20, INTERVAL_MS));
        assertTrue(LoadFeedback.takesLoads(i, i - 1, start + 2 * INTERVAL_MS - 1, INTERVAL_MS));
        // A worker's clock ahead of the router's: still the newest loads, taken.
        assertTrue(LoadFeedback.takesLoads(i, i - 1, start + 500, INTERVAL_MS));
        // Once interval i + 1 has ended too, i is stale; i + 1's loads are the ones to wait for.
        assertFalse(LoadFeedback.takesLoads(i, i - 1, start + 2 * INTERVAL_MS, INTERVAL_MS));
        // Never twice, never older than the last taken.
        assertFalse(LoadFeedback.takesLoads(i, i, start + INTERVAL_MS + 20, INTERVAL_MS));
        assertFalse(LoadFeedback.takesLoads(i - 1, i, start + INTERVAL_MS + 20, INTERVAL_MS));
    }

    @Test
    void theOperatorHandsTheLoadsToTheRouterBetweenRecords() throws Exception {
        JobParams params = JobParams.parse(TestJobs.yaml("wordcount", "dalton-metrics", RECORDS)
                + "agent:\n  interval_ms: " + INTERVAL_MS + "\n", TestJobs.repoRoot());
        long[][] stream = TestJobs.stream(params);

        // The same router driven directly: with the loads after the first half, and without them.
        List<Integer> withLoads = routeDirectly(params, stream, LOADS);
        List<Integer> without = routeDirectly(params, stream, null);
        long differing = IntStream.range(0, RECORDS)
                .filter(i -> !withLoads.get(i).equals(without.get(i))).count();
        assertTrue(differing > 100,
                "the loads must change dalton-metrics' routing for this test to mean anything: " + differing);

        // Through the operator, the loads arriving as its coordinator sends them.
        // Interval -1 is the one that just ended, -3 one that ended two intervals ago.
        assertTrue(withLoads.equals(routeThroughOperator(params, stream, new Arrival(-1, LOADS))),
                "fresh loads, taken");
        assertTrue(withLoads.equals(routeThroughOperator(params, stream,
                new Arrival(-1, LOADS), new Arrival(-1, new double[] {1, 0.1, 0.1, 0.1}))),
                "the same interval again, not taken");
        assertTrue(without.equals(routeThroughOperator(params, stream, new Arrival(-3, LOADS))),
                "stale loads, not taken");
    }

    /** Routes {@code stream} on a plain router, closing an interval with {@code loads} halfway (if not null). */
    private static List<Integer> routeDirectly(JobParams params, long[][] stream, double[] loads) {
        long router = NativeRouter.createRouter(params.yaml, "", 0);
        try {
            List<Integer> workers = new ArrayList<>();
            for (int i = 0; i < stream.length; i++) {
                if (i == HALF && loads != null) {
                    NativeRouter.endInterval(router, loads);
                }
                workers.add(NativeRouter.route(router, stream[i][0], stream[i][1]));
            }
            return workers;
        } finally {
            NativeRouter.close(router);
        }
    }

    /** Loads arriving for the interval {@code relative} to the one under way (-1: the one just ended). */
    record Arrival(int relative, double[] loads) {}

    /** Routes {@code stream} through a {@link RouterOperator}, the loads arriving halfway as its coordinator sends them. */
    private static List<Integer> routeThroughOperator(JobParams params, long[][] stream, Arrival... arrivals)
            throws Exception {
        RouterParams routing = RouterParams.resolve(params.yaml, "params", Path.of(""), List.of(),
                SlidingEventTimeWindows.of(Duration.ofMillis(params.windowMs), Duration.ofMillis(params.slideMs)));
        RouterOperator<Event, Routed<Event>, KeyRouter<Event, Long>> operator = new RouterOperator<>(
                new KeyRouter<>(routing, e -> e.key, KeyHasher.integral(), TwoPhasePipeline.NAME));
        // Subtask 0 of the params' routers, as routeDirectly's router.
        try (OneInputStreamOperatorTestHarness<Event, Routed<Event>> harness =
                new OneInputStreamOperatorTestHarness<>(operator, params.routers, params.routers, 0)) {
            harness.open();
            for (int i = 0; i < stream.length; i++) {
                if (i == HALF) {
                    long now = System.currentTimeMillis() / INTERVAL_MS;
                    for (Arrival a : arrivals) {
                        operator.handleOperatorEvent(new WorkerLoads(now + a.relative(), a.loads().clone()));
                    }
                }
                Event e = new Event();
                e.index = i;
                e.key = stream[i][0];
                e.ts = stream[i][1];
                harness.processElement(new StreamRecord<>(e, e.ts));
            }
            List<Integer> workers = new ArrayList<>();
            for (Routed<Event> r : harness.extractOutputValues()) {
                workers.add(r.worker);
            }
            Map<String, Accumulator<?, ?>> accumulators =
                    harness.getEnvironment().getAccumulatorRegistry().getUserMap();
            int taken = (Integer) accumulators.get(
                    SkewedAggregation.routerLoadIntervalsAccumulator(TwoPhasePipeline.NAME)).getLocalValue();
            int dropped = (Integer) accumulators.get(
                    SkewedAggregation.routerLoadIntervalsDroppedAccumulator(TwoPhasePipeline.NAME)).getLocalValue();
            assertEquals(arrivals.length, taken + dropped, "every arrival is counted once");
            return workers;
        }
    }
}
