package org.sas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.sas.nativeloader.NativeRouter;

import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Bad configs fail fast naming the key; a missing native library fails with a message saying what to do. */
class ParamsAndLoadingTest {

    private static String failure(String yaml) {
        return assertThrows(IllegalArgumentException.class, () -> JobParams.parse(yaml, null, TestJobs.repoRoot()))
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
        String message = assertThrows(IllegalArgumentException.class, () -> JobParams.load(file.toString(), null))
                .getMessage();
        assertTrue(message.contains("bad.yaml"), message);
    }

    @Test
    void shippedParamsFilesLoad() throws Exception {
        File[] files = TestJobs.repoRoot().resolve("params").toFile().listFiles((d, n) -> n.endsWith(".yaml"));
        assertTrue(files != null && files.length > 0);
        for (File f : files) {
            JobParams p = JobParams.load(f.getPath(), null);
            assertTrue(p.workers > 0, f.getName());
        }
    }

    @Test
    void partitionerOverrideReplacesTheFilesChoice() {
        JobParams p = JobParams.parse(TestJobs.yaml("wordcount", "pkg", 100), "cam", TestJobs.repoRoot());
        assertEquals("cam", p.partitioner);
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
