package org.sas.flink.internal;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.InstantiationUtil;

import org.sas.nativeloader.NativeRouter;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The router's params for a {@code SkewedAggregation}: params text (a {@code params/*.yaml} file's, or the
 * user's) with {@code KEY=VALUE} overrides, validated and normalized by the Rust router, as the job's
 * {@code JobParams} does.
 *
 * <p>Two keys the schema requires mean nothing here: {@code task} and {@code records} (the experiment job's
 * aggregate and source). When the text leaves them out they are set ({@code task: wordcount-text},
 * {@code records: 1}), so params for this API need no more than a partitioner and P. When the text sets
 * neither {@code window_ms} nor {@code slide_ms}, the router's window is the aggregation's (tumbling: size
 * and slide = the size; sliding: its size and slide), as in the job, where one key sets both.
 */
public final class RouterParams implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The YAML text: overrides applied, defaults filled in, without {@code routers} (set per subtask). */
    public final String yaml;
    /** The partitioner the routers run. */
    public final String partitioner;
    /** P, the workers. */
    public final int workers;
    /** Whether a key may reach several workers: then results need the merge. */
    public final boolean splitsKeys;
    /** I, the wall-clock interval of the workers' load samples ({@code agent.interval_ms}), ms. */
    public final long loadIntervalMs;
    /** Whether the params have an {@code agent:} section: then the workers report their loads to the agent. */
    public final boolean agent;

    private RouterParams(String yaml, String partitioner, int workers, boolean splitsKeys, long loadIntervalMs,
            boolean agent) {
        this.yaml = yaml;
        this.partitioner = partitioner;
        this.workers = workers;
        this.splitsKeys = splitsKeys;
        this.loadIntervalMs = loadIntervalMs;
        this.agent = agent;
    }

    /**
     * Validates {@code text} with {@code overrides} applied after the defaults above.
     *
     * @param origin names the text in errors (a file's path, or "params text")
     * @param baseDir what relative paths in the text resolve against
     * @throws IllegalArgumentException naming {@code origin} and the bad key or override
     */
    public static RouterParams resolve(
            String text, String origin, Path baseDir, List<String> overrides, WindowAssigner<?, TimeWindow> window) {
        List<String> all = new ArrayList<>();
        if (!hasTopLevelKey(text, "task")) {
            all.add("task=wordcount-text");
        }
        if (!hasTopLevelKey(text, "records")) {
            all.add("records=1");
        }
        long[] sizeAndSlide = sizeAndSlide(window);
        boolean windowFromAssigner =
                sizeAndSlide != null && !hasTopLevelKey(text, "window_ms") && !hasTopLevelKey(text, "slide_ms");
        if (windowFromAssigner) {
            all.add("window_ms=" + sizeAndSlide[0]);
            all.add("slide_ms=" + sizeAndSlide[1]);
        }
        all.addAll(overrides);
        NativeRouter.ensureLoaded();
        String yaml;
        JsonNode view;
        try {
            yaml = NativeRouter.normalizeParams(text, baseDir.toAbsolutePath().toString(), all.toArray(String[]::new));
            view = new ObjectMapper().readTree(NativeRouter.jobView(yaml));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "SkewedAggregation: " + origin + ": " + explained(e.getMessage(), windowFromAssigner, window), e);
        } catch (IOException e) {
            throw new IllegalStateException("the router returned an unreadable job view", e);
        }
        String partitioner = view.get("partitioner").asText();
        boolean agent = !view.get("agent_address").asText().isEmpty();
        return new RouterParams(yaml, partitioner, view.get("workers").asInt(), agent || splits(yaml),
                view.get("load_interval_ms").asLong(), agent);
    }

    /** The router's message without its own {@code params: } prefix, with a hint where the builder can help. */
    private static String explained(String message, boolean windowFromAssigner, WindowAssigner<?, TimeWindow> window) {
        String m = message.startsWith("params: ") ? message.substring("params: ".length()) : message;
        if (m.contains("missing field `workers`")) {
            return m + " (set P with parallelism(...))";
        }
        if (m.contains("missing field `partitioner`")) {
            return m + " (name one with partitioner(...))";
        }
        if (windowFromAssigner && (m.contains("`window_ms`") || m.contains("`slide_ms`"))) {
            return m + " (window_ms and slide_ms come from " + window + " unless the params set them)";
        }
        return m;
    }

    /** Whether {@code key} is a key of the top-level mapping (block style, as every params file is written). */
    static boolean hasTopLevelKey(String text, String key) {
        return Pattern.compile("^" + Pattern.quote(key) + "\\s*:", Pattern.MULTILINE).matcher(text).find();
    }

    /**
     * Asks a router without agent link whether it splits keys. With an agent the caller assumes it does: a
     * linked router splits if its fallback does, and asking it here would open a link from the client.
     */
    private static boolean splits(String yaml) {
        long router = NativeRouter.create(yaml, "");
        try {
            return NativeRouter.splitsKeys(router);
        } finally {
            NativeRouter.close(router);
        }
    }

    /** Size and slide (ms) of Flink's tumbling and sliding event-time windows; null for other assigners. */
    static long[] sizeAndSlide(WindowAssigner<?, TimeWindow> window) {
        if (window instanceof SlidingEventTimeWindows) {
            SlidingEventTimeWindows sliding = (SlidingEventTimeWindows) window;
            return new long[] {sliding.getSize(), sliding.getSlide()};
        }
        if (window instanceof TumblingEventTimeWindows) {
            // No getter for the size: measure the window holding time 0, on a copy (assigning fixes a
            // staggered assigner's offset, which must stay the task's choice).
            try {
                TumblingEventTimeWindows copy = InstantiationUtil.clone((TumblingEventTimeWindows) window);
                TimeWindow w = copy.assignWindows(null, 0L, new WindowAssigner.WindowAssignerContext() {
                    @Override
                    public long getCurrentProcessingTime() {
                        return 0L;
                    }
                }).iterator().next();
                long size = w.getEnd() - w.getStart();
                return new long[] {size, size};
            } catch (IOException | ClassNotFoundException e) {
                return null;
            }
        }
        return null;
    }
}
