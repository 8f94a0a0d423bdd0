package org.sas.job.throughput;

import org.apache.flink.util.Preconditions;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How the throughput test ramps the source rate and decides that a rate is sustained. Every field is a
 * {@code --kebab-case} flag of {@link ThroughputTest}; the defaults are the ones documented in
 * {@code docs/modes.md}.
 *
 * @param startFraction the first stage's target, as a fraction of the total emulated capacity
 * @param factor the target is multiplied by it from one ramp stage to the next (divided while no stage
 *     has been sustained yet)
 * @param stageMs length of a ramp or bisection stage, warm-up included
 * @param warmupMs the first part of each stage, not measured (queues settle at the new rate)
 * @param tolerance a stage is sustained only if its achieved rate is at least (1 − tolerance) × target
 * @param maxBackpressure ... and if the source was back-pressured at most this fraction of the time
 * @param stopAfter consecutive unsustained stages that end the ramp
 * @param bisectSteps stages spent bisecting between the best sustained and the first failed rate
 * @param cooldownMs after an unsustained stage and before the latency stage, emission pauses until every
 *     worker has processed what it was sent (at most a minute); when the workers are not in the
 *     controller's JVM, for this long instead
 * @param latencyFraction the latency stage's target, as a fraction of the maximum sustained rate
 * @param latencyMs the latency stage's measured part (after its warm-up) lasts at least this long ...
 * @param minWindows ... and until it covers this many whole metric windows (at most 4 × latencyMs)
 * @param minFraction the search gives up (maximum rate 0) below this fraction of the total capacity
 * @param probeFraction 0: the ramp starts at {@code startFraction}; above 0 the test starts with one probe
 *     stage at this fraction of the total capacity (above it, so the source is back-pressured): the rate
 *     the job achieves there is where the ramp goes on, by {@code fineFactor}
 * @param fineFactor after a probe, the ramp's factor: the resolution of the maximum found
 */
public record RampSettings(
        double startFraction,
        double factor,
        long stageMs,
        long warmupMs,
        double tolerance,
        double maxBackpressure,
        int stopAfter,
        int bisectSteps,
        long cooldownMs,
        double latencyFraction,
        long latencyMs,
        int minWindows,
        double minFraction,
        double probeFraction,
        double fineFactor)
        implements Serializable {

    /** The defaults: a ramp from a quarter of the capacity by 1.25, 5-second stages. */
    public static final RampSettings DEFAULTS =
            new RampSettings(0.25, 1.25, 5000, 1000, 0.05, 0.1, 2, 3, 1500, 0.8, 8000, 3, 0.01, 0, 1.03);

    /**
     * The fast test of the scenario matrix ({@code --preset fast}, about 20-35 s per partitioner): a probe
     * at 1.3 × the capacity, 2-second stages (1.5 s measured) from the rate the probe achieved, steps up
     * from there until one fails and bisection to 3 % (usually 2-5 stages in all; at most 12, for a maximum
     * far above what the probe achieved), then a 3-second latency stage over at least one whole metric
     * window.
     */
    public static final RampSettings FAST =
            new RampSettings(0.25, 1.25, 2000, 500, 0.05, 0.1, 1, 12, 1500, 0.8, 3000, 1, 0.01, 1.3, 1.03);

    /** The settings of a {@code --preset}: {@code default} or {@code fast}. */
    public static RampSettings preset(String name) {
        return switch (name) {
            case "default" -> DEFAULTS;
            case "fast" -> FAST;
            default -> throw new IllegalArgumentException("--preset " + name + ": not a preset (default, fast)");
        };
    }

    public RampSettings {
        Preconditions.checkArgument(startFraction > 0, "start-fraction must be > 0, got %s", startFraction);
        Preconditions.checkArgument(factor > 1, "factor must be > 1, got %s", factor);
        Preconditions.checkArgument(warmupMs >= 0 && stageMs > warmupMs,
                "stage-ms (%s) must be > warmup-ms (%s) >= 0", stageMs, warmupMs);
        Preconditions.checkArgument(tolerance >= 0 && tolerance < 1, "tolerance must be in [0, 1), got %s", tolerance);
        Preconditions.checkArgument(maxBackpressure >= 0 && maxBackpressure <= 1,
                "max-backpressure must be in [0, 1], got %s", maxBackpressure);
        Preconditions.checkArgument(stopAfter >= 1, "stop-after must be >= 1, got %s", stopAfter);
        Preconditions.checkArgument(bisectSteps >= 0, "bisect-steps must be >= 0, got %s", bisectSteps);
        Preconditions.checkArgument(cooldownMs >= 0, "cooldown-ms must be >= 0, got %s", cooldownMs);
        Preconditions.checkArgument(latencyFraction > 0 && latencyFraction <= 1,
                "latency-fraction must be in (0, 1], got %s", latencyFraction);
        Preconditions.checkArgument(latencyMs > 0, "latency-ms must be > 0, got %s", latencyMs);
        Preconditions.checkArgument(minWindows >= 1, "min-windows must be >= 1, got %s", minWindows);
        Preconditions.checkArgument(minFraction > 0 && minFraction <= startFraction,
                "min-fraction must be in (0, start-fraction], got %s", minFraction);
        Preconditions.checkArgument(probeFraction == 0 || probeFraction >= 1,
                "probe-fraction must be 0 (no probe) or >= 1, got %s", probeFraction);
        Preconditions.checkArgument(fineFactor > 1, "fine-factor must be > 1, got %s", fineFactor);
    }

    /**
     * These settings with some flags changed ({@code name} without its {@code --}); validated once all
     * are applied, so the order of the flags does not matter.
     *
     * @throws IllegalArgumentException naming an unknown flag, a value that is not a number, or a bad value
     */
    public RampSettings with(Map<String, String> flags) {
        Map<String, String> v = asMap();
        for (Map.Entry<String, String> f : flags.entrySet()) {
            if (!v.containsKey(f.getKey())) {
                throw new IllegalArgumentException("unknown flag --" + f.getKey());
            }
            v.put(f.getKey(), f.getValue());
        }
        String name = null;
        try {
            name = "start-fraction";
            double startFraction = Double.parseDouble(v.get(name));
            name = "factor";
            double factor = Double.parseDouble(v.get(name));
            name = "stage-ms";
            long stageMs = Long.parseLong(v.get(name));
            name = "warmup-ms";
            long warmupMs = Long.parseLong(v.get(name));
            name = "tolerance";
            double tolerance = Double.parseDouble(v.get(name));
            name = "max-backpressure";
            double maxBackpressure = Double.parseDouble(v.get(name));
            name = "stop-after";
            int stopAfter = Integer.parseInt(v.get(name));
            name = "bisect-steps";
            int bisectSteps = Integer.parseInt(v.get(name));
            name = "cooldown-ms";
            long cooldownMs = Long.parseLong(v.get(name));
            name = "latency-fraction";
            double latencyFraction = Double.parseDouble(v.get(name));
            name = "latency-ms";
            long latencyMs = Long.parseLong(v.get(name));
            name = "min-windows";
            int minWindows = Integer.parseInt(v.get(name));
            name = "min-fraction";
            double minFraction = Double.parseDouble(v.get(name));
            name = "probe-fraction";
            double probeFraction = Double.parseDouble(v.get(name));
            name = "fine-factor";
            double fineFactor = Double.parseDouble(v.get(name));
            return new RampSettings(startFraction, factor, stageMs, warmupMs, tolerance, maxBackpressure, stopAfter,
                    bisectSteps, cooldownMs, latencyFraction, latencyMs, minWindows, minFraction, probeFraction,
                    fineFactor);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + ": not a number: " + v.get(name), e);
        }
    }

    /** Flag name → value, in declaration order (also written to {@code throughput.json}). */
    public Map<String, String> asMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("start-fraction", Double.toString(startFraction));
        m.put("factor", Double.toString(factor));
        m.put("stage-ms", Long.toString(stageMs));
        m.put("warmup-ms", Long.toString(warmupMs));
        m.put("tolerance", Double.toString(tolerance));
        m.put("max-backpressure", Double.toString(maxBackpressure));
        m.put("stop-after", Integer.toString(stopAfter));
        m.put("bisect-steps", Integer.toString(bisectSteps));
        m.put("cooldown-ms", Long.toString(cooldownMs));
        m.put("latency-fraction", Double.toString(latencyFraction));
        m.put("latency-ms", Long.toString(latencyMs));
        m.put("min-windows", Integer.toString(minWindows));
        m.put("min-fraction", Double.toString(minFraction));
        m.put("probe-fraction", Double.toString(probeFraction));
        m.put("fine-factor", Double.toString(fineFactor));
        return m;
    }
}
