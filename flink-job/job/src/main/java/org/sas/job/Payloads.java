package org.sas.job;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Record payloads, a pure function of the record index: sentences of a text for WordCount, uniform
 * doubles for TDigest. A test can therefore recompute exactly what the job saw.
 */
public final class Payloads implements Serializable {

    private static final long serialVersionUID = 1L;

    private final long seed;
    private final int valuesPerRecord;
    private final List<String> sentences;

    private Payloads(long seed, int valuesPerRecord, List<String> sentences) {
        this.seed = seed;
        this.valuesPerRecord = valuesPerRecord;
        this.sentences = sentences;
    }

    /** Payloads for these params (reads the sentence text once). */
    public static Payloads of(JobParams params) {
        List<String> sentences = List.of("");
        if (!params.task.equals("tdigest")) {
            try {
                sentences = sentences(Files.readString(Path.of(params.payloadText), StandardCharsets.UTF_8),
                        params.wordsPerSentence);
            } catch (IOException e) {
                throw new IllegalArgumentException(
                        "payload.text_path: cannot read " + params.payloadText + ": " + e.getMessage(), e);
            }
        }
        return new Payloads(params.seed, params.valuesPerRecord, sentences);
    }

    /**
     * Cuts a text into sentences of {@code wordsPerSentence} lower-case words: accents stripped, every
     * run of characters other than letters, digits and underscores a separator.
     */
    static List<String> sentences(String text, int wordsPerSentence) {
        String plain = Normalizer.normalize(text, Normalizer.Form.NFD).replaceAll("\\p{M}", "");
        String[] words = Arrays.stream(plain.toLowerCase().split("[^\\p{L}\\p{N}_]+"))
                .filter(w -> !w.isEmpty())
                .toArray(String[]::new);
        if (words.length == 0) {
            throw new IllegalArgumentException("payload.text_path: the text contains no words");
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < words.length; i += wordsPerSentence) {
            out.add(String.join(" ", Arrays.copyOfRange(words, i, Math.min(words.length, i + wordsPerSentence))));
        }
        return out;
    }

    /** The sentence of record {@code index}. */
    public String sentence(long index) {
        return sentences.get((int) Math.floorMod(index, (long) sentences.size()));
    }

    /** The values of record {@code index}, uniform in [0, 1). */
    public double[] values(long index) {
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
        double[] values = new double[valuesPerRecord];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextDouble();
        }
        return values;
    }
}
