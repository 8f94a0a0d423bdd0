package org.sas.job.bench;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

import org.sas.flink.internal.WorkerKey;
import org.sas.nativeloader.NativeRouter;

import java.util.ArrayList;
import java.util.List;

/**
 * Records per second of a saturated job routed by Flink's {@code keyBy} (A) against the same job routed
 * by the Rust {@code hash} router through JNI followed by the worker-key {@code keyBy} the pipeline uses
 * (B). Source parallelism 1 (the bottleneck, so every nanosecond of routing shows), 4 counting workers,
 * uniform keys over 100 000, runs interleaved A, B, A, B, ...; records/s = N / net job runtime.
 *
 * <p>Run with {@code bin/bench-jni.sh [records] [rounds]}.
 */
public final class RouterVsKeyByBench {

    private static final int WORKERS = 4;
    private static final int KEYS = 100_000;

    private RouterVsKeyByBench() {}

    public static void main(String[] args) throws Exception {
        long records = args.length > 0 ? Long.parseLong(args[0]) : 20_000_000L;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        NativeRouter.ensureLoaded();
        List<Double> keyBy = new ArrayList<>();
        List<Double> jni = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            keyBy.add(run(records, false));
            jni.add(run(records, true));
            System.out.printf("round %d: keyBy %.2f M/s, jni-router %.2f M/s%n",
                    round + 1, keyBy.get(round) / 1e6, jni.get(round) / 1e6);
        }
        double a = median(keyBy);
        double b = median(jni);
        System.out.printf("RESULT keyBy_median=%.0f jni_router_median=%.0f ratio=%.3f per_record_cost_ratio=%.3f%n",
                a, b, b / a, a / b);
    }

    private static double median(List<Double> xs) {
        double[] v = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private static double run(long records, boolean jniRouter) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        // As in the pipeline: chained operators hand records on without a defensive copy.
        env.getConfig().enableObjectReuse();
        DataGeneratorSource<Tuple3<Long, Long, Integer>> source = new DataGeneratorSource<>(
                seq -> Tuple3.of(Long.remainderUnsigned(seq * 0x9E3779B97F4A7C15L, KEYS), seq, -1),
                records,
                RateLimiterStrategy.noOp(),
                Types.TUPLE(Types.LONG, Types.LONG, Types.INT));
        DataStream<Tuple3<Long, Long, Integer>> stream =
                env.fromSource(source, WatermarkStrategy.noWatermarks(), "source").setParallelism(1);
        DataStream<Tuple3<Long, Long, Integer>> counted;
        if (jniRouter) {
            // The worker key's code, which Flink's key-group assignment sends to the router's worker.
            counted = stream.process(new JniRoute())
                    .setParallelism(1)
                    .keyBy(t -> WorkerKey.codeFor(t.f2, t.f0, WORKERS))
                    .map(new CountPerKey())
                    .setParallelism(WORKERS)
                    .setMaxParallelism(WORKERS);
        } else {
            counted = stream.keyBy(t -> t.f0).map(new CountPerKey()).setParallelism(WORKERS);
        }
        counted.sinkTo(new DiscardingSink<>()).setParallelism(WORKERS);
        JobExecutionResult result = env.execute(jniRouter ? "jni-router" : "keyBy");
        return records / (result.getNetRuntime() / 1000.0);
    }

    /** The router operator's shape: one native call per record, the worker set on the record. */
    static final class JniRoute extends ProcessFunction<Tuple3<Long, Long, Integer>, Tuple3<Long, Long, Integer>> {
        private static final long serialVersionUID = 1L;
        private transient long router;

        @Override
        public void open(OpenContext ctx) {
            router = NativeRouter.create(
                    "task: wordcount\npartitioner: hash\nworkers: " + WORKERS + "\nrecords: 1\n", "");
        }

        @Override
        public void processElement(Tuple3<Long, Long, Integer> t, Context ctx, Collector<Tuple3<Long, Long, Integer>> out) {
            t.f2 = NativeRouter.route(router, t.f0, 0);
            out.collect(t);
        }

        @Override
        public void close() {
            NativeRouter.close(router);
        }
    }

    /** The same downstream work in both variants: a count per key. */
    static final class CountPerKey extends RichMapFunction<Tuple3<Long, Long, Integer>, Tuple3<Long, Long, Integer>> {
        private static final long serialVersionUID = 1L;
        private transient long[] counts;

        @Override
        public void open(OpenContext ctx) {
            counts = new long[KEYS];
        }

        @Override
        public Tuple3<Long, Long, Integer> map(Tuple3<Long, Long, Integer> t) {
            counts[(int) (long) t.f0]++;
            return t;
        }
    }
}
