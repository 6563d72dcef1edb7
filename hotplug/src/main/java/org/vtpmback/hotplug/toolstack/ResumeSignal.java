package org.vtpmback.hotplug.toolstack;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XenbusState;
import org.vtpmback.xenstore.XsPath;

/**
 * The documented way to tell vtpmback that a domain is a restore or the receiving end of a migration:
 * libxl 4.17 always writes {@code resume = False}, so while the new domain is still paused (its
 * frontends cannot connect before it runs) the {@code resume} key of each of its vtpm backends is set
 * to {@code True}, as xend did. The backend reads it when the frontend connects and writes
 * {@code False} back once the snapshot is restored.
 *
 * <p>One code path for {@code vtpmback restore}, {@code vtpmback resume-domain} and the simulated
 * toolstack of the tests.
 */
public final class ResumeSignal {
    /** The value xend wrote and vtpmback accepts (case-insensitive "true" or "1"). */
    public static final String TRUE = "True";

    /**
     * One device that was marked.
     *
     * @param backend the backend directory, {@code /local/domain/<be>/backend/vtpm/<domid>/<devid>}
     * @param uuid    its {@code uuid} key, if present
     * @param state   its backend state when it was marked (InitWait for a paused, freshly restored domain)
     */
    public record Marked(XsPath backend, Optional<String> uuid, XenbusState state) {
        @Override
        public String toString() {
            return backend + " (vTPM " + uuid.orElse("without uuid") + ", backend state " + state + ")";
        }
    }

    private ResumeSignal() {
    }

    /** {@code /local/domain/<backendDomid>/backend/vtpm/<domid>}. */
    public static XsPath backendsOf(int backendDomid, int domid) {
        return XsPath.of("/local/domain/" + backendDomid).child("backend").child("vtpm").child(domid);
    }

    /**
     * Sets {@code resume = True} on every vtpm backend of {@code domid} served by {@code backendDomid},
     * in one transaction (all or none).
     *
     * @return the devices marked; empty if the domain has no vtpm device there (nothing written)
     */
    public static List<Marked> mark(XenStore store, int backendDomid, int domid) {
        XsPath base = backendsOf(backendDomid, domid);
        return store.inTransaction(t -> {
            List<Marked> marked = new ArrayList<>();
            for (String devid : t.list(base)) {
                XsPath be = base.child(devid);
                Optional<String> state = t.read(be.child("state"));
                if (state.isEmpty()) {
                    continue; // not (or no longer) a device: never create a half device
                }
                t.write(be.child("resume"), TRUE);
                marked.add(new Marked(be, t.read(be.child("uuid")),
                        XenbusState.parse(state.get()).orElse(XenbusState.UNKNOWN)));
            }
            return List.copyOf(marked);
        });
    }
}
