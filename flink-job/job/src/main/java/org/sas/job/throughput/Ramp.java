package org.sas.job.throughput;

import org.apache.flink.util.Preconditions;

import org.sas.job.throughput.StageResult.Phase;

import java.util.ArrayList;
import java.util.List;

/**
 * The search for the maximum sustained rate: which stage runs next, given what the stages before it
 * measured. No clock and no Flink here; {@link RateController} runs the stages.
 *
 * <ol>
 *   <li><b>Probe</b> (when {@code probeFraction} is above 0). One stage at {@code probeFraction} × C: the
 *       source is back-pressured, and the rate the job achieves is about its maximum. The next stage runs
 *       there. Then, while no stage is sustained, each next target is the last one times the share of
 *       its records the workers processed (at most 1/{@code fineFactor}: work that falls due later, as
 *       merges at a window's end, makes the probe read high); while none failed above the best sustained
 *       one, × {@code fineFactor}. A stage that failed before any was sustained bounds the bracket
 *       softly: if the bracket closes on it, it runs once more (it may have failed for the probe's
 *       aftermath). Once a sustained and a failed target bracket the maximum, bisection
 *       narrows them to within {@code fineFactor} (at most {@code bisectSteps} stages), each stage at
 *       most {@code fineFactor}² above the best sustained one (then ⁴, ⁸ ... after the second step up):
 *       the maximum is usually a few percent above the probe's achieved rate, not near the probe.</li>
 *   <li><b>Ramp.</b> The first target is {@code startFraction} × the total capacity C. After a sustained
 *       stage the target is multiplied by {@code factor}. After an unsustained one it is multiplied
 *       again, until {@code stopAfter} consecutive stages were unsustained: a single noisy stage does
 *       not end the ramp. While no stage has been sustained yet, an unsustained stage divides the target
 *       by {@code factor} instead (down to {@code minFraction} × C, where the search gives up); from the
 *       first sustained stage the ramp climbs again under the same stop rule, so a failure at the start
 *       (a learning partitioner not warmed up yet) does not cap the search.</li>
 *   <li><b>Bisection.</b> {@code bisectSteps} stages at the geometric mean of the best sustained target
 *       and the lowest failed one above it, each replacing one of the two.</li>
 *   <li><b>Latency.</b> One stage at {@code latencyFraction} × the maximum sustained rate.</li>
 * </ol>
 *
 * <p>The maximum sustained rate is the highest <em>achieved</em> rate of a sustained ramp or bisection
 * stage. Emission pauses ({@link Stage#pauseFirst}) after an unsustained stage and before the latency
 * stage, so a stage does not inherit the queues of an overload.
 */
public final class Ramp {

    /**
     * One stage to run.
     *
     * @param phase why it runs
     * @param targetRate records per second
     * @param pauseFirst emit nothing for {@link RampSettings#cooldownMs} first
     */
    public record Stage(Phase phase, double targetRate, boolean pauseFirst) {}

    private final RampSettings settings;
    private final double capacity;
    private final List<StageResult> results = new ArrayList<>();

    private Phase phase;
    /** The ramp's factor: {@code factor}, or {@code fineFactor} after a probe. */
    private double factor;
    /** Whether the test started with a probe (and so searches as its doc says). */
    private final boolean probed;
    private boolean done;
    private double nextTarget;
    private boolean pauseNext;
    private boolean awaitingResult;
    /** The sustained stage with the highest target, and the lowest failed stage above it. */
    private StageResult lo;
    private StageResult hi;
    /**
     * After a probe: the lowest stage that failed before any was sustained. It may have failed for the
     * probe's aftermath rather than its rate, so it bounds the bisection only softly: when the bracket
     * closes on it, it runs once more ({@link #softHi}).
     */
    private StageResult softHi;
    /** Whether the stage under way runs {@link #softHi}'s target again. */
    private boolean retesting;
    /** Consecutive unsustained ramp stages. */
    private int streak;
    private int bisected;
    /** Sustained bisection stages after a probe: how far the next step from below may climb. */
    private int climbed;
    /** The rate the probe achieved (NaN before it ran). */
    private double probeAchieved = Double.NaN;

    /**
     * @param capacity C, the total emulated capacity (records/s of all workers together)
     */
    public Ramp(RampSettings settings, double capacity) {
        Preconditions.checkArgument(capacity > 0, "total capacity must be > 0, got %s", capacity);
        this.settings = settings;
        this.capacity = capacity;
        boolean probe = settings.probeFraction() > 0;
        this.probed = probe;
        this.phase = probe ? Phase.PROBE : Phase.RAMP;
        this.factor = settings.factor();
        this.nextTarget = (probe ? settings.probeFraction() : settings.startFraction()) * capacity;
    }

    /**
     * Whether a stage sustained its target, judged on the stage's averages: the source emitted at least
     * (1 − tolerance) × target, was back-pressured at most {@code maxBackpressure} of the time, and every
     * worker processed at least (1 − tolerance) of what it was sent (unless {@code delivered} is NaN:
     * not measured).
     */
    public static boolean sustained(
            RampSettings s, double target, double achieved, double backpressure, double delivered) {
        return achieved >= (1 - s.tolerance()) * target
                && backpressure <= s.maxBackpressure()
                && (Double.isNaN(delivered) || delivered >= 1 - s.tolerance());
    }

    /** The stage to run next, or null when the test is over. */
    public Stage next() {
        Preconditions.checkState(!awaitingResult, "the previous stage has no result yet");
        if (done) {
            return null;
        }
        awaitingResult = true;
        return new Stage(phase, nextTarget, pauseNext);
    }

    /**
     * Records what the stage last returned by {@link #next} measured and decides the next one.
     *
     * @return the result, with {@code sustained} decided by {@link #sustained}
     */
    public StageResult record(double achievedRate, double backpressure, double delivered, double seconds) {
        Preconditions.checkState(awaitingResult, "no stage is running");
        awaitingResult = false;
        double target = nextTarget;
        StageResult r = new StageResult(phase, target, achievedRate, backpressure, delivered,
                sustained(settings, target, achievedRate, backpressure, delivered), seconds);
        results.add(r);
        pauseNext = !r.sustained();
        switch (phase) {
            case PROBE -> {
                phase = Phase.RAMP;
                factor = settings.fineFactor();
                probeAchieved = achievedRate;
                if (r.sustained()) {
                    lo = r;
                } else {
                    hi = r;
                }
                nextTarget = Math.max(achievedRate, settings.minFraction() * capacity);
                pauseNext = true; // the probe leaves queues behind
            }
            case RAMP -> {
                if (probed) {
                    afterProbedRamp(r);
                } else {
                    afterRamp(r);
                }
            }
            case BISECT -> {
                if (r.sustained()) {
                    lo = r;
                    climbed++;
                    if (retesting) {
                        // The soft bound failed for the aftermath only: the failed probe bounds the search,
                        // and the bisection below the soft bound does not count against the one above it.
                        hi = results.get(0);
                        bisected = 0;
                    }
                } else {
                    hi = r;
                }
                if (!retesting) {
                    bisected++;
                }
                retesting = false;
                bisectOrMeasure();
            }
            case LATENCY -> done = true;
        }
        return r;
    }

    private void afterRamp(StageResult r) {
        if (r.sustained()) {
            lo = r;
            hi = null;
            streak = 0;
            nextTarget = r.targetRate() * factor;
        } else if (lo == null) {
            nextTarget = r.targetRate() / factor;
            if (nextTarget < settings.minFraction() * capacity) {
                done = true; // nothing sustainable: no latency stage either
            }
        } else {
            streak++;
            if (streak == 1) {
                hi = r;
            }
            if (streak >= settings.stopAfter()) {
                bisectOrMeasure();
            } else {
                nextTarget = r.targetRate() * factor;
            }
        }
    }

    /**
     * A ramp stage after a probe: down by the share processed, or up by fineFactor, until bracketed. A
     * stage that fails before any was sustained bounds the search softly: it may fail for the probe's
     * aftermath rather than its rate (a partitioner that learns from busy time reads the overload for a
     * few intervals after the queues drained). Bisection runs up to it, and if the bracket closes on it
     * (every stage below it sustained), it runs once more: failed again, it is the bound; sustained, the
     * probe is, and the search goes on above it.
     */
    private void afterProbedRamp(StageResult r) {
        if (r.sustained()) {
            lo = r;
            if (softHi != null && softHi.targetRate() > lo.targetRate()
                    && (hi == null || softHi.targetRate() < hi.targetRate())) {
                hi = softHi;
            }
        } else if (lo != null && (hi == null || r.targetRate() < hi.targetRate())) {
            hi = r;
        } else if (lo == null && (softHi == null || r.targetRate() < softHi.targetRate())) {
            softHi = r;
        }
        if (lo != null && hi != null && hi.targetRate() > lo.targetRate()) {
            bisectOrMeasure();
        } else if (lo == null) {
            double processed = Double.isNaN(r.delivered()) ? 0 : r.delivered();
            nextTarget = r.targetRate() * Math.min(1 / factor, Math.max(processed, 0.25));
            if (nextTarget < settings.minFraction() * capacity) {
                done = true; // nothing sustainable: no latency stage either
            }
        } else {
            nextTarget = r.targetRate() * factor;
        }
    }

    private void bisectOrMeasure() {
        // A relative margin: lo × fineFactor, bisected back, may come out a rounding error above it.
        boolean narrow = probed && hi.targetRate() <= lo.targetRate() * settings.fineFactor() * (1 + 1e-9);
        if (narrow && hi == softHi) {
            // Closed on a failure from the probe's aftermath (the soft bound, not yet run twice): run it
            // again before believing it.
            phase = Phase.BISECT;
            nextTarget = hi.targetRate();
            retesting = true;
        } else if (!narrow && bisected < settings.bisectSteps()) {
            phase = Phase.BISECT;
            nextTarget = Math.sqrt(lo.targetRate() * hi.targetRate());
            // A stage that failed by a small margin says where the maximum is: its workers processed
            // `delivered` of what they were sent, so about target × delivered is what they keep up with
            // (a falsi step). Taken when it is above the geometric mean: after a far overshoot of a climb
            // it closes the bracket in one stage where bisection takes three or four.
            double processed = hi.phase() == Phase.PROBE || Double.isNaN(hi.delivered()) ? 0
                    : hi.targetRate() * hi.delivered();
            if (processed > nextTarget && processed < hi.targetRate() / settings.fineFactor()) {
                nextTarget = processed;
            }
            if (probed && lo.targetRate() >= probeAchieved * (1 - 1e-9)) {
                // The rate the probe achieved was sustained: the maximum is usually a few percent above
                // it, and the failed bound is the probe, far above. So the bracket closes from below,
                // by fineFactor² (twice, then an exponent that doubles), where halving its logarithm
                // from 1.3 C takes six stages. (After a step down by the share processed, the maximum
                // can be anywhere in the bracket: plain bisection.)
                int exponent = climbed < 2 ? 2 : 1 << climbed;
                nextTarget = Math.min(nextTarget, lo.targetRate() * Math.pow(settings.fineFactor(), exponent));
            }
        } else {
            phase = Phase.LATENCY;
            nextTarget = settings.latencyFraction() * maxRate();
            pauseNext = true;
        }
    }

    /** The highest achieved rate of a sustained ramp or bisection stage; 0 if none. */
    public double maxRate() {
        double max = 0;
        for (StageResult r : results) {
            if (r.sustained() && r.phase() != Phase.LATENCY) {
                max = Math.max(max, r.achievedRate());
            }
        }
        return max;
    }

    /** Every stage so far, in order. */
    public List<StageResult> results() {
        return List.copyOf(results);
    }

    /** Whether the test is over. */
    public boolean done() {
        return done;
    }

    /**
     * An upper bound on the records the whole test can take from the source, so the source can be given
     * a finite count. A stage never emits more than its target rate allows (plus the pacer's slack), and a
     * sustained target cannot be far above C: the ramp stops {@code stopAfter} stages above it.
     *
     * @param windowRecords records in one metric window (the latency stage covers a few of them)
     */
    public static long recordBudget(RampSettings s, double capacity, long windowRecords) {
        // Queues can take a burst above C for a stage; 1.5 C leaves room for it.
        double sustainable = 1.5 * capacity / (1 - s.tolerance());
        boolean probe = s.probeFraction() > 0;
        double f = probe ? s.fineFactor() : s.factor();
        double top = sustainable * Math.pow(f, s.stopAfter());
        double stageSeconds = s.stageMs() / 1000.0;
        double up = top * f / (f - 1) * stageSeconds;
        // The way down, the first stage included: the climb after it may pass the same targets again.
        double first = probe ? sustainable : s.startFraction() * capacity;
        double down = first * f / (f - 1) * stageSeconds;
        double probing = probe ? s.probeFraction() * capacity * stageSeconds : 0;
        // After a probe, a soft bound's bisection may come before the full one (afterProbedRamp).
        double bisect = (probe ? 2 : 1) * s.bisectSteps() * top * stageSeconds;
        double rate = s.latencyFraction() * top;
        double warmup = rate * s.warmupMs() / 1000.0;
        double latency = Math.min(warmup + rate * 4 * s.latencyMs() / 1000.0,
                warmup + Math.max(rate * s.latencyMs() / 1000.0, (s.minWindows() + 2.0) * windowRecords));
        return (long) Math.ceil(probing + up + down + bisect + latency) + 100_000;
    }
}
