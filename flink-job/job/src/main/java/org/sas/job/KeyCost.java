package org.sas.job;

import java.io.Serializable;

/**
 * What one record costs its worker, in units ({@code capacity.key_cost}): {@code factor} for a key whose
 * draw is below {@code share}, else 1. The draw is the router core's {@code key_cost_draw}: the top 53 bits
 * of a seeded splitmix64 hash of the key, so both sides single out the same keys.
 */
public final class KeyCost implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The router core's {@code KEY_COST_SEED}. */
    private static final long SEED = 0x6b65795f636f7374L;

    private final double share;
    private final double factor;

    public KeyCost(JobParams params) {
        this(params.keyCostShare, params.keyCostFactor);
    }

    KeyCost(double share, double factor) {
        this.share = share;
        this.factor = factor;
    }

    /** Units of one record of {@code key}. */
    public double units(long key) {
        return share > 0 && draw(key) < share ? factor : 1;
    }

    /** The key's draw in [0, 1). */
    static double draw(long key) {
        long z = key ^ (SEED * 0x9e3779b97f4a7c15L + 0x632be59bd9b4e019L);
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        z = z ^ (z >>> 31);
        return (z >>> 11) * 0x1.0p-53;
    }
}
