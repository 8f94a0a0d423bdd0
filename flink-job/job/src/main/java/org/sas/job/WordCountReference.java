package org.sas.job;

import org.sas.flink.KeyedWindowResult;
import org.sas.nativeloader.NativeRouter;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The results a {@code wordcount} run must produce, computed without Flink from the same seeded stream:
 * each record's sentence counted into every sliding window that holds its event time (Flink's window
 * assignment, offset 0), per (key, window end).
 */
public final class WordCountReference {

    private WordCountReference() {}

    /** Word histograms per (key, window end) of every record of {@code params}. */
    public static Map<List<Long>, HashMap<String, Long>> of(JobParams params) {
        NativeRouter.ensureLoaded();
        Payloads payloads = Payloads.of(params);
        Map<List<Long>, HashMap<String, Long>> ref = new HashMap<>();
        long workload = NativeRouter.createWorkload(params.yaml);
        try {
            for (long i = 0; i < params.records; i++) {
                long key = NativeRouter.keyAt(workload, i);
                long ts = NativeRouter.eventTime(workload, i);
                String[] words = payloads.sentence(i).split(" ");
                for (long start = ts - Math.floorMod(ts, params.slideMs); start > ts - params.windowMs;
                        start -= params.slideMs) {
                    HashMap<String, Long> histogram =
                            ref.computeIfAbsent(List.of(key, start + params.windowMs), k -> new HashMap<>());
                    for (String w : words) {
                        histogram.merge(w, 1L, Long::sum);
                    }
                }
            }
        } finally {
            NativeRouter.closeWorkload(workload);
        }
        return ref;
    }

    /**
     * Compares a run's results with {@link #of}: {@code null} when they are equal (one result per
     * (key, window), each with the reference's histogram), else what differs first.
     */
    public static String difference(JobParams params, List<KeyedWindowResult<Long, HashMap<String, Long>>> results) {
        Map<List<Long>, HashMap<String, Long>> expected = of(params);
        Map<List<Long>, HashMap<String, Long>> got = new HashMap<>();
        for (KeyedWindowResult<Long, HashMap<String, Long>> r : results) {
            if (got.put(List.of(r.getKey(), r.getWindowEnd()), r.getValue()) != null) {
                return "two results for key " + r.getKey() + ", window end " + r.getWindowEnd();
            }
        }
        for (Map.Entry<List<Long>, HashMap<String, Long>> e : expected.entrySet()) {
            HashMap<String, Long> value = got.get(e.getKey());
            if (value == null) {
                return "no result for (key, window end) " + e.getKey();
            }
            if (!value.equals(e.getValue())) {
                return "(key, window end) " + e.getKey() + ": " + value + ", expected " + e.getValue();
            }
        }
        if (got.size() != expected.size()) {
            return (got.size() - expected.size()) + " results for (key, window) pairs the stream does not have";
        }
        return null;
    }
}
