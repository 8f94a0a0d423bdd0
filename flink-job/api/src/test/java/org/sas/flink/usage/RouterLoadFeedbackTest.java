package org.sas.flink.usage;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.sas.flink.SkewedAggregation;

import java.time.Duration;

/**
 * The workers' loads reach the routers of a {@link SkewedAggregation} (issue #14, item 2), as in the
 * experiment job's {@code RouterLoadFeedbackTest}: each load interval, every router closes its interval
 * with the workers' busy ratios, which {@code dalton-metrics} routes by.
 */
class RouterLoadFeedbackTest {

    private static final int WORKERS = 4;
    private static final int ROUTERS = 2;
    private static final long INTERVAL_MS = 250;

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(WORKERS)
            .build());

    /** Counts records. */
    static final class Count implements AggregateFunction<Long, Long, Long> {
        private static final long serialVersionUID = 1L;

        @Override
        public Long createAccumulator() {
            return 0L;
        }

        @Override
        public Long add(Long value, Long accumulator) {
            return accumulator + 1;
        }

        @Override
        public Long getResult(Long accumulator) {
            return accumulator;
        }

        @Override
        public Long merge(Long a, Long b) {
            return a + b;
        }
    }

    @Test
    void routersCloseTheirIntervalsWithTheWorkersLoads() throws Exception {
        // 2 000 records/s for 3 s over 100 keys, event time 1 ms per record: about 12 load intervals of
        // 250 ms, each sent once to each of the 2 routers once all 4 workers have reported it.
        long rate = 2000;
        long records = 3 * rate;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<Long> input = env.fromSource(
                        new DataGeneratorSource<>(i -> i, records, RateLimiterStrategy.perSecond(rate), Types.LONG),
                        WatermarkStrategy.<Long>forMonotonousTimestamps().withTimestampAssigner((i, t) -> i),
                        "numbers")
                .setParallelism(ROUTERS);
        SkewedAggregation.of(input, i -> i % 100, new Count())
                .window(TumblingEventTimeWindows.of(Duration.ofMillis(500)))
                .partitioner("dalton-metrics")
                .paramsText("seed: 11\nagent:\n  interval_ms: " + INTERVAL_MS + "\n")
                .parallelism(WORKERS)
                .build()
                .sinkTo(new DiscardingSink<>());
        JobExecutionResult result = env.execute("router load feedback through the API");

        int taken = result.<Integer>getAccumulatorResult(
                SkewedAggregation.routerLoadIntervalsAccumulator(SkewedAggregation.DEFAULT_NAME));
        int dropped = result.<Integer>getAccumulatorResult(
                SkewedAggregation.routerLoadIntervalsDroppedAccumulator(SkewedAggregation.DEFAULT_NAME));
        System.out.printf("the %d routers took %d load vectors, dropped %d%n", ROUTERS, taken, dropped);
        // 3 s is about 12 intervals; the first ones go while the workers start, the last after the routers
        // end: at least 4 per router.
        assertTrue(taken >= 4 * ROUTERS, "the routers took only " + taken + " load vectors (dropped " + dropped + ")");
    }
}
