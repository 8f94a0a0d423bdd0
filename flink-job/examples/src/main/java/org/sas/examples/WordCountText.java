package org.sas.examples;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Word count on a text file: the words of the text, in order, counted per word and window through the router
 * ({@link KeyCounts}). By default the bundled book {@code data/pg1342.txt} (resolved against the working
 * directory), 131 914 words.
 *
 * <p>Usage: {@code WordCountText [--path TEXT] } and the flags of {@link ExampleArgs}.
 */
public final class WordCountText {

    /** The example's name: its operators', its accumulators' and its command's. */
    public static final String NAME = "word-count-text";

    /** The text without {@code --path}. */
    public static final Path DEFAULT_TEXT = Path.of("data/pg1342.txt");

    private WordCountText() {}

    /**
     * The words of a line: runs of letters, digits and {@code _}, lower-cased, as the router's {@code text}
     * workload cuts a text ({@code text_words} in {@code partitioner-jni/core/src/workload/text.rs}).
     */
    public static class Words implements FlatMapFunction<String, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public void flatMap(String line, Collector<String> out) {
            for (String word : split(line)) {
                out.collect(word);
            }
        }

        /** The words of {@code line}, in order. */
        public static List<String> split(String line) {
            List<String> words = new ArrayList<>();
            int start = -1;
            for (int i = 0; i <= line.length(); ) {
                int c = i < line.length() ? line.codePointAt(i) : ' ';
                boolean inWord = Character.isLetterOrDigit(c) || c == '_';
                if (inWord && start < 0) {
                    start = i;
                } else if (!inWord && start >= 0) {
                    words.add(line.substring(start, i).toLowerCase(Locale.ROOT));
                    start = -1;
                }
                i += i < line.length() ? Character.charCount(c) : 1;
            }
            return words;
        }
    }

    public static void main(String[] args) {
        Examples.run(NAME, DEFAULT_TEXT, new Words(), args);
    }
}
