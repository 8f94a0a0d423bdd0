package org.sas.examples;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

/**
 * Counts a key-stream file per key and window through the router ({@link KeyCounts}): one key per line, as
 * {@code bin/fetch-key-streams.sh} writes {@code .cache/key-streams/*.txt} ({@code docs/key-streams.md}),
 * read with Flink's {@code FileSource} and {@code TextLineInputFormat}; key n is at event time {@code n *
 * 1000 / rate} ms.
 *
 * <p>Usage: {@code KeyStreamFile --path KEYS.txt} and the flags of {@link ExampleArgs}.
 */
public final class KeyStreamFile {

    /** The example's name: its operators', its accumulators' and its command's. */
    public static final String NAME = "key-stream-file";

    private KeyStreamFile() {}

    /** The key of a line: the line without surrounding white space; an empty line has none. */
    public static class LineKey implements FlatMapFunction<String, String> {
        private static final long serialVersionUID = 1L;

        @Override
        public void flatMap(String line, Collector<String> out) {
            String key = line.strip();
            if (!key.isEmpty()) {
                out.collect(key);
            }
        }
    }

    public static void main(String[] args) {
        Examples.run(NAME, null, new LineKey(), args);
    }
}
