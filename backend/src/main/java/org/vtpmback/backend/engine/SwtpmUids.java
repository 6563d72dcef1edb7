package org.vtpmback.backend.engine;

import java.util.BitSet;

/**
 * The uids of a {@link SwtpmJail}, one per live swtpm: a uid is taken before its swtpm starts and given
 * back only once that process has exited and been reaped, so two live swtpm processes never share
 * one. A folder keeps its uid across restarts of its swtpm when that uid is free (its files stay its
 * own). Thread-safe.
 */
final class SwtpmUids {
    private final SwtpmJail jail;
    private final BitSet taken = new BitSet();
    /** Lowest free first (the daemon), or highest free first (a second process: the far end of the range). */
    private final boolean fromTop;

    SwtpmUids(SwtpmJail jail) {
        this(jail, false);
    }

    private SwtpmUids(SwtpmJail jail, boolean fromTop) {
        this.jail = jail;
        this.fromTop = fromTop;
    }

    /**
     * The uids of a second process next to a running daemon ({@code vtpmback create}, {@code ek}): from the top of
     * the range down, skipping every uid a live process holds now, while the daemon takes them from the bottom up.
     * The two share a uid only if the daemon runs nearly {@code uidCount} vTPMs at once. A daemon starting
     * meanwhile kills these swtpm as strays: the command then fails, and stores nothing.
     */
    static SwtpmUids forSecondProcess(SwtpmJail jail) {
        SwtpmUids uids = new SwtpmUids(jail, true);
        SwtpmStrays.find(jail, java.util.Set.of()).values().forEach(uids::reserve);
        return uids;
    }

    /**
     * A free uid: {@code preferred} (the folder's current owner) if it is one of the jail's and free,
     * else the lowest free one (the highest for a second process).
     *
     * @throws EngineException if all {@code uidCount} are taken
     */
    synchronized int acquire(int preferred) {
        int slot = jail.owns(preferred) && !taken.get(preferred - jail.firstUid())
                ? preferred - jail.firstUid() : fromTop ? taken.previousClearBit(jail.uidCount() - 1) : taken.nextClearBit(0);
        if (slot < 0 || slot >= jail.uidCount()) {
            throw new EngineException("all " + jail.uidCount() + " swtpm uids (from " + jail.firstUid()
                    + ") are in use: raise swtpm-uid-count");
        }
        taken.set(slot);
        return jail.firstUid() + slot;
    }

    /** Marks {@code uid} used, as for a process this daemon did not start that still runs as it. */
    synchronized void reserve(int uid) {
        if (jail.owns(uid)) {
            taken.set(uid - jail.firstUid());
        }
    }

    synchronized void release(int uid) {
        if (jail.owns(uid)) {
            taken.clear(uid - jail.firstUid());
        }
    }

    synchronized int inUse() {
        return taken.cardinality();
    }
}
