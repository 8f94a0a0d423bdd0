package org.sas.job.throughput;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.sas.job.throughput.StageResult.Phase;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** The stage logic of the throughput test on synthetic stage measurements. */
class RampTest {

    private static final RampSettings S = RampSettings.DEFAULTS;
    private static final double C = 12_000;

    /** What a stage at a target measures. */
    private record Measured(double achieved, double backpressure, double delivered) {}

    /** A job that keeps up to {@code max} records/s: above it the source lags and is back-pressured. */
    private static Function<Double, Measured> jobWithMax(double max) {
        return target -> target <= max
                ? new Measured(target * 0.99, 0.01, 1.0)
                : new Measured(max, 0.6, max / target);
    }

    /** Runs the ramp against {@code job} and returns every stage. */
    private static List<StageResult> run(Ramp ramp, Function<Double, Measured> job) {
        for (Ramp.Stage stage = ramp.next(); stage != null; stage = ramp.next()) {
            Measured m = job.apply(stage.targetRate());
            ramp.record(m.achieved(), m.backpressure(), m.delivered(), 4.0);
        }
        return ramp.results();
    }

    @Test
    void sustainedNeedsEveryCriterionWithinTolerance() {
        assertTrue(Ramp.sustained(S, 1000, 950, 0.1, 0.95));
        assertFalse(Ramp.sustained(S, 1000, 949, 0.0, 1.0), "achieved below (1 - 0.05) x target");
        assertFalse(Ramp.sustained(S, 1000, 1000, 0.11, 1.0), "back-pressured more than 10 % of the time");
        assertFalse(Ramp.sustained(S, 1000, 1000, 0.0, 0.94), "a worker's queue grew by 6 %");
        assertTrue(Ramp.sustained(S, 1000, 1000, 0.0, Double.NaN), "no worker signal: source criteria only");
    }

    @Test
    void rampStopsAfterTwoUnsustainedStagesThenBisectsAndMeasuresLatency() {
        double max = 10_000;
        List<StageResult> stages = run(new Ramp(S, C), jobWithMax(max));

        // Ramp: 3000, 3750, ... ×1.25 while sustained; the first two above 10 000 fail and end it.
        List<StageResult> ramp = stages.stream().filter(s -> s.phase() == Phase.RAMP).toList();
        assertEquals(3000, ramp.get(0).targetRate(), 1e-9);
        for (int i = 1; i < ramp.size(); i++) {
            assertEquals(ramp.get(i - 1).targetRate() * 1.25, ramp.get(i).targetRate(), 1e-6);
        }
        assertFalse(ramp.get(ramp.size() - 1).sustained());
        assertFalse(ramp.get(ramp.size() - 2).sustained());
        assertTrue(ramp.get(ramp.size() - 3).sustained());

        List<StageResult> bisect = stages.stream().filter(s -> s.phase() == Phase.BISECT).toList();
        assertEquals(S.bisectSteps(), bisect.size());
        StageResult lastSustained = ramp.get(ramp.size() - 3);
        StageResult firstFailed = ramp.get(ramp.size() - 2);
        assertEquals(Math.sqrt(lastSustained.targetRate() * firstFailed.targetRate()), bisect.get(0).targetRate(), 1e-6);

        // Three bisections of a factor 1.25 leave it within 1.25^(1/8) of the true maximum.
        Ramp finished = new Ramp(S, C);
        run(finished, jobWithMax(max));
        double found = finished.maxRate();
        assertTrue(found <= max && found >= 0.99 * max / Math.pow(1.25, 1.0 / 8), "max " + found);

        StageResult latency = stages.get(stages.size() - 1);
        assertEquals(Phase.LATENCY, latency.phase());
        assertEquals(0.8 * found, latency.targetRate(), 1e-6);
        assertEquals(1, stages.stream().filter(s -> s.phase() == Phase.LATENCY).count());
    }

    @Test
    void oneNoisyStageDoesNotEndTheRamp() {
        Function<Double, Measured> job = jobWithMax(10_000);
        // The third stage (4687.5/s) reads as back-pressured once.
        int[] calls = {0};
        Ramp ramp = new Ramp(S, C);
        run(ramp, target -> ++calls[0] == 3 ? new Measured(target, 0.5, 1.0) : job.apply(target));
        assertFalse(ramp.results().get(2).sustained());
        assertTrue(ramp.results().get(3).sustained(), "the ramp went on past the noisy stage");
        assertTrue(ramp.maxRate() > 9_000, "max " + ramp.maxRate());
    }

    @Test
    void pausesFollowUnsustainedStagesAndPrecedeTheLatencyStage() {
        Ramp ramp = new Ramp(S, C);
        Function<Double, Measured> job = jobWithMax(6_000);
        boolean lastSustained = true;
        for (Ramp.Stage stage = ramp.next(); stage != null; stage = ramp.next()) {
            assertEquals(!lastSustained || stage.phase() == Phase.LATENCY, stage.pauseFirst(), stage.toString());
            Measured m = job.apply(stage.targetRate());
            lastSustained = ramp.record(m.achieved(), m.backpressure(), m.delivered(), 4.0).sustained();
        }
    }

    @Test
    void rampComesDownWhenTheFirstStageFailsThenClimbsAgain() {
        double max = 1_000; // below the first target, 3000
        Ramp ramp = new Ramp(S, C);
        List<StageResult> stages = run(ramp, jobWithMax(max));
        assertEquals(3000 / 1.25, stages.get(1).targetRate(), 1e-6);
        int first = 0;
        while (!stages.get(first).sustained()) {
            first++;
        }
        assertEquals(Phase.RAMP, stages.get(first).phase());
        assertEquals(stages.get(first).targetRate() * 1.25, stages.get(first + 1).targetRate(), 1e-6);
        assertTrue(ramp.maxRate() <= max && ramp.maxRate() >= 0.99 * max / Math.pow(1.25, 1.0 / 8),
                "max " + ramp.maxRate());
    }

    @Test
    void aColdFirstStageDoesNotCapTheSearch() {
        // A learning partitioner fails its first stage while it warms up, then keeps up to 10 000/s.
        Function<Double, Measured> job = jobWithMax(10_000);
        int[] calls = {0};
        Ramp ramp = new Ramp(S, C);
        run(ramp, target -> ++calls[0] == 1 ? new Measured(target, 0.0, 0.8) : job.apply(target));
        assertFalse(ramp.results().get(0).sustained());
        assertTrue(ramp.maxRate() > 9_000, "max " + ramp.maxRate());
    }

    @Test
    void givesUpWithoutLatencyStageWhenNothingIsSustained() {
        Ramp ramp = new Ramp(S, C);
        List<StageResult> stages = run(ramp, jobWithMax(0));
        assertEquals(0, ramp.maxRate());
        assertTrue(stages.stream().noneMatch(s -> s.phase() == Phase.LATENCY));
        assertTrue(stages.get(stages.size() - 1).targetRate() >= S.minFraction() * C);
        assertNull(ramp.next());
    }

    @Test
    void maxRateIsTheHighestAchievedRateOfASustainedStage() {
        Ramp ramp = new Ramp(S, C);
        run(ramp, jobWithMax(10_000));
        double expected = ramp.results().stream()
                .filter(s -> s.sustained() && s.phase() != Phase.LATENCY)
                .mapToDouble(StageResult::achievedRate)
                .max()
                .orElseThrow();
        assertEquals(expected, ramp.maxRate());
    }

    @Test
    void recordBudgetCoversTheLongestSearch() {
        // The job that lets the ramp climb highest: it keeps up with anything below 1.5 C, after failing
        // its first stages while it warms up (so the ramp goes down first, then all the way up).
        long windowRecords = 10_000;
        long budget = Ramp.recordBudget(S, C, windowRecords);
        Function<Double, Measured> job = jobWithMax(1.5 * C);
        int[] calls = {0};
        Ramp ramp = new Ramp(S, C);
        double records = 0;
        for (Ramp.Stage stage = ramp.next(); stage != null; stage = ramp.next()) {
            double seconds = stage.phase() == Phase.LATENCY
                    ? (S.warmupMs() + 4 * S.latencyMs()) / 1000.0
                    : S.stageMs() / 1000.0;
            records += stage.targetRate() * seconds;
            Measured m = ++calls[0] <= 5 ? new Measured(0, 1, 0) : job.apply(stage.targetRate());
            ramp.record(m.achieved(), m.backpressure(), m.delivered(), seconds);
        }
        assertTrue(records <= budget, records + " records > budget " + budget);
    }

    @Test
    void settingsAreValidatedAfterEveryFlagIsApplied() {
        RampSettings s = S.with(Map.of("start-fraction", "0.001", "min-fraction", "0.0001"));
        assertEquals(0.001, s.startFraction());
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> S.with(Map.of("factr", "2")));
        assertTrue(e.getMessage().contains("--factr"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> S.with(Map.of("factor", "1")));
        assertTrue(e.getMessage().contains("factor must be > 1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> S.with(Map.of("stage-ms", "x")));
        assertTrue(e.getMessage().contains("--stage-ms: not a number"), e.getMessage());
    }

    @Test
    void presetsAreNamedAndAnUnknownOneIsRefusedByName() {
        assertEquals(RampSettings.FAST, RampSettings.preset("fast"));
        assertEquals(RampSettings.DEFAULTS, RampSettings.preset("default"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RampSettings.preset("quick"));
        assertTrue(e.getMessage().contains("--preset quick"), e.getMessage());
    }

    @Test
    void theFastTestProbesAboveCapacityThenBisectsToThreePercent() {
        double max = 10_000;
        Ramp ramp = new Ramp(RampSettings.FAST, C);
        List<StageResult> stages = run(ramp, jobWithMax(max));

        assertEquals(Phase.PROBE, stages.get(0).phase());
        assertEquals(1.3 * C, stages.get(0).targetRate(), 1e-9);
        // The back-pressured job achieved `max`: the next stage runs there, then bisection.
        assertEquals(max, stages.get(1).targetRate(), 1e-9);
        double found = ramp.maxRate();
        assertTrue(found <= max && found >= max / 1.03 * 0.99 - 1e-6, "found " + found + " for " + max);
        assertEquals(Phase.LATENCY, stages.get(stages.size() - 1).phase());
        // Probe, the achieved rate, two steps from below (+6 %, then +3 %: both fail), latency.
        assertEquals(5, stages.size(), stages.toString());
    }

    @Test
    void aProbeThatReadsAFewPercentLowIsClosedFromBelowNotFromTheProbe() {
        // As hash on a skewed stream: back-pressured, the job achieves 1805/s; it keeps up to 1923/s.
        double max = 1923;
        Function<Double, Measured> job = target -> target > 1.2 * C
                ? new Measured(1805, 0.98, 1.0)
                : jobWithMax(max).apply(target);
        Ramp ramp = new Ramp(RampSettings.FAST, C);
        List<StageResult> stages = run(ramp, job);

        double found = ramp.maxRate();
        assertTrue(found <= max && found >= max / 1.03 * 0.99 - 1e-6, "found " + found + " for " + max);
        // No stage between the maximum and the probe: each step climbs at most 1.03² from below.
        for (StageResult stage : stages.subList(1, stages.size())) {
            assertTrue(stage.targetRate() <= max * 1.03 * 1.03, stages.toString());
        }
        // Probe, 1805, 1805 × 1.03² (sustained), × 1.03² again (failed), the 3 % in between, latency
        // (halving the bracket up to the probe took 9).
        assertEquals(6, stages.size(), stages.toString());
    }

    @Test
    void aMaximumFarAboveTheProbeIsReachedByStepsThatGrow() {
        // A router that falls apart when back-pressured: the probe achieves a third of the maximum.
        double max = 9000;
        Function<Double, Measured> job = target -> target > 1.2 * C
                ? new Measured(3000, 0.9, 0.3)
                : jobWithMax(max).apply(target);
        Ramp ramp = new Ramp(RampSettings.FAST, C);
        List<StageResult> stages = run(ramp, job);

        // ×1.03² twice, then ×1.03⁴, ×1.03⁸, ×1.03¹⁶: 2.6 × in five steps, not in 17 of 1.03²; then
        // bisection, within the twelve steps.
        assertTrue(ramp.maxRate() >= max / 1.03 / 1.03 * 0.99 - 1e-6, "found " + ramp.maxRate());
        assertTrue(stages.size() <= 14, stages.toString());
    }

    @Test
    void aProbeThatReadsLowIsBisectedFromAbove() {
        // The job keeps up to 10 000 but under overload achieves only 9000 (a router that falls apart
        // when back-pressured).
        Function<Double, Measured> job = target -> target > 11_000
                ? new Measured(9000, 0.6, 0.5)
                : jobWithMax(10_000).apply(target);
        Ramp ramp = new Ramp(RampSettings.FAST, C);
        List<StageResult> stages = run(ramp, job);
        assertTrue(ramp.maxRate() >= 10_000 / 1.03 * 0.99 - 1e-6, "found " + ramp.maxRate());
        assertTrue(stages.size() <= 9, stages.toString());
    }

    @Test
    void aProbeThatReadsHighComesDownByWhatTheWorkersProcessed() {
        // Deferred work (merges at the window's end): the probe achieves 10 000, but the workers keep up
        // with 5000 only, and above it they process 5000 / target of what they are sent.
        Function<Double, Measured> job = target -> target <= 5000
                ? new Measured(target * 0.99, 0.01, 1.0)
                : new Measured(Math.min(target, 10_000), target > 10_000 ? 0.6 : 0.0, 5000 / target);
        Ramp ramp = new Ramp(RampSettings.FAST, C);
        List<StageResult> stages = run(ramp, job);
        // One step down from 10 000 to half of it, not 23 steps of 3 %.
        assertEquals(5000, stages.get(2).targetRate(), 1e-6);
        // A stage is sustained while the workers process at least 95 % of it: up to 5000 / 0.95.
        assertTrue(ramp.maxRate() >= 5000 / 1.03 * 0.99 - 1e-6 && ramp.maxRate() <= 5000 / 0.95,
                "found " + ramp.maxRate());
        assertTrue(stages.size() <= 10, stages.toString());
        // From 5000 (below what the probe achieved) the bracket is bisected, not climbed in steps, up to
        // the failure at 10 000 (a soft bound: it came before any stage was sustained), not to the probe.
        assertEquals(Math.sqrt(5000 * 10_000), stages.get(3).targetRate(), 1e-6);
    }

    @Test
    void aFailureInTheProbesAftermathDoesNotCapTheSearch() {
        // As busy-feedback after the overload: its busy-time estimates read the probe for a few
        // intervals, so the first stage after it fails at a rate the job keeps up with later (max 6900).
        double max = 6900;
        int[] stage = {0};
        Function<Double, Measured> job = target -> {
            stage[0]++;
            if (stage[0] == 1) {
                return new Measured(1800, 0.9, 0.9); // the probe, collapsed
            }
            if (stage[0] == 2) {
                return new Measured(target, 0.0, 0.91); // still recovering
            }
            return jobWithMax(max).apply(target);
        };
        Ramp ramp = new Ramp(RampSettings.FAST, C);
        run(ramp, job);
        assertTrue(ramp.maxRate() >= max / 1.03 * 0.99 - 1e-6, "found " + ramp.maxRate() + " for " + max);
    }

    @Test
    void aFailureAfterTheProbeBoundsTheBisectionAndIsRunAgainWhenItClosesOnIt() {
        // As w-choices: the probe reads high (its buffers fill) and the job keeps up to 8500; above it,
        // the workers fall behind (the merges at a window's end).
        double max = 8500;
        Function<Double, Measured> job = target -> target > 1.2 * C
                ? new Measured(8720, 0.5, 0.63)
                : target <= max ? new Measured(target * 0.99, 0.0, 1.0) : new Measured(target, 0.0, 0.9);
        Ramp ramp = new Ramp(RampSettings.FAST, C);
        List<StageResult> stages = run(ramp, job);

        assertTrue(ramp.maxRate() >= max / 1.03 * 0.99 - 1e-6 && ramp.maxRate() <= max,
                "found " + ramp.maxRate());
        // After the probe, nothing runs above the first failure (8720): the bracket is [~5700, 8720] ...
        for (StageResult stage : stages.subList(1, stages.size())) {
            assertTrue(stage.targetRate() <= 8720 + 1e-6, stages.toString());
        }
        // ... and since every stage below it held, it runs a second time before it is believed.
        assertEquals(2, stages.stream().filter(st -> Math.abs(st.targetRate() - 8720) < 1e-6).count(),
                stages.toString());
        assertTrue(stages.size() <= 9, stages.toString());
    }

    @Test
    void aStageThatFailsByALittleAfterAClimbIsFollowedByWhatItsWorkersProcessed() {
        // As busy-feedback: the probe collapses to a fifth of the maximum (7700), the climb overshoots it,
        // and a failed stage's workers process 7700 / target of what they are sent.
        double max = 7700;
        Function<Double, Measured> job = target -> target > 1.2 * C
                ? new Measured(1700, 0.99, 1.0)
                : target <= max ? new Measured(target * 0.99, 0.0, 1.0) : new Measured(target, 0.0, max / target);
        Ramp ramp = new Ramp(RampSettings.FAST, C);
        List<StageResult> stages = run(ramp, job);

        // The climb from 1700 overshoots to ~8300; the next stage is at what its workers processed.
        int overshoot = 0;
        while (stages.get(overshoot).sustained() || stages.get(overshoot).phase() == Phase.PROBE) {
            overshoot++;
        }
        StageResult failed = stages.get(overshoot);
        assertEquals(failed.targetRate() * failed.delivered(), stages.get(overshoot + 1).targetRate(), 1e-6,
                stages.toString());
        // Found to 3 %, within the twelve bisection steps (a stage is sustained while its workers process
        // 95 % of it: up to max / 0.95).
        assertTrue(ramp.maxRate() >= max / 1.03 * 0.99 - 1e-6 && ramp.maxRate() <= max / 0.95,
                "found " + ramp.maxRate());
        assertEquals(Phase.LATENCY, stages.get(stages.size() - 1).phase());
    }

    @Test
    void recordBudgetCoversTheFastTest() {
        RampSettings fast = RampSettings.FAST;
        long budget = Ramp.recordBudget(fast, C, 10_000);
        Ramp ramp = new Ramp(fast, C);
        double records = 0;
        // The job that keeps up with 1.5 C except while probed: the longest climb after a probe.
        Function<Double, Measured> job = target -> target > 1.29 * C && target < 1.31 * C
                ? new Measured(0.2 * C, 1, 0.1)
                : jobWithMax(1.5 * C).apply(target);
        for (Ramp.Stage stage = ramp.next(); stage != null; stage = ramp.next()) {
            double seconds = stage.phase() == Phase.LATENCY
                    ? (fast.warmupMs() + 4 * fast.latencyMs()) / 1000.0
                    : fast.stageMs() / 1000.0;
            records += stage.targetRate() * seconds;
            Measured m = job.apply(stage.targetRate());
            ramp.record(m.achieved(), m.backpressure(), m.delivered(), seconds);
        }
        assertTrue(records <= budget, records + " records > budget " + budget);
    }
}
