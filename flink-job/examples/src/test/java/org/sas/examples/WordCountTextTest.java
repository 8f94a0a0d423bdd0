package org.sas.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * {@link WordCountText} on a small text: the router's counts per word and window equal an in-memory count of
 * the words the test wrote, for partitioners that split keys and one that does not, and its {@code --verify}
 * (keyBy in the same job) finds them equal.
 */
class WordCountTextTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = ExampleRuns.cluster();

    @TempDir
    static Path dir;

    /** The text's file. */
    static Path text;
    /** Its words, lower-cased, in order: what WordCountText must count. */
    static List<String> words;

    /** Writes 6 000 Zipf words as 600 lines of text: capitals, punctuation, runs of separators. */
    @BeforeAll
    static void writeText() throws Exception {
        words = ExampleRuns.zipfWords(6_000, 300, 1342);
        String[] separators = {" ", ", ", ". ", " -- ", "; ", "  (", ") ", "' "};
        Random random = new Random(7);
        List<String> lines = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            line.append(random.nextInt(5) == 0 ? w.toUpperCase(Locale.ROOT) : w);
            if (i % 10 == 9) {
                lines.add(line.append('.').toString());
                line.setLength(0);
            } else {
                line.append(separators[random.nextInt(separators.length)]);
            }
        }
        text = dir.resolve("text.txt");
        Files.write(text, lines, StandardCharsets.UTF_8);
    }

    private static ExampleArgs args(String... flags) {
        List<String> all = new ArrayList<>(List.of("--path", text.toString(), "--rate", "1000", "--window-ms", "500"));
        all.addAll(List.of(flags));
        return ExampleArgs.parse(all.toArray(String[]::new), WordCountText.DEFAULT_TEXT);
    }

    @Test
    void wordsAreRunsOfLettersDigitsAndUnderscoresLowerCased() {
        assertEquals(List.of("it", "is", "a", "truth_1", "élan", "s", "x2"),
                WordCountText.Words.split("It is  a TRUTH_1, -- Élan's (x2)"));
        assertEquals(List.of(), WordCountText.Words.split(" -- "));
    }

    @ParameterizedTest(name = "exact[{0}]")
    @ValueSource(strings = {"hash", "w-choices", "d-choices", "saspartitioner"})
    void exact(String partitioner) throws Exception {
        ExampleRuns.Counted run = ExampleRuns.count(WordCountText.NAME, new WordCountText.Words(),
                args("--partitioner", partitioner, "--workers", "4"));
        Map<List<Object>, Long> expected = ExampleRuns.reference(words, 1000, 500);
        assertTrue(expected.size() > 500, expected.size() + " (word, window) counts");
        assertEquals(expected, run.counts);
        assertEquals(words.size(), run.records(), "records routed");
    }

    @Test
    void verifyFindsTheResultsEqualToKeyBy() throws Exception {
        Summary summary = KeyCounts.run(StreamExecutionEnvironment.getExecutionEnvironment(),
                args("--partitioner", "w-choices", "--workers", "4", "--verify"), WordCountText.NAME,
                new WordCountText.Words());
        Map<List<Object>, Long> expected = ExampleRuns.reference(words, 1000, 500);
        assertTrue(summary.exact(), summary.toString());
        assertEquals(expected.size(), summary.results, summary.toString());
        assertEquals(expected.size(), summary.matched, summary.toString());
        assertEquals(words.size(), summary.records, summary.toString());
        assertEquals(new HashSet<>(words).size(), summary.distinctKeys, summary.toString());
        assertEquals(4, summary.perWorker.length);
        assertTrue(summary.toString().contains("results exact  yes: all " + expected.size()), summary.toString());
    }
}
