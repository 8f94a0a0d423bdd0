package org.sas.examples;

import org.apache.flink.api.common.functions.AggregateFunction;

import java.util.HashMap;

/**
 * Counts the words of the records' sentences per key: the experiment job's {@code wordcount} benchmark task
 * (the prototype's WordCount), as an aggregate for {@code SkewedAggregation} or {@code keyBy().window()}.
 * The result maps each word to its occurrences in the key's window; merging adds the counts word by word,
 * so a key split over several workers gives the same histogram as on one.
 */
public class WordHistogram implements AggregateFunction<BenchmarkRecord, HashMap<String, Long>, HashMap<String, Long>> {

    private static final long serialVersionUID = 1L;

    @Override
    public HashMap<String, Long> createAccumulator() {
        return new HashMap<>();
    }

    @Override
    public HashMap<String, Long> add(BenchmarkRecord record, HashMap<String, Long> histogram) {
        for (String word : record.sentence.split(" ")) {
            if (!word.isEmpty()) {
                histogram.merge(word, 1L, Long::sum);
            }
        }
        return histogram;
    }

    @Override
    public HashMap<String, Long> getResult(HashMap<String, Long> histogram) {
        return histogram;
    }

    @Override
    public HashMap<String, Long> merge(HashMap<String, Long> a, HashMap<String, Long> b) {
        b.forEach((word, count) -> a.merge(word, count, Long::sum));
        return a;
    }
}
