package org.sas.job.throughput;

import org.sas.nativeloader.NativeRouter;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Balance of routed records, with the definitions of the offline evaluator ({@code agent/src/eval.rs}),
 * so the two tools' figures compare. Records are grouped in tumbling windows of {@code windowMs} event
 * time; per window:
 *
 * <ul>
 *   <li>λ = (max − mean)/mean of the per-worker record counts L_i, NMAD = Σ|L_i − mean|/(P·mean) (both 0
 *       for an empty window), computed by the router's own {@code sas_router::metrics};</li>
 *   <li>the fragmentation of a key, the number of distinct workers that received it;</li>
 *   <li>the partial states, the number of distinct (key, worker) pairs: each is one partial aggregate the
 *       workers keep for the window and the merge receives at its end.</li>
 * </ul>
 *
 * <p>{@link #result} averages λ and NMAD over windows, and the fragmentation over every (window, hot key)
 * pair where the key occurs, the hot keys being the K most frequent keys of everything measured (ties:
 * smaller key first). Unlike the evaluator, which replays a stream from its start, a measured stretch
 * begins and ends inside windows: the two windows it cuts are left out when at least three were seen.
 */
final class BalanceMeter {

    /**
     * What {@link #result} returns. {@code windows} is the number of windows averaged over;
     * {@code peakPartialStates} the most partial states of one of them.
     */
    record Balance(double imbalance, double nmad, double hotFragmentation, long peakPartialStates, int windows) {}

    private final int workers;
    private final long windowMs;
    private final int hotKeys;
    /** Window index → window, in event-time order. */
    private final TreeMap<Long, Window> windows = new TreeMap<>();
    private final Map<Long, long[]> keyCounts = new HashMap<>();
    private Window current;

    private static final class Window {
        final long index;
        final long[] counts;
        /** Key → the workers that received it in this window. */
        final Map<Long, BitSet> reached = new HashMap<>();

        Window(long index, int workers) {
            this.index = index;
            this.counts = new long[workers];
        }
    }

    BalanceMeter(int workers, long windowMs, int hotKeys) {
        this.workers = workers;
        this.windowMs = windowMs;
        this.hotKeys = hotKeys;
    }

    /**
     * Counts one routed record. One source subtask emits in event-time order; several interleave, a
     * little out of order, so a record may fall in a window before the last one opened.
     */
    void add(long key, int worker, long tsMs) {
        long index = Math.floorDiv(tsMs, windowMs);
        if (current == null || current.index != index) {
            current = windows.computeIfAbsent(index, i -> new Window(i, workers));
        }
        current.counts[worker]++;
        current.reached.computeIfAbsent(key, k -> new BitSet(workers)).set(worker);
        keyCounts.computeIfAbsent(key, k -> new long[1])[0]++;
    }

    /** Windows seen whole so far: all but the first and the one under way. */
    int wholeWindows() {
        return Math.max(0, windows.size() - 2);
    }

    Balance result() {
        List<Window> all = new ArrayList<>(windows.values());
        List<Window> measured = all.size() >= 3 ? all.subList(1, all.size() - 1) : all;
        if (measured.isEmpty()) {
            return new Balance(0, 0, 0, 0, 0);
        }
        NativeRouter.ensureLoaded();
        List<Long> hot = topKeys();
        double lambdaSum = 0;
        double nmadSum = 0;
        long fragSum = 0;
        long fragCount = 0;
        long peakPartialStates = 0;
        for (Window w : measured) {
            long partialStates = 0;
            for (BitSet reached : w.reached.values()) {
                partialStates += reached.cardinality();
            }
            peakPartialStates = Math.max(peakPartialStates, partialStates);
            double[] loads = Arrays.stream(w.counts).asDoubleStream().toArray();
            lambdaSum += NativeRouter.imbalance(loads);
            nmadSum += NativeRouter.nmad(loads);
            for (Long key : hot) {
                BitSet reached = w.reached.get(key);
                if (reached != null) {
                    fragSum += reached.cardinality();
                    fragCount++;
                }
            }
        }
        return new Balance(lambdaSum / measured.size(), nmadSum / measured.size(),
                fragCount == 0 ? 0 : (double) fragSum / fragCount, peakPartialStates, measured.size());
    }

    /** The K most frequent keys over every window (ties: smaller key first), as eval.rs's {@code top_keys}. */
    private List<Long> topKeys() {
        List<Map.Entry<Long, long[]>> all = new ArrayList<>(keyCounts.entrySet());
        all.sort((a, b) -> a.getValue()[0] != b.getValue()[0]
                ? Long.compare(b.getValue()[0], a.getValue()[0])
                : Long.compare(a.getKey(), b.getKey()));
        List<Long> top = new ArrayList<>();
        for (int i = 0; i < Math.min(hotKeys, all.size()); i++) {
            top.add(all.get(i).getKey());
        }
        return top;
    }
}
