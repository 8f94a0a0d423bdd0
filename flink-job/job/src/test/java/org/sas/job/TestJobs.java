package org.sas.job;

import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;

import org.sas.flink.KeyedWindowResult;
import org.sas.nativeloader.NativeRouter;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Shared pieces of the MiniCluster tests: params, the cluster, running a job, the stream it saw. */
final class TestJobs {

    private TestJobs() {}

    static final int WORKERS = 4;

    /** A MiniCluster with a slot per worker. */
    static MiniClusterExtension cluster() {
        return new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
                .setNumberTaskManagers(1)
                .setNumberSlotsPerTaskManager(WORKERS)
                .build());
    }

    /** The repository root (the tests run in flink-job/job). */
    static Path repoRoot() {
        return Path.of(System.getProperty("sas.repo.root", "../..")).toAbsolutePath().normalize();
    }

    /** Params of a small Zipf(1.5) run: 4 workers, 2 routers, 20 000 records over one second of event time. */
    static String yaml(String task, String partitioner, long records) {
        return String.join("\n",
                "task: " + task,
                "partitioner: " + partitioner,
                "workers: " + WORKERS,
                "routers: 2",
                "records: " + records,
                "seed: 11",
                "window_ms: 500",
                "slide_ms: 250",
                "workload:",
                "  kind: zipf",
                "  alpha: 1.5",
                "  keys: 1000",
                "  rate: 20000",
                "payload:",
                "  text_path: data/pg1342.txt",
                "  words_per_sentence: 6",
                "  values_per_record: 20",
                "");
    }

    static JobParams params(String task, String partitioner, long records) {
        return JobParams.parse(yaml(task, partitioner, records), repoRoot());
    }

    static List<String> partitionerNames() {
        NativeRouter.ensureLoaded();
        return List.of(NativeRouter.partitionerNames().split(","));
    }

    /** Runs the pipeline and collects its results. */
    static <A> List<KeyedWindowResult<Long, A>> run(StreamExecutionEnvironment env, JobParams params, Task<A> task)
            throws Exception {
        DataStream<KeyedWindowResult<Long, A>> results = TwoPhasePipeline.build(env, params, task);
        List<KeyedWindowResult<Long, A>> out = new ArrayList<>();
        try (CloseableIterator<KeyedWindowResult<Long, A>> it = results.executeAndCollect()) {
            it.forEachRemaining(out::add);
        }
        return out;
    }

    /** The (key, ts) of every record by its sequence number ({@link Event#index}), from the Rust generator. */
    static long[][] stream(JobParams params) {
        long workload = NativeRouter.createWorkload(params.yaml);
        try {
            long[][] records = new long[(int) params.records][];
            for (int i = 0; i < records.length; i++) {
                long position = WorkloadGenerator.interleaved(i, params.records, params.routers);
                records[i] = new long[] {NativeRouter.keyAt(workload, position), NativeRouter.eventTime(workload, position)};
            }
            return records;
        } finally {
            NativeRouter.closeWorkload(workload);
        }
    }

    /** Ends of the sliding windows holding {@code ts} (Flink's assignment, offset 0). */
    static List<Long> windowEnds(long ts, long size, long slide) {
        List<Long> ends = new ArrayList<>();
        for (long start = ts - Math.floorMod(ts, slide); start > ts - size; start -= slide) {
            ends.add(start + size);
        }
        return ends;
    }
}
