package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.internal.Routed;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/** A job that fails once after a completed checkpoint restarts from it and still produces exact results. */
class CheckpointRestartTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = TestJobs.cluster();

    /** Set when a checkpoint completed; the failure waits for it so the restart has something to restore. */
    static final AtomicBoolean CHECKPOINTED = new AtomicBoolean();
    static final AtomicBoolean FAILED = new AtomicBoolean();
    static final AtomicInteger RESTARTS = new AtomicInteger();

    /** Throws once, on the first record past the middle of the stream after a checkpoint. */
    static class FailOnce implements MapFunction<Routed<Event>, Routed<Event>>, CheckpointListener {
        private static final long serialVersionUID = 1L;
        private final long failAt;

        FailOnce(long failAt) {
            this.failAt = failAt;
        }

        @Override
        public Routed<Event> map(Routed<Event> r) {
            if (r.value.index >= failAt && CHECKPOINTED.get() && FAILED.compareAndSet(false, true)) {
                throw new RuntimeException("induced failure at record " + r.value.index);
            }
            return r;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            CHECKPOINTED.set(true);
        }
    }

    @Test
    void restartFromCheckpointKeepsResultsExact() throws Exception {
        long records = 20_000;
        String yaml = TestJobs.yaml("wordcount", "w-choices", records) + "source_rate: 8000\n";
        JobParams params = JobParams.parse(yaml, TestJobs.repoRoot());

        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 2);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(100));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.enableCheckpointing(100);

        DataStream<KeyedWindowResult<Long, HashMap<String, Long>>> results = TwoPhasePipeline.build(env, params,
                new Task.WordHistogram(),
                hooks -> hooks.afterRouter(routed -> routed.map(new FailOnce(records / 2)).name("fail-once")));
        List<KeyedWindowResult<Long, HashMap<String, Long>>> out = new ArrayList<>();
        try (CloseableIterator<KeyedWindowResult<Long, HashMap<String, Long>>> it = results.executeAndCollect()) {
            it.forEachRemaining(out::add);
        }
        assertTrue(FAILED.get(), "the induced failure happened");
        assertEquals(PipelineExactnessTest.wordReference(params), PipelineExactnessTest.byKeyAndWindow(out));
    }
}
