package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import org.sas.nativeloader.NativeRouter;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Params reach the job as the router's job view, overrides included; bad configs and overrides fail fast
 * naming the key; a missing native library fails with a message saying what to do.
 */
class ParamsAndLoadingTest {

    private static String failure(String yaml) {
        return assertThrows(IllegalArgumentException.class, () -> JobParams.parse(yaml, TestJobs.repoRoot()))
                .getMessage();
    }

    @Test
    void unknownKeyIsNamed() {
        String message = failure(TestJobs.yaml("wordcount", "pkg", 100) + "wokers: 3\n");
        assertTrue(message.contains("unknown field `wokers`"), message);
    }

    @Test
    void missingRequiredKeyIsNamed() {
        String message = failure("task: wordcount\npartitioner: pkg\nworkers: 4\n");
        assertTrue(message.contains("missing field `records`"), message);
    }

    @Test
    void outOfRangeValueIsNamed() {
        String message = failure(TestJobs.yaml("wordcount", "pkg", 100).replace("slide_ms: 250", "slide_ms: 0"));
        assertTrue(message.contains("`slide_ms`"), message);
    }

    @Test
    void unknownPartitionerListsTheNames() {
        String message = failure(TestJobs.yaml("wordcount", "pkgg", 100));
        assertTrue(message.contains("unknown partitioner `pkgg`") && message.contains("w-choices"), message);
    }

    @Test
    void missingTextFileIsNamed() {
        String message = failure(TestJobs.yaml("wordcount-text", "pkg", 100)
                .replace("  kind: zipf", "  kind: text\n  text_path: data/no-such-book.txt"));
        assertTrue(message.contains("workload.text_path") && message.contains("no-such-book.txt"), message);
    }

    @Test
    void badFileNamesTheFile(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path file = dir.resolve("bad.yaml");
        Files.writeString(file, "task: [", StandardCharsets.UTF_8);
        String message = assertThrows(IllegalArgumentException.class, () -> JobParams.load(file.toString()))
                .getMessage();
        assertTrue(message.contains("bad.yaml"), message);
    }

    /** Every {@code params/*.yaml} of the repository. */
    private static List<Path> shippedParamsFiles() throws IOException {
        try (Stream<Path> files = Files.list(TestJobs.repoRoot().resolve("params"))) {
            List<Path> yaml = files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
            assertFalse(yaml.isEmpty(), "no params/*.yaml");
            return yaml;
        }
    }

    /** The router's job view of params text, straight from the native calls. */
    private static JsonNode jobView(String yaml, String... overrides) throws IOException {
        String normalized = NativeRouter.normalizeParams(yaml, TestJobs.repoRoot().toString(), overrides);
        return new ObjectMapper().readTree(NativeRouter.jobView(normalized));
    }

    /** The public fields of JobParams that hold job-view values: all but the YAML text. */
    private static List<Field> viewFields() {
        return Arrays.stream(JobParams.class.getFields())
                .filter(f -> !Modifier.isStatic(f.getModifiers()) && !f.getName().equals("yaml"))
                .toList();
    }

    /** {@code loadIntervalMs} → {@code load_interval_ms}: a field's key in the job view. */
    private static String key(Field f) {
        return f.getName().replaceAll("([A-Z])", "_$1").toLowerCase(Locale.ROOT);
    }

    /** Asserts that every field of {@code p} holds the job view's value, and that none is left out. */
    private static void assertHoldsTheView(JobParams p, JsonNode view, String what) throws IllegalAccessException {
        Set<String> keys = new TreeSet<>();
        view.fieldNames().forEachRemaining(keys::add);
        assertEquals(keys, viewFields().stream().map(ParamsAndLoadingTest::key).collect(Collectors.toCollection(TreeSet::new)),
                what + ": JobParams' fields and the job view's keys differ");
        for (Field f : viewFields()) {
            JsonNode expected = view.get(key(f));
            Object actual = f.get(p);
            String message = what + ": " + f.getName();
            if (actual instanceof double[] values) {
                assertEquals(expected.size(), values.length, message);
                for (int i = 0; i < values.length; i++) {
                    assertEquals(expected.get(i).doubleValue(), values[i], 0.0, message + "[" + i + "]");
                }
            } else if (actual instanceof long[] values) {
                assertEquals(expected.size(), values.length, message);
                for (int i = 0; i < values.length; i++) {
                    assertEquals(expected.get(i).longValue(), values[i], message + "[" + i + "]");
                }
            } else if (actual instanceof double[][] rows) {
                assertEquals(expected.size(), rows.length, message);
                for (int i = 0; i < rows.length; i++) {
                    assertEquals(expected.get(i).size(), rows[i].length, message + "[" + i + "]");
                    for (int j = 0; j < rows[i].length; j++) {
                        assertEquals(expected.get(i).get(j).doubleValue(), rows[i][j], 0.0, message + "[" + i + "][" + j + "]");
                    }
                }
            } else if (actual instanceof Double value) {
                assertTrue(expected.isNumber(), message + ": " + expected);
                assertEquals(expected.doubleValue(), value, 0.0, message);
            } else if (actual instanceof String text) {
                assertEquals(expected.textValue(), text, message);
            } else {
                assertTrue(expected.isIntegralNumber(), message + ": " + expected);
                assertEquals(expected.longValue(), ((Number) actual).longValue(), message);
            }
        }
    }

    @Test
    void shippedParamsFilesLoadAsTheRoutersJobView() throws Exception {
        for (Path f : shippedParamsFiles()) {
            JobParams p = JobParams.load(f.toString());
            assertHoldsTheView(p, jobView(Files.readString(f, StandardCharsets.UTF_8)), f.getFileName().toString());
            assertEquals(p.workers, p.capacity.length, f.getFileName() + ": one capacity per worker");
            assertTrue(Path.of(p.payloadText).isAbsolute(), f.getFileName() + ": " + p.payloadText);
        }
    }

    @Test
    void overridesReachJobParamsAndItsYaml() throws Exception {
        for (Path f : shippedParamsFiles()) {
            String name = f.getFileName().toString();
            String[] overrides = {"partitioner=cam", "records=1234", "agent.interval_ms=300"};
            JobParams p = JobParams.load(f.toString(), overrides);
            assertHoldsTheView(p, jobView(Files.readString(f, StandardCharsets.UTF_8), overrides), name);
            assertEquals("cam", p.partitioner, name);
            assertEquals(1234, p.records, name);
            assertEquals(300, p.loadIntervalMs, name);
            // The routers and the source build from the YAML text: it carries the overrides too.
            JobParams again = JobParams.parse(p.yaml, TestJobs.repoRoot());
            assertEquals(List.of("cam", 1234L, 300L), List.of(again.partitioner, again.records, again.loadIntervalMs),
                    name);
        }
    }

    @Test
    void badOverridesAreIllegalArgumentsNamingTheKey() {
        String yaml = TestJobs.yaml("wordcount", "pkg", 100);
        Map<String, String> expected = Map.of(
                "records=0", "`records`",
                "partitioner=pkgg", "unknown partitioner `pkgg`",
                "wokers=3", "unknown field `wokers`",
                "agent.interval_ms=10", "`agent.interval_ms`",
                "task.x=1", "`task` is not a section",
                "records", "records: expected KEY=VALUE");
        expected.forEach((override, named) -> {
            String message = assertThrows(IllegalArgumentException.class,
                    () -> JobParams.parse(yaml, TestJobs.repoRoot(), override), override).getMessage();
            assertTrue(message.contains(named), override + ": " + message);
        });
        String message = assertThrows(IllegalArgumentException.class,
                () -> JobParams.parse(yaml, TestJobs.repoRoot(), new String[] {null})).getMessage();
        assertTrue(message.contains("overrides[0]"), message);
    }

    @Test
    void badActionIsRejectedAndTheRouterKeepsWorking() {
        long router = NativeRouter.create(TestJobs.yaml("wordcount", "saspartitioner", 100), "");
        try {
            String message = assertThrows(IllegalArgumentException.class,
                    () -> NativeRouter.applyAction(router, new double[] {1.0, 2.0})).getMessage();
            assertTrue(message.contains("action has 2 elements"), message);
            message = assertThrows(IllegalArgumentException.class,
                    () -> NativeRouter.applyAction(router, nanAction())).getMessage();
            assertTrue(message.contains("NaN"), message);
            int w = NativeRouter.route(router, 0, 0);
            assertTrue(w >= 0 && w < TestJobs.WORKERS);
        } finally {
            NativeRouter.close(router);
        }
    }

    /** An action of the right length (the mask of P=4, α=1.5, 10 hot keys) with one NaN. */
    private static double[] nanAction() {
        // The mask's dimension is whatever the router says; find it by trying lengths until one is
        // rejected only for the NaN.
        for (int n = 1; n <= 64; n++) {
            double[] a = new double[n];
            java.util.Arrays.fill(a, 1.0);
            a[0] = Double.NaN;
            long router = NativeRouter.create(TestJobs.yaml("wordcount", "saspartitioner", 100), "");
            try {
                NativeRouter.applyAction(router, a);
            } catch (IllegalArgumentException e) {
                if (e.getMessage().contains("NaN")) {
                    return a;
                }
            } finally {
                NativeRouter.close(router);
            }
        }
        throw new AssertionError("no action length accepted");
    }

    @Test
    void batchRoutingMatchesSingleCalls() {
        String yaml = TestJobs.yaml("wordcount", "pkg", 100);
        long single = NativeRouter.create(yaml, "");
        long batch = NativeRouter.create(yaml, "");
        try {
            long[] keys = new long[1000];
            long[] ts = new long[1000];
            for (int i = 0; i < keys.length; i++) {
                keys[i] = (i * 7919L) % 101;
                ts[i] = i;
            }
            int[] out = new int[keys.length];
            NativeRouter.routeBatch(batch, keys, ts, out, keys.length);
            for (int i = 0; i < keys.length; i++) {
                assertEquals(NativeRouter.route(single, keys[i], ts[i]), out[i], "record " + i);
            }
        } finally {
            NativeRouter.close(single);
            NativeRouter.close(batch);
        }
    }

    @Test
    void missingLibraryGivesAClearMessage() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java,
                        "-cp", System.getProperty("java.class.path"),
                        "-D" + NativeRouter.LIBRARY_PROPERTY + "=/nonexistent/libsas_router_jni.so",
                        LoaderProbe.class.getName()))
                .redirectErrorStream(true)
                .start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(3, p.waitFor(), output);
        assertTrue(output.contains("/nonexistent/libsas_router_jni.so") && output.contains("-Dsas.router.library"), output);
    }

    /** Loads the library in a fresh JVM and prints the failure, if any. */
    public static final class LoaderProbe {
        public static void main(String[] args) {
            try {
                NativeRouter.ensureLoaded();
                System.out.println("loaded");
            } catch (IllegalStateException e) {
                System.out.println(e.getMessage());
                System.exit(3);
            }
        }
    }
}
