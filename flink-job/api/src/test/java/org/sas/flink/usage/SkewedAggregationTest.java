package org.sas.flink.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.api.java.typeutils.TypeExtractor;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.EventTimeSessionWindows;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingProcessingTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;

import org.sas.flink.KeyedWindowResult;
import org.sas.flink.SkewedAggregation;
import org.sas.nativeloader.NativeRouter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;

/**
 * A job written against the public API only (this package sees nothing else of {@code org.sas.flink}):
 * for every partitioner, {@link SkewedAggregation} gives exactly the results of the same {@code
 * keyBy().window().aggregate()} without the router, on skewed words read from a file.
 */
class SkewedAggregationTest {

    private static final int WORKERS = 4;
    private static final int ROUTERS = 2;
    private static final int LINES = 4_000;
    /** Event time of line i: i · 7 ms, so 4 000 lines span 28 one-second windows. */
    private static final long MS_PER_LINE = 7;

    /** 16 slots: the README snippet runs 16 workers. */
    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
            .setNumberTaskManagers(1)
            .setNumberSlotsPerTaskManager(16)
            .build());

    @TempDir
    static Path dir;

    /** The words of the test file, line by line. */
    private static String[] words;

    /** One line of the file: its number (the event time's source) and its word. */
    public static class Line {
        public long id;
        public String word;

        public Line() {}

        public Line(long id, String word) {
            this.id = id;
            this.word = word;
        }

        @Override
        public String toString() {
            return "line " + id + " `" + word + "`";
        }
    }

    /** Count and sum of line numbers: any record lost, doubled or sent to the wrong key shows in one of them. */
    public static class Stats {
        public long count;
        public long idSum;
    }

    /** The aggregate under test: merge adds the other accumulator into the first. */
    public static class CountAndIdSum implements AggregateFunction<Line, Stats, Tuple2<Long, Long>> {
        @Override
        public Stats createAccumulator() {
            return new Stats();
        }

        @Override
        public Stats add(Line line, Stats acc) {
            acc.count++;
            acc.idSum += line.id;
            return acc;
        }

        @Override
        public Tuple2<Long, Long> getResult(Stats acc) {
            return Tuple2.of(acc.count, acc.idSum);
        }

        @Override
        public Stats merge(Stats a, Stats b) {
            a.count += b.count;
            a.idSum += b.idSum;
            return a;
        }
    }

    /** A POJO key: the word and its length class. */
    public static class WordKey {
        public String word;
        public int lengthClass;

        public WordKey() {}

        public WordKey(String word, int lengthClass) {
            this.word = word;
            this.lengthClass = lengthClass;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof WordKey && ((WordKey) o).word.equals(word) && ((WordKey) o).lengthClass == lengthClass;
        }

        @Override
        public int hashCode() {
            return Objects.hash(word, lengthClass);
        }

        @Override
        public String toString() {
            return word + "/" + lengthClass;
        }
    }

    /** A key selector that has no key for the hottest word. */
    public static class NullForHotWord implements KeySelector<Line, String> {
        @Override
        public String getKey(Line line) {
            return line.word.equals(words[0]) ? null : line.word;
        }
    }

    /** Writes a Zipf(1.2) file of 4 000 words over 200 (some non-ASCII), then reads it back. */
    @BeforeAll
    static void writeSkewedFile() throws Exception {
        int vocabulary = 200;
        double[] cdf = new double[vocabulary];
        double total = 0;
        for (int rank = 0; rank < vocabulary; rank++) {
            total += 1.0 / Math.pow(rank + 1, 1.2);
            cdf[rank] = total;
        }
        Random random = new Random(1342);
        List<String> lines = new ArrayList<>();
        // The hottest word first, so NullForHotWord meets it at once.
        lines.add(word(0));
        while (lines.size() < LINES) {
            double u = random.nextDouble() * total;
            int rank = 0;
            while (cdf[rank] < u) {
                rank++;
            }
            lines.add(word(rank));
        }
        Path file = dir.resolve("skewed-words.txt");
        Files.write(file, lines, StandardCharsets.UTF_8);
        words = Files.readAllLines(file, StandardCharsets.UTF_8).toArray(String[]::new);
    }

    private static String word(int rank) {
        return rank % 7 == 3 ? "mot-é" + rank : "word" + rank;
    }

    static List<String> partitioners() {
        NativeRouter.ensureLoaded();
        return List.of(NativeRouter.partitionerNames().split(","));
    }

    @Test
    void everyPartitionerIsTested() {
        assertEquals(Set.of("hash", "shuffle", "pkg", "d-choices", "w-choices", "cm", "cam", "dagreedy", "flexd",
                "dalton-original", "dalton-metrics", "dalton-offline", "drifting-key", "local-global",
                "busy-feedback", "saspartitioner"),
                Set.copyOf(partitioners()));
    }

    @ParameterizedTest(name = "exact[{0}]")
    @MethodSource("partitioners")
    void exact(String partitioner) throws Exception {
        WindowAssigner<Object, TimeWindow> window = TumblingEventTimeWindows.of(Duration.ofSeconds(1));
        Map<List<Object>, Tuple2<Long, Long>> expected = byKeyAndWindow(baseline(line -> line.word, window));
        assertTrue(expected.size() > 1_000, expected.size() + " (key, window) results in the baseline");

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<KeyedWindowResult<String, Tuple2<Long, Long>>> results = SkewedAggregation
                .of(lines(env), line -> line.word, new CountAndIdSum())
                .window(window)
                .partitioner(partitioner)
                .paramsText("seed: 11\nrouter:\n  hot_keys:\n    mode: online\n")
                .parallelism(WORKERS)
                .build();
        Run<KeyedWindowResult<String, Tuple2<Long, Long>>> run = run(env, results);

        assertEquals(expected, byKeyAndWindow(run.results));
        Map<Integer, Integer> perWorker = run.recordsPerWorker();
        assertEquals(LINES, perWorker.values().stream().mapToInt(Integer::intValue).sum(), "records routed");
        assertTrue(perWorker.keySet().stream().allMatch(w -> w >= 0 && w < WORKERS), "workers " + perWorker.keySet());
    }

    @ParameterizedTest(name = "exactOnSlidingWindows[{0}]")
    @ValueSource(strings = {"hash", "w-choices", "dalton-original"})
    void exactOnSlidingWindows(String partitioner) throws Exception {
        WindowAssigner<Object, TimeWindow> window = SlidingEventTimeWindows.of(Duration.ofSeconds(2), Duration.ofMillis(500));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<KeyedWindowResult<String, Tuple2<Long, Long>>> results = SkewedAggregation
                .of(lines(env), line -> line.word, new CountAndIdSum())
                .window(window)
                .partitioner(partitioner)
                .parallelism(WORKERS)
                .build();
        assertEquals(byKeyAndWindow(baseline(line -> line.word, window)), byKeyAndWindow(run(env, results).results));
    }

    @ParameterizedTest(name = "pojoKeys[{0}]")
    @ValueSource(strings = {"hash", "w-choices"})
    void pojoKeys(String partitioner) throws Exception {
        WindowAssigner<Object, TimeWindow> window = TumblingEventTimeWindows.of(Duration.ofSeconds(1));
        KeySelector<Line, WordKey> key = line -> new WordKey(line.word, line.word.length() % 3);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<KeyedWindowResult<WordKey, Tuple2<Long, Long>>> results = SkewedAggregation
                .of(lines(env), key, new CountAndIdSum())
                .window(window)
                .partitioner(partitioner)
                .parallelism(WORKERS)
                .build();
        assertEquals(byKeyAndWindow(baseline(key, window)), byKeyAndWindow(run(env, results).results));
    }

    @Test
    void paramsFromTheProjectsFiles() throws Exception {
        // params/wordcount-zipf.yaml: w-choices on 4 workers, the router's window 1 s sliding by 500 ms.
        Path params = Path.of(System.getProperty("sas.repo.root", "../..")).resolve("params/wordcount-zipf.yaml");
        WindowAssigner<Object, TimeWindow> window = TumblingEventTimeWindows.of(Duration.ofSeconds(1));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<KeyedWindowResult<String, Tuple2<Long, Long>>> results = SkewedAggregation
                .of(lines(env), line -> line.word, new CountAndIdSum())
                .window(window)
                .paramsFile(params)
                .set("router.choices.theta", "0.02")
                .build();
        Run<KeyedWindowResult<String, Tuple2<Long, Long>>> run = run(env, results);
        assertEquals(byKeyAndWindow(baseline(line -> line.word, window)), byKeyAndWindow(run.results));
        assertEquals(4, run.recordsPerWorker().size(), "the file's 4 workers: " + run.recordsPerWorker());
    }

    /** The README's and docs/flink-api.md's word count. */
    public static class Count implements AggregateFunction<String, Long, Long> {
        @Override
        public Long createAccumulator() {
            return 0L;
        }

        @Override
        public Long add(String word, Long count) {
            return count + 1;
        }

        @Override
        public Long getResult(Long count) {
            return count;
        }

        @Override
        public Long merge(Long a, Long b) {
            return a + b;
        }
    }

    @Test
    void theReadmeSnippet() throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<String> words = lines(env).map(line -> line.word).setParallelism(ROUTERS);
        DataStream<KeyedWindowResult<String, Long>> counts = SkewedAggregation
                .of(words, w -> w, new Count())
                .window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
                .partitioner("w-choices").parallelism(16)
                .build();
        Map<List<Object>, Long> expected = new HashMap<>();
        byKeyAndWindow(baseline(line -> line.word, TumblingEventTimeWindows.of(Duration.ofSeconds(1))))
                .forEach((keyAndWindow, countAndIdSum) -> expected.put(keyAndWindow, countAndIdSum.f0));
        Run<KeyedWindowResult<String, Long>> run = run(env, counts);
        assertEquals(expected, byKeyAndWindow(run.results));
        assertEquals(16, run.recordsPerWorker().size(), "workers that got records: " + run.recordsPerWorker());
    }

    @Test
    void theRouterSpreadsTheHotWord() throws Exception {
        long hot = Arrays.stream(words).filter(words[0]::equals).count();
        assertTrue(hot > LINES / 10, "the hottest word has " + hot + " of " + LINES + " lines");
        Map<Integer, Integer> hash = routeOnly("hash");
        Map<Integer, Integer> wChoices = routeOnly("w-choices");
        int hashBusiest = hash.values().stream().mapToInt(Integer::intValue).max().orElseThrow();
        int wChoicesBusiest = wChoices.values().stream().mapToInt(Integer::intValue).max().orElseThrow();
        // Key grouping puts every line of the hottest word on one worker; W-Choices spreads it.
        assertTrue(hashBusiest >= hot, "hash: busiest worker " + hashBusiest + " < " + hot);
        assertTrue(wChoicesBusiest < 0.8 * hashBusiest,
                "w-choices " + wChoices + " is no better balanced than hash " + hash);
    }

    @Test
    void aNullKeyFailsNamingTheSelector() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<KeyedWindowResult<String, Tuple2<Long, Long>>> results = SkewedAggregation
                .of(lines(env), new NullForHotWord(), new CountAndIdSum())
                .window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
                .partitioner("w-choices")
                .parallelism(WORKERS)
                .build();
        Exception failure = assertThrows(Exception.class, () -> run(env, results));
        String message = messages(failure);
        // Either router may meet the hottest word first: the message names the selector and that record.
        assertTrue(message.contains("the key selector " + NullForHotWord.class.getName() + " returned null")
                && message.contains("`" + words[0] + "`"), message);
    }

    @Test
    void buildRejectsWhatCannotBeExact() {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<Line> lines = lines(env);
        SkewedAggregation<Line, String, Stats, Tuple2<Long, Long>> noWindow =
                SkewedAggregation.of(lines, line -> line.word, new CountAndIdSum()).partitioner("hash");
        assertTrue(assertThrows(IllegalStateException.class, noWindow::build).getMessage().contains("window(...)"));
        IllegalArgumentException sessions = assertThrows(IllegalArgumentException.class,
                () -> noWindow.window(EventTimeSessionWindows.withGap(Duration.ofSeconds(1))));
        assertTrue(sessions.getMessage().contains("merges windows"), sessions.getMessage());
        IllegalArgumentException processingTime = assertThrows(IllegalArgumentException.class,
                () -> noWindow.window(TumblingProcessingTimeWindows.of(Duration.ofSeconds(1))));
        assertTrue(processingTime.getMessage().contains("processing-time"), processingTime.getMessage());

        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> SkewedAggregation.of(lines, line -> line.word, new CountAndIdSum())
                        .window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
                        .partitioner("no-such-partitioner")
                        .parallelism(WORKERS)
                        .build());
        assertTrue(unknown.getMessage().contains("no-such-partitioner") && unknown.getMessage().contains("w-choices"),
                unknown.getMessage());
        IllegalArgumentException badKey = assertThrows(IllegalArgumentException.class,
                () -> SkewedAggregation.of(lines, line -> line.word, new CountAndIdSum())
                        .window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
                        .partitioner("w-choices")
                        .set("router.choices.thetta", "0.1")
                        .parallelism(WORKERS)
                        .build());
        assertTrue(badKey.getMessage().contains("thetta"), badKey.getMessage());
    }

    // --- the harness ---------------------------------------------------------------------------------

    /** The file's lines from two parallel sources, line i at event time i · 7 ms. */
    private static DataStream<Line> lines(StreamExecutionEnvironment env) {
        String[] text = words;
        DataGeneratorSource<Line> source = new DataGeneratorSource<>(
                index -> new Line(index, text[(int) (long) index]), text.length, TypeInformation.of(Line.class));
        return env.fromSource(source,
                        WatermarkStrategy.<Line>forMonotonousTimestamps().withTimestampAssigner((l, t) -> l.id * MS_PER_LINE),
                        "skewed-words")
                .setParallelism(ROUTERS);
    }

    /** The same aggregation with a plain keyBy: the results SkewedAggregation must reproduce. */
    private static <K> List<KeyedWindowResult<K, Tuple2<Long, Long>>> baseline(
            KeySelector<Line, K> key, WindowAssigner<Object, TimeWindow> window) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        TypeInformation<K> keyType = TypeExtractor.getKeySelectorTypes(key, TypeInformation.of(Line.class));
        TypeInformation<Tuple2<Long, Long>> valueType = Types.TUPLE(Types.LONG, Types.LONG);
        DataStream<KeyedWindowResult<K, Tuple2<Long, Long>>> results = lines(env)
                .keyBy(key)
                .window(window)
                .aggregate(new CountAndIdSum(), new WithKeyAndWindow<K>(),
                        TypeInformation.of(Stats.class), valueType, resultType(keyType, valueType))
                .setParallelism(WORKERS);
        return run(env, results).results;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static <K, V> TypeInformation<KeyedWindowResult<K, V>> resultType(
            TypeInformation<K> keyType, TypeInformation<V> valueType) {
        return (TypeInformation) Types.POJO(KeyedWindowResult.class, Map.of(
                "key", keyType, "windowStart", Types.LONG, "windowEnd", Types.LONG, "value", valueType));
    }

    /** The baseline's window function: the result with its key and window. */
    public static class WithKeyAndWindow<K>
            extends ProcessWindowFunction<Tuple2<Long, Long>, KeyedWindowResult<K, Tuple2<Long, Long>>, K, TimeWindow> {
        @Override
        public void process(K key, Context ctx, Iterable<Tuple2<Long, Long>> results,
                Collector<KeyedWindowResult<K, Tuple2<Long, Long>>> out) {
            for (Tuple2<Long, Long> result : results) {
                out.collect(new KeyedWindowResult<>(key, ctx.window().getStart(), ctx.window().getEnd(), result));
            }
        }
    }

    /** Records per worker of a routed aggregation whose results are dropped. */
    private static Map<Integer, Integer> routeOnly(String partitioner) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        DataStream<KeyedWindowResult<String, Tuple2<Long, Long>>> results = SkewedAggregation
                .of(lines(env), line -> line.word, new CountAndIdSum())
                .window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
                .partitioner(partitioner)
                .parallelism(WORKERS)
                .build();
        return run(env, results).recordsPerWorker();
    }

    /** A finished job's results and accumulators. */
    private static final class Run<R> {
        final List<R> results;
        final JobExecutionResult job;

        Run(List<R> results, JobExecutionResult job) {
            this.results = results;
            this.job = job;
        }

        Map<Integer, Integer> recordsPerWorker() {
            return job.getAccumulatorResult(SkewedAggregation.recordsPerWorkerAccumulator(SkewedAggregation.DEFAULT_NAME));
        }
    }

    private static <R> Run<R> run(StreamExecutionEnvironment env, DataStream<R> results) throws Exception {
        CloseableIterator<R> it = results.collectAsync();
        JobClient job = env.executeAsync("skewed-aggregation-test");
        List<R> out = new ArrayList<>();
        try (it) {
            it.forEachRemaining(out::add);
        }
        return new Run<>(out, job.getJobExecutionResult().get());
    }

    /** Results by (key, window start, window end); a (key, window) with two results fails. */
    private static <K, V> Map<List<Object>, V> byKeyAndWindow(List<KeyedWindowResult<K, V>> results) {
        Map<List<Object>, V> out = new HashMap<>();
        for (KeyedWindowResult<K, V> r : results) {
            V previous = out.put(List.of(r.getKey(), r.getWindowStart(), r.getWindowEnd()), r.getValue());
            assertNull(previous, "two results for " + r);
        }
        return out;
    }

    /** Every message of a throwable's cause chain. */
    private static String messages(Throwable t) {
        StringBuilder s = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            s.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage()).append('\n');
        }
        return s.toString();
    }
}
